"""One device vs MirroredStrategy over the two logical CPUs set up in conftest."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests import testing

# Tf.distribute: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


def _train(strategy, initial, x, y, regularize, steps_per_execution=1):
    with strategy.scope():
        teacher = testing.mlp(hidden=16, name="teacher")
        student = testing.mlp(
            hidden=8,
            name="student",
            kernel_regularizer=keras.regularizers.L2(0.01) if regularize else None,
        )
        teacher.set_weights(initial["teacher"])
        student.set_weights(initial["student"])
        distiller = kd.Distiller(teacher, student)
        distiller.compile(
            optimizer=keras.optimizers.SGD(0.5),
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            alpha=0.3,
            temperature=3.0,
            steps_per_execution=steps_per_execution,
        )
    history = distiller.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    return history.history, student.get_weights()


@pytest.mark.parametrize(
    "regularize,num_samples",
    [(False, 128), (True, 128), (False, 97), (True, 97)],
    ids=["even", "even_regularized", "uneven_last_batch", "uneven_regularized"],
)
def test_mirrored_strategy_matches_single_device(regularize, num_samples):
    # 97 samples at batch 32: the last global batch holds one sample, so one
    # replica sees 1 and the other 0. Weighting by the local batch instead of
    # the global one (the cross-replica correction) would move the weights.
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    assert len(devices) == 2
    x, y = testing.synthetic(n=num_samples)
    initial = {
        "teacher": testing.mlp(hidden=16).get_weights(),
        "student": testing.mlp(hidden=8).get_weights(),
    }
    single_history, single = _train(
        tf.distribute.OneDeviceStrategy(devices[0]), initial, x, y, regularize
    )
    mirrored_history, mirrored = _train(
        tf.distribute.MirroredStrategy(devices), initial, x, y, regularize
    )
    worst = testing.assert_weights_close(single, mirrored, atol=1e-5)
    # Keras's own `loss` tracker weights each replica's value by its local
    # batch, which is exact only for even splits; the Distiller's own
    # trackers log global-batch means in every case.
    keys = ("student_loss", "distillation_loss") + (("loss",) if num_samples % 64 == 0 else ())
    for key in keys:
        np.testing.assert_allclose(single_history[key], mirrored_history[key], rtol=1e-5)
    print(f"MirroredStrategy(2) vs one device, regularize={regularize}: max abs diff {worst:.3g}")

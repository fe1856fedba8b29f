"""The Keras 3 <-> tf_keras bridge: same function both ways, clear errors for the rest."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.optimize import bridge
from keras_distill.optimize.tfmot_import import import_tfmot
from tests import optimize_testing as ot

# tfmot's Keras 2 bridge: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only

MODELS = {
    "sequential": (ot.student, (ot.FEATURES,)),
    "functional_cnn": (ot.cnn, (8, 8, 1)),
}


@pytest.fixture(scope="module")
def tf_keras():
    return import_tfmot("the bridge tests")[1]


def _randomize_batch_norm(model):
    # Non-trivial moving statistics, so a swapped weight order would show.
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 2.0, w.shape) for w in layer.get_weights()])


@pytest.mark.parametrize("name", sorted(MODELS))
def test_tf_keras_copy_and_round_trip_compute_the_student(tf_keras, name):
    build, shape = MODELS[name]
    student = build()
    _randomize_batch_norm(student)
    x = np.random.default_rng(1).normal(size=(16,) + shape).astype("float32")
    expected = np.asarray(student(x))
    copy = bridge.to_tf_keras(student, tf_keras, "test")
    assert isinstance(copy, tf_keras.Model)
    np.testing.assert_allclose(copy(x).numpy(), expected, atol=1e-5)
    for layer in copy.layers[1:]:
        layer.set_weights([w * 0.5 for w in layer.get_weights()])
    back = bridge.to_keras(copy, student)
    assert isinstance(back, keras.Model) and back is not student
    np.testing.assert_allclose(np.asarray(back(x)), copy(x).numpy(), atol=1e-5)
    np.testing.assert_allclose(np.asarray(student(x)), expected)


class _Custom(keras.layers.Layer):
    def call(self, x):
        return x * 2.0


def _unsupported_student():
    return keras.Sequential(
        [
            keras.Input((ot.FEATURES,)),
            keras.layers.Dense(8, name="ok_dense"),
            keras.layers.LayerNormalization(name="norm"),
            _Custom(name="doubler"),
            keras.layers.Dense(ot.CLASSES, name="logits"),
        ]
    )


@pytest.mark.parametrize(
    "compress", [kd.optimize.prune_and_distill, kd.optimize.quantization_aware_distill]
)
def test_unsupported_layers_are_all_listed_before_training(compress):
    x, y = ot.data(64)
    with pytest.raises(ValueError) as error:
        compress(_unsupported_student(), ot.teacher(), (x, y))
    message = str(error.value)
    assert "'norm' (LayerNormalization)" in message
    assert "'doubler' (_Custom)" in message
    assert "ok_dense" not in message and "Supported layer types" in message


def test_subclassed_student_is_rejected(tf_keras):
    class Net(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(ot.CLASSES)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.zeros((1, ot.FEATURES), "float32"))
    with pytest.raises(ValueError, match="Sequential or Functional"):
        bridge.to_tf_keras(net, tf_keras, "test")


def test_multi_output_student_is_rejected(tf_keras):
    inputs = keras.Input((ot.FEATURES,))
    student = keras.Model(inputs, [keras.layers.Dense(2)(inputs), keras.layers.Dense(3)(inputs)])
    with pytest.raises(ValueError, match="has 2 outputs"):
        bridge.to_tf_keras(student, tf_keras, "test")


def test_keras_3_only_settings_are_rejected(tf_keras):
    student = keras.Sequential(
        [keras.Input((ot.FEATURES,)), keras.layers.Dense(4, lora_rank=2)]
    )
    with pytest.raises(ValueError, match="lora_rank=2"):
        bridge.to_tf_keras(student, tf_keras, "test")


def test_regularizers_are_carried_over(tf_keras):
    student = keras.Sequential(
        [
            keras.Input((ot.FEATURES,)),
            keras.layers.Dense(4, kernel_regularizer=keras.regularizers.L2(0.01)),
        ]
    )
    copy = bridge.to_tf_keras(student, tf_keras, "test")
    regularizer = copy.layers[-1].kernel_regularizer
    assert isinstance(regularizer, tf_keras.regularizers.L2)
    assert regularizer.get_config()["l2"] == pytest.approx(0.01)

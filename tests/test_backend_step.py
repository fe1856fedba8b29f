"""The training step on the active Keras backend (CI runs this on TensorFlow and JAX)."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests import testing
from tests.testing import to_numpy as _np


def _kd64(t, s, temperature):
    def log_softmax(z):
        z = z.astype(np.float64) / temperature
        z = z - z.max(-1, keepdims=True)
        return z - np.log(np.exp(z).sum(-1, keepdims=True))

    log_p, log_q = log_softmax(t), log_softmax(s)
    return float((np.exp(log_p) * (log_p - log_q)).sum(-1).mean() * temperature**2)


class _SetTemperature(keras.callbacks.Callback):
    """Assigns a new temperature before each step and records that step's logs."""

    def __init__(self, values):
        super().__init__()
        self.values, self.logs = values, []

    def on_train_batch_begin(self, batch, logs=None):
        self.model.temperature = self.values[len(self.logs)]

    def on_train_batch_end(self, batch, logs=None):
        self.logs.append({k: float(v) for k, v in logs.items()})


def test_a_temperature_set_by_a_callback_reaches_the_very_next_step():
    x, y = testing.synthetic(n=32)
    teacher, student = testing.mlp(name="teacher"), testing.mlp(name="student")
    t, s = _np(teacher(x)), _np(student(x))
    distiller = kd.Distiller(teacher, student)
    # A zero learning rate keeps the student fixed, so each step's loss
    # depends on the temperature alone.
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    values = [1.0, 2.0, 5.0, 0.5]
    recorder = _SetTemperature(values)
    # One step per epoch: each epoch's logs are that step's values.
    distiller.fit(x, y, batch_size=32, epochs=4, verbose=0, callbacks=[recorder])
    got = [log["distillation_loss"] for log in recorder.logs]
    np.testing.assert_allclose(got, [_kd64(t, s, v) for v in values], rtol=1e-5)


def test_alpha_one_equals_plain_student_fit():
    x, y = testing.synthetic(n=64)
    teacher = testing.mlp(name="teacher")
    student = testing.mlp(name="student")
    plain = keras.models.clone_model(student)
    plain.set_weights(student.get_weights())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    plain.compile(optimizer=keras.optimizers.SGD(0.1), loss=loss)
    plain.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    distiller = kd.Distiller(teacher, student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=loss, alpha=1.0)
    distiller.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0)
    for a, b in zip(plain.get_weights(), student.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_consistent_teaching_learns_on_this_backend(jit_compile):
    x, y = testing.digits(256)
    teacher = testing.mlp(inputs=64, hidden=32, outputs=10, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=20, batch_size=64, verbose=0)
    distiller = kd.Distiller(
        teacher, testing.mlp(inputs=64, hidden=16, outputs=10, name="student"),
        mix=kd.augment.MixUp(), seed=0,
    )
    distiller.compile(optimizer="adam", alpha=0.0, temperature=1.0, jit_compile=jit_compile)
    history = distiller.fit(x, y, epochs=30, batch_size=32, verbose=0)
    losses = history.history["distillation_loss"]
    assert losses[-1] < 0.5 * losses[0]
    agreement = np.mean(
        np.argmax(distiller.predict(x, verbose=0), -1) == np.argmax(teacher.predict(x, verbose=0), -1)
    )
    assert agreement > 0.6  # chance: 0.1

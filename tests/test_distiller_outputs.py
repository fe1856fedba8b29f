"""Output activations (softmax/sigmoid teachers), task types and mixed precision."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests import testing
from tests.testing import to_numpy as _np


def _softmax_teacher(kind):
    inputs = keras.Input((8,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    if kind == "dense":
        outputs = keras.layers.Dense(4, activation="softmax")(hidden)
    elif kind == "softmax_layer":
        outputs = keras.layers.Softmax()(keras.layers.Dense(4)(hidden))
    else:
        outputs = keras.layers.Activation("softmax")(keras.layers.Dense(4)(hidden))
    return keras.Model(inputs, outputs, name="teacher")


def _logits_of(teacher, x):
    """The teacher's pre-softmax values, computed by hand from its layers."""
    hidden = teacher.layers[1](x)
    dense = [layer for layer in teacher.layers if isinstance(layer, keras.layers.Dense)][-1]
    return _np(hidden) @ _np(dense.kernel) + _np(dense.bias)


@pytest.mark.parametrize("kind", ["dense", "softmax_layer", "activation_layer"])
def test_softmax_teacher_logits_are_recovered_exactly(kind):
    teacher = _softmax_teacher(kind)
    distiller = kd.Distiller(teacher, testing.mlp(name="student"))
    x, _ = testing.synthetic(n=16)
    got = _np(distiller.teacher_logits(x))
    np.testing.assert_allclose(got, _logits_of(teacher, x), rtol=1e-5, atol=1e-5)


class SaturatedSoftmax(keras.Model):
    def __init__(self, scale=1.0):
        super().__init__(name="saturated_softmax")
        self.dense = keras.layers.Dense(4)
        self.scale = scale

    def build(self, input_shape):
        self.dense.build(input_shape)

    def call(self, x, training=None):
        return keras.ops.softmax(self.dense(x) * self.scale)


def test_saturated_softmax_teacher_never_gives_nan_or_inf():
    teacher = SaturatedSoftmax(scale=1e4)
    teacher.build((None, 8))
    x, y = testing.synthetic(n=64)
    assert np.any(_np(teacher(x)) == 0.0)  # probabilities underflow
    distiller = kd.Distiller(teacher, testing.mlp(name="student"), teacher_activation="softmax")
    logits = np.asarray(distiller.teacher_logits(x))
    assert np.all(np.isfinite(logits))
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        temperature=20.0,
    )
    history = distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(w)) for w in distiller.student.get_weights())


def test_softmax_student_with_probability_loss():
    x, y = testing.synthetic(n=64)
    student = testing.mlp(hidden=8, activation="softmax", name="student")
    distiller = kd.Distiller(_softmax_teacher("dense"), student)
    distiller.compile(
        optimizer="adam", student_loss_fn="sparse_categorical_crossentropy", temperature=4.0
    )
    history = distiller.fit(x, y, epochs=3, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert history.history["distillation_loss"][-1] < history.history["distillation_loss"][0]


@pytest.mark.parametrize("units", [1, 3])
def test_sigmoid_teachers_binary_and_multilabel(units):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 8)).astype("float32")
    y = (rng.uniform(size=(96, units)) > 0.5).astype("float32")
    teacher = testing.mlp(outputs=units, activation="sigmoid", name="teacher")
    student = testing.mlp(hidden=8, outputs=units, name="student")
    distiller = kd.Distiller(teacher, student)
    assert distiller._teacher_logits.mode == "dense"
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
        temperature=2.0,
        alpha=0.0,
    )
    history = distiller.fit(x, y, epochs=4, batch_size=32, verbose=0)
    losses = history.history["distillation_loss"]
    assert losses[-1] < losses[0]
    # The sigmoid form was used: matches kd_loss(activation="sigmoid") on the logits.
    teacher_logits = _np(distiller.teacher_logits(x))
    expected = np.mean(
        _np(kd.losses.kd_loss(teacher_logits, _np(student(x)), 2.0, activation="sigmoid"))
    )
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.0),
        student_loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
        temperature=2.0,
        alpha=0.0,
    )
    logged = distiller.fit(x, y, epochs=1, batch_size=96, verbose=0).history
    assert logged["distillation_loss"][0] == pytest.approx(float(expected), rel=1e-5)


def test_regression_with_logit_mse():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(128, 8)).astype("float32")
    y = x[:, :2] * 2.0
    teacher = testing.mlp(outputs=2, name="teacher")
    teacher.compile("adam", "mse")
    teacher.fit(x, y, epochs=5, verbose=0)
    distiller = kd.Distiller(teacher, testing.mlp(hidden=8, outputs=2, name="student"))
    distiller.compile(
        optimizer="adam", student_loss_fn="mse", distillation_loss_fn="logit_mse", alpha=0.2
    )
    history = distiller.fit(x, y, epochs=5, batch_size=32, verbose=0)
    assert history.history["distillation_loss"][-1] < history.history["distillation_loss"][0]


def test_mixed_precision_uses_loss_scaling_and_float32_math():
    keras.mixed_precision.set_global_policy("mixed_float16")
    teacher = testing.mlp(activation="softmax", name="teacher")
    student = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(4),
            keras.layers.Activation("linear", dtype="float32"),
        ],
        name="student",
    )
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        temperature=20.0,
    )
    assert isinstance(distiller.optimizer, keras.optimizers.LossScaleOptimizer)
    x, y = testing.synthetic(n=64)
    assert keras.backend.standardize_dtype(distiller.teacher_logits(x).dtype) == "float32"
    before = [w.copy() for w in student.get_weights()]
    history = distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    assert any(not np.array_equal(a, b) for a, b in zip(before, student.get_weights()))

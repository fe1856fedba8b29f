"""Every bad input gets a clear error naming the argument."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from tests import testing


def _distiller():
    return kd.Distiller(testing.mlp(name="teacher"), testing.mlp(hidden=8, name="student"))


@pytest.mark.parametrize("argument", ["teacher", "student"])
def test_models_must_be_keras_models(argument):
    models = {"teacher": testing.mlp(), "student": testing.mlp(hidden=8)}
    models[argument] = lambda x: x
    with pytest.raises(TypeError, match=f"`{argument}` must be a keras.Model"):
        kd.Distiller(**models)


def test_unbuilt_model_is_rejected():
    unbuilt = keras.Sequential([keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="`student`.*not built"):
        kd.Distiller(testing.mlp(), unbuilt)


def test_incomparable_output_shapes():
    with pytest.raises(ValueError, match=r"cannot be compared.*\(None, 4\).*\(None, 3\)"):
        kd.Distiller(testing.mlp(outputs=4), testing.mlp(outputs=3))


@pytest.mark.parametrize("temperature", [0, -1.0, "4", True, float("nan"), float("inf")])
def test_bad_temperature(temperature):
    distiller = _distiller()
    with pytest.raises(ValueError, match="`temperature` must be a finite number > 0"):
        distiller.compile(student_loss_fn="mse", temperature=temperature)
    with pytest.raises(ValueError, match="`temperature`"):
        distiller.temperature = temperature


@pytest.mark.parametrize("alpha", [-0.1, 1.5, "0.5", None])
def test_bad_alpha(alpha):
    distiller = _distiller()
    with pytest.raises(ValueError, match=r"`alpha`.*\[0, 1\]"):
        distiller.compile(student_loss_fn="mse", alpha=alpha)
    with pytest.raises(ValueError, match="`alpha`"):
        distiller.alpha = alpha


def test_unknown_loss_names():
    distiller = _distiller()
    with pytest.raises(ValueError, match="`distillation_loss_fn`.*'kd_loss_v2'"):
        distiller.compile(student_loss_fn="mse", distillation_loss_fn="kd_loss_v2")
    with pytest.raises(ValueError, match="`student_loss_fn`.*'cross_entropy_please'"):
        distiller.compile(student_loss_fn="cross_entropy_please")
    with pytest.raises(ValueError, match="`student_loss_fn` is required"):
        distiller.compile(alpha=0.5)


def test_bad_activation_argument():
    with pytest.raises(ValueError, match="`teacher_activation`"):
        kd.Distiller(testing.mlp(), testing.mlp(hidden=8), teacher_activation="relu")


def test_labels_that_do_not_fit_the_student_output():
    distiller = _distiller()
    distiller.compile(student_loss_fn=keras.losses.CategoricalCrossentropy(from_logits=True))
    x, _ = testing.synthetic(n=32)
    bad_labels = np.zeros((32, 7), "float32")
    with pytest.raises(ValueError, match=r"Labels `y` of shape \(\w+, 7\) do not fit"):
        distiller.fit(x, bad_labels, epochs=1, verbose=0)


def test_fit_before_compile():
    distiller = _distiller()
    x, y = testing.synthetic(n=16)
    with pytest.raises(ValueError, match=r"compile\(\)"):
        distiller.fit(x, y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"distiller.compile\("):
        distiller.train_step((x, y))


def test_softmax_student_with_from_logits_loss_warns():
    distiller = kd.Distiller(testing.mlp(), testing.mlp(hidden=8, activation="softmax"))
    with pytest.warns(UserWarning, match="from_logits=True"):
        distiller.compile(
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        )


def test_same_model_as_teacher_and_student():
    model = testing.mlp()
    with pytest.raises(ValueError, match="different models"):
        kd.Distiller(model, model)

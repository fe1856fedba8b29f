import warnings

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.core import cache_consistency as augmentation


def _models(augment):
    front = [keras.layers.RandomFlip("horizontal")] if augment else []
    image = keras.Input((6, 6, 1))
    teacher = keras.Sequential([image, keras.layers.Flatten(), keras.layers.Dense(3)])
    inner = keras.Sequential([keras.Input((6, 6, 1))] + front, name="augment")
    student = keras.Sequential(
        [keras.Input((6, 6, 1)), inner, keras.layers.Flatten(), keras.layers.Dense(3)]
    )
    return teacher, student


def _fit(augment, cached):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 6, 6, 1)).astype("float32")
    y = rng.integers(0, 3, size=(16,)).astype("int32")
    teacher, student = _models(augment)
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer="sgd",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    inputs = kd.TeacherCache.compute(teacher, x).inputs(x) if cached else x
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        distiller.fit(inputs, y, batch_size=8, epochs=1, verbose=0)
    return [str(w.message) for w in caught if "un-augmented" in str(w.message)]


@pytest.mark.parametrize(
    "augment, cached, warns",
    [(True, True, True), (True, False, False), (False, True, False)],
)
def test_random_layers_in_the_student_warn_only_with_cached_targets(augment, cached, warns):
    messages = _fit(augment, cached)
    assert bool(messages) == warns
    if warns:
        assert "random_flip" in messages[0]


def test_random_layers_found_in_nested_models():
    _, student = _models(augment=True)
    assert augmentation.random_layers(student) == ["random_flip"]
    assert augmentation.random_layers(_models(augment=False)[1]) == []


def test_dataset_marked_augmented_warns():
    x = np.zeros((4, 6, 6, 1), "float32")
    teacher, _ = _models(augment=False)
    cache = kd.TeacherCache.compute(teacher, x)
    with pytest.warns(UserWarning, match="marked `augmented=True`"):
        cache.dataset(x, np.zeros(4, "int32"), augmented=True)

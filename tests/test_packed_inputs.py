import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.core import packed_inputs

CLASSES = 50


def _teacher():
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(
                CLASSES, kernel_initializer=keras.initializers.RandomNormal(stddev=2.0, seed=0)
            ),
        ]
    )


def _x(n=64):
    return np.random.default_rng(0).normal(size=(n, 8)).astype("float32")


def _softmax(z):
    z = z.astype("float64") - z.max(axis=-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)


def test_top_k_with_all_classes_keeps_the_dense_distribution():
    teacher, x = _teacher(), _x()
    dense = kd.TeacherCache.compute(teacher, x, batch_size=16)
    full = kd.TeacherCache.compute(teacher, x, batch_size=16, top_k=CLASSES)
    np.testing.assert_allclose(
        _softmax(full.dense_logits()), _softmax(dense.dense_logits()), rtol=1e-5, atol=1e-12
    )
    assert full.top_k == CLASSES and dense.top_k is None


@pytest.mark.parametrize("k", [1, 5])
def test_dense_logits_of_a_top_k_cache_keep_the_top_k_and_spread_the_tail(k):
    teacher, x = _teacher(), _x()
    true = _softmax(kd.TeacherCache.compute(teacher, x).dense_logits())
    expanded = _softmax(kd.TeacherCache.compute(teacher, x, top_k=k).dense_logits())
    top = np.argsort(-true, axis=-1)[:, :k]
    np.testing.assert_allclose(
        np.take_along_axis(expanded, top, -1), np.take_along_axis(true, top, -1), rtol=1e-5, atol=1e-7
    )
    rest = np.ones_like(true, dtype=bool)
    np.put_along_axis(rest, top, False, -1)
    tail = expanded[rest].reshape(len(x), CLASSES - k)
    np.testing.assert_allclose(tail, tail[:, :1].repeat(CLASSES - k, axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        tail.sum(-1), true[rest].reshape(len(x), -1).sum(-1), rtol=1e-4, atol=1e-7
    )


def test_top_k_storage_size():
    teacher, x = _teacher(), _x()
    dense = kd.TeacherCache.compute(teacher, x)
    sparse = kd.TeacherCache.compute(teacher, x, top_k=5)
    assert dense.nbytes == 64 * CLASSES * 4
    # float32 log-probabilities + int32 ids per kept class, one float32 tail mass per sample.
    assert sparse.nbytes == 64 * (5 * 4 + 5 * 4 + 4)


def test_packed_structure_is_recognised_only_under_the_reserved_keys():
    x = {"inputs": np.zeros((2, 3)), "teacher_logits": np.zeros((2, 4))}
    assert not packed_inputs.is_packed(x)
    assert packed_inputs.unpack(x) == (x, None)
    packed = packed_inputs.pack(x, np.ones((2, 4)))
    assert packed_inputs.is_packed(packed)
    inputs, cached = packed_inputs.unpack(packed)
    assert inputs is x and cached.shape == (2, 4)


def test_top_k_cache_fit_matches_dense_cache_fit_when_k_is_all_classes():
    teacher, x = _teacher(), _x()
    y = np.random.default_rng(2).integers(0, CLASSES, size=(64,)).astype("int32")
    losses = []
    for top_k in (None, CLASSES):
        keras.utils.set_random_seed(7)
        student = keras.Sequential([keras.Input((8,)), keras.layers.Dense(CLASSES)])
        distiller = kd.Distiller(teacher, student)
        distiller.compile(
            optimizer="sgd",
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        cache = kd.TeacherCache.compute(teacher, x, top_k=top_k)
        history = distiller.fit(cache.inputs(x), y, batch_size=16, epochs=2, shuffle=False, verbose=0)
        losses.append(history.history["distillation_loss"])
    np.testing.assert_allclose(losses[0], losses[1], rtol=1e-5)

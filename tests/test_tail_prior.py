"""`keras_distill.cache.teacher_tail_prior`: the teacher's mass outside its top k, summed."""

import keras
import numpy as np
import pytest

import keras_distill


def _sequence_teacher(vocabulary=12, length=5):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((length,), dtype="int32")
    x = keras.layers.Embedding(vocabulary, 8)(inputs)
    return keras.Model(inputs, keras.layers.Dense(vocabulary)(x))


def _reference(logits, k, weights):
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.put_along_axis(p, np.argsort(-p, -1)[..., :k], 0.0, -1)
    return (p * weights[..., None]).reshape(-1, p.shape[-1]).sum(0)


@pytest.mark.parametrize("k", [1, 3, 11])
def test_matches_a_float64_reference_with_padding_weighted_out(k):
    teacher = _sequence_teacher()
    x = np.random.default_rng(0).integers(0, 12, (10, 5)).astype("int32")
    weights = (np.arange(5)[None, :] < np.arange(1, 11)[:, None] % 6).astype("float32")
    prior = keras_distill.cache.teacher_tail_prior(teacher, x, k, sample_weight=weights,
                                                   batch_size=4)
    expected = _reference(teacher.predict(x, verbose=0), k, weights)
    np.testing.assert_allclose(prior, expected + 1e-12 * expected.sum(), rtol=1e-5, atol=1e-9)
    assert np.all(prior > 0)
    # The weights matter: counting the padded positions too gives another sum.
    unweighted = keras_distill.cache.teacher_tail_prior(teacher, x, k)
    assert not np.allclose(unweighted, prior)


def test_feeds_kd_loss_with_a_top_k_cache():
    teacher = _sequence_teacher()
    x = np.random.default_rng(1).integers(0, 12, (8, 5)).astype("int32")
    cache = keras_distill.TeacherCache.compute(teacher, x, top_k=3)
    prior = keras_distill.cache.teacher_tail_prior(teacher, x, 3)
    loss = keras_distill.losses.KDLoss(top_k_tail=0.5, top_k_prior=prior)
    student = _sequence_teacher()
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", distillation_loss_fn=loss, alpha=0.0)
    history = distiller.fit(cache.inputs(x), x, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"top_k": 0}, "`top_k` must be a positive int"),
        ({"top_k": 13}, "`top_k` must be at most the teacher's 12 classes"),
        ({"top_k": 12}, "no probability outside its top k"),
        ({"top_k": 2, "sample_weight": np.ones((3, 5))}, "one row per sample of `x` \\(4\\)"),
        ({"top_k": 2, "sample_weight": np.ones((4,))}, "must weigh the positions"),
        ({"top_k": 2, "batch_size": 0}, "`batch_size` must be a positive int"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    teacher = _sequence_teacher()
    x = np.zeros((4, 5), "int32")
    with pytest.raises(ValueError, match=message):
        keras_distill.cache.teacher_tail_prior(teacher, x, **kwargs)

"""Feature losses against float64 NumPy references of their papers' formulas."""

import keras
import numpy as np
import pytest
from keras import ops

from keras_distill import losses


def _np(x):
    return np.asarray(ops.convert_to_numpy(x), dtype=np.float64)


def _normalize(x, axis=-1):
    return x / np.maximum(np.sqrt((x**2).sum(axis=axis, keepdims=True)), 1e-12)


def _huber(x):
    a = np.abs(x)
    return np.where(a < 1.0, 0.5 * x**2, a - 0.5)


def _features(shape, seed):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_hint_loss_is_the_mean_squared_difference():
    t, s = _features((5, 4, 4, 3), 0), _features((5, 4, 4, 3), 1)
    expected = ((s.astype(np.float64) - t) ** 2).reshape(5, -1).mean(-1)
    np.testing.assert_allclose(_np(losses.hint_loss(t, s)), expected, rtol=1e-6)
    np.testing.assert_allclose(_np(losses.HintLoss()(t, s)), expected.mean(), rtol=1e-6)


def test_hint_loss_applies_sample_weight_per_sample():
    t, s = _features((4, 6), 0), _features((4, 6), 1)
    w = np.array([1.0, 0.0, 2.0, 0.5], "float32")
    per_sample = ((s.astype(np.float64) - t) ** 2).mean(-1)
    value = losses.HintLoss()(t, s, sample_weight=w)
    np.testing.assert_allclose(_np(value), (per_sample * w).mean(), rtol=1e-6)


def test_attention_transfer_matches_the_paper_with_different_channels():
    t, s = _features((3, 5, 4, 8), 2), _features((3, 5, 4, 2), 3)

    def attention(f):
        a = (np.abs(f.astype(np.float64)) ** 2).mean(-1).reshape(len(f), -1)
        return _normalize(a)

    expected = ((attention(s) - attention(t)) ** 2).mean(-1)
    np.testing.assert_allclose(_np(losses.attention_transfer_loss(t, s)), expected, rtol=1e-5)
    # p = 1 uses |f| instead of f².
    a1 = lambda f: _normalize(np.abs(f.astype(np.float64)).mean(-1).reshape(len(f), -1))  # noqa: E731
    np.testing.assert_allclose(
        _np(losses.AttentionTransfer(p=1.0, reduction=None)(t, s)),
        ((a1(s) - a1(t)) ** 2).mean(-1),
        rtol=1e-5,
    )


def test_attention_transfer_rejects_vectors_and_other_resolutions():
    with pytest.raises(ValueError, match="rank >= 3"):
        losses.attention_transfer_loss(_features((2, 4), 0), _features((2, 4), 1))
    with pytest.raises(ValueError, match="same positions"):
        losses.attention_transfer_loss(_features((2, 4, 4, 3), 0), _features((2, 2, 2, 3), 1))
    with pytest.raises(ValueError, match="`p` must be > 0"):
        losses.AttentionTransfer(p=0)


def test_similarity_preserving_matches_the_paper():
    t, s = _features((6, 3, 3, 4), 4), _features((6, 10), 5)

    def gram(f):
        f = f.astype(np.float64).reshape(len(f), -1)
        return _normalize(f @ f.T)

    diff = gram(s) - gram(t)
    np.testing.assert_allclose(
        _np(losses.similarity_preserving_loss(t, s)), (diff**2).sum(-1) / 6, rtol=1e-5
    )
    np.testing.assert_allclose(
        _np(losses.SimilarityPreserving()(t, s)), (diff**2).sum() / 36, rtol=1e-5
    )


def _rkd_reference(t, s, wd, wa):
    def distances(e):
        e = e.astype(np.float64).reshape(len(e), -1)
        d = np.sqrt(np.maximum(((e[:, None] - e[None]) ** 2).sum(-1), 1e-12))
        np.fill_diagonal(d, 0.0)
        return d / (d.sum() / (len(e) * (len(e) - 1)))

    def angles(e):
        e = e.astype(np.float64).reshape(len(e), -1)
        directions = _normalize(e[None, :, :] - e[:, None, :])
        return np.einsum("ijd,ikd->ijk", directions, directions)

    distance = _huber(distances(s) - distances(t)).mean(-1)
    angle = _huber(angles(s) - angles(t)).reshape(len(t), -1).mean(-1)
    return wd * distance + wa * angle


@pytest.mark.parametrize("wd, wa", [(25.0, 50.0), (1.0, 0.0), (0.0, 1.0)])
def test_rkd_matches_the_paper(wd, wa):
    t, s = _features((7, 12), 6) * 3.0, _features((7, 5), 7)
    expected = _rkd_reference(t, s, wd, wa)
    np.testing.assert_allclose(_np(losses.rkd_loss(t, s, wd, wa)), expected, rtol=1e-4, atol=1e-6)
    value = losses.RKDLoss(distance_weight=wd, angle_weight=wa)(t, s)
    np.testing.assert_allclose(_np(value), expected.mean(), rtol=1e-4)


def test_rkd_rejects_no_term():
    with pytest.raises(ValueError, match="not both 0"):
        losses.RKDLoss(distance_weight=0.0, angle_weight=0.0)


def test_relational_losses_are_finite_for_duplicate_and_zero_samples():
    t = _features((4, 6), 8)
    s = np.zeros((4, 3), "float32")  # every student embedding equal: zero distances
    for loss in (losses.RKDLoss(), losses.SimilarityPreserving()):
        assert np.isfinite(_np(loss(t, s)))


def test_keras_losses_on_features_average_per_sample():
    t, s = _features((4, 3, 5), 9), _features((4, 3, 5), 10)
    mse = losses.get_feature_loss("mse")
    expected = ((s.astype(np.float64) - t) ** 2).reshape(4, -1).mean(-1)
    np.testing.assert_allclose(_np(mse(t, s)), expected.mean(), rtol=1e-6)
    cosine = losses.get_feature_loss(keras.losses.CosineSimilarity())
    np.testing.assert_allclose(_np(cosine(t, t)), -1.0, rtol=1e-6)


def test_get_feature_loss_names_and_errors():
    assert isinstance(losses.get_feature_loss(None), losses.HintLoss)
    assert isinstance(losses.get_feature_loss("at"), losses.AttentionTransfer)
    assert isinstance(losses.get_feature_loss("sp"), losses.SimilarityPreserving)
    assert isinstance(losses.get_feature_loss("rkd"), losses.RKDLoss)
    with pytest.raises(ValueError, match="unknown feature loss 'nope'"):
        losses.get_feature_loss("nope")
    with pytest.raises(ValueError, match="must be a feature loss name"):
        losses.get_feature_loss(3)


@pytest.mark.parametrize(
    "loss",
    [losses.HintLoss(), losses.AttentionTransfer(p=1.5), losses.SimilarityPreserving(),
     losses.RKDLoss(distance_weight=2.0, angle_weight=3.0), losses.KerasFeatureLoss("mae")],
)
def test_feature_losses_round_trip_through_keras_serialization(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    t, s = _features((4, 3, 3, 2), 11), _features((4, 3, 3, 2), 12)
    np.testing.assert_allclose(_np(restored(t, s)), _np(loss(t, s)), rtol=1e-6)

"""Logit standardization, DKD and DIST against float64 NumPy references."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.losses import dist_loss
from keras_distill.losses import dkd_loss
from keras_distill.losses import kd_loss
from tests.testing import to_numpy as _np


def _softmax64(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def _kl64(p, q):
    mask = p > 0
    return np.where(mask, p * (np.log(np.where(mask, p, 1)) - np.log(q)), 0).sum(axis=-1)


def _logits(seed, shape=(48, 10), scale=3.0):
    rng = np.random.default_rng(seed)
    t = rng.normal(scale=scale, size=shape).astype("float32")
    s = rng.normal(scale=scale, size=shape).astype("float32")
    return t, s, rng.integers(0, shape[-1], size=shape[0])


def _standardize64(z):
    z = z.astype(np.float64)
    centered = z - z.mean(axis=-1, keepdims=True)
    return centered / (centered.std(axis=-1, keepdims=True) + 1e-7)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 4.0])
def test_standardized_kd_matches_reference(temperature):
    t, s, _ = _logits(1)
    # Student logits at another scale and shift: standardization removes both.
    s = 0.1 * s + 5.0
    p = _softmax64(_standardize64(t) / temperature)
    q = _softmax64(_standardize64(s) / temperature)
    want = _kl64(p, q) * temperature**2
    got = np.asarray(kd_loss(t, s, temperature, activation="softmax", standardize=True))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    loss = kd.losses.KDLoss(standardize=True)
    assert float(loss(t, s, temperature=temperature)) == pytest.approx(want.mean(), rel=1e-5)


def test_standardized_kd_ignores_logit_scale_and_shift():
    t, s, _ = _logits(2)
    a = np.asarray(kd_loss(t, s, 3.0, standardize=True))
    b = np.asarray(kd_loss(4.0 * t + 2.0, 0.5 * s - 1.0, 3.0, standardize=True))
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # Without standardization the scale matters.
    assert not np.allclose(kd_loss(t, s, 3.0), kd_loss(4.0 * t, s, 3.0))


def test_standardize_rejects_sigmoid():
    t, s, _ = _logits(3, shape=(8, 1))
    with pytest.raises(ValueError, match="standardize"):
        kd_loss(t, s, 2.0, activation="sigmoid", standardize=True)


def _dkd64(t, s, labels, temperature, alpha, beta):
    t, s = t.astype(np.float64), s.astype(np.float64)
    gt = np.eye(t.shape[-1])[labels]
    p, q = _softmax64(t / temperature), _softmax64(s / temperature)
    bp = np.stack([(p * gt).sum(-1), (p * (1 - gt)).sum(-1)], axis=-1)
    bq = np.stack([(q * gt).sum(-1), (q * (1 - gt)).sum(-1)], axis=-1)
    tckd = _kl64(bp, bq)
    pn = _softmax64(np.where(gt > 0, -np.inf, t / temperature))
    qn = _softmax64(np.where(gt > 0, -np.inf, s / temperature))
    nckd = _kl64(pn, np.where(gt > 0, 1, qn))
    return (alpha * tckd + beta * nckd) * temperature**2


@pytest.mark.parametrize("temperature,alpha,beta", [(1.0, 1.0, 8.0), (4.0, 1.0, 8.0), (2.0, 0.5, 2.0)])
def test_dkd_matches_reference(temperature, alpha, beta):
    t, s, labels = _logits(4)
    want = _dkd64(t, s, labels, temperature, alpha, beta)
    got = np.asarray(dkd_loss(t, s, labels, temperature, alpha, beta))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    # One-hot and (batch, 1) labels give the same value.
    one_hot = np.eye(10, dtype="float32")[labels]
    np.testing.assert_allclose(dkd_loss(t, s, one_hot, temperature, alpha, beta), got, rtol=1e-6)
    np.testing.assert_allclose(
        dkd_loss(t, s, labels[:, None], temperature, alpha, beta), got, rtol=1e-6
    )


def test_dkd_with_alpha_equal_beta_equal_one_is_not_kd_but_decomposes_it():
    # Zhao et al.: KD = TCKD + (1 - p_t^target) NCKD; check the identity.
    t, s, labels = _logits(5)
    tckd = _dkd64(t, s, labels, 2.0, 1.0, 0.0)
    nckd = _dkd64(t, s, labels, 2.0, 0.0, 1.0)
    p_target = _softmax64(t.astype(np.float64) / 2.0)[np.arange(len(labels)), labels]
    kd_value = np.asarray(kd_loss(t, s, 2.0, activation="softmax"))
    np.testing.assert_allclose(kd_value, tckd + (1 - p_target) * nckd, rtol=1e-4, atol=1e-6)


def test_dkd_warmup_scales_by_step():
    t, s, labels = _logits(6)
    loss = kd.losses.DKDLoss(warmup_steps=10)
    full = float(loss(t, s, temperature=4.0, labels=labels, step=10))
    assert float(loss(t, s, temperature=4.0, labels=labels, step=5)) == pytest.approx(full / 2)
    assert float(loss(t, s, temperature=4.0, labels=labels, step=20)) == pytest.approx(full)
    with pytest.raises(ValueError, match="labels"):
        loss(t, s, temperature=4.0)
    with pytest.raises(ValueError, match="warmup_steps"):
        kd.losses.DKDLoss(warmup_steps=-1)


def _pearson64(a, b, axis):
    a = a - a.mean(axis=axis, keepdims=True)
    b = b - b.mean(axis=axis, keepdims=True)
    return (a * b).sum(axis) / (np.sqrt((a * a).sum(axis)) * np.sqrt((b * b).sum(axis)) + 1e-8)


@pytest.mark.parametrize("temperature", [1.0, 4.0])
def test_dist_matches_reference(temperature):
    t, s, _ = _logits(7)
    p = _softmax64(t.astype(np.float64) / temperature)
    q = _softmax64(s.astype(np.float64) / temperature)
    inter = 1 - _pearson64(q, p, axis=-1)
    intra = 1 - _pearson64(q, p, axis=0).mean()
    want = (1.0 * inter + 2.0 * intra) * temperature**2
    got = np.asarray(dist_loss(t, s, temperature, beta=1.0, gamma=2.0))
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    loss = kd.losses.DISTLoss(gamma=2.0)
    assert float(loss(t, s, temperature=temperature)) == pytest.approx(want.mean(), rel=1e-4)


def test_dist_is_zero_for_identical_logits():
    t, _, _ = _logits(8)
    assert float(kd.losses.DISTLoss()(t, t, temperature=1.0)) == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize(
    "loss",
    [kd.losses.KDLoss(standardize=True), kd.losses.DKDLoss(beta=2.0, warmup_steps=5),
     kd.losses.DISTLoss(beta=0.5)],
    ids=["kd_standardized", "dkd", "dist"],
)
def test_losses_round_trip_through_keras_serialization(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()


@pytest.mark.parametrize("name,cls", [("dkd", kd.losses.DKDLoss), ("dist_loss", kd.losses.DISTLoss)])
def test_losses_by_name(name, cls):
    assert isinstance(kd.losses.get(name), cls)


def test_dkd_in_the_distiller_receives_the_labels():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 6)).astype("float32")
    y = rng.integers(0, 4, size=64)
    teacher = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    student = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    want = _dkd64(_np(teacher(x)), _np(student(x)), y, 4.0, 1.0, 8.0).mean()
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), distillation_loss_fn="dkd",
                      alpha=0.0, temperature=4.0)
    logs = distiller.train_on_batch(x, y, return_dict=True)
    assert logs["distillation_loss"] == pytest.approx(want, rel=1e-4)

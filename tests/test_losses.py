import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.losses import kd_loss
from keras_distill.losses import logit_mse
from keras_distill.losses import soft_target_cross_entropy


def _log_softmax64(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _kd_reference(t, s, temperature):
    log_p = _log_softmax64(t.astype(np.float64) / temperature)
    log_q = _log_softmax64(s.astype(np.float64) / temperature)
    return (np.exp(log_p) * (log_p - log_q)).sum(axis=-1) * temperature**2


def _sigmoid_kd_reference(t, s, temperature):
    p = 1 / (1 + np.exp(-t.astype(np.float64) / temperature))
    q = 1 / (1 + np.exp(-s.astype(np.float64) / temperature))
    kl = p * np.log(p / q) + (1 - p) * np.log((1 - p) / (1 - q))
    return kl.mean(axis=-1) * temperature**2


@pytest.mark.parametrize("temperature", [0.5, 1.0, 4.0, 20.0])
def test_kd_loss_matches_float64_reference(temperature):
    rng = np.random.default_rng(int(temperature * 10))
    t = rng.normal(scale=3.0, size=(64, 10)).astype("float32")
    s = rng.normal(scale=3.0, size=(64, 10)).astype("float32")
    got = np.asarray(kd_loss(t, s, temperature, activation="softmax"))
    want = _kd_reference(t, s, temperature)
    # float32 per-sample values; the reduced loss is what must be within 1e-6.
    np.testing.assert_allclose(got, want, rtol=1e-5)
    reduced = float(kd.losses.KDLoss()(t, s, temperature=temperature))
    assert abs(reduced - want.mean()) / want.mean() < 1e-6


@pytest.mark.parametrize("temperature", [1.0, 3.0])
def test_sigmoid_kd_loss_matches_reference(temperature):
    rng = np.random.default_rng(3)
    t = rng.normal(size=(32, 5)).astype("float32")
    s = rng.normal(size=(32, 5)).astype("float32")
    got = np.asarray(kd_loss(t, s, temperature, activation="sigmoid"))
    np.testing.assert_allclose(got, _sigmoid_kd_reference(t, s, temperature), rtol=1e-4)
    # One output unit resolves to the sigmoid form automatically.
    auto = np.asarray(kd_loss(t[:, :1], s[:, :1], temperature))
    np.testing.assert_allclose(
        auto, _sigmoid_kd_reference(t[:, :1], s[:, :1], temperature), rtol=1e-4
    )


def test_soft_target_cross_entropy_is_kd_plus_teacher_entropy():
    rng = np.random.default_rng(1)
    t = rng.normal(size=(16, 7)).astype("float32")
    s = rng.normal(size=(16, 7)).astype("float32")
    temperature = 2.5
    log_p = _log_softmax64(t / temperature)
    entropy = -(np.exp(log_p) * log_p).sum(axis=-1) * temperature**2
    got = np.asarray(soft_target_cross_entropy(t, s, temperature))
    np.testing.assert_allclose(got, _kd_reference(t, s, temperature) + entropy, rtol=1e-5)


def test_logit_mse_ignores_temperature():
    t = np.array([[1.0, 2.0], [0.0, -1.0]], "float32")
    s = np.array([[0.0, 2.0], [2.0, 1.0]], "float32")
    np.testing.assert_allclose(np.asarray(logit_mse(t, s)), [0.5, 4.0])
    loss = kd.losses.LogitMSE()
    assert float(loss(t, s, temperature=7.0)) == pytest.approx(2.25)


def test_losses_are_finite_for_extreme_logits():
    t = np.array([[1e4, -1e4, 0.0]], "float32")
    s = np.array([[-1e4, 1e4, 0.0]], "float32")
    for activation in ("softmax", "sigmoid"):
        value = np.asarray(kd_loss(t, s, 1.0, activation=activation))
        assert np.all(np.isfinite(value))
        assert value[0] > 0


def test_sample_weight_and_reductions():
    rng = np.random.default_rng(2)
    t = rng.normal(size=(8, 4)).astype("float32")
    s = rng.normal(size=(8, 4)).astype("float32")
    w = rng.uniform(size=(8,)).astype("float32")
    per_sample = _kd_reference(t, s, 2.0)
    mean = kd.losses.KDLoss()(t, s, sample_weight=w, temperature=2.0)
    assert float(mean) == pytest.approx((per_sample * w).sum() / 8, rel=1e-5)
    total = kd.losses.KDLoss(reduction="sum")(t, s, sample_weight=w[:, None], temperature=2.0)
    assert float(total) == pytest.approx((per_sample * w).sum(), rel=1e-5)
    none = kd.losses.KDLoss(reduction=None)(t, s, temperature=2.0)
    np.testing.assert_allclose(np.asarray(none), per_sample, rtol=1e-5)


@pytest.mark.parametrize(
    "loss",
    [
        kd.losses.KDLoss(activation="sigmoid", reduction="sum"),
        kd.losses.SoftTargetCrossEntropy(),
        kd.losses.LogitMSE(name="mse_to_teacher"),
    ],
)
def test_loss_config_round_trip(loss):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is type(loss)
    assert restored.get_config() == loss.get_config()


def test_bad_loss_arguments():
    with pytest.raises(ValueError, match="activation"):
        kd.losses.KDLoss(activation="tanh")
    with pytest.raises(ValueError, match="reduction"):
        kd.losses.KDLoss(reduction="median")
    with pytest.raises(ValueError, match="distillation_loss_fn.*no_such_loss"):
        kd.losses.get("no_such_loss")
    with pytest.raises(ValueError, match="distillation_loss_fn"):
        kd.losses.get(42)


def test_get_resolves_names_and_keras_losses():
    assert isinstance(kd.losses.get(None), kd.losses.KDLoss)
    assert isinstance(kd.losses.get("soft_target_cross_entropy"), kd.losses.SoftTargetCrossEntropy)
    adapter = kd.losses.get("kl_divergence")
    rng = np.random.default_rng(4)
    t = rng.normal(size=(16, 5)).astype("float32")
    s = rng.normal(size=(16, 5)).astype("float32")
    # keras.io-style KL on softened probabilities equals the Hinton KD loss.
    assert float(adapter(t, s, temperature=3.0)) == pytest.approx(
        _kd_reference(t, s, 3.0).mean(), rel=1e-4
    )

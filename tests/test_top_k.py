"""Top-k teacher caches: ids, log-probabilities and a tail bucket, read sparse by the loss."""

import json
import os

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill import losses
from keras_distill.core.errors import StaleCacheError
from tests.test_divergences import reference
from tests.test_token_distillation import sequence_model
from tests.test_token_distillation import tokens

RTOL = 1e-5


def _log_softmax(z):
    z = np.asarray(z, np.float64)
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _numpy(cached):
    return {name: keras.ops.convert_to_numpy(value) for name, value in cached.items()}


def reference_top_k_kl(cached, student_logits, temperature):
    """Float64 KL over the k ids and the tail, each side's buckets b^(1/T) renormalised."""
    ids = cached["indices"]
    teacher = np.concatenate(
        [cached["log_probs"].astype(np.float64), np.log(cached["tail_mass"].astype(np.float64))[
            ..., None]], -1)
    log_q = _log_softmax(student_logits)
    kept = np.take_along_axis(log_q, ids, -1)
    others = np.ones(log_q.shape, bool)
    np.put_along_axis(others, ids, False, -1)
    tail = np.log(np.where(others, np.exp(log_q), 0.0).sum(-1))
    student = np.concatenate([kept, tail[..., None]], -1)
    log_p = _log_softmax(teacher / temperature)
    log_q = _log_softmax(student / temperature)
    return (np.exp(log_p) * (log_p - log_q)).sum(-1) * temperature**2


def _logits(shape, scale, seed):
    rng = np.random.default_rng(seed)
    if scale == "huge":
        return rng.uniform(-1e4, 1e4, size=shape).astype("float32")
    return (rng.normal(size=shape) * scale).astype("float32")


def test_compressed_fields_match_the_float64_softmax():
    logits = _logits((2, 3, 32000), 4.0, 0)
    cached = _numpy(losses.compress_top_k(logits, 8))
    assert cached["indices"].dtype == np.int32 and cached["indices"].shape == (2, 3, 8)
    assert cached["log_probs"].dtype == np.float32 and cached["tail_mass"].shape == (2, 3)
    log_p = _log_softmax(logits)
    top = np.argsort(-log_p, -1)[..., :8]
    np.testing.assert_array_equal(np.sort(cached["indices"], -1), np.sort(top, -1))
    np.testing.assert_allclose(
        cached["log_probs"], np.take_along_axis(log_p, cached["indices"], -1), rtol=RTOL
    )
    expected_tail = 1.0 - np.exp(np.take_along_axis(log_p, top, -1)).sum(-1)
    np.testing.assert_allclose(cached["tail_mass"], expected_tail, rtol=RTOL)
    full = _numpy(losses.compress_top_k(logits, 32000))
    np.testing.assert_array_equal(full["tail_mass"], 0.0)


def test_a_tail_far_below_the_kept_mass_keeps_its_precision():
    # 1 - sum(top-k probabilities) would round to 0 in float32 here; the tail is exp(-40).
    logits = np.zeros((1, 10), "float32")
    logits[0, 0] = 40.0 + np.log(9.0)
    cached = _numpy(losses.compress_top_k(logits, 1))
    exact = 9.0 / (np.exp(np.float64(logits[0, 0])) + 9.0)  # about exp(-40)
    # Log-space rounding at a log-sum-exp of 42 (float32 spacing 4e-6) bounds the precision.
    np.testing.assert_allclose(cached["tail_mass"][0], exact, rtol=1e-4)
    student = np.zeros((1, 10), "float32")
    student[0, 0] = 30.0
    values = keras.ops.convert_to_numpy(losses.top_k_kl(cached, student))
    # A KL of 8e-13 (the tail buckets' difference); 1 - sum(kept) would give 0 or inf here.
    np.testing.assert_allclose(values, reference_top_k_kl(cached, student, 1.0), rtol=1e-4)


@pytest.mark.parametrize("temperature", [1.0, 2.5])
@pytest.mark.parametrize("name", ["forward_kl", "reverse_kl", "jsd", "skew_kl",
                                  "skew_reverse_kl", "tvd"])
def test_at_k_equal_to_the_vocabulary_it_is_the_dense_loss(name, temperature):
    t, s = _logits((2, 3, 32000), 3.0, 1), _logits((2, 3, 32000), 3.0, 2)
    cached = losses.compress_top_k(t, 32000)
    loss = losses.get(name)
    loss.reduction = None
    sparse = keras.ops.convert_to_numpy(loss(cached, s, temperature=temperature))
    dense = keras.ops.convert_to_numpy(loss(t, s, temperature=temperature))
    np.testing.assert_allclose(sparse, dense, rtol=RTOL)
    np.testing.assert_allclose(sparse, reference(name, t, s, temperature), rtol=RTOL)


@pytest.mark.parametrize("k", [8, 100])
@pytest.mark.parametrize("scale,temperature", [(3.0, 1.0), (3.0, 2.0), (3.0, 0.7), ("huge", 1.0)])
def test_top_k_kl_matches_the_float64_bucket_reference(k, scale, temperature):
    t = _logits((2, 5, 32000), 3.0, 3)
    s = _logits((2, 5, 32000), scale, 4)
    cached = _numpy(losses.compress_top_k(t, k))
    values = keras.ops.convert_to_numpy(losses.top_k_kl(cached, s, temperature))
    np.testing.assert_allclose(values, reference_top_k_kl(cached, s, temperature), rtol=RTOL)


def test_a_student_equal_to_its_teacher_has_zero_loss_at_any_temperature():
    t = _logits((4, 500), 3.0, 5)
    cached = losses.compress_top_k(t, 8)
    for name in ("forward_kl", "reverse_kl", "jsd", "skew_kl", "skew_reverse_kl", "tvd"):
        value = float(losses.get(name)(cached, t, temperature=3.0))
        assert abs(value) < 1e-5, (name, value)


def test_float16_log_probabilities_and_student():
    t = _logits((3, 4, 2000), 3.0, 6)
    s = _logits((3, 4, 2000), 3.0, 7).astype("float16")
    cached = _numpy(losses.compress_top_k(t, 16))
    cached["log_probs"] = cached["log_probs"].astype("float16")
    value = float(losses.KDLoss()(cached, s, temperature=2.0))
    expected = reference_top_k_kl(cached, s.astype(np.float32), 2.0).mean()
    np.testing.assert_allclose(value, expected, rtol=RTOL)


class _RecordingKL(losses.KDLoss):
    seen = []

    def call_top_k(self, cached, student_outputs, temperature, activation=None):
        _RecordingKL.seen.append({name: tuple(v.shape) for name, v in cached.items()})
        return super().call_top_k(cached, student_outputs, temperature, activation)


def _distiller(teacher, student, loss="kd", learning_rate=0.0):
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate) if learning_rate else
        keras.optimizers.SGD(0.0),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=loss, alpha=0.0, temperature=2.0,
    )
    return distiller


def test_the_distiller_hands_the_loss_the_sparse_cache_with_masks_and_weights():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(n=16, seed=8)
    weights = np.random.default_rng(9).uniform(0.5, 2.0, size=x.shape).astype("float32")
    cache = kd.TeacherCache.compute(teacher, x, top_k=3)
    _RecordingKL.seen.clear()
    logs = _distiller(teacher, student, _RecordingKL()).fit(
        cache.inputs(x), y, sample_weight=weights, batch_size=16, epochs=1, verbose=0,
        shuffle=False,
    ).history
    assert _RecordingKL.seen and all(
        shapes == {"indices": (16, 7, 3), "log_probs": (16, 7, 3), "tail_mass": (16, 7)}
        for shapes in _RecordingKL.seen
    )
    stored = {name: np.asarray(value) for name, value in cache._outputs.items()}
    per_token = reference_top_k_kl(stored, keras.ops.convert_to_numpy(student(x)), 2.0)
    valid = (x != 0) * weights
    expected = (per_token * valid).sum() / (x != 0).sum()
    np.testing.assert_allclose(logs["distillation_loss"][0], expected, rtol=RTOL)


@pytest.mark.parametrize("name", ["forward_kl", "reverse_kl", "jsd"])
def test_the_distiller_trains_from_a_top_k_cache(name):
    teacher, student = sequence_model(16, "t"), sequence_model(8, "s")
    x, y = tokens(n=64, seed=10)
    cache = kd.TeacherCache.compute(teacher, x, top_k=4)
    history = _distiller(teacher, student, name, learning_rate=0.02).fit(
        cache.inputs(x), y, batch_size=16, epochs=6, verbose=0
    ).history["distillation_loss"]
    assert history[-1] < 0.7 * history[0], history


def test_a_loss_that_needs_dense_outputs_names_the_problem():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(n=16, seed=11)
    cache = kd.TeacherCache.compute(teacher, x, top_k=3)
    with pytest.raises(ValueError, match="cannot read a top-k teacher cache"):
        _distiller(teacher, student, "logit_mse").fit(cache.inputs(x), y, epochs=1, verbose=0)
    with pytest.raises(ValueError, match="standardize"):
        losses.KDLoss(standardize=True)(losses.compress_top_k(np.zeros((2, 5)), 2), np.zeros((2, 5)))


def test_an_old_format_cache_file_gets_a_clear_error(tmp_path):
    teacher = sequence_model(16, "t")
    x, _ = tokens(n=8, seed=12)
    path = str(tmp_path / "c.npz")
    kd.TeacherCache.compute(teacher, x, top_k=3, path=path)
    with np.load(path) as data:
        fields = dict(data)
    # A version-1 file: values and a fill logit instead of log-probabilities and a tail mass.
    fields["values"] = fields.pop("log_probs")
    fields["fill"] = fields.pop("tail_mass")
    fields["format_version"] = np.array(1)
    np.savez(path, **fields)
    with pytest.raises(StaleCacheError, match="format version 1; this keras_distill reads version 2"):
        kd.TeacherCache.load(path, teacher=teacher, x=x)


def test_the_sharded_cache_stores_the_same_fields(tmp_path):
    teacher = sequence_model(16, "t")
    x, _ = tokens(n=20, seed=13)
    sharded = kd.ShardedTeacherCache.build(teacher, x, tmp_path / "s", shard_size=8, top_k=3)
    memory = kd.TeacherCache.compute(teacher, x, top_k=3)
    shard = sharded.read_shard(1)
    assert shard["indices"].dtype == np.int32 and shard["log_probs"].dtype == np.float16
    assert shard["tail_mass"].dtype == np.float32  # a small tail would vanish in float16
    np.testing.assert_array_equal(shard["indices"], memory._outputs["indices"][8:16])
    np.testing.assert_allclose(shard["log_probs"], memory._outputs["log_probs"][8:16], atol=2e-2)
    np.testing.assert_array_equal(shard["tail_mass"], memory._outputs["tail_mass"][8:16])
    settings_path = os.path.join(tmp_path, "s", "cache.json")
    with open(settings_path) as f:
        settings = json.load(f)
    settings["format_version"] = 1
    with open(settings_path, "w") as f:
        json.dump(settings, f)
    with pytest.raises(StaleCacheError, match="format version 1"):
        kd.ShardedTeacherCache.open(tmp_path / "s")


def reference_spread_tail_kl(cached, student_logits, temperature, prior=None):
    """Float64 dense KL: the teacher expanded to the vocabulary, its tail spread by the prior."""
    ids = cached["indices"]
    prior = np.ones(student_logits.shape[-1]) if prior is None else np.asarray(prior, np.float64)
    prior = np.broadcast_to(prior, student_logits.shape).copy()
    np.put_along_axis(prior, ids, 0.0, -1)
    tail = cached["tail_mass"].astype(np.float64)[..., None]
    p = tail * prior / prior.sum(-1, keepdims=True)
    np.put_along_axis(p, ids, np.exp(cached["log_probs"].astype(np.float64)), -1)
    log_p = _log_softmax(np.log(p) / temperature)
    log_q = _log_softmax(np.asarray(student_logits, np.float64) / temperature)
    return (np.exp(log_p) * (log_p - log_q)).sum(-1) * temperature**2


@pytest.mark.parametrize("k", [8, 100])
@pytest.mark.parametrize("scale,temperature", [(3.0, 1.0), (3.0, 2.0), (3.0, 0.7), ("huge", 1.0)])
@pytest.mark.parametrize("with_prior", [False, True])
def test_the_spread_tail_matches_the_float64_expanded_reference(k, scale, temperature, with_prior):
    t = _logits((2, 5, 32000), 3.0, 3)
    s = _logits((2, 5, 32000), scale, 4)
    prior = np.random.default_rng(7).gamma(0.3, size=32000) + 1e-6 if with_prior else None
    cached = _numpy(losses.compress_top_k(t, k))
    values = keras.ops.convert_to_numpy(
        losses.top_k_kl(cached, s, temperature, tail="spread", prior=prior))
    np.testing.assert_allclose(
        values, reference_spread_tail_kl(cached, s, temperature, prior), rtol=RTOL)


@pytest.mark.parametrize("temperature", [1.0, 2.0])
def test_a_tail_weight_mixes_the_bucket_and_the_spread_tail(temperature):
    t = _logits((3, 4, 500), 3.0, 5)
    s = _logits((3, 4, 500), 2.0, 6)
    cached = _numpy(losses.compress_top_k(t, 8))
    values = keras.ops.convert_to_numpy(losses.top_k_kl(cached, s, temperature, tail=0.25))
    expected = (0.75 * reference_top_k_kl(cached, s, temperature)
                + 0.25 * reference_spread_tail_kl(cached, s, temperature))
    np.testing.assert_allclose(values, expected, rtol=RTOL)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(losses.top_k_kl(cached, s, temperature, tail=0.0)),
        reference_top_k_kl(cached, s, temperature), rtol=RTOL)


def test_a_bad_prior_names_the_argument():
    cached = _numpy(losses.compress_top_k(_logits((2, 20), 1.0, 0), 4))
    for prior in (np.ones(19), np.r_[np.ones(19), 0.0]):
        with pytest.raises(ValueError, match="prior"):
            losses.top_k_kl(cached, _logits((2, 20), 1.0, 1), tail="spread", prior=prior)


def test_an_even_teacher_tail_is_zero_loss_for_the_spread_tail_only():
    # A teacher whose tail is exactly even: the spread tail sees a student equal to it as
    # perfect; the bucket does too, so compare a student with the right tail mass but a skewed tail.
    logits = np.zeros((1, 50), "float32")
    logits[0, :4] = [5.0, 4.0, 3.0, 2.0]
    cached = _numpy(losses.compress_top_k(logits, 4))
    for temperature in (1.0, 3.0):
        even = keras.ops.convert_to_numpy(
            losses.top_k_kl(cached, logits, temperature, tail="spread"))
        np.testing.assert_allclose(even, 0.0, atol=1e-5)  # float32 rounding of a zero KL
    skewed = logits.copy()
    skewed[0, 4:] = np.linspace(-1.0, 1.0, 46)
    skewed[0, 4:] -= np.log(np.exp(skewed[0, 4:]).mean())  # the same tail mass as the teacher
    bucket = keras.ops.convert_to_numpy(losses.top_k_kl(cached, skewed))
    spread = keras.ops.convert_to_numpy(losses.top_k_kl(cached, skewed, tail="spread"))
    np.testing.assert_allclose(bucket, 0.0, atol=1e-5)
    assert spread[0] > 1e-3


@pytest.mark.parametrize("tail", ["uniform", -0.1, 1.5, True])
def test_a_bad_tail_names_the_argument(tail):
    cached = _numpy(losses.compress_top_k(_logits((2, 20), 1.0, 0), 4))
    with pytest.raises(ValueError, match="tail"):
        losses.top_k_kl(cached, _logits((2, 20), 1.0, 1), tail=tail)


def test_kd_loss_spreads_the_tail_in_the_distiller_and_keeps_it_in_its_config():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(n=16, seed=8)
    cache = kd.TeacherCache.compute(teacher, x, top_k=3)
    prior = np.arange(1.0, 1.0 + teacher.output_shape[-1])
    loss = losses.KDLoss(top_k_tail=0.5, top_k_prior=prior)
    loss = losses.KDLoss.from_config(loss.get_config())
    logs = _distiller(teacher, student, loss).fit(
        cache.inputs(x), y, batch_size=16, epochs=1, verbose=0, shuffle=False).history
    stored = {name: np.asarray(value) for name, value in cache._outputs.items()}
    s = keras.ops.convert_to_numpy(student(x))
    per_token = (0.5 * reference_top_k_kl(stored, s, 2.0)
                 + 0.5 * reference_spread_tail_kl(stored, s, 2.0, prior))
    expected = (per_token * (x != 0)).sum() / (x != 0).sum()
    np.testing.assert_allclose(logs["distillation_loss"][0], expected, rtol=RTOL)
    with pytest.raises(ValueError, match="tail"):
        losses.KDLoss(top_k_tail="even")

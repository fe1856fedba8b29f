"""Divergences against a top-k teacher cache: k token ids, their log-probabilities and a tail bucket.

A top-k cache stores, per position, the teacher's `k` most likely ids, its
log-probabilities there (taken over the full vocabulary, at temperature 1)
and its tail mass `1 - sum of the k probabilities`. Both distributions are
compared over the same `k + 1` buckets: the `k` ids and "everything else".
The student's buckets come from its softmax over the *full* vocabulary: its
logits gathered at the `k` ids and the exact log-sum-exp over the other ids
(the tail); nothing is expanded to the vocabulary on the teacher's side.

Temperature `T` is applied to the buckets of both: `b^(1/T)` renormalised
over the `k + 1` buckets (the tail is softened as one bucket). The student
that equals the teacher still has zero loss; at `k = vocabulary` there is
no tail bucket and this is exactly the dense divergence at `T`.

The forward KL can instead spread the tail over the other ids (`tail=`):
with the bucket the student learns nothing about the tail's inner shape
(its gradient there follows the student's own tail, see `top_k_kl`); with
`"spread"` it is pulled towards a prior's shape (even by default, like
label smoothing restricted to the teacher's tail mass). Both are computed without a teacher
tensor of the vocabulary's size.
"""

import numpy as np
from keras import ops

from keras_distill.core.argument_validation import check_fraction
from keras_distill.core.packed_inputs import TOP_K_FIELDS
from keras_distill.core.token_masks import UNALIGNED_LOGIT
from keras_distill.core.token_masks import aligned_rows
from keras_distill.losses.divergences import softmax_kl

_TINY = float(np.finfo(np.float32).tiny)
_LOWEST = float(np.finfo(np.float32).min)


def _complement_logsumexp(logits, indices):
    """`logsumexp` of `logits` over the ids *not* in `indices` (last axis), exact.

    The ids are masked out of one copy of the logits (a scatter of the `k`
    ids per row), never summed and subtracted, so a tail much smaller than
    the kept mass keeps its relative precision.
    """
    vocabulary = logits.shape[-1]
    k = indices.shape[-1]
    flat = ops.reshape(logits, (-1, vocabulary))
    rows = ops.reshape(ops.repeat(ops.arange(ops.shape(flat)[0], dtype="int32"), k), (-1, 1))
    positions = ops.concatenate([rows, ops.reshape(ops.cast(indices, "int32"), (-1, 1))], axis=-1)
    kept = ops.scatter(positions, ops.ones((ops.shape(positions)[0],), "float32"), ops.shape(flat))
    tail = ops.logsumexp(ops.where(kept > 0, _LOWEST, flat), axis=-1)
    return ops.reshape(tail, ops.shape(logits)[:-1])


def compress_top_k(logits, k):
    """The top-k cache fields of `logits` (the teacher pass, inside `predict`).

    Args:
        logits: Teacher logits, `(..., vocabulary)`.
        k: Number of ids kept per position.

    Returns:
        A dict with `indices` (int32, `(..., k)`), `log_probs` (float32,
        `(..., k)`, log-softmax over the full vocabulary) and `tail_mass`
        (float32, `(...)`; 0 when `k` is the vocabulary). A position without
        a teacher (its logits all `keras_distill.core.token_masks.UNALIGNED_LOGIT`,
        as an `AlignedTeacher` or a `TokenLogprobTeacher` gives them) keeps
        that mark: `log_probs` all `UNALIGNED_LOGIT`, `tail_mass` 0, and the
        top-k losses give 0 there (instead of a uniform teacher).

    Example:

    ```python
    cached = keras_distill.losses.compress_top_k(teacher_logits, 8)  # indices, log_probs, tail_mass
    ```
    """
    logits = ops.cast(logits, "float32")
    values, indices = ops.top_k(logits, k)
    indices = ops.cast(indices, "int32")
    log_total = ops.logsumexp(logits, axis=-1)
    log_probs = values - ops.expand_dims(log_total, -1)
    if k == logits.shape[-1]:
        tail_mass = ops.zeros_like(log_total)
    else:
        tail_mass = ops.exp(_complement_logsumexp(logits, indices) - log_total)
    aligned = aligned_rows(logits)
    log_probs = ops.where(ops.expand_dims(aligned, -1) > 0.0, log_probs, UNALIGNED_LOGIT)
    tail_mass = tail_mass * aligned
    return {"indices": indices, "log_probs": log_probs, "tail_mass": tail_mass}


def _check_fields(cached):
    missing = set(TOP_K_FIELDS) - set(cached)
    if missing:
        raise ValueError(
            f"A top-k teacher cache needs the fields {TOP_K_FIELDS}; missing {sorted(missing)}. "
            "(Older caches stored a fill logit instead: recompute them.)"
        )


def bucket_logits(cached, student_logits):
    """Teacher and student log-masses of the `k` ids and the tail bucket, at temperature 1.

    `softmax` of either gives that model's probabilities of the `k` ids and
    of "any other id". The student's are its logits at the ids and the
    log-sum-exp of its other logits (unnormalised: the softmax over the
    buckets normalises them, with no rounding of a log-sum-exp over the
    vocabulary in the difference).

    Args:
        cached: A dict with the `TOP_K_FIELDS` (`indices`, `log_probs`,
            `tail_mass`) of shape `(..., k)`, `(..., k)` and `(...)`.
        student_logits: Student logits, `(..., vocabulary)`.

    Returns:
        `(teacher, student)`, float32 of shape `(..., k + 1)`, or `(..., k)`
        when `k` is the vocabulary (no tail).
    """
    _check_fields(cached)
    indices = ops.cast(cached["indices"], "int32")
    teacher = ops.cast(cached["log_probs"], "float32")
    student_logits = ops.cast(student_logits, "float32")
    vocabulary, k = student_logits.shape[-1], indices.shape[-1]
    if vocabulary is not None and k > vocabulary:
        raise ValueError(
            f"The top-k cache keeps {k} ids per position but the student's outputs have only "
            f"{vocabulary} classes: teacher and student must share the vocabulary."
        )
    student = ops.take_along_axis(student_logits, indices, axis=-1)
    if k == vocabulary:
        return teacher, student
    # A tail that underflowed float32 is kept as the least normal mass: its log stays finite.
    tail_mass = ops.maximum(ops.cast(cached["tail_mass"], "float32"), _TINY)
    teacher = ops.concatenate([teacher, ops.expand_dims(ops.log(tail_mass), -1)], axis=-1)
    student_tail = _complement_logsumexp(student_logits, indices)
    student = ops.concatenate([student, ops.expand_dims(student_tail, -1)], axis=-1)
    return teacher, student


def top_k_divergence(divergence, cached, student_logits, temperature=1.0):
    """`T² * divergence(teacher buckets / T, student buckets / T)` per position.

    Dividing the bucket log-masses by `T` before the softmax is `b^(1/T)`
    renormalised over the `k + 1` buckets.

    Args:
        divergence: A function `(t, s)` of two logit tensors over the last
            axis, such as `keras_distill.losses.divergences.softmax_kl`.
        cached: The top-k fields of a batch (see `bucket_logits`).
        student_logits: Student logits, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`.

    Example:

    ```python
    values = keras_distill.losses.top_k_divergence(
        keras_distill.losses.divergences.softmax_kl, cached, student_logits, temperature=2.0
    )
    ```
    """
    teacher, student = bucket_logits(cached, student_logits)
    # Teacher log-probabilities and student logits differ by a constant per position; taking
    # each side's maximum out first keeps `teacher - student` small (and exact) for a student
    # near its teacher.
    teacher = teacher - ops.max(teacher, axis=-1, keepdims=True)
    student = student - ops.max(student, axis=-1, keepdims=True)
    temperature = ops.cast(temperature, "float32")
    values = divergence(teacher / temperature, student / temperature) * ops.square(temperature)
    return values * aligned_rows(cached["log_probs"])


def check_tail(tail):
    """The spread tail's weight in [0, 1] of a `tail=` argument (`"bucket"` 0, `"spread"` 1)."""
    if isinstance(tail, str):
        weights = {"bucket": 0.0, "spread": 1.0}
        if tail not in weights:
            raise ValueError(
                "`tail` (how a top-k cache's tail mass is compared) must be 'bucket', 'spread' "
                f"or the spread tail's weight in [0, 1]. Received: tail={tail!r}"
            )
        return weights[tail]
    return check_fraction(tail, "tail", "the weight of the spread tail")


def _check_prior(prior, vocabulary):
    prior = np.asarray(prior, np.float64)
    if prior.shape != (vocabulary,) or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
        raise ValueError(
            f"`prior` must hold one positive, finite weight per id of the student's "
            f"{vocabulary}-id outputs. Received: shape {prior.shape}, smallest "
            f"{prior.min() if prior.size else None}"
        )
    return prior / prior.sum()


def spread_tail_kl(cached, student_logits, temperature=1.0, prior=None):
    """Forward `T² KL(p || q)` with the teacher's tail mass spread over the other ids by a prior.

    The expanded teacher is `p_i` at the `k` ids and `t pi_j / Pi` at every
    other id `j` (`pi` the prior, uniform by default, `Pi` its mass off the
    `k` ids). At temperature `T` both sides are softened over the whole
    vocabulary (`p^(1/T)` renormalised). With `w = pi^(1/T)`, `S` its sum
    over the other ids, `r = w / S` the softened tail's shape (its bucket
    `(t / Pi)^(1/T) S` before renormalising with the `k` ids), `t'` its
    softened mass and `log q'` the student's log-softmax of `logits / T`,
    the tail's part of the KL is, in closed form,

        t' log t' + t' sum_j r_j log r_j - t' sum_j r_j log q'_j

    where every sum over the other ids is a sum over the vocabulary minus
    the sum at the `k` ids: `r . log q'` is one product of the student's
    logits with a vector, and no teacher tensor of the vocabulary's size is
    formed.

    Args:
        cached: The top-k fields of a batch (see `bucket_logits`).
        student_logits: Student logits, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        prior: `None` (uniform) or positive weights, one per id (normalised
            here), such as the ids' frequencies in the training data.

    Returns:
        A float32 tensor of shape `(...)`.

    Example:

    ```python
    cached = keras_distill.losses.compress_top_k(teacher_logits, 8)
    values = keras_distill.losses.spread_tail_kl(cached, student_logits, prior=frequencies)
    ```
    """
    _check_fields(cached)
    indices = ops.cast(cached["indices"], "int32")
    vocabulary, k = student_logits.shape[-1], indices.shape[-1]
    if k == vocabulary:
        return top_k_divergence(softmax_kl, cached, student_logits, temperature)
    prior = _check_prior(np.ones(vocabulary) if prior is None else prior, vocabulary)
    log_prior = ops.convert_to_tensor(np.log(prior).astype("float32"))
    temperature = ops.cast(temperature, "float32")
    # u = pi^(1/T) scaled to sum to about 1 (sums of ~1 keep float32 precision); every sum
    # below is divided by u's own computed sums, so a rounding common to all of u cancels.
    # r = u / tail_u over the other ids; S = exp(log_all) * tail_u / total_u.
    log_all = ops.logsumexp(log_prior / temperature)
    log_u = log_prior / temperature - log_all
    u = ops.exp(log_u)
    total_u = ops.sum(u)
    kept_u = ops.take(u, indices)
    tail_u = total_u - ops.sum(kept_u, axis=-1)
    # sum_j r_j log r_j over the other ids, log u taken relative to its maximum (0 for every
    # id of a uniform prior: no rounding at all there).
    peak = ops.max(log_u)
    centred = u * (log_u - peak)
    tail_neg_entropy = (ops.sum(centred) - ops.sum(ops.take(centred, indices), axis=-1)) / tail_u + (
        peak - ops.log(tail_u))
    tail_mass = ops.maximum(ops.cast(cached["tail_mass"], "float32"), _TINY)
    log_tail_prior = ops.log(1.0 - ops.sum(ops.exp(ops.take(log_prior, indices)), axis=-1))  # log Pi
    # The softened tail bucket: (t / Pi)^(1/T) S, before renormalising with the k ids.
    teacher = ops.concatenate(
        [ops.cast(cached["log_probs"], "float32") / temperature,
         ops.expand_dims((ops.log(tail_mass) - log_tail_prior) / temperature + log_all
                         + ops.log(tail_u / total_u), -1)],
        axis=-1,
    )
    log_p = ops.log_softmax(teacher, axis=-1)
    z = ops.cast(student_logits, "float32")
    z = (z - ops.max(z, axis=-1, keepdims=True)) / temperature
    log_total = ops.logsumexp(z, axis=-1)
    kept_z = ops.take_along_axis(z, indices, axis=-1)
    log_q_kept = kept_z - ops.expand_dims(log_total, -1)
    # sum_j r_j log q'_j over the other ids.
    tail_log_q = (ops.sum(z * u, axis=-1) - ops.sum(kept_u * kept_z, axis=-1)) / tail_u - log_total
    p = ops.exp(log_p)
    kept = ops.sum(p[..., :-1] * (log_p[..., :-1] - log_q_kept), axis=-1)
    tail = p[..., -1] * (log_p[..., -1] + tail_neg_entropy - tail_log_q)
    return (kept + tail) * ops.square(temperature) * aligned_rows(cached["log_probs"])


def top_k_kl(cached, student_logits, temperature=1.0, tail="bucket", prior=None):
    """Per-position forward `T² KL(p || q)` from a top-k cache with its tail mass.

    `tail` says what the teacher's tail mass `t` teaches about the other ids:

    - `"bucket"`: the `k + 1` buckets are compared (`top_k_divergence`). Its
      gradient on a tail logit is `q_j (1 - t / Q)`, `Q` the student's tail
      mass: the KL to a teacher whose tail has the *student's* shape, so only
      the tail's total is learned.
    - `"spread"`: `t` spread over the `V - k` other ids in proportion to
      `prior` (evenly by default; `spread_tail_kl`); the student's tail is
      pulled towards the prior's shape.
    - a weight `w` in [0, 1]: `(1 - w) * bucket + w * spread`. Both are
      cross-entropies to a fixed target plus a constant, so the mixture's
      gradient is that of the KL to the teacher whose tail follows
      `w * prior + (1 - w) * student's shape`.

    Args:
        cached: A dict of `indices` (int32, `(..., k)`), `log_probs`
            (`(..., k)`) and `tail_mass` (`(...)`), as a top-k `TeacherCache`
            stores them.
        student_logits: Student logits over the full vocabulary, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        tail: `"bucket"` (default), `"spread"` or the spread tail's weight
            in [0, 1] (see above).
        prior: With a spread tail: `None` (uniform) or one positive weight
            per id (see `spread_tail_kl`).

    Returns:
        A float32 tensor of shape `(...)`.

    Example:

    ```python
    cached = keras_distill.losses.compress_top_k(teacher_logits, 8)
    values = keras_distill.losses.top_k_kl(cached, student_logits)  # (batch,)
    mixed = keras_distill.losses.top_k_kl(cached, student_logits, tail=0.5)
    ```

    Reference:
        Anshumann et al., "Sparse Logit Sampling: Accelerating Knowledge
        Distillation in LLMs", ACL 2025 (the bias of top-k caches without a tail).
    """
    weight = check_tail(tail)
    if weight == 0.0:
        return top_k_divergence(softmax_kl, cached, student_logits, temperature)
    spread = spread_tail_kl(cached, student_logits, temperature, prior)
    if weight == 1.0:
        return spread
    bucket = top_k_divergence(softmax_kl, cached, student_logits, temperature)
    return (1.0 - weight) * bucket + weight * spread

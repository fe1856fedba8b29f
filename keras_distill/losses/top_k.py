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
`"uniform"` it is pulled towards an even tail, like label smoothing
restricted to the teacher's tail mass. Both are computed without a teacher
tensor of the vocabulary's size.
"""

import numpy as np
from keras import ops

from keras_distill.core.argument_validation import check_fraction
from keras_distill.core.packed_inputs import TOP_K_FIELDS
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
        (float32, `(...)`; 0 when `k` is the vocabulary).

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
    return {"indices": indices, "log_probs": log_probs, "tail_mass": tail_mass}


def _check_fields(cached):
    missing = set(TOP_K_FIELDS) - set(cached)
    if missing:
        raise ValueError(
            f"A top-k teacher cache needs the fields {TOP_K_FIELDS}; missing {sorted(missing)}. "
            "(Older caches stored a fill logit instead: recompute them.)"
        )


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
    return divergence(teacher / temperature, student / temperature) * ops.square(temperature)


def check_tail(tail):
    """The uniform prior's weight in [0, 1] of a `tail=` argument (`"bucket"` 0, `"uniform"` 1)."""
    if isinstance(tail, str):
        weights = {"bucket": 0.0, "uniform": 1.0}
        if tail not in weights:
            raise ValueError(
                "`tail` (how a top-k cache's tail mass is compared) must be 'bucket', 'uniform' "
                f"or the uniform prior's weight in [0, 1]. Received: tail={tail!r}"
            )
        return weights[tail]
    return check_fraction(tail, "tail", "the weight of the uniform tail prior")


def uniform_tail_kl(cached, student_logits, temperature=1.0):
    """Forward `T² KL(p || q)` with the teacher's tail mass spread evenly over the `V - k` other ids.

    The expanded teacher is `p_i` at the `k` ids and `t / (V - k)` at every
    other id; at temperature `T` both sides are softened over the whole
    vocabulary (`p^(1/T)` renormalised; the even tail stays even, its bucket
    becoming `t^(1/T) (V - k)^(1 - 1/T)` before renormalising). With `t'` the
    softened tail and `log q'` the student's log-softmax of `logits / T`, the
    tail's part of the KL is, in closed form,

        t' log(t' / (V - k)) - t' * mean over the other ids of log q'

    and that mean is `(sum of all log q' - sum at the k ids) / (V - k)`: one
    sum over the student's logits, no teacher tensor of the vocabulary's size.

    Args:
        cached: The top-k fields of a batch (see `bucket_logits`).
        student_logits: Student logits, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`.
    """
    _check_fields(cached)
    indices = ops.cast(cached["indices"], "int32")
    vocabulary, k = student_logits.shape[-1], indices.shape[-1]
    if k == vocabulary:
        return top_k_divergence(softmax_kl, cached, student_logits, temperature)
    temperature = ops.cast(temperature, "float32")
    others = float(vocabulary - k)
    tail_mass = ops.maximum(ops.cast(cached["tail_mass"], "float32"), _TINY)
    # The tail bucket of the softened, evenly spread teacher (see the docstring).
    teacher = ops.concatenate(
        [ops.cast(cached["log_probs"], "float32"),
         ops.expand_dims(ops.log(tail_mass) + (temperature - 1.0) * np.log(others), -1)],
        axis=-1,
    )
    log_p = ops.log_softmax(teacher / temperature, axis=-1)
    z = ops.cast(student_logits, "float32")
    z = (z - ops.max(z, axis=-1, keepdims=True)) / temperature
    log_total = ops.logsumexp(z, axis=-1)
    kept_z = ops.take_along_axis(z, indices, axis=-1)
    log_q_kept = kept_z - ops.expand_dims(log_total, -1)
    tail_mean_log_q = (ops.sum(z, axis=-1) - ops.sum(kept_z, axis=-1)) / others - log_total
    p = ops.exp(log_p)
    kept = ops.sum(p[..., :-1] * (log_p[..., :-1] - log_q_kept), axis=-1)
    tail = p[..., -1] * (log_p[..., -1] - np.log(others) - tail_mean_log_q)
    return (kept + tail) * ops.square(temperature)


def top_k_kl(cached, student_logits, temperature=1.0, tail="bucket"):
    """Per-position forward `T² KL(p || q)` from a top-k cache with its tail mass.

    `tail` says what the teacher's tail mass `t` teaches about the other ids:

    - `"bucket"`: the `k + 1` buckets are compared (`top_k_divergence`). Its
      gradient on a tail logit is `q_j (1 - t / Q)`, `Q` the student's tail
      mass: the KL to a teacher whose tail has the *student's* shape, so only
      the tail's total is learned.
    - `"uniform"`: `t` spread evenly over the `V - k` other ids
      (`uniform_tail_kl`); the student's tail is pulled towards flat.
    - a weight `w` in [0, 1]: `(1 - w) * bucket + w * uniform`. Both are
      cross-entropies to a fixed target plus a constant, so the mixture's
      gradient is that of the KL to the teacher whose tail follows the prior
      `w * even + (1 - w) * student's shape`.

    Args:
        cached: A dict of `indices` (int32, `(..., k)`), `log_probs`
            (`(..., k)`) and `tail_mass` (`(...)`), as a top-k `TeacherCache`
            stores them.
        student_logits: Student logits over the full vocabulary, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        tail: `"bucket"` (default), `"uniform"` or the uniform prior's
            weight in [0, 1] (see above).

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
    uniform = uniform_tail_kl(cached, student_logits, temperature)
    if weight == 1.0:
        return uniform
    bucket = top_k_divergence(softmax_kl, cached, student_logits, temperature)
    return (1.0 - weight) * bucket + weight * uniform

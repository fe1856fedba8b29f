"""Divergences against a top-k teacher cache: k token ids, their log-probabilities and a tail bucket.

A top-k cache stores, per position, the teacher's `k` most likely ids, its
log-probabilities there (taken over the full vocabulary, at temperature 1)
and its tail mass `1 - sum of the k probabilities`. Both distributions are
compared over the same `k + 1` buckets: the `k` ids and "everything else".
The student's buckets come from its log-softmax over the *full* vocabulary,
gathered at the `k` ids, and its exact tail (a log-sum-exp over the other
ids); nothing is expanded to the vocabulary on the teacher's side.

Temperature `T` is applied to the buckets of both: `b^(1/T)` renormalised
over the `k + 1` buckets (the tail is softened as one bucket). The student
that equals the teacher still has zero loss; at `k = vocabulary` there is
no tail bucket and this is exactly the dense divergence at `T`.
"""

import numpy as np
from keras import ops

from keras_distill.core.packed_inputs import TOP_K_FIELDS
from keras_distill.losses.divergences import kl_from_log_probs

# The least tail mass a bucket keeps, so that its log is finite.
_TINY = float(np.finfo(np.float32).tiny)
_LOG_TINY = float(np.log(_TINY))
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


def _tempered(log_buckets, temperature):
    scaled = log_buckets / temperature
    return scaled - ops.logsumexp(scaled, axis=-1, keepdims=True)


def bucket_log_probs(cached, student_logits, temperature=1.0):
    """Teacher and student log-probabilities over the `k (+ 1 tail)` buckets, at `T`.

    Args:
        cached: A dict with the `TOP_K_FIELDS` (`indices`, `log_probs`,
            `tail_mass`) of shape `(..., k)`, `(..., k)` and `(...)`.
        student_logits: Student logits, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        `(log_p, log_q)`, float32 of shape `(..., k + 1)`, or `(..., k)` when
        `k` is the vocabulary (no tail).
    """
    missing = set(TOP_K_FIELDS) - set(cached)
    if missing:
        raise ValueError(
            f"A top-k teacher cache needs the fields {TOP_K_FIELDS}; missing {sorted(missing)}. "
            "(Older caches stored a fill logit instead: recompute them.)"
        )
    indices = ops.cast(cached["indices"], "int32")
    teacher = ops.cast(cached["log_probs"], "float32")
    student_logits = ops.cast(student_logits, "float32")
    vocabulary, k = student_logits.shape[-1], indices.shape[-1]
    if vocabulary is not None and k > vocabulary:
        raise ValueError(
            f"The top-k cache keeps {k} ids per position but the student's outputs have only "
            f"{vocabulary} classes: teacher and student must share the vocabulary."
        )
    log_total = ops.logsumexp(student_logits, axis=-1, keepdims=True)
    student = ops.take_along_axis(student_logits, indices, axis=-1) - log_total
    if k != vocabulary:
        tail_mass = ops.maximum(ops.cast(cached["tail_mass"], "float32"), _TINY)
        teacher_tail = ops.log(tail_mass)
        student_tail = ops.maximum(
            _complement_logsumexp(student_logits, indices) - log_total[..., 0], _LOG_TINY
        )
        teacher = ops.concatenate([teacher, ops.expand_dims(teacher_tail, -1)], axis=-1)
        student = ops.concatenate([student, ops.expand_dims(student_tail, -1)], axis=-1)
    temperature = ops.cast(temperature, "float32")
    return _tempered(teacher, temperature), _tempered(student, temperature)


def top_k_divergence(divergence, cached, student_logits, temperature=1.0):
    """`T² * divergence(teacher buckets, student buckets)` per position.

    Args:
        divergence: A function of `(log_p, log_q)` over the last axis, such
            as `keras_distill.losses.divergences.kl_from_log_probs`.
        cached: The top-k fields of a batch (see `bucket_log_probs`).
        student_logits: Student logits, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`.
    """
    log_p, log_q = bucket_log_probs(cached, student_logits, temperature)
    return divergence(log_p, log_q) * ops.square(ops.cast(temperature, "float32"))


def top_k_kl(cached, student_logits, temperature=1.0):
    """Per-position forward `T² KL(p || q)` from a top-k cache with its tail bucket.

    Args:
        cached: A dict of `indices` (int32, `(..., k)`), `log_probs`
            (`(..., k)`) and `tail_mass` (`(...)`), as a top-k `TeacherCache`
            stores them.
        student_logits: Student logits over the full vocabulary, `(..., vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`.

    Example:

    ```python
    cached = keras_distill.losses.compress_top_k(teacher_logits, 8)
    values = keras_distill.losses.top_k_kl(cached, student_logits)  # (batch,)
    ```

    Reference:
        Anshumann et al., "Sparse Logit Sampling: Accelerating Knowledge
        Distillation in LLMs", ACL 2025 (the bias of top-k caches without a tail).
    """
    return top_k_divergence(kl_from_log_probs, cached, student_logits, temperature)

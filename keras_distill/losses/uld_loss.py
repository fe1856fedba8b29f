"""Universal Logit Distillation: L1 between sorted probability vectors, for any two vocabularies."""

import numpy as np
from keras import ops

from keras_distill.api_export import register
from keras_distill.core.token_masks import aligned_rows
from keras_distill.losses.distillation_loss import DistillationLoss

_TINY = float(np.finfo(np.float32).tiny)


def _sorted_descending(probabilities):
    return ops.flip(ops.sort(probabilities, axis=-1), axis=-1)


def _pad_to(values, size):
    missing = size - values.shape[-1]
    if missing <= 0:
        return values
    widths = [(0, 0)] * (len(values.shape) - 1) + [(0, missing)]
    return ops.pad(values, widths)


def uld_loss(teacher_logits, student_logits, temperature=1.0):
    """Per-position L1 distance between the sorted teacher and student probabilities.

    `sum_i |sort(p)_i - sort(q)_i|`, both sorted in descending order and the
    shorter vector zero-padded to the longer vocabulary, with
    `p = softmax(teacher_logits / T)` and `q = softmax(student_logits / T)`.
    No token id is compared, so teacher and student may use different
    tokenizers (vocabularies of any sizes). Rows of the teacher whose logits
    are all `keras_distill.core.token_masks.UNALIGNED_LOGIT` (positions
    without a teacher counterpart) give 0. No `T²` factor.

    Args:
        teacher_logits: Teacher logits, `(..., teacher_vocabulary)`.
        student_logits: Student logits, `(..., student_vocabulary)`; the
            leading axes are the teacher's.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`, in [0, 2].

    Example:

    ```python
    values = keras_distill.losses.uld_loss(teacher_logits, student_logits)  # (batch, time)
    ```

    Reference:
        Boizard, El Haddad, Hudelot and Colombo, "Towards Cross-Tokenizer
        Distillation: the Universal Logit Distillation Loss for LLMs", 2024.
    """
    teacher_logits = ops.cast(teacher_logits, "float32")
    temperature = ops.cast(temperature, "float32")
    p = _sorted_descending(ops.softmax(teacher_logits / temperature, axis=-1))
    q = _sorted_descending(ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1))
    size = max(p.shape[-1], q.shape[-1])
    distance = ops.sum(ops.abs(_pad_to(p, size) - _pad_to(q, size)), axis=-1)
    return distance * aligned_rows(teacher_logits)


def uld_top_k_loss(cached, student_logits, temperature=1.0):
    """`uld_loss` against a teacher known by its top-k log-probabilities and tail mass.

    The teacher's `k` probabilities are sorted and compared with the
    student's `k` largest; beyond them only the teacher's tail mass `t` is
    known, and it is compared with the student's remaining mass `Q`:
    `|t - Q|`, a lower bound of the exact L1 over the rest (equal to it
    when the tail is 0, as when `k` covers the teacher's vocabulary: then
    this is `uld_loss` exactly, the teacher zero-padded). With `T != 1` the
    `k` probabilities and the tail are softened as `k + 1` buckets
    (`b^(1/T)` renormalised), as the top-k divergences do.

    Args:
        cached: A dict with `log_probs` (`(..., k)`, log-probabilities over
            the teacher's full vocabulary, in any order) and `tail_mass`
            (`(...)`); `indices` (the teacher's own token ids) are not read.
        student_logits: Student logits, `(..., student_vocabulary)`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(...)`.

    Example:

    ```python
    cached = keras_distill.losses.compress_top_k(teacher_logits, 32)
    values = keras_distill.losses.uld_top_k_loss(cached, student_logits)
    ```
    """
    log_probs = ops.cast(cached["log_probs"], "float32")
    # A tail of 0 stays finite in the log (its softened bucket is then ~1e-38).
    tail = ops.maximum(ops.cast(cached["tail_mass"], "float32"), _TINY)
    temperature = ops.cast(temperature, "float32")
    k = log_probs.shape[-1]
    buckets = ops.concatenate([log_probs, ops.expand_dims(ops.log(tail), -1)], axis=-1)
    softened = ops.softmax(buckets / temperature, axis=-1)
    p, p_tail = _sorted_descending(softened[..., :k]), softened[..., k]
    q = _sorted_descending(ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1))
    q = _pad_to(q, k)
    head = ops.sum(ops.abs(p - q[..., :k]), axis=-1)
    q_tail = ops.sum(q[..., k:], axis=-1)
    return (head + ops.abs(p_tail - q_tail)) * aligned_rows(log_probs)


@register
class ULDLoss(DistillationLoss):
    """Universal Logit Distillation: a teacher with another tokenizer (`uld_loss`).

    Compares sorted probability vectors, so the teacher's outputs may have a
    vocabulary of any size: the `Distiller` compares only their leading
    axes with the student's. Feed it a teacher aligned to the student's
    positions by text (`keras_distill.teachers.AlignedTeacher`), online or
    through a `TeacherCache` (dense, or `top_k=k`: `uld_top_k_loss`). The
    paper adds the student's cross-entropy on the labels: that is the
    `Distiller`'s `alpha` term. The paper uses no temperature: compile with
    `temperature=1.0`.

    Args:
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"uld_loss"`.

    Example:

    ```python
    distiller.compile(
        optimizer="adam", alpha=0.5, temperature=1.0,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras_distill.losses.ULDLoss(),
    )
    ```

    Reference:
        Boizard, El Haddad, Hudelot and Colombo, "Towards Cross-Tokenizer
        Distillation: the Universal Logit Distillation Loss for LLMs", 2024.
    """

    reads_top_k = True
    vocabulary_free = True

    def __init__(self, reduction="sum_over_batch_size", name="uld_loss"):
        super().__init__(reduction=reduction, name=name)

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return uld_loss(teacher_outputs, student_outputs, temperature)

    def call_top_k(self, cached, student_outputs, temperature, activation=None):
        return uld_top_k_loss(cached, student_outputs, temperature)

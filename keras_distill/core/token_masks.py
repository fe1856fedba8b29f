"""Padding masks of sequence outputs, as per-token weights for the distillation terms.

Keras losses read the mask a model attaches to its outputs (an `Embedding`
with `mask_zero=True`, a `Masking` layer) and average over the valid tokens.
The distillation and feature losses get the same treatment through the
weights computed here.
"""

from keras import ops


def keras_mask(outputs):
    """The Keras mask attached to `outputs`, or `None` (every backend)."""
    try:
        from keras.src.backend.common.masking import get_keras_mask
    except ImportError:  # pragma: no cover - older or newer Keras layouts
        return getattr(outputs, "_keras_mask", None)
    return get_keras_mask(outputs)


def masked_weights(sample_weight, mask):
    """Per-token weights whose batch mean is the mean over the valid tokens.

    As `keras.losses.Loss` does: each valid token gets `total / valid`,
    padding gets 0, times `sample_weight` (per sample or per token) when
    given. Without a mask, `sample_weight` is returned as it is.

    Args:
        sample_weight: `None`, per-sample `(batch,)` or per-token
            `(batch, time)` weights.
        mask: `None` or a boolean `(batch, time)` mask.
    """
    if mask is None:
        return sample_weight
    mask = ops.cast(mask, "float32")
    total = ops.cast(ops.size(mask), "float32")
    weights = mask * ops.divide_no_nan(total, ops.sum(mask))
    if sample_weight is None:
        return weights
    sample_weight = ops.cast(sample_weight, "float32")
    while len(sample_weight.shape) > len(weights.shape):
        sample_weight = ops.squeeze(sample_weight, axis=-1)
    while len(sample_weight.shape) < len(weights.shape):
        sample_weight = ops.expand_dims(sample_weight, axis=-1)
    return weights * sample_weight


# Teacher logits of a position that has no teacher counterpart (a student token
# whose text does not end where a teacher token ends): every logit of the row is
# this value. Finite, so the data guard passes it; no real logit comes near it.
UNALIGNED_LOGIT = -1e9
# A row whose largest logit is below this holds no teacher: float16 caches
# store the mark clipped to float16's lowest value (-65504), and no real row
# has its largest logit (or log-probability) that low.
_ALIGNED_ABOVE = -3.0e4


def aligned_rows(teacher_logits):
    """1.0 where a teacher row holds real logits, 0.0 where it is `UNALIGNED_LOGIT` (float32)."""
    largest = ops.max(ops.cast(teacher_logits, "float32"), axis=-1)
    return ops.cast(largest > _ALIGNED_ABOVE, "float32")

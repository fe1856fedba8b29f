"""Base class of the feature losses: compares intermediate activations of teacher and student."""

import abc

import keras
from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import REDUCTIONS
from keras_distill.losses.distillation_loss import reduce_per_sample


@register
class FeatureLoss(keras.losses.Loss, abc.ABC):
    """Base class of the losses between teacher and student features.

    Subclasses implement `call(teacher_features, student_features)` returning
    one value per sample. `__call__` casts both to float32 (feature math stays
    in float32 under mixed precision), applies `sample_weight` and reduces like
    any `keras.losses.Loss`. Relational losses (similarity-preserving, RKD)
    compare samples within the batch; their per-sample value is the mean of
    the terms anchored at that sample, so the batch mean is the paper's loss.

    Class attributes:
        matches_shapes: `True` when the student's features must have the
            teacher's shape (an adapter is then created when they differ);
            `False` for losses that compare shape-free summaries (attention
            maps, similarity matrices, distances).
        default_weight: The weight the loss's paper uses; a
            `keras_distill.features.FeaturePair(weight=None)` takes it.

    Args:
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Name of the loss.

    Example:

    ```python
    class CosineFeatureLoss(keras_distill.losses.FeatureLoss):
        matches_shapes = True

        def call(self, teacher_features, student_features):
            t = keras.ops.reshape(teacher_features, (keras.ops.shape(teacher_features)[0], -1))
            s = keras.ops.reshape(student_features, (keras.ops.shape(student_features)[0], -1))
            t = t / keras.ops.norm(t, axis=-1, keepdims=True)
            s = s / keras.ops.norm(s, axis=-1, keepdims=True)
            return 1.0 - keras.ops.sum(t * s, axis=-1)
    ```
    """

    matches_shapes = True
    default_weight = 1.0

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}"
            )
        super().__init__(name=name, reduction=reduction, dtype="float32")

    def __call__(self, teacher_features, student_features, sample_weight=None):
        """Computes the reduced loss.

        Args:
            teacher_features: Teacher activations, shape `(batch, ...)`.
            student_features: Student activations, shape `(batch, ...)`.
            sample_weight: Optional per-sample weights.

        Returns:
            A float32 scalar (or per-sample values for `reduction=None`).
        """
        values = self.call(
            ops.cast(teacher_features, "float32"), ops.cast(student_features, "float32")
        )
        return reduce_per_sample(values, sample_weight, self.reduction)

    @abc.abstractmethod
    def call(self, teacher_features, student_features):
        """Returns one float32 loss value per sample."""

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}


def check_same_shape(teacher_features, student_features, loss_name):
    """Raises a clear error when two feature tensors differ in shape (batch aside)."""
    if tuple(teacher_features.shape[1:]) != tuple(student_features.shape[1:]):
        raise ValueError(
            f"{loss_name} compares features of the same shape, but the teacher's are "
            f"{tuple(teacher_features.shape)} and the student's "
            f"{tuple(student_features.shape)}. Give the FeaturePair an adapter "
            "(adapter='auto' creates one) or pick layers of the same shape."
        )


def flatten_samples(features):
    """`(batch, ...)` -> `(batch, features)`."""
    return ops.reshape(features, (ops.shape(features)[0], -1))


def l2_normalize(x, axis=-1, epsilon=1e-12):
    """`x / max(||x||, epsilon)` along `axis` (zero vectors stay zero).

    Written as `x * rsqrt(max(||x||², epsilon²))`, so the gradient is finite
    at zero vectors too (no square root of zero is differentiated).
    """
    squared = ops.sum(ops.square(x), axis=axis, keepdims=True)
    return x * ops.rsqrt(ops.maximum(squared, epsilon * epsilon))

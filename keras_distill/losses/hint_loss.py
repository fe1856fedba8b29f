"""FitNets hint loss: the mean squared error between (adapted) student and teacher features."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.feature_loss import check_same_shape


def hint_loss(teacher_features, student_features):
    """Per-sample mean of `(student - teacher)²` over every feature axis.

    Args:
        teacher_features: Shape `(batch, ...)`.
        student_features: Same shape (after the adapter, when there is one).

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    ```python
    values = keras_distill.losses.hint_loss(teacher_features, adapted_student_features)  # (batch,)
    ```
    """
    check_same_shape(teacher_features, student_features, "hint_loss")
    diff = ops.cast(student_features, "float32") - ops.cast(teacher_features, "float32")
    squared = ops.reshape(ops.square(diff), (ops.shape(diff)[0], -1))
    return ops.mean(squared, axis=-1)


@register
class HintLoss(FeatureLoss):
    """FitNets hint loss: student features regress the teacher's.

    The student's features go through an adapter (a `Dense` or 1x1
    convolution, trained with the student and never exported) when their shape
    differs from the teacher's; the loss is their mean squared difference.

    Args:
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"hint_loss"`.

    Example:

    ```python
    pair = keras_distill.features.FeaturePair("teacher_conv2", "student_conv2", loss="hint")
    ```

    References:
        Romero, Ballas, Kahou, Chassang, Gatta and Bengio, "FitNets: Hints
        for Thin Deep Nets", ICLR 2015.
    """

    matches_shapes = True
    default_weight = 1.0

    def __init__(self, reduction="sum_over_batch_size", name="hint_loss"):
        super().__init__(reduction=reduction, name=name)

    def call(self, teacher_features, student_features):
        return hint_loss(teacher_features, student_features)

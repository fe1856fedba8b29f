"""Mean squared error between teacher and student logits (or regression outputs)."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import DistillationLoss


def logit_mse(teacher_logits, student_logits):
    """Per-sample mean squared difference of logits, averaged over the last axis.

    The limit of `kd_loss` at high temperature for zero-mean logits, and the
    distillation loss for regression (the student regresses the teacher's
    outputs). No temperature.

    Args:
        teacher_logits: Teacher outputs, `(batch, ..., units)`.
        student_logits: Student outputs, same shape.

    Example:

    ```python
    values = keras_distill.losses.logit_mse(teacher_logits, student_logits)  # (batch,)
    ```

    Reference:
        Ba and Caruana, "Do Deep Nets Really Need to be Deep?", 2014.
    """
    diff = ops.cast(student_logits, "float32") - ops.cast(teacher_logits, "float32")
    return ops.mean(ops.square(diff), axis=-1)


@register
class LogitMSE(DistillationLoss):
    """Mean squared error to the teacher's logits; use it for regression teachers too.

    The `Distiller`'s temperature does not apply to this loss.

    Args:
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"logit_mse"`.

    Example:

    ```python
    distiller.compile(
        optimizer="adam", student_loss_fn="mse", distillation_loss_fn=keras_distill.losses.LogitMSE()
    )
    ```

    Reference:
        Ba and Caruana, "Do Deep Nets Really Need to be Deep?", 2014.
    """

    uses_temperature = False

    def __init__(self, reduction="sum_over_batch_size", name="logit_mse"):
        super().__init__(reduction=reduction, name=name)

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return logit_mse(teacher_outputs, student_outputs)

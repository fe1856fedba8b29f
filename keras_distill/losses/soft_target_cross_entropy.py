"""Cross-entropy of the student against the teacher's softened outputs."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import ActivationLoss
from keras_distill.losses.distillation_loss import resolve_activation


def soft_target_cross_entropy(
    teacher_logits, student_logits, temperature=1.0, activation="auto"
):
    """Per-sample `T² * H(softmax(t/T), softmax(s/T))`, the cross-entropy form of KD.

    It differs from `kd_loss` by the teacher's entropy, a constant for the
    student, so both give the same gradients; this form is the one of the
    keras.io example and of many papers. For `activation="sigmoid"` it is the
    binary cross-entropy against the teacher's probabilities, averaged over
    units.

    Args:
        teacher_logits: Teacher logits, shape `(batch, ..., units)`.
        student_logits: Student logits, same shape.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.soft_target_cross_entropy(teacher_logits, student_logits, temperature=4.0)
    ```
    """
    temperature = ops.cast(temperature, "float32")
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    activation = resolve_activation(activation, t)
    if activation == "softmax":
        ce = -ops.sum(ops.softmax(t, axis=-1) * ops.log_softmax(s, axis=-1), axis=-1)
    else:
        p = ops.sigmoid(t)
        ce = -(p * ops.log_sigmoid(s) + (1.0 - p) * ops.log_sigmoid(-s))
        ce = ops.mean(ce, axis=-1)
    return ce * ops.square(temperature)


@register
class SoftTargetCrossEntropy(ActivationLoss):
    """Soft-target cross-entropy, `T² * H(softmax(t/T), softmax(s/T))`.

    Args:
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"soft_target_cross_entropy"`.

    Example:

    ```python
    distiller.compile(
        optimizer="adam", student_loss_fn=loss,
        distillation_loss_fn=keras_distill.losses.SoftTargetCrossEntropy(),
    )
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015.
    """

    def __init__(
        self,
        activation="auto",
        reduction="sum_over_batch_size",
        name="soft_target_cross_entropy",
    ):
        super().__init__(activation=activation, reduction=reduction, name=name)

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return soft_target_cross_entropy(
            teacher_outputs,
            student_outputs,
            temperature,
            activation=self.resolve(teacher_outputs, activation),
        )

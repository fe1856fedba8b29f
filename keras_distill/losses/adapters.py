"""Adapters that let the Distiller use losses written for other distillation APIs.

* A plain Keras loss (`keras.losses.KLDivergence()`, `"kl_divergence"`, ...)
  is used the way the keras.io distillation example uses it:
  `loss(softmax(t / T), softmax(s / T)) * T²`.
* A `keras.distillation.DistillationLoss` (Keras's built-in API) is called
  through its `compute_loss(teacher_outputs, student_outputs)`; its own
  temperature applies, not the Distiller's.
"""

import keras
from keras import ops

from keras_distill.losses.distillation_loss import scale_for_distribution


class FunctionLoss(keras.losses.Loss):
    """Turns a function `(y_true, y_pred) -> per-sample loss` into a Keras loss."""

    def __init__(self, fn, name=None, reduction="sum_over_batch_size"):
        super().__init__(name=name or getattr(fn, "__name__", None), reduction=reduction)
        self.fn = fn

    def call(self, y_true, y_pred):
        return self.fn(y_true, y_pred)


class KerasLossAdapter:
    """Applies a Keras loss to temperature-softened probabilities, times T²."""

    uses_temperature = True

    def __init__(self, loss):
        if not isinstance(loss, keras.losses.Loss):
            loss = FunctionLoss(loss)
        self.loss = loss
        self.name = loss.name
        self.reduction = loss.reduction

    def __call__(
        self, teacher_outputs, student_outputs, sample_weight=None, temperature=1.0, activation=None
    ):
        temperature = ops.cast(temperature, "float32")
        t = ops.cast(teacher_outputs, "float32") / temperature
        s = ops.cast(student_outputs, "float32") / temperature
        if activation == "sigmoid" or (activation is None and t.shape[-1] == 1):
            p_t, p_s = ops.sigmoid(t), ops.sigmoid(s)
        else:
            p_t, p_s = ops.softmax(t, axis=-1), ops.softmax(s, axis=-1)
        value = self.loss(p_t, p_s, sample_weight=sample_weight)
        return ops.cast(value, "float32") * ops.square(temperature)


class KerasDistillationLossAdapter:
    """Calls a `keras.distillation.DistillationLoss` on final outputs."""

    uses_temperature = False

    def __init__(self, loss):
        if getattr(loss, "teacher_layer_name", None) or getattr(
            loss, "student_layer_name", None
        ):
            raise ValueError(
                "`distillation_loss_fn`: keras.distillation.FeatureDistillation with "
                "`teacher_layer_name`/`student_layer_name` is not supported; the "
                "keras_distill Distiller distills final outputs. Received: "
                f"{type(loss).__name__}(teacher_layer_name="
                f"{loss.teacher_layer_name!r}, student_layer_name={loss.student_layer_name!r})."
            )
        self.loss = loss
        self.name = type(loss).__name__

    def __call__(
        self, teacher_outputs, student_outputs, sample_weight=None, temperature=1.0, activation=None
    ):
        value = self.loss.compute_loss(
            ops.cast(teacher_outputs, "float32"), ops.cast(student_outputs, "float32")
        )
        return scale_for_distribution(ops.cast(value, "float32"))


def is_keras_distillation_loss(obj):
    base = getattr(getattr(keras, "distillation", None), "DistillationLoss", None)
    return base is not None and isinstance(obj, base)

"""Adapters that let the Distiller use losses written for other distillation APIs.

* A plain Keras loss (`keras.losses.KLDivergence()`, `"kl_divergence"`, ...)
  is used the way the keras.io distillation example uses it:
  `loss(softmax(t / T), softmax(s / T)) * T²`.
* A `keras.distillation.DistillationLoss` (Keras's built-in API) is called
  through its `compute_loss(teacher_outputs, student_outputs)`; its own
  temperature applies, not the Distiller's.
* A Keras loss used on features (`"mse"`, `"cosine_similarity"`, the loss of a
  `keras.distillation.FeatureDistillation`) is `KerasFeatureLoss`: per-sample
  values averaged over the feature axes.
"""

import keras
from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import scale_for_distribution
from keras_distill.losses.feature_loss import FeatureLoss


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


@register
class KerasFeatureLoss(FeatureLoss):
    """A Keras loss (name, instance or function) between teacher and student features.

    Called as `loss(teacher_features, student_features)` like
    `keras.distillation.FeatureDistillation` does; per-sample values are
    averaged over the remaining feature axes. Shapes must match (an adapter
    is created when they differ).

    Args:
        loss: A Keras loss name (`"mse"`, `"mae"`, `"cosine_similarity"`,
            ...), a `keras.losses.Loss` or a function `(y_true, y_pred)`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to the Keras loss's name.

    Example:

    ```python
    loss = keras_distill.losses.KerasFeatureLoss("mae")
    pair = keras_distill.features.FeaturePair("conv2", "conv2", loss=loss)
    ```
    """

    matches_shapes = True
    default_weight = 1.0

    def __init__(self, loss, reduction="sum_over_batch_size", name=None):
        resolved = keras.losses.get(loss) if isinstance(loss, str) else loss
        if resolved is None or not callable(resolved):
            raise ValueError(
                "`loss` must be a Keras loss name, a keras.losses.Loss or a function "
                f"(y_true, y_pred). Received: loss={loss!r}"
            )
        default_name = getattr(resolved, "name", None) or getattr(resolved, "__name__", "loss")
        super().__init__(reduction=reduction, name=name or default_name)
        self.loss = resolved

    def call(self, teacher_features, student_features):
        if isinstance(self.loss, keras.losses.Loss):
            values = self.loss.call(teacher_features, student_features)
        else:
            values = self.loss(teacher_features, student_features)
        values = ops.cast(values, "float32")
        if len(values.shape) == 0:
            raise ValueError(
                f"The feature loss {self.name!r} returned a scalar; it must return one "
                "value per sample (a Keras loss function such as keras.losses.mean_squared_error)."
            )
        return ops.mean(ops.reshape(values, (ops.shape(values)[0], -1)), axis=-1)

    def get_config(self):
        config = super().get_config()
        config.update(loss=keras.losses.serialize(self.loss))
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["loss"] = keras.losses.deserialize(config["loss"])
        return cls(**config)


class KerasDistillationLossAdapter:
    """Calls a `keras.distillation.DistillationLoss` on final outputs."""

    uses_temperature = False

    def __init__(self, loss):
        if getattr(loss, "teacher_layer_name", None) or getattr(
            loss, "student_layer_name", None
        ):
            raise ValueError(
                "`distillation_loss_fn`: a keras.distillation.FeatureDistillation with "
                "layer names matches intermediate layers: pass it to the Distiller as "
                "`Distiller(teacher, student, features=[...])` (accepted as it is), "
                "`distillation_loss_fn` compares final outputs. Received: "
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

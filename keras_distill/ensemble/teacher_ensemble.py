"""Several teachers as one: the log of their weighted average soft targets."""

import math

import keras
from keras import ops

from keras_distill.api_export import register
from keras_distill.core import argument_validation as validation
from keras_distill.core.output_logits import TeacherLogits
from keras_distill.core.output_logits import resolve_output_activation

_MODES = ("auto", "softmax", "sigmoid")


@register
class TeacherEnsemble(keras.Model):
    """A teacher made of several teachers, for the Distiller and the TeacherCache.

    Its output is the log of the teachers' weighted average probabilities,
    each at its own temperature:
    `log(sum_k w_k softmax(z_k / T_k))` (softmax teachers), or the logit of
    `sum_k w_k sigmoid(z_k / T_k)` (sigmoid teachers). These are logits:
    distilled at `temperature=1` the student matches exactly the averaged soft
    targets; a Distiller temperature above 1 softens them further. Teachers
    may have any architectures and may end in softmax/sigmoid (their logits
    are recovered as the Distiller does); they run in inference mode and
    never train. A `TeacherCache` of an ensemble stores the ensemble's
    targets.

    Args:
        teachers: A list of built `keras.Model`s with the same output shape
            and the same inputs.
        teacher_weights: One weight `> 0` per teacher, normalized to sum to 1.
            Defaults to `None` (equal weights).
        temperatures: One temperature `> 0` per teacher, or one for all.
            Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"` (sigmoid for one
            output unit or sigmoid teachers, else softmax). Defaults to
            `"auto"`.
        name: Defaults to `"teacher_ensemble"`.

    Example:

    ```python
    teacher = keras_distill.TeacherEnsemble([cnn_teacher, mlp_teacher], teacher_weights=[2, 1])
    distiller = keras_distill.Distiller(teacher, student)
    ```
    """

    # Outputs are logits (log-probabilities): no final activation to undo.
    distillation_output_activation = None

    def __init__(
        self, teachers, teacher_weights=None, temperatures=1.0, activation="auto",
        name="teacher_ensemble", **kwargs,
    ):
        if isinstance(teachers, keras.Model) or not isinstance(teachers, (list, tuple)) or not teachers:
            raise ValueError(
                "`teachers` must be a non-empty list of keras.Model. Received: "
                f"teachers={teachers!r}"
            )
        for index, teacher in enumerate(teachers):
            validation.check_model(teacher, f"teachers[{index}]")
        shapes = [tuple(t.outputs[0].shape[1:]) for t in teachers if getattr(t, "outputs", None)]
        if len(set(shapes)) > 1:
            raise ValueError(
                f"Every teacher must have the same output shape. Received: {shapes}."
            )
        count = len(teachers)
        if teacher_weights is None:
            teacher_weights = [1.0] * count
        teacher_weights = _per_teacher(teacher_weights, count, "teacher_weights")
        if any(not w > 0 for w in teacher_weights):
            raise ValueError(
                f"`teacher_weights` must all be > 0. Received: teacher_weights={teacher_weights}"
            )
        temperatures = _per_teacher(temperatures, count, "temperatures")
        for index, temperature in enumerate(temperatures):
            validation.check_temperature(temperature, f"temperatures[{index}]")
        if activation not in _MODES:
            raise ValueError(
                f"`activation` must be one of {_MODES}. Received: activation={activation!r}"
            )
        super().__init__(name=name, **kwargs)
        self.teachers = list(teachers)
        self.teacher_weights = [w / sum(teacher_weights) for w in teacher_weights]
        self.temperatures = temperatures
        self.activation = activation
        activations = [resolve_output_activation(t, "auto", "activation") for t in teachers]
        self._logits = [TeacherLogits(t, a) for t, a in zip(teachers, activations)]
        if activation == "auto":
            units = shapes[0][-1] if shapes else None
            activation = "sigmoid" if "sigmoid" in activations or units == 1 else "softmax"
        self._mode = activation
        self.built = True

    def call(self, inputs, training=None):
        positive, negative = [], []
        for logits_fn, weight, temperature in zip(
            self._logits, self.teacher_weights, self.temperatures
        ):
            logits = logits_fn(inputs) / temperature
            if self._mode == "softmax":
                positive.append(ops.log_softmax(logits, axis=-1) + math.log(weight))
            else:
                positive.append(ops.log_sigmoid(logits) + math.log(weight))
                negative.append(ops.log_sigmoid(-logits) + math.log(weight))
        log_mean = ops.logsumexp(ops.stack(positive), axis=0)
        if self._mode == "softmax":
            return log_mean
        return log_mean - ops.logsumexp(ops.stack(negative), axis=0)

    def compute_output_spec(self, inputs, training=None):
        return self.teachers[0].compute_output_spec(inputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            teachers=[keras.saving.serialize_keras_object(t) for t in self.teachers],
            teacher_weights=self.teacher_weights,
            temperatures=self.temperatures,
            activation=self.activation,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teachers"] = [keras.saving.deserialize_keras_object(t) for t in config["teachers"]]
        return cls(**config)


def _per_teacher(value, count, argument):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)] * count
    values = list(value)
    if len(values) != count:
        raise ValueError(
            f"`{argument}` must have one value per teacher ({count}). Received: "
            f"{argument}={value!r}"
        )
    return [float(v) for v in values]

"""Base class of the distillation losses: compares teacher and student outputs."""

import abc

import keras
from keras import ops

from keras_distill.api_export import register
from keras_distill.core import distribution
from keras_distill.losses.sequence_chunks import map_sequence_chunks
from keras_distill.losses.sequence_chunks import resolve_chunks

ACTIVATIONS = ("auto", "softmax", "sigmoid")
REDUCTIONS = (None, "none", "sum", "sum_over_batch_size", "mean", "mean_with_sample_weight")


def resolve_activation(activation, logits):
    """Resolves `"auto"` to `"sigmoid"` for one output unit, else `"softmax"`."""
    if activation != "auto":
        return activation
    return "sigmoid" if logits.shape[-1] == 1 else "softmax"


def check_reads_top_k(loss):
    """Raises unless `loss` can compare a student with a top-k teacher cache."""
    if not getattr(loss, "reads_top_k", False):
        raise ValueError(
            f"The distillation loss {getattr(loss, 'name', type(loss).__name__)!r} compares "
            "dense outputs and cannot read a top-k teacher cache (token ids, log-probabilities "
            "and a tail mass). Use a divergence that reads it (KDLoss, ReverseKL, "
            "GeneralizedJSD, SkewKL, SkewReverseKL, TotalVariation) or a dense cache "
            "(`top_k=None`)."
        )


def scale_for_distribution(value):
    """Divides a per-replica mean by the replica count, as Keras losses do.

    Gradients are summed over replicas, so each replica contributes
    `1 / num_replicas` of the global mean (TensorFlow's `tf.distribute` only).
    """
    return distribution.scale_loss(value)


def reduce_per_sample(values, sample_weight=None, reduction="sum_over_batch_size"):
    """Weights per-sample values and reduces them the way `keras.losses.Loss` does."""
    if sample_weight is not None:
        sample_weight = ops.cast(sample_weight, values.dtype)
        while len(sample_weight.shape) > len(values.shape):
            sample_weight = ops.squeeze(sample_weight, axis=-1)
        while len(sample_weight.shape) < len(values.shape):
            sample_weight = ops.expand_dims(sample_weight, axis=-1)
        values = values * sample_weight
    if reduction in (None, "none"):
        return values
    total = ops.sum(values)
    if reduction == "sum":
        return total
    if reduction == "mean_with_sample_weight" and sample_weight is not None:
        divisor = ops.sum(sample_weight)
    else:
        divisor = ops.cast(ops.size(values), values.dtype)
    return scale_for_distribution(ops.divide_no_nan(total, divisor))


@register
class DistillationLoss(keras.losses.Loss, abc.ABC):
    """Base class of the losses that compare teacher and student outputs.

    Subclasses implement `call(teacher_outputs, student_outputs, temperature)`
    returning one value per sample. `__call__` casts both outputs to float32
    (distillation math stays in float32 under mixed precision), applies
    `sample_weight` and reduces like any `keras.losses.Loss`.

    Args:
        reduction: How per-sample values are reduced: `"sum_over_batch_size"`,
            `"sum"`, `"mean_with_sample_weight"` or `None`. Defaults to
            `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to the snake-case class name.

    Example:

    ```python
    class SquaredProbabilityError(keras_distill.losses.DistillationLoss):
        def call(self, teacher_outputs, student_outputs, temperature, activation=None):
            p = keras.ops.softmax(teacher_outputs / temperature)
            q = keras.ops.softmax(student_outputs / temperature)
            return keras.ops.sum(keras.ops.square(p - q), axis=-1)
    ```
    """

    uses_temperature = True
    # Losses that compare with the labels (DKD) or change with the training
    # step (warm-ups) set these; the Distiller then passes `labels`/`step`.
    uses_labels = False
    uses_step = False
    # Divergences that compare k-id buckets set this and implement `call_top_k`.
    reads_top_k = False
    # Per-position losses over the last axis may be computed in sequence chunks
    # (`keras_distill.losses.sequence_chunks`): they set this to "auto" or a count.
    sequence_chunks = None
    # Losses that compare no token ids (ULD) take a teacher of another vocabulary size.
    vocabulary_free = False

    def __init__(self, reduction="sum_over_batch_size", name=None):
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"`reduction` must be one of {REDUCTIONS}. Received: reduction={reduction!r}"
            )
        super().__init__(name=name, reduction=reduction, dtype="float32")

    def __call__(
        self,
        teacher_outputs,
        student_outputs,
        sample_weight=None,
        temperature=1.0,
        activation=None,
        labels=None,
        step=None,
    ):
        """Computes the reduced loss.

        Args:
            teacher_outputs: Teacher logits (or outputs, for regression), or
                a batch of a top-k cache (a dict of `indices`, `log_probs`
                and `tail_mass`) for losses with `reads_top_k`.
            student_outputs: Student logits of the same shape.
            sample_weight: Optional per-sample weights.
            temperature: Softening temperature, a float or a scalar tensor.
                Ignored by losses that do not use one. Defaults to `1.0`.
            activation: Output activation detected by the `Distiller`, used
                when the loss was built with `activation="auto"`.
            labels: The hard labels (integer classes or one-hot), for losses
                with `uses_labels` (`DKDLoss`); ignored by the others.
            step: The training step, for losses with `uses_step` (warm-ups);
                ignored by the others. Defaults to `None` (no warm-up).

        Returns:
            The reduced loss, a float32 scalar (or per-sample values for
            `reduction=None`).
        """
        student_outputs = ops.cast(student_outputs, "float32")
        temperature = ops.cast(temperature, "float32")
        chunks = resolve_chunks(self.sequence_chunks, student_outputs.shape)
        if isinstance(teacher_outputs, dict):
            check_reads_top_k(self)
            values = map_sequence_chunks(
                lambda t, s: self.call_top_k(t, s, temperature, activation=activation),
                teacher_outputs, student_outputs, chunks,
            )
            return reduce_per_sample(values, sample_weight, self.reduction)
        teacher_outputs = ops.cast(teacher_outputs, "float32")
        extra = {}
        if self.uses_labels:
            if labels is None:
                raise ValueError(
                    f"`{type(self).__name__}` compares with the hard labels: pass "
                    "`labels=` (the Distiller passes the `y` given to `fit`)."
                )
            extra["labels"] = labels
        if self.uses_step:
            extra["step"] = step
        values = map_sequence_chunks(
            lambda t, s: self.call(t, s, temperature, activation=activation, **extra),
            teacher_outputs, student_outputs, chunks,
        )
        return reduce_per_sample(values, sample_weight, self.reduction)

    @abc.abstractmethod
    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        """Returns one float32 loss value per sample."""

    def call_top_k(self, cached, student_outputs, temperature, activation=None):
        """Returns one float32 loss value per position from a top-k cache (`reads_top_k`)."""
        raise NotImplementedError

    def get_config(self):
        return {"reduction": self.reduction, "name": self.name}


class ActivationLoss(DistillationLoss):
    """A distillation loss over softmax or sigmoid outputs (shared `activation` handling)."""

    def __init__(self, activation="auto", reduction="sum_over_batch_size", name=None):
        if activation not in ACTIVATIONS:
            raise ValueError(
                f"`activation` must be one of {ACTIVATIONS}. Received: activation={activation!r}"
            )
        super().__init__(reduction=reduction, name=name)
        self.activation = activation

    def resolve(self, logits, hint=None):
        """Returns the activation to use: explicit, else the Distiller's hint, else by shape."""
        if self.activation != "auto":
            return self.activation
        if hint in ("softmax", "sigmoid"):
            return hint
        return resolve_activation("auto", logits)

    def get_config(self):
        config = super().get_config()
        config.update({"activation": self.activation})
        return config

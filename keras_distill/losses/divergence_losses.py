"""The token divergences as registered `keras.losses.Loss` classes, dense or from a top-k cache."""

from keras_distill.api_export import register
from keras_distill.core.argument_validation import check_fraction
from keras_distill.losses import divergences
from keras_distill.losses.distillation_loss import ActivationLoss
from keras_distill.losses.sequence_chunks import check_sequence_chunks
from keras_distill.losses.top_k import top_k_divergence


class Divergence(ActivationLoss):
    """A divergence between teacher and student distributions, dense or from a top-k cache.

    Subclasses define `divergence(t, s)` between `softmax(t)` (the
    teacher's) and `softmax(s)` (the student's) over the last axis, on
    float32 logits already divided by `T`. Dense outputs pass their logits;
    a top-k cache its `k + 1` bucket log-masses (`keras_distill.losses.top_k`).
    Either way the result is multiplied by `T²`, as `KDLoss` does.

    Args:
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Name of the loss. Defaults to the snake-case class name.
        sequence_chunks: For `(batch, sequence, vocabulary)` outputs: in how
            many pieces of the sequence the divergence is computed, each
            rematerialised in the backward pass (bounded memory, same
            values): an int, `"auto"` (chunks of about 8 MiB of logits) or
            `None` (the whole sequence at once). See
            benchmarks/results/lm_memory.md for when it helps. Defaults to `None`.

    Example:

    ```python
    class SquaredHellinger(keras_distill.losses.Divergence):
        def divergence(self, t, s):
            p, q = keras.ops.softmax(t), keras.ops.softmax(s)
            return 0.5 * keras.ops.sum(keras.ops.square(keras.ops.sqrt(p) - keras.ops.sqrt(q)), -1)
    ```
    """

    reads_top_k = True

    def __init__(self, activation="auto", reduction="sum_over_batch_size", name=None,
                 sequence_chunks=None):
        super().__init__(activation=activation, reduction=reduction, name=name)
        self.sequence_chunks = check_sequence_chunks(sequence_chunks)

    def get_config(self):
        return {**super().get_config(), "sequence_chunks": self.sequence_chunks}

    def divergence(self, t, s):
        """The per-position divergence of float32 logits; each subclass (abstract here) defines it."""
        raise NotImplementedError

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return divergences.dense_divergence(
            self.divergence, teacher_outputs, student_outputs, temperature,
            self.resolve(teacher_outputs, activation),
        )

    def call_top_k(self, cached, student_outputs, temperature, activation=None):
        if self.resolve(student_outputs, activation) != "softmax":
            raise ValueError(
                f"A top-k teacher cache holds softmax log-probabilities: `{type(self).__name__}` "
                f"reads it with activation='softmax'. Received: activation={self.activation!r}."
            )
        return top_k_divergence(self.divergence, cached, student_outputs, temperature)


@register
class ReverseKL(Divergence):
    """Reverse KL, `T² KL(q || p)`: mode-seeking (the student covers the teacher's main modes).

    Args:
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"reverse_kl"`.
        sequence_chunks: See `Divergence`. Defaults to `None`.

    Example:

    ```python
    distiller.compile(optimizer="adam", distillation_loss_fn=keras_distill.losses.ReverseKL())
    ```

    Reference:
        Gu, Dong, Wei and Huang, "MiniLLM: Knowledge Distillation of Large
        Language Models", ICLR 2024.
    """

    def __init__(self, activation="auto", reduction="sum_over_batch_size", name="reverse_kl",
                 sequence_chunks=None):
        super().__init__(activation=activation, reduction=reduction, name=name,
                         sequence_chunks=sequence_chunks)

    def divergence(self, t, s):
        return divergences.reverse_kl_from_logits(t, s)


@register
class GeneralizedJSD(Divergence):
    """Generalized Jensen-Shannon divergence, `beta KL(p || m) + (1 - beta) KL(q || m)`.

    `m = beta p + (1 - beta) q`; `beta = 0` is forward KL and `beta = 1`
    reverse KL exactly, as in TRL's `GKDTrainer`.

    Args:
        beta: Weight of the teacher in the mixture, in `[0, 1]`. Defaults to `0.5`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"generalized_jsd"`.
        sequence_chunks: See `Divergence`. Defaults to `None`.

    Example:

    ```python
    loss = keras_distill.losses.GeneralizedJSD(beta=0.5)
    value = loss(teacher_logits, student_logits, temperature=0.9)
    ```

    Reference:
        Agarwal et al., "On-Policy Distillation of Language Models: Learning
        from Self-Generated Mistakes", ICLR 2024.
    """

    def __init__(
        self, beta=0.5, activation="auto", reduction="sum_over_batch_size", name="generalized_jsd",
        sequence_chunks=None,
    ):
        super().__init__(activation=activation, reduction=reduction, name=name,
                         sequence_chunks=sequence_chunks)
        self.beta = check_fraction(beta, "beta", "the teacher's weight in the mixture")

    def divergence(self, t, s):
        return divergences.jsd_from_logits(t, s, self.beta)

    def get_config(self):
        return {**super().get_config(), "beta": self.beta}


@register
class SkewKL(Divergence):
    """Skew KL, `KL(p || alpha p + (1 - alpha) q)` (DistiLLM).

    Args:
        alpha: Share of the teacher mixed into the student, in `[0, 1)`.
            Defaults to `0.1` (the authors' setting).
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"skew_kl"`.
        sequence_chunks: See `Divergence`. Defaults to `None`.

    Example:

    ```python
    loss = keras_distill.losses.SkewKL(alpha=0.1)
    ```

    Reference:
        Ko, Kim, Chen and Yun, "DistiLLM: Towards Streamlined Distillation for
        Large Language Models", ICML 2024.
    """

    def __init__(self, alpha=0.1, activation="auto", reduction="sum_over_batch_size",
                 name="skew_kl", sequence_chunks=None):
        super().__init__(activation=activation, reduction=reduction, name=name,
                         sequence_chunks=sequence_chunks)
        self.alpha = check_fraction(alpha, "alpha", "the share of the mixture", include_one=False)

    def divergence(self, t, s):
        return divergences.skew_kl_from_logits(t, s, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class SkewReverseKL(Divergence):
    """Skew reverse KL, `KL(q || (1 - alpha) p + alpha q)` (DistiLLM).

    Args:
        alpha: Share of the student mixed into the teacher, in `[0, 1)`.
            Defaults to `0.1` (the authors' setting).
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"skew_reverse_kl"`.
        sequence_chunks: See `Divergence`. Defaults to `None`.

    Example:

    ```python
    loss = keras_distill.losses.SkewReverseKL(alpha=0.1)
    ```

    Reference:
        Ko, Kim, Chen and Yun, "DistiLLM: Towards Streamlined Distillation for
        Large Language Models", ICML 2024.
    """

    def __init__(self, alpha=0.1, activation="auto", reduction="sum_over_batch_size",
                 name="skew_reverse_kl", sequence_chunks=None):
        super().__init__(activation=activation, reduction=reduction, name=name,
                         sequence_chunks=sequence_chunks)
        self.alpha = check_fraction(alpha, "alpha", "the share of the mixture", include_one=False)

    def divergence(self, t, s):
        return divergences.skew_reverse_kl_from_logits(t, s, self.alpha)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha}


@register
class TotalVariation(Divergence):
    """Total variation distance, `0.5 * sum |p - q|` (times `T²`, like the KL losses).

    Args:
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"total_variation"`.
        sequence_chunks: See `Divergence`. Defaults to `None`.

    Example:

    ```python
    loss = keras_distill.losses.TotalVariation()
    ```

    Reference:
        Wen, Li, Du and Mou, "f-Divergence Minimization for Sequence-Level
        Knowledge Distillation", ACL 2023.
    """

    def __init__(self, activation="auto", reduction="sum_over_batch_size",
                 name="total_variation", sequence_chunks=None):
        super().__init__(activation=activation, reduction=reduction, name=name,
                         sequence_chunks=sequence_chunks)

    def divergence(self, t, s):
        return divergences.total_variation_from_logits(t, s)

"""Divergences between token distributions: reverse KL, generalized JSD, skew KL, total variation.

Each divergence is written twice: on log-probabilities (`*_from_log_probs`,
shared with the top-k cache loss, which compares `k + 1` buckets) and on
logits (the public functions). Everything is float32 and built from
log-softmax and log-sum-exp: no `log(0)`, no `inf - inf`, finite for logits
of any finite size.

Temperature: the logits are divided by `T` before the softmax and the result
is multiplied by `T²`, as `kd_loss` does for forward KL, so that switching the
divergence keeps the loss on the same scale at every temperature.
"""

import math

from keras import ops

from keras_distill.core.argument_validation import check_fraction
from keras_distill.losses.distillation_loss import resolve_activation


def kl_from_log_probs(log_p, log_q):
    """`KL(p || q) = sum p (log p - log q)` over the last axis."""
    return ops.sum(ops.exp(log_p) * (log_p - log_q), axis=-1)


def _log_mixture(log_p, log_q, weight):
    """`log(weight * p + (1 - weight) * q)`, by log-sum-exp (0 < weight < 1)."""
    return ops.logaddexp(log_p + math.log(weight), log_q + math.log1p(-weight))


def jsd_from_log_probs(log_p, log_q, beta):
    """`beta KL(p || m) + (1 - beta) KL(q || m)`, `m = beta p + (1 - beta) q`.

    `beta = 0` is forward KL(p || q) and `beta = 1` reverse KL(q || p),
    exactly (TRL's convention; the mixture form tends to 0 at both ends).
    """
    if beta == 0.0:
        return kl_from_log_probs(log_p, log_q)
    if beta == 1.0:
        return kl_from_log_probs(log_q, log_p)
    log_m = _log_mixture(log_p, log_q, beta)
    return beta * kl_from_log_probs(log_p, log_m) + (1.0 - beta) * kl_from_log_probs(log_q, log_m)


def skew_kl_from_log_probs(log_p, log_q, alpha):
    """`KL(p || alpha p + (1 - alpha) q)`; `alpha = 0` is forward KL."""
    if alpha == 0.0:
        return kl_from_log_probs(log_p, log_q)
    return kl_from_log_probs(log_p, _log_mixture(log_p, log_q, alpha))


def skew_reverse_kl_from_log_probs(log_p, log_q, alpha):
    """`KL(q || (1 - alpha) p + alpha q)`; `alpha = 0` is reverse KL."""
    if alpha == 0.0:
        return kl_from_log_probs(log_q, log_p)
    return kl_from_log_probs(log_q, _log_mixture(log_q, log_p, alpha))


def total_variation_from_log_probs(log_p, log_q):
    """`0.5 * sum |p - q|` over the last axis."""
    return 0.5 * ops.sum(ops.abs(ops.exp(log_p) - ops.exp(log_q)), axis=-1)


def tempered_log_probs(teacher_logits, student_logits, temperature, activation="auto"):
    """Float32 `log_softmax(logits / T)` of both, over a class axis.

    A sigmoid unit with logit `z` becomes the two classes `(z, 0)`; the
    caller averages over the units.

    Returns:
        `(log_p, log_q, sigmoid)`: the teacher's and student's log-probabilities
        and whether the last axis is the two classes of sigmoid units.
    """
    temperature = ops.cast(temperature, "float32")
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    if resolve_activation(activation, t) == "sigmoid":
        zeros = ops.zeros_like(t)
        t, s = ops.stack([t, zeros], axis=-1), ops.stack([s, zeros], axis=-1)
        return ops.log_softmax(t, axis=-1), ops.log_softmax(s, axis=-1), True
    return ops.log_softmax(t, axis=-1), ops.log_softmax(s, axis=-1), False


def dense_divergence(fn, teacher_logits, student_logits, temperature, activation="auto"):
    """`T² * fn(log_p, log_q)` per position, from logits (sigmoid units averaged)."""
    log_p, log_q, sigmoid = tempered_log_probs(
        teacher_logits, student_logits, temperature, activation
    )
    values = fn(log_p, log_q)
    if sigmoid:
        values = ops.mean(values, axis=-1)
    return values * ops.square(ops.cast(temperature, "float32"))


def reverse_kl(teacher_logits, student_logits, temperature=1.0, activation="auto"):
    """Per-position `T² KL(q || p)`, `p = softmax(t / T)` (teacher), `q = softmax(s / T)`.

    Mode-seeking: the student is penalised for mass where the teacher has
    little, not for missing some of the teacher's modes.

    Args:
        teacher_logits: Teacher logits, `(batch, ..., classes)`.
        student_logits: Student logits, same shape.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.reverse_kl(teacher_logits, student_logits)  # (batch,)
    ```

    Reference:
        Gu, Dong, Wei and Huang, "MiniLLM: Knowledge Distillation of Large
        Language Models", ICLR 2024.
    """
    return dense_divergence(
        lambda p, q: kl_from_log_probs(q, p), teacher_logits, student_logits, temperature, activation
    )


def generalized_jsd(teacher_logits, student_logits, beta=0.5, temperature=1.0, activation="auto"):
    """Per-position `T² (beta KL(p || m) + (1 - beta) KL(q || m))`, `m = beta p + (1 - beta) q`.

    `beta = 0` is forward KL and `beta = 1` reverse KL exactly (the TRL
    `GKDTrainer` convention); `beta = 0.5` is the Jensen-Shannon divergence.
    The mixture is formed in log space with log-sum-exp.

    Args:
        teacher_logits: Teacher logits, `(batch, ..., classes)`.
        student_logits: Student logits, same shape.
        beta: Weight of the teacher in the mixture, in `[0, 1]`. Defaults to `0.5`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.generalized_jsd(teacher_logits, student_logits, beta=0.5)
    ```

    Reference:
        Agarwal et al., "On-Policy Distillation of Language Models: Learning
        from Self-Generated Mistakes", ICLR 2024.
    """
    beta = check_fraction(beta, "beta", "the teacher's weight in the mixture")
    return dense_divergence(
        lambda p, q: jsd_from_log_probs(p, q, beta), teacher_logits, student_logits, temperature,
        activation,
    )


def skew_kl(teacher_logits, student_logits, alpha=0.1, temperature=1.0, activation="auto"):
    """Per-position `T² KL(p || alpha p + (1 - alpha) q)` (skew KL).

    Mixing a little of the teacher into the student's distribution bounds
    the loss and its gradient where the student gives a teacher token
    almost no mass.

    Args:
        teacher_logits: Teacher logits, `(batch, ..., classes)`.
        student_logits: Student logits, same shape.
        alpha: Share of the teacher in the mixture, in `[0, 1)`. Defaults to `0.1`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.skew_kl(teacher_logits, student_logits, alpha=0.1)
    ```

    Reference:
        Ko, Kim, Chen and Yun, "DistiLLM: Towards Streamlined Distillation for
        Large Language Models", ICML 2024.
    """
    alpha = check_fraction(alpha, "alpha", "the share of the mixture", include_one=False)
    return dense_divergence(
        lambda p, q: skew_kl_from_log_probs(p, q, alpha), teacher_logits, student_logits,
        temperature, activation,
    )


def skew_reverse_kl(teacher_logits, student_logits, alpha=0.1, temperature=1.0, activation="auto"):
    """Per-position `T² KL(q || (1 - alpha) p + alpha q)` (skew reverse KL).

    Args:
        teacher_logits: Teacher logits, `(batch, ..., classes)`.
        student_logits: Student logits, same shape.
        alpha: Share of the student in the mixture, in `[0, 1)`. Defaults to `0.1`.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.skew_reverse_kl(teacher_logits, student_logits, alpha=0.1)
    ```

    Reference:
        Ko, Kim, Chen and Yun, "DistiLLM: Towards Streamlined Distillation for
        Large Language Models", ICML 2024.
    """
    alpha = check_fraction(alpha, "alpha", "the share of the mixture", include_one=False)
    return dense_divergence(
        lambda p, q: skew_reverse_kl_from_log_probs(p, q, alpha), teacher_logits, student_logits,
        temperature, activation,
    )


def total_variation(teacher_logits, student_logits, temperature=1.0, activation="auto"):
    """Per-position `T² * 0.5 * sum |p - q|` (total variation distance, in `[0, T²]`).

    Bounded, symmetric, and its gradient does not grow where either
    distribution is near zero.

    Args:
        teacher_logits: Teacher logits, `(batch, ..., classes)`.
        student_logits: Student logits, same shape.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        activation: `"softmax"`, `"sigmoid"` or `"auto"`. Defaults to `"auto"`.

    Returns:
        A float32 tensor of shape `(batch, ...)`.

    Example:

    ```python
    values = keras_distill.losses.total_variation(teacher_logits, student_logits)
    ```

    Reference:
        Wen, Li, Du and Mou, "f-Divergence Minimization for Sequence-Level
        Knowledge Distillation", ACL 2023.
    """
    return dense_divergence(
        total_variation_from_log_probs, teacher_logits, student_logits, temperature, activation
    )

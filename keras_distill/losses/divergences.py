"""Divergences between token distributions: reverse KL, generalized JSD, skew KL, total variation.

Each divergence is written twice: on already tempered logits over the last
axis (`*_from_logits`, shared with the top-k cache loss, which compares
`k + 1` bucket log-masses) and as the public per-position functions.
Everything is float32 and built from log-softmax and log-sum-exp: no
`log(0)`, no `inf - inf`, finite for logits of any finite size. Forward and
reverse KL use the form of `kd_loss`, exact to float32 rounding even for
nearly equal distributions.

Temperature: the logits are divided by `T` before the softmax and the result
is multiplied by `T²`, as `kd_loss` does for forward KL, so that switching the
divergence keeps the loss on the same scale at every temperature.
"""

import math

from keras import ops

from keras_distill.core.argument_validation import check_fraction
from keras_distill.losses.distillation_loss import resolve_activation

# exp(20) = 4.9e8 keeps the close-form sum far from float32 overflow.
_CLOSE_FORM_LIMIT = 20.0


def softmax_kl(t, s):
    """`KL(softmax(t) || softmax(s))` over the last axis, accurate in float32."""
    return _kl_from_difference(t, t - s)


def _kl_from_difference(t, d, exact_ratio=False):
    """`KL(softmax(t) || softmax(t - d))`, `d` given directly (log p - log q up to a constant).

    With `e = d - E_p[d]`, `KL = log(E_p[exp(-e)]) = log1p(E_p[expm1(-e)])`:
    no difference of two log-sum-exps, so close distributions (high
    temperatures, a student near its teacher) keep full relative precision.
    Where `-e` is large that form would overflow, and the direct
    `E_p[log p - log q]` is used instead: `E_p[d]` itself when `d` is
    exactly `log p - log q` (`exact_ratio`), so that `t - d` is never
    formed from two large numbers.
    """
    log_p = ops.log_softmax(t, axis=-1)
    p = ops.exp(log_p)
    e = d - ops.sum(p * d, axis=-1, keepdims=True)
    # `amax`, not `max`: Keras's torch `max` breaks torch.compile's graph.
    close = ops.amax(-e, axis=-1) <= _CLOSE_FORM_LIMIT
    close_form = ops.log1p(ops.sum(p * ops.expm1(ops.minimum(-e, _CLOSE_FORM_LIMIT)), axis=-1))
    if exact_ratio:
        direct = ops.sum(p * d, axis=-1)
    else:
        direct = ops.sum(p * (log_p - ops.log_softmax(t - d, axis=-1)), axis=-1)
    return ops.where(close, close_form, direct)


def _log_ratio(t, s):
    """`u = log q - log p` per class."""
    return ops.log_softmax(s, axis=-1) - ops.log_softmax(t, axis=-1)


def _mixture_offsets(u, weight):
    """`(log m - log p, log m - log q)` for `m = weight p + (1 - weight) q` (0 < weight < 1).

    Each is one log-sum-exp of `u`, never a difference of two large log
    values: a rounding error in `u` moves the mixture only to second order
    in the divergences built on it.
    """
    log_weight, log_rest = math.log(weight), math.log1p(-weight)
    return ops.logaddexp(log_weight, log_rest + u), ops.logaddexp(log_weight - u, log_rest)


def reverse_kl_from_logits(t, s):
    """`KL(softmax(s) || softmax(t))` over the last axis."""
    return softmax_kl(s, t)


def jsd_from_logits(t, s, beta):
    """`beta KL(p || m) + (1 - beta) KL(q || m)`, `m = beta p + (1 - beta) q`.

    `beta = 0` is forward KL(p || q) and `beta = 1` reverse KL(q || p),
    exactly (TRL's convention; the mixture form tends to 0 at both ends).
    """
    if beta == 0.0:
        return softmax_kl(t, s)
    if beta == 1.0:
        return softmax_kl(s, t)
    offset_p, offset_q = _mixture_offsets(_log_ratio(t, s), beta)
    return beta * _kl_from_difference(t, -offset_p, True) + (1.0 - beta) * _kl_from_difference(
        s, -offset_q, True
    )


def skew_kl_from_logits(t, s, alpha):
    """`KL(p || alpha p + (1 - alpha) q)`; `alpha = 0` is forward KL."""
    if alpha == 0.0:
        return softmax_kl(t, s)
    offset_p, _ = _mixture_offsets(_log_ratio(t, s), alpha)
    return _kl_from_difference(t, -offset_p, True)


def skew_reverse_kl_from_logits(t, s, alpha):
    """`KL(q || (1 - alpha) p + alpha q)`; `alpha = 0` is reverse KL."""
    if alpha == 0.0:
        return softmax_kl(s, t)
    _, offset_q = _mixture_offsets(_log_ratio(t, s), 1.0 - alpha)
    return _kl_from_difference(s, -offset_q, True)


def total_variation_from_logits(t, s):
    """`0.5 * sum |softmax(t) - softmax(s)|` over the last axis.

    `|p - q|` is `q (1 - exp(-u))` where `u = log q - log p > 0`, else
    `p (1 - exp(u))`: each from `expm1` of a clamped `u`, never a difference
    of two nearly equal probabilities, and never `0 * inf`.
    """
    u = _log_ratio(t, s)
    p, q = ops.softmax(t, axis=-1), ops.softmax(s, axis=-1)
    gap = -q * ops.expm1(-ops.maximum(u, 0.0)) - p * ops.expm1(ops.minimum(u, 0.0))
    return 0.5 * ops.sum(gap, axis=-1)


def dense_divergence(fn, teacher_logits, student_logits, temperature, activation="auto"):
    """`T² * fn(t / T, s / T)` per position, in float32 (sigmoid units averaged).

    A sigmoid unit with logit `z` is the two classes `(z, 0)`.
    """
    temperature = ops.cast(temperature, "float32")
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    if resolve_activation(activation, t) == "sigmoid":
        zeros = ops.zeros_like(t)
        values = ops.mean(fn(ops.stack([t, zeros], axis=-1), ops.stack([s, zeros], axis=-1)), -1)
    else:
        values = fn(t, s)
    return values * ops.square(temperature)


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
        reverse_kl_from_logits, teacher_logits, student_logits, temperature, activation
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
        lambda t, s: jsd_from_logits(t, s, beta), teacher_logits, student_logits, temperature,
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
        lambda t, s: skew_kl_from_logits(t, s, alpha), teacher_logits, student_logits,
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
        lambda t, s: skew_reverse_kl_from_logits(t, s, alpha), teacher_logits, student_logits,
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
        total_variation_from_logits, teacher_logits, student_logits, temperature, activation
    )

"""Decoupled knowledge distillation (Zhao et al. 2022): target and non-target KD."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import DistillationLoss
from keras_distill.losses.labels import one_hot_labels

# Far below any softened logit: a class masked this way has probability 0.
_MASK = 1e9


def _log_binary(logits, target):
    """Log-probabilities of (target class, all other classes) under softmax(logits)."""
    lse = ops.logsumexp(logits, axis=-1)
    log_target = ops.sum(logits * target, axis=-1) - lse
    log_rest = ops.logsumexp(logits - _MASK * target, axis=-1) - lse
    return log_target, log_rest


def dkd_loss(
    teacher_logits, student_logits, labels, temperature=4.0, alpha=1.0, beta=8.0
):
    """Per-sample decoupled KD: `alpha * TCKD + beta * NCKD`, both times T².

    TCKD is the KL divergence between the binary distributions (target class,
    any other class) of teacher and student; NCKD the KL divergence between
    their distributions over the non-target classes alone. Classic KD couples
    the two with the weight `1 - p_target` of the teacher; DKD weights them
    independently.

    Args:
        teacher_logits: `(batch, classes)` teacher logits.
        student_logits: `(batch, classes)` student logits.
        labels: Integer classes `(batch,)` or one-hot `(batch, classes)`.
        temperature: Softening temperature, > 0. Defaults to `4.0`.
        alpha: Weight of TCKD. Defaults to `1.0`.
        beta: Weight of NCKD. Defaults to `8.0`.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    ```python
    values = keras_distill.losses.dkd_loss(teacher_logits, student_logits, labels, temperature=4.0)
    ```

    Reference:
        Zhao, Cui, Song, Qiu and Liang, "Decoupled Knowledge Distillation",
        CVPR 2022.
    """
    t = ops.cast(teacher_logits, "float32") / temperature
    s = ops.cast(student_logits, "float32") / temperature
    target = one_hot_labels(labels, t.shape[-1])
    t_target, t_rest = _log_binary(t, target)
    s_target, s_rest = _log_binary(s, target)
    tckd = ops.exp(t_target) * (t_target - s_target) + ops.exp(t_rest) * (t_rest - s_rest)
    log_p = ops.log_softmax(t - _MASK * target, axis=-1)
    log_q = ops.log_softmax(s - _MASK * target, axis=-1)
    nckd = ops.sum(ops.exp(log_p) * (log_p - log_q) * (1.0 - target), axis=-1)
    return (alpha * tckd + beta * nckd) * ops.square(ops.cast(temperature, "float32"))


@register
class DKDLoss(DistillationLoss):
    """Decoupled knowledge distillation: target-class and non-target-class KD.

    Needs the hard labels (the `Distiller` passes `y`) and takes the
    Distiller's temperature. `beta` scales the "dark knowledge" among wrong
    classes that classic KD under-weights for confident teachers; the paper
    uses `alpha=1`, `beta=8` (CIFAR-100), `beta=0.5` (ImageNet) and a linear
    warm-up of the whole loss over 20 epochs. Use it when the teacher is very
    confident on the training set (KD's signal vanishes) and labels are
    clean. Its scale is larger than KD's: pair it with a small hard-label
    weight, or `alpha=0` on the Distiller.

    Args:
        alpha: Weight of the target-class term. Defaults to `1.0`.
        beta: Weight of the non-target-class term. Defaults to `8.0`.
        warmup_steps: The loss is scaled by `min(step / warmup_steps, 1)`,
            with `step` the optimizer's iteration count. `0` disables the
            warm-up. Defaults to `0`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"dkd_loss"`.

    Example:

    ```python
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras_distill.losses.DKDLoss(beta=8.0, warmup_steps=1000),
        alpha=0.5,
        temperature=4.0,
    )
    ```

    Reference:
        Zhao, Cui, Song, Qiu and Liang, "Decoupled Knowledge Distillation",
        CVPR 2022.
    """

    uses_labels = True
    uses_step = True

    def __init__(
        self, alpha=1.0, beta=8.0, warmup_steps=0, reduction="sum_over_batch_size",
        name="dkd_loss",
    ):
        for argument, value in (("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"`{argument}` must be a number >= 0. Received: {argument}={value!r}"
                )
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int) or warmup_steps < 0:
            raise ValueError(
                f"`warmup_steps` must be an integer >= 0. Received: warmup_steps={warmup_steps!r}"
            )
        super().__init__(reduction=reduction, name=name)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.warmup_steps = warmup_steps

    def call(self, teacher_outputs, student_outputs, temperature, activation=None, labels=None,
             step=None):
        values = dkd_loss(
            teacher_outputs, student_outputs, labels, temperature, self.alpha, self.beta
        )
        if self.warmup_steps and step is not None:
            progress = ops.cast(step, "float32") / float(self.warmup_steps)
            values = values * ops.minimum(progress, 1.0)
        return values

    def get_config(self):
        config = super().get_config()
        config.update(alpha=self.alpha, beta=self.beta, warmup_steps=self.warmup_steps)
        return config

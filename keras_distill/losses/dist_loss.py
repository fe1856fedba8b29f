"""DIST (Huang et al. 2022): match class rankings by Pearson correlation."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.distillation_loss import DistillationLoss

_EPSILON = 1e-8


def _pearson(a, b, axis):
    a = a - ops.mean(a, axis=axis, keepdims=True)
    b = b - ops.mean(b, axis=axis, keepdims=True)
    dot = ops.sum(a * b, axis=axis)
    norms = ops.sqrt(ops.sum(a * a, axis=axis)) * ops.sqrt(ops.sum(b * b, axis=axis))
    return dot / (norms + _EPSILON)


def dist_loss(teacher_logits, student_logits, temperature=1.0, beta=1.0, gamma=1.0):
    """Per-sample DIST loss: inter-class relation plus the batch's intra-class relation.

    With `p = softmax(t / T)` and `q = softmax(s / T)`, the inter-class term
    of sample `i` is `1 - pearson(q_i, p_i)` over the classes, and the
    intra-class term is `1 - mean_c pearson(q[:, c], p[:, c])` over the batch
    (one value per batch, added to every sample). Both are multiplied by T².
    Correlations ignore each model's scale and shift, so the student needs to
    match only the teacher's relative preferences.

    Args:
        teacher_logits: `(batch, classes)` teacher logits.
        student_logits: `(batch, classes)` student logits.
        temperature: Softening temperature, > 0. Defaults to `1.0`.
        beta: Weight of the inter-class term. Defaults to `1.0`.
        gamma: Weight of the intra-class term. Defaults to `1.0`.

    Returns:
        A float32 tensor of shape `(batch,)`.

    Example:

    ```python
    values = keras_distill.losses.dist_loss(teacher_logits, student_logits, temperature=1.0)
    ```

    Reference:
        Huang, You, Wang, Qian and Xu, "Knowledge Distillation from A Stronger
        Teacher", NeurIPS 2022.
    """
    temperature = ops.cast(temperature, "float32")
    p = ops.softmax(ops.cast(teacher_logits, "float32") / temperature, axis=-1)
    q = ops.softmax(ops.cast(student_logits, "float32") / temperature, axis=-1)
    inter = 1.0 - _pearson(q, p, axis=-1)
    intra = 1.0 - ops.mean(_pearson(q, p, axis=0))
    return (beta * inter + gamma * intra) * ops.square(temperature)


@register
class DISTLoss(DistillationLoss):
    """DIST: Pearson-correlation matching of class distributions, per sample and per class.

    Built for teachers much stronger than the student, where exact KL
    matching is too hard a target: the student matches the teacher's ranking
    of classes within each sample (inter-class) and of samples within each
    class (intra-class). The intra-class term is a batch statistic: sample
    weights weight the inter-class term only, and each replica uses its own
    batch under `tf.distribute`. The paper uses `T=1` (ImageNet) and `T=4`
    (CIFAR-100) with `beta=gamma=1`.

    Args:
        beta: Weight of the inter-class term. Defaults to `1.0`.
        gamma: Weight of the intra-class term. Defaults to `1.0`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"dist_loss"`.

    Example:

    ```python
    distiller.compile(
        optimizer="adam", student_loss_fn=loss, distillation_loss_fn=keras_distill.losses.DISTLoss(),
        alpha=0.5, temperature=1.0,
    )
    ```

    Reference:
        Huang, You, Wang, Qian and Xu, "Knowledge Distillation from A Stronger
        Teacher", NeurIPS 2022.
    """

    def __init__(self, beta=1.0, gamma=1.0, reduction="sum_over_batch_size", name="dist_loss"):
        for argument, value in (("beta", beta), ("gamma", gamma)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(
                    f"`{argument}` must be a number >= 0. Received: {argument}={value!r}"
                )
        super().__init__(reduction=reduction, name=name)
        self.beta = float(beta)
        self.gamma = float(gamma)

    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return dist_loss(teacher_outputs, student_outputs, temperature, self.beta, self.gamma)

    def get_config(self):
        config = super().get_config()
        config.update(beta=self.beta, gamma=self.gamma)
        return config

"""Relational knowledge distillation: distances and angles between samples' embeddings."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.feature_loss import flatten_samples
from keras_distill.losses.feature_loss import l2_normalize

_DISTANCE_FLOOR = 1e-12


def _huber(x):
    """Smooth L1 (Huber with delta 1), elementwise."""
    absolute = ops.abs(x)
    return ops.where(absolute < 1.0, 0.5 * ops.square(x), absolute - 0.5)


def normalized_distances(embeddings):
    """Pairwise Euclidean distances divided by their mean over distinct pairs, `(b, b)`."""
    e = flatten_samples(ops.cast(embeddings, "float32"))
    squared = ops.sum(ops.square(e), axis=-1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * ops.matmul(e, ops.transpose(e))
    batch = ops.shape(e)[0]
    off_diagonal = 1.0 - ops.eye(batch, dtype="float32")
    distances = ops.sqrt(ops.maximum(d2, _DISTANCE_FLOOR)) * off_diagonal
    pairs = ops.maximum(ops.sum(off_diagonal), 1.0)
    mean = ops.sum(distances) / pairs
    return distances / ops.maximum(mean, _DISTANCE_FLOOR)


def pairwise_angles(embeddings):
    """`cos` of the angle at anchor `i` between `e_j - e_i` and `e_k - e_i`, `(b, b, b)`."""
    e = flatten_samples(ops.cast(embeddings, "float32"))
    directions = l2_normalize(e[None, :, :] - e[:, None, :], axis=-1)
    return ops.matmul(directions, ops.transpose(directions, (0, 2, 1)))


def rkd_loss(teacher_features, student_features, distance_weight=25.0, angle_weight=50.0):
    """Per-sample RKD loss anchored at each sample.

    `distance_weight * mean_j huber(d_s[i, j] - d_t[i, j])
     + angle_weight * mean_{j,k} huber(A_s[i, j, k] - A_t[i, j, k])`, with
    distances normalized by their mean over distinct pairs. The batch mean is
    the paper's loss. Memory grows as batch³ x features for the angle term.

    Args:
        teacher_features: Teacher embeddings, `(batch, ...)`.
        student_features: Student embeddings, `(batch, ...)`, any size.
        distance_weight: Weight of the distance term. Defaults to `25.0`.
        angle_weight: Weight of the angle term. Defaults to `50.0`.

    Example:

    ```python
    values = keras_distill.losses.rkd_loss(teacher_embeddings, student_embeddings)  # (batch,)
    ```

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    total = 0.0
    if distance_weight:
        diff = normalized_distances(student_features) - normalized_distances(teacher_features)
        total = total + distance_weight * ops.mean(_huber(diff), axis=-1)
    if angle_weight:
        diff = pairwise_angles(student_features) - pairwise_angles(teacher_features)
        per_anchor = ops.mean(ops.reshape(_huber(diff), (ops.shape(diff)[0], -1)), axis=-1)
        total = total + angle_weight * per_anchor
    return total


@register
class RKDLoss(FeatureLoss):
    """Relational knowledge distillation: distance-wise and angle-wise terms.

    The student's embeddings keep the teacher's pairwise distances
    (normalized by their mean) and the angles of every triplet, so the two
    embeddings may have different sizes (no adapter). Usually applied to the
    penultimate layer. Pairs and triplets are formed within each batch
    (within each replica's batch under `tf.distribute`).

    Args:
        distance_weight: Weight of the distance term. Defaults to `25.0`
            (the paper's).
        angle_weight: Weight of the angle term. Defaults to `50.0` (the
            paper's).
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"rkd_loss"`.

    Example:

    ```python
    pair = keras_distill.features.FeaturePair("embedding", "embedding", loss=keras_distill.losses.RKDLoss())
    ```

    References:
        Park, Kim, Lu and Cho, "Relational Knowledge Distillation", CVPR 2019.
    """

    matches_shapes = False
    default_weight = 1.0

    def __init__(
        self, distance_weight=25.0, angle_weight=50.0, reduction="sum_over_batch_size",
        name="rkd_loss",
    ):
        super().__init__(reduction=reduction, name=name)
        if distance_weight < 0 or angle_weight < 0 or not (distance_weight or angle_weight):
            raise ValueError(
                "`distance_weight` and `angle_weight` must be >= 0 and not both 0. "
                f"Received: distance_weight={distance_weight!r}, angle_weight={angle_weight!r}"
            )
        self.distance_weight = float(distance_weight)
        self.angle_weight = float(angle_weight)

    def call(self, teacher_features, student_features):
        return rkd_loss(
            teacher_features, student_features, self.distance_weight, self.angle_weight
        )

    def get_config(self):
        config = super().get_config()
        config.update(distance_weight=self.distance_weight, angle_weight=self.angle_weight)
        return config

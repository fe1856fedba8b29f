"""Similarity-preserving distillation: samples similar for the teacher stay similar for the student."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.feature_loss import flatten_samples
from keras_distill.losses.feature_loss import l2_normalize


def similarity_matrix(features):
    """Row-normalized batch Gram matrix `normalize_rows(F Fᵀ)`, `(batch, batch)`."""
    flat = flatten_samples(ops.cast(features, "float32"))
    return l2_normalize(ops.matmul(flat, ops.transpose(flat)), axis=-1)


def similarity_preserving_loss(teacher_features, student_features):
    """Per-sample `sum_j (G_s - G_t)[i, j]² / batch`; its batch mean is `||G_s - G_t||²_F / b²`.

    Feature shapes may differ entirely: only the batch x batch similarities
    are compared.

    Args:
        teacher_features: Teacher activations, `(batch, ...)`.
        student_features: Student activations, `(batch, ...)`, any shape.

    Example:

    ```python
    values = keras_distill.losses.similarity_preserving_loss(teacher_features, student_features)
    ```

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    diff = similarity_matrix(student_features) - similarity_matrix(teacher_features)
    batch = ops.cast(ops.shape(diff)[0], "float32")
    return ops.sum(ops.square(diff), axis=-1) / batch


@register
class SimilarityPreserving(FeatureLoss):
    """Similarity-preserving loss: match the teacher's pairwise sample similarities.

    Compares the row-normalized `batch x batch` Gram matrices of teacher and
    student activations, so their shapes may differ (no adapter). The
    paper's weight for CIFAR, 3000, is the `FeaturePair`'s default. Pairs are
    formed within each batch (within each replica's batch under
    `tf.distribute`); `sample_weight` weights the rows.

    Args:
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"similarity_preserving"`.

    Example:

    ```python
    pair = keras_distill.features.FeaturePair("pool", "pool", loss="similarity_preserving")
    ```

    References:
        Tung and Mori, "Similarity-Preserving Knowledge Distillation",
        ICCV 2019.
    """

    matches_shapes = False
    default_weight = 3000.0

    def __init__(self, reduction="sum_over_batch_size", name="similarity_preserving"):
        super().__init__(reduction=reduction, name=name)

    def call(self, teacher_features, student_features):
        return similarity_preserving_loss(teacher_features, student_features)

"""Attention transfer: match where the teacher's activations are strong, not their values."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.feature_loss import l2_normalize


def attention_map(features, p=2.0):
    """The normalized spatial attention map `normalize(mean_c |f|^p)`.

    Args:
        features: Channels-last activations `(batch, *positions, channels)`,
            rank >= 3 (images, sequences).
        p: Exponent. Defaults to `2.0`.

    Returns:
        Float32 `(batch, positions)`, each row of unit L2 norm.

    Example:

    ```python
    maps = keras_distill.losses.attention_map(conv_features)  # (batch, height * width)
    ```
    """
    if len(features.shape) < 3:
        raise ValueError(
            "attention_transfer needs features with positions and channels, rank >= 3 "
            "(batch, height, width, channels) or (batch, time, channels). Received "
            f"features of shape {tuple(features.shape)}; for vectors use 'hint', "
            "'similarity' or 'rkd'."
        )
    features = ops.cast(features, "float32")
    energy = ops.mean(ops.power(ops.abs(features), p), axis=-1)
    energy = ops.reshape(energy, (ops.shape(energy)[0], -1))
    return l2_normalize(energy, axis=-1)


def attention_transfer_loss(teacher_features, student_features, p=2.0):
    """Per-sample mean over positions of `(a_s - a_t)²`, `a = attention_map(f, p)`.

    Teacher and student may have different channel counts; their positions
    (height x width, or time) must agree.

    Args:
        teacher_features: Channels-last teacher activations, rank >= 3.
        student_features: Student activations at the same positions (any channels).
        p: Exponent of the activation energy. Defaults to `2.0`.

    Example:

    ```python
    values = keras_distill.losses.attention_transfer_loss(teacher_conv, student_conv)  # (batch,)
    ```

    Returns:
        A float32 tensor of shape `(batch,)`.
    """
    if tuple(teacher_features.shape[1:-1]) != tuple(student_features.shape[1:-1]):
        raise ValueError(
            "attention_transfer compares attention maps over the same positions, but "
            f"the teacher's features are {tuple(teacher_features.shape)} and the "
            f"student's {tuple(student_features.shape)} (channels may differ, the axes "
            "between batch and channels may not). Pick layers at the same resolution."
        )
    diff = attention_map(student_features, p) - attention_map(teacher_features, p)
    return ops.mean(ops.square(diff), axis=-1)


@register
class AttentionTransfer(FeatureLoss):
    """Attention transfer: the student matches the teacher's spatial attention maps.

    Each feature map is summarised as `normalize(mean_c |f|^p)` over its
    positions, so teacher and student may have any channel counts (no
    adapter). The loss is the mean squared difference of the two maps; the
    paper's weight, 1000, is the `FeaturePair`'s default.

    Args:
        p: Exponent of the activation energy. Defaults to `2.0`.
        reduction: Defaults to `"sum_over_batch_size"`.
        name: Defaults to `"attention_transfer"`.

    Example:

    ```python
    loss = keras_distill.losses.AttentionTransfer(p=2.0)
    pair = keras_distill.features.FeaturePair("conv3", "conv2", loss=loss)
    ```

    References:
        Zagoruyko and Komodakis, "Paying More Attention to Attention:
        Improving the Performance of Convolutional Neural Networks via
        Attention Transfer", ICLR 2017.
    """

    matches_shapes = False
    default_weight = 1000.0

    def __init__(self, p=2.0, reduction="sum_over_batch_size", name="attention_transfer"):
        super().__init__(reduction=reduction, name=name)
        if not p > 0:
            raise ValueError(f"`p` must be > 0. Received: p={p!r}")
        self.p = float(p)

    def call(self, teacher_features, student_features):
        return attention_transfer_loss(teacher_features, student_features, self.p)

    def get_config(self):
        config = super().get_config()
        config.update({"p": self.p})
        return config

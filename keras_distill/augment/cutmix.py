"""CutMix: paste a random box of one image into another (Yun et al. 2019)."""

import keras
from keras import ops

from keras_distill.api_export import register
from keras_distill.augment.batch_mix import BatchMix


@register
class CutMix(BatchMix):
    """Pastes a random box of a partner image into each image of the batch.

    Inputs are images, `(batch, height, width)` or `(batch, height, width,
    channels)` (channels last). The box covers a `1 - share` fraction of the
    image (clipped at the borders); the returned share is the fraction of
    the image actually kept, as in the paper.

    Args:
        alpha: Shares follow Beta(alpha, alpha). Defaults to `1.0`.

    Example:

    ```python
    distiller = keras_distill.Distiller(teacher, student, mix=keras_distill.augment.CutMix())
    ```

    Reference:
        Yun, Han, Oh, Chun, Choe and Yoo, "CutMix: Regularization Strategy to
        Train Strong Classifiers with Localizable Features", ICCV 2019.
    """

    def mix(self, inputs, partner_inputs, shares, seed):
        flat = keras.tree.flatten(inputs)
        if len(flat) != 1 or len(flat[0].shape) not in (3, 4):
            raise ValueError(
                "CutMix mixes one image input of shape (batch, height, width[, "
                f"channels]); received inputs of shapes {[t.shape for t in flat]}. "
                "Use MixUp for other inputs."
            )
        images, partner = flat[0], keras.tree.flatten(partner_inputs)[0]
        height, width = images.shape[1], images.shape[2]
        batch = ops.shape(images)[0]
        side = ops.sqrt(1.0 - shares)
        center_y = keras.random.uniform((batch,), seed=seed) * height
        center_x = keras.random.uniform((batch,), seed=seed) * width
        top = ops.clip(center_y - side * height / 2.0, 0.0, height)
        bottom = ops.clip(center_y + side * height / 2.0, 0.0, height)
        left = ops.clip(center_x - side * width / 2.0, 0.0, width)
        right = ops.clip(center_x + side * width / 2.0, 0.0, width)
        rows = ops.arange(height, dtype="float32")[None, :] + 0.5
        cols = ops.arange(width, dtype="float32")[None, :] + 0.5
        in_rows = (rows >= top[:, None]) & (rows < bottom[:, None])
        in_cols = (cols >= left[:, None]) & (cols < right[:, None])
        box = in_rows[:, :, None] & in_cols[:, None, :]
        if len(images.shape) == 4:
            box = box[..., None]
        mixed = ops.where(box, partner, images)
        kept = 1.0 - ops.mean(ops.cast(box, "float32"), axis=tuple(range(1, len(box.shape))))
        return keras.tree.pack_sequence_as(inputs, [mixed]), kept

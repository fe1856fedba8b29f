"""Integer pixel shifts ("jitter"), reproducible from a per-sample seed."""

from keras import ops

from keras_distill.api_export import register
from keras_distill.augment.view_augmentation import ViewAugmentation
from keras_distill.augment.view_augmentation import as_images
from keras_distill.augment.view_augmentation import check_image_shape
from keras_distill.augment.view_augmentation import hash_seeds


@register
class RandomShift(ViewAugmentation):
    """Shifts each image by up to `max_shift` pixels in each direction, zero-filled.

    The shifts are a function of each sample's seed, so a `TeacherCache` built
    with `views=K` can label K shifted views of every image once, and the
    `Distiller` regenerates the view whose logits it uses. Online (a
    `Distiller` without cache) it draws new shifts every step.

    Args:
        max_shift: Largest shift in pixels, an integer >= 1.
        image_shape: `(height, width)` or `(height, width, channels)` when the
            inputs are flattened images; `None` for inputs of shape
            `(batch, height, width[, channels])`. Defaults to `None`.

    Example:

    ```python
    jitter = keras_distill.augment.RandomShift(2, image_shape=(28, 28))
    cache = keras_distill.TeacherCache.compute(teacher, x_train, views=8, augmentation=jitter)
    distiller = keras_distill.Distiller(teacher, student, augmentation=jitter)
    distiller.fit(cache.inputs(x_train), y_train, epochs=30)
    ```
    """

    def __init__(self, max_shift, image_shape=None):
        if isinstance(max_shift, bool) or not isinstance(max_shift, int) or max_shift < 1:
            raise ValueError(
                f"`max_shift` must be an integer >= 1. Received: max_shift={max_shift!r}"
            )
        image_shape = check_image_shape(image_shape)
        self.max_shift = max_shift
        self.image_shape = image_shape

    def augment(self, inputs, seeds):
        shape = tuple(inputs.shape)
        images, squeeze = as_images(inputs, self.image_shape, "RandomShift")
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        span = 2 * self.max_shift + 1
        # One hash in [0, 65521), read as two base-`span` digits.
        h = hash_seeds(seeds, 1)
        dy = ops.mod(h, span) - self.max_shift
        dx = ops.mod(h // span, span) - self.max_shift
        rows = ops.arange(height, dtype="int32")[None, :] - dy[:, None]
        cols = ops.arange(width, dtype="int32")[None, :] - dx[:, None]
        valid = ((rows >= 0) & (rows < height))[:, :, None] & (
            (cols >= 0) & (cols < width)
        )[:, None, :]
        index = (
            ops.clip(rows, 0, height - 1)[:, :, None] * width
            + ops.clip(cols, 0, width - 1)[:, None, :]
        )
        flat = ops.reshape(images, (-1, height * width, channels))
        index = ops.repeat(ops.reshape(index, (-1, height * width, 1)), channels, axis=2)
        shifted = ops.take_along_axis(flat, index, axis=1)
        shifted = ops.reshape(shifted, (-1, height, width, channels))
        shifted = ops.where(valid[..., None], shifted, ops.zeros_like(shifted))
        if squeeze:
            shifted = shifted[..., 0]
        return ops.reshape(shifted, (-1,) + shape[1:])

    def get_config(self):
        return {"max_shift": self.max_shift, "image_shape": self.image_shape}

    def __repr__(self):
        return f"RandomShift(max_shift={self.max_shift}, image_shape={self.image_shape})"

"""Random affine and elastic deformations of images, reproducible from a per-sample seed."""

import math

from keras import ops

from keras_distill.api_export import register
from keras_distill.augment.view_augmentation import ViewAugmentation
from keras_distill.augment.view_augmentation import as_images
from keras_distill.augment.view_augmentation import check_image_shape
from keras_distill.augment.view_augmentation import seeded_uniform

_AFFINE_DRAWS = 5  # rotation, scale, shear, two translations


def _check_range(name, value, low, high):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
        raise ValueError(
            f"`{name}` must be a number in [{low}, {high}). Received: {name}={value!r}"
        )
    return float(value)


@register
class RandomDeformation(ViewAugmentation):
    """Random rotation, scaling, shear, translation and elastic distortion of images.

    Each image is resampled (bilinear, zero outside) at the points of a random
    affine map plus a smooth random displacement field: uniform displacements
    of at most `elastic` pixels on a coarse `grid x grid` lattice, interpolated
    bilinearly to every pixel (a cheap stand-in for Simard et al.'s
    Gaussian-smoothed field). Every draw is a function of the sample's seed,
    so a `TeacherCache` can label K deformed views of every image ahead of
    time and the `Distiller` rebuilds the very view each cached logit belongs
    to; online, the `Distiller` draws new seeds every step and the teacher
    labels exactly the deformed batch the student sees (Beyer et al. 2022).

    Args:
        rotation: Largest rotation, in degrees. Defaults to `10.0`.
        scale: Largest relative change of size: the scale is drawn from
            `[1 - scale, 1 + scale]`. Defaults to `0.1`.
        shear: Largest shear angle, in degrees. Defaults to `10.0`.
        translation: Largest translation, in pixels. Defaults to `2.0`.
        elastic: Largest displacement of the elastic field, in pixels; `0`
            for affine maps only. Defaults to `2.0`.
        grid: Cells per side of the lattice of the elastic field (smaller:
            smoother). Defaults to `4`.
        image_shape: `(height, width)` or `(height, width, channels)` when
            the inputs are flattened images; `None` for inputs of shape
            `(batch, height, width[, channels])`. Defaults to `None`.

    Example:

    ```python
    deform = keras_distill.augment.RandomDeformation(image_shape=(28, 28))
    distiller = keras_distill.Distiller(teacher, student, augmentation=deform)
    distiller.compile(optimizer="adam", distillation_loss_fn=keras_distill.losses.KDLoss())
    distiller.fit(x_train, y_train, epochs=60)
    ```

    Reference:
        Simard, Steinkraus and Platt, "Best Practices for Convolutional Neural
        Networks Applied to Visual Document Analysis", ICDAR 2003.
    """

    def __init__(self, rotation=10.0, scale=0.1, shear=10.0, translation=2.0, elastic=2.0,
                 grid=4, image_shape=None):
        self.rotation = _check_range("rotation", rotation, 0, 180)
        self.scale = _check_range("scale", scale, 0, 1)
        self.shear = _check_range("shear", shear, 0, 60)
        self.translation = _check_range("translation", translation, 0, math.inf)
        self.elastic = _check_range("elastic", elastic, 0, math.inf)
        if isinstance(grid, bool) or not isinstance(grid, int) or grid < 1:
            raise ValueError(f"`grid` must be an integer >= 1. Received: grid={grid!r}")
        self.grid = grid
        self.image_shape = check_image_shape(image_shape)

    def _source_points(self, seeds, height, width):
        """Where each output pixel reads its input: rows and columns, `(batch, h * w)`."""
        draws = 2.0 * seeded_uniform(seeds, _AFFINE_DRAWS, salt=3) - 1.0
        angle = draws[:, 0] * (self.rotation * math.pi / 180.0)
        inverse_scale = 1.0 / (1.0 + draws[:, 1] * self.scale)
        shear = ops.tan(draws[:, 2] * (self.shear * math.pi / 180.0))
        cos, sin = ops.cos(angle) * inverse_scale, ops.sin(angle) * inverse_scale
        center_y, center_x = (height - 1) / 2.0, (width - 1) / 2.0
        y = ops.broadcast_to(ops.reshape(ops.arange(height, dtype="float32") - center_y,
                                         (1, height, 1)), (1, height, width))
        x = ops.broadcast_to(ops.reshape(ops.arange(width, dtype="float32") - center_x,
                                         (1, 1, width)), (1, height, width))
        x = x + shear[:, None, None] * y
        rows = cos[:, None, None] * y - sin[:, None, None] * x + center_y
        cols = sin[:, None, None] * y + cos[:, None, None] * x + center_x
        rows = rows + (draws[:, 3] * self.translation)[:, None, None]
        cols = cols + (draws[:, 4] * self.translation)[:, None, None]
        if self.elastic:
            cells = self.grid + 1
            field = 2.0 * seeded_uniform(seeds, 2 * cells * cells, salt=5) - 1.0
            field = ops.reshape(field * self.elastic, (-1, cells, cells, 2))
            field = ops.image.resize(field, (height, width), interpolation="bilinear",
                                     data_format="channels_last")
            rows, cols = rows + field[..., 0], cols + field[..., 1]
        return ops.reshape(rows, (-1, height * width)), ops.reshape(cols, (-1, height * width))

    def augment(self, inputs, seeds):
        shape = tuple(inputs.shape)
        images, squeeze = as_images(inputs, self.image_shape, "RandomDeformation")
        height, width, channels = images.shape[1], images.shape[2], images.shape[3]
        # One row of pixels per (image, channel), each read at the same points.
        flat = ops.reshape(ops.transpose(ops.cast(images, "float32"), (0, 3, 1, 2)),
                           (-1, height * width))
        rows, cols = self._source_points(seeds, height, width)
        if channels > 1:
            rows, cols = ops.repeat(rows, channels, axis=0), ops.repeat(cols, channels, axis=0)
        top, left = ops.floor(rows), ops.floor(cols)
        out = 0.0
        for r, c in ((top, left), (top, left + 1), (top + 1, left), (top + 1, left + 1)):
            weight = (1.0 - ops.abs(rows - r)) * (1.0 - ops.abs(cols - c))
            inside = (r >= 0) & (r <= height - 1) & (c >= 0) & (c <= width - 1)
            index = ops.cast(ops.clip(r, 0, height - 1) * width + ops.clip(c, 0, width - 1),
                             "int32")
            out = out + ops.take_along_axis(flat, index, axis=1) * ops.where(inside, weight, 0.0)
        out = ops.reshape(out, (-1, channels, height, width))
        out = ops.cast(ops.transpose(out, (0, 2, 3, 1)), images.dtype)
        if squeeze:
            out = out[..., 0]
        return ops.reshape(out, (-1,) + shape[1:])

    def get_config(self):
        return {
            "rotation": self.rotation, "scale": self.scale, "shear": self.shear,
            "translation": self.translation, "elastic": self.elastic, "grid": self.grid,
            "image_shape": self.image_shape,
        }

    def __repr__(self):
        fields = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"RandomDeformation({fields})"

"""Deterministic augmentations: each view is a pure function of the input and an integer seed.

A random augmentation that a `TeacherCache` can label ahead of time must be
reproducible: view `k` of example `i` is regenerated at training time from
the same per-sample seed, so the cached teacher logits belong to exactly the
input the student sees (Beyer et al. 2022: the teacher must be consistent).
The same objects work online: the `Distiller` then draws fresh seeds every
step.
"""

import abc
import math

from keras import ops

from keras_distill.api_export import register

# Largest prime below 2**16: products of two residues stay below 2**31, so the
# hash below is exact in int32 on every backend.
_PRIME = 65521
_MULTIPLIER = 31337


def hash_seeds(seeds, salt):
    """Mixes int32 seeds (>= 0) with a salt into integers in [0, 65521)."""
    h = ops.mod(ops.cast(seeds, "int32"), _PRIME)
    h = ops.mod(h * _MULTIPLIER + (salt * 7919 + 17) % _PRIME, _PRIME)
    return ops.mod(h * _MULTIPLIER + 101, _PRIME)


def seeded_uniform(seeds, count, salt):
    """`count` numbers in [0, 1) per seed, a pure function of the seed: shape `(batch, count)`.

    Three rounds of a quadratic hash modulo 65521 (every product stays below
    2**31, exact in int32 on every backend); 16 bits of resolution.
    """
    seeds = ops.mod(ops.cast(seeds, "int32"), _PRIME)[:, None]
    offsets = ops.mod(ops.arange(count, dtype="int32") * 7919 + salt * 104729 + 17, _PRIME)
    h = ops.mod(seeds * _MULTIPLIER + offsets[None, :], _PRIME)
    for _ in range(3):
        # h < 65521 and (h mod 32768) < 32768: the product is below 2**31 - 2**16.
        h = ops.mod(h * ops.mod(h, 32768) + offsets[None, :], _PRIME)
        h = ops.mod(h * _MULTIPLIER + 101, _PRIME)
    return ops.cast(h, "float32") / float(_PRIME)


def check_image_shape(image_shape):
    """`image_shape` as a tuple of 2 or 3 ints, or `None`; a ValueError otherwise."""
    if image_shape is None:
        return None
    image_shape = tuple(int(d) for d in image_shape)
    if len(image_shape) not in (2, 3):
        raise ValueError(
            "`image_shape` must be (height, width) or (height, width, channels). "
            f"Received: image_shape={image_shape!r}"
        )
    return image_shape


def as_images(inputs, image_shape, name):
    """`inputs` as images of shape `(batch, height, width, channels)`.

    Returns the images and whether the inputs had no channel axis. Flattened
    inputs need `image_shape`; `name` (the augmentation's) goes in the errors.
    """
    shape = tuple(inputs.shape)
    if image_shape is not None:
        if math.prod(shape[1:]) != math.prod(image_shape):
            raise ValueError(
                f"{name}(image_shape={image_shape}) received inputs of shape "
                f"{shape}; their size per sample must be {math.prod(image_shape)}."
            )
        images = ops.reshape(inputs, (-1,) + image_shape)
    elif len(shape) in (3, 4):
        images = inputs
    else:
        raise ValueError(
            f"{name} needs images: inputs of shape (batch, height, width[, "
            f"channels]), or flattened images with `image_shape`. Received {shape}."
        )
    squeeze = len(images.shape) == 3
    if squeeze:
        images = images[..., None]
    return images, squeeze


@register
class ViewAugmentation(abc.ABC):
    """Base class: `augmentation(inputs, seeds)` with one int32 seed per sample.

    Subclasses implement `augment(inputs, seeds)` with `keras.ops` only, so the
    same view comes out on every backend and in every process.

    Example:

    ```python
    class Flip(keras_distill.augment.ViewAugmentation):
        def augment(self, inputs, seeds):
            flip = keras.ops.reshape(seeds % 2 == 1, (-1, 1, 1, 1))
            return keras.ops.where(flip, keras.ops.flip(inputs, axis=2), inputs)


    cache = keras_distill.TeacherCache.compute(teacher, x_train, views=4, augmentation=Flip())
    ```
    """

    def __call__(self, inputs, seeds):
        """Returns the view of each sample selected by its seed.

        Args:
            inputs: A batch of inputs.
            seeds: Non-negative int32 seeds, shape `(batch,)`.
        """
        return self.augment(inputs, ops.cast(seeds, "int32"))

    @abc.abstractmethod
    def augment(self, inputs, seeds):
        """The augmented batch."""

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

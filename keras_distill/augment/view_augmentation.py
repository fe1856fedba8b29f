"""Deterministic augmentations: each view is a pure function of the input and an integer seed.

A random augmentation that a `TeacherCache` can label ahead of time must be
reproducible: view `k` of example `i` is regenerated at training time from
the same per-sample seed, so the cached teacher logits belong to exactly the
input the student sees (Beyer et al. 2022: the teacher must be consistent).
The same objects work online: the `Distiller` then draws fresh seeds every
step.
"""

import abc

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

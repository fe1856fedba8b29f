"""Base class of the batch-mixing augmentations (MixUp, CutMix).

A batch mix combines each sample with another sample of the same batch
(a random permutation) and returns, per sample, the share of the first one.
The `Distiller` runs the teacher on the mixed inputs, so the student is taught
the teacher's answer for exactly the view it sees ("function matching",
Beyer et al. 2022); the hard-label loss mixes the two labels with the same
shares.
"""

import abc

import keras
from keras import ops

from keras_distill.api_export import register


@register
class BatchMix(abc.ABC):
    """Mixes each sample of a batch with another sample of the same batch.

    Subclasses implement `mix(inputs, partner_inputs, seed)`, returning the
    mixed inputs and the per-sample share of `inputs` in them.

    Args:
        alpha: Concentration of the Beta(alpha, alpha) distribution of the
            shares; `1.0` draws them uniformly in [0, 1]. Defaults to `1.0`.

    Example:

    ```python
    distiller = keras_distill.Distiller(teacher, student, mix=keras_distill.augment.MixUp(alpha=1.0))
    ```
    """

    def __init__(self, alpha=1.0):
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not alpha > 0:
            raise ValueError(f"`alpha` must be a number > 0. Received: alpha={alpha!r}")
        self.alpha = float(alpha)

    def __call__(self, inputs, seed):
        """Mixes a batch with a shuffled copy of itself.

        Args:
            inputs: A float tensor (or a structure of float tensors sharing
                the batch axis).
            seed: A `keras.random.SeedGenerator`.

        Returns:
            `(mixed_inputs, shares, permutation)`: `shares[i]` is the weight
            of sample `i` in mixed sample `i`, whose partner is sample
            `permutation[i]`.
        """
        flat = keras.tree.flatten(inputs)
        for tensor in flat:
            if not keras.backend.is_float_dtype(keras.backend.standardize_dtype(tensor.dtype)):
                raise ValueError(
                    f"{type(self).__name__} mixes float inputs; received an input of "
                    f"dtype {tensor.dtype}. Mix embeddings inside the model instead, "
                    "or pass `mix=None`."
                )
        batch = ops.shape(flat[0])[0]
        permutation = keras.random.shuffle(ops.arange(batch), seed=seed)
        shares = self.sample_shares(batch, seed)
        mixed, shares = self.mix(inputs, keras.tree.map_structure(
            lambda t: ops.take(t, permutation, axis=0), inputs), shares, seed)
        return mixed, shares, permutation

    def sample_shares(self, batch, seed):
        """Per-sample shares drawn from Beta(alpha, alpha), float32, shape `(batch,)`."""
        if self.alpha == 1.0:
            return keras.random.uniform((batch,), seed=seed, dtype="float32")
        return keras.random.beta((batch,), self.alpha, self.alpha, seed=seed, dtype="float32")

    @abc.abstractmethod
    def mix(self, inputs, partner_inputs, shares, seed):
        """Returns `(mixed_inputs, shares)`; the shares may be adjusted (CutMix)."""

    def get_config(self):
        return {"alpha": self.alpha}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return f"{type(self).__name__}(alpha={self.alpha})"


def broadcast_to(shares, tensor):
    """Reshapes per-sample `shares` to broadcast against `tensor`, in its dtype."""
    shape = [-1] + [1] * (len(tensor.shape) - 1)
    return ops.reshape(ops.cast(shares, tensor.dtype), shape)

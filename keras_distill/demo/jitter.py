"""Random whole-pixel translations of flattened images, as in Hinton et al. (2015)."""

import math

import keras
import numpy as np


def shift_images(images, image_shape, shifts):
    """Translates each flattened image by its `(dy, dx)`, filling with zeros.

    Args:
        images: Array of shape `(n, height * width)`.
        image_shape: `(height, width)`.
        shifts: Integer array of shape `(n, 2)`, each entry in
            `[-max_shift, max_shift]`.

    Returns:
        The shifted images, same shape and dtype as `images`.
    """
    height, width = image_shape
    pad = int(np.abs(shifts).max()) if len(shifts) else 0
    padded = np.pad(images.reshape(-1, height, width), ((0, 0), (pad, pad), (pad, pad)))
    rows = (pad - shifts[:, :1]) + np.arange(height)[None, :]
    cols = (pad - shifts[:, 1:]) + np.arange(width)[None, :]
    index = np.arange(len(images))[:, None, None]
    out = padded[index, rows[:, :, None], cols[:, None, :]]
    return out.reshape(len(images), height * width)


class JitteredImages(keras.utils.PyDataset):
    """Shuffled batches of images, each translated by up to `max_shift` pixels.

    A new permutation and new shifts are drawn every epoch.

    Args:
        x: Flattened images, shape `(n, height * width)`.
        y: Labels.
        image_shape: `(height, width)`.
        max_shift: Largest translation in pixels, in each direction.
        batch_size: Samples per batch.
        seed: Seed of the shuffling and shifts.

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015 (teacher inputs "jittered by up to two pixels").
    """

    def __init__(self, x, y, image_shape, max_shift, batch_size, seed=0):
        super().__init__()
        self.x, self.y = x, y
        self.image_shape = image_shape
        self.max_shift = max_shift
        self.batch_size = batch_size
        self.rng = np.random.default_rng(seed)
        self.on_epoch_end()

    def on_epoch_end(self):
        self.order = self.rng.permutation(len(self.x))
        self.shifts = self.rng.integers(-self.max_shift, self.max_shift + 1, (len(self.x), 2))

    def __len__(self):
        return math.ceil(len(self.x) / self.batch_size)

    def __getitem__(self, index):
        batch = self.order[index * self.batch_size : (index + 1) * self.batch_size]
        images = shift_images(self.x[batch], self.image_shape, self.shifts[batch])
        return images, self.y[batch]

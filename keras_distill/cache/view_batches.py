"""Batches of a teacher cache's stored views: one view per example and epoch."""

import math

import keras
import numpy as np

from keras_distill.core import packed_inputs


class ViewBatches(keras.utils.PyDataset):
    """A `PyDataset` of `(packed inputs, y[, w])` batches over stored views.

    Internal: made by `TeacherCache.view_dataset`. Every epoch draws one of
    the K views of each example (uniformly, independently of the other
    examples) and, with `shuffle`, a new order of the examples; a batch holds
    those views and the teacher's cached outputs for exactly them.

    Args:
        views: The stored views, each array of shape `(K, samples, ...)`.
        outputs: The cached teacher outputs, each array of shape
            `(samples, K, ...)`.
        y: Labels, or `None`.
        sample_weight: Per-sample weights, or `None`.
        batch_size: Samples per batch.
        shuffle: Draw a new order of the examples every epoch.
        seed: Seed of the order and of the views drawn.
    """

    def __init__(self, views, outputs, y, sample_weight, batch_size, shuffle, seed):
        super().__init__()
        self._views = views
        self._outputs = outputs
        self._extras = tuple(v for v in (y, sample_weight) if v is not None)
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        first = keras.tree.flatten(views)[0]
        self._num_views, self._num_samples = first.shape[:2]
        self._new_epoch()

    def _new_epoch(self):
        if self._shuffle:
            self._order = self._rng.permutation(self._num_samples)
        else:
            self._order = np.arange(self._num_samples)
        self._chosen = self._rng.integers(0, self._num_views, size=self._num_samples)

    def __len__(self):
        return math.ceil(self._num_samples / self._batch_size)

    def on_epoch_end(self):
        self._new_epoch()

    def __getitem__(self, index):
        rows = self._order[index * self._batch_size : (index + 1) * self._batch_size]
        chosen = self._chosen[rows]
        inputs = keras.tree.map_structure(lambda array: array[chosen, rows], self._views)
        outputs = keras.tree.map_structure(lambda array: array[rows, chosen], self._outputs)
        packed = packed_inputs.pack(inputs, outputs)
        if not self._extras:
            return packed
        return (packed,) + tuple(np.asarray(values)[rows] for values in self._extras)

"""Batches of a sharded teacher cache, one shard in memory at a time."""

import concurrent.futures
import warnings

import keras
import numpy as np

from keras_distill.core import packed_inputs


class ShardBatches(keras.utils.PyDataset):
    """A `PyDataset` over a `ShardedTeacherCache`: `(packed inputs, y[, w])` batches.

    Internal: made by `ShardedTeacherCache.dataset`. Batches never span two
    shards; when the next batch belongs to another shard, that shard's inputs
    (read from `x`, e.g. a memmap) and stored outputs replace the current
    ones. With `fit(..., shuffle=False)` Keras reads a `PyDataset` in index
    order, so each shard is loaded once per epoch; the shuffling is done here.
    While a shard is in use, a background thread reads and shuffles the next
    one (at most two shards in memory).
    """

    def __init__(self, cache, x, y, sample_weight, batch_size, shuffle, seed, shards):
        super().__init__()
        self._cache = cache
        self._x, self._y, self._w = x, y, sample_weight
        self._batch_size = batch_size
        self._shuffle = shuffle
        self._rng = np.random.default_rng(seed)
        sizes = [
            min(cache.shard_size, cache.num_samples - i * cache.shard_size)
            for i in range(cache.num_shards)
        ]
        self._batches_per_shard = [-(-size // batch_size) for size in sizes]
        self._sizes = sizes
        self._shard_ids = list(shards)
        self._loaded = None  # (shard index, its data)
        self._reader = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._next = None  # (shard index, future of its data)
        self._new_epoch()

    def _new_epoch(self):
        order = list(self._shard_ids)
        if self._shuffle:
            order = [order[i] for i in self._rng.permutation(len(order))]
        self._shard_order = order
        self._plan = [(shard, batch) for shard in order
                      for batch in range(self._batches_per_shard[shard])]
        self._loaded = None
        self._next = None
        self._loads = 0

    def __len__(self):
        return len(self._plan)

    def on_epoch_end(self):
        self._new_epoch()

    def _shard(self, index):
        if self._loaded is None or self._loaded[0] != index:
            self._loads += 1
            # Keras peeks at up to two batches before iterating; more loads than
            # shards means the batches come out of order.
            if self._loads == len(self._shard_ids) + 3:
                warnings.warn(
                    "The batches of a ShardedTeacherCache dataset are read out of order, so "
                    "shards are read again and again: `fit` reorders a PyDataset's batches "
                    "unless given `shuffle=False`. Pass `shuffle=False` to `fit`; the "
                    "dataset shuffles shards and samples itself.",
                    stacklevel=2,
                )
            if self._next is not None and self._next[0] == index:
                data = self._next[1].result()
            else:
                data = self._read(index, self._permutation(index))
            self._loaded = (index, data)
            following = self._following(index)
            self._next = None
            if following is not None:
                order = self._permutation(following)  # drawn here: the same in any thread
                self._next = (following, self._reader.submit(self._read, following, order))
        return self._loaded[1]

    def _permutation(self, index):
        return self._rng.permutation(self._sizes[index]) if self._shuffle else None

    def _following(self, index):
        """The shard the plan visits after `index`, or `None` at the end of the epoch."""
        position = self._shard_order.index(index)
        following = self._shard_order[position + 1 : position + 2]
        return following[0] if following else None

    def _read(self, index, order):
        """Shard `index`'s inputs, stored outputs, labels and weights, in `order`."""
        start = index * self._cache.shard_size
        stop = start + self._sizes[index]

        def rows(values):
            if values is None:
                return None
            values = read_rows(values, start, stop)
            return values if order is None else values[order]

        return (
            keras.tree.map_structure(rows, self._x),
            keras.tree.map_structure(
                lambda v: v if order is None else v[order], self._cache.read_shard(index)
            ),
            rows(self._y),
            rows(self._w),
        )

    def __getitem__(self, index):
        shard, batch = self._plan[index]
        x, outputs, y, w = self._shard(shard)
        rows = slice(batch * self._batch_size, (batch + 1) * self._batch_size)

        def take(values):
            return values[rows]

        packed = packed_inputs.pack(
            keras.tree.map_structure(take, x), keras.tree.map_structure(take, outputs)
        )
        rest = tuple(take(v) for v in (y, w) if v is not None)
        return (packed,) + rest if rest else packed


def read_rows(array, start, stop):
    """`array[start:stop]` in memory; a file-backed `np.memmap` is read, not mapped.

    Slicing a memmap maps the file's pages into the process, and they stay
    resident (counted in its memory) after the copy: over an epoch the whole
    file would. Reading the rows with a plain file read keeps memory bounded by
    the shard.
    """
    if (
        isinstance(array, np.memmap)
        and isinstance(getattr(array, "filename", None), str)
        and array.flags.c_contiguous
        and array.ndim >= 1
    ):
        row = int(np.prod(array.shape[1:], dtype=np.int64)) * array.dtype.itemsize
        count = (stop - start) * row // array.dtype.itemsize
        values = np.fromfile(array.filename, dtype=array.dtype, count=count,
                             offset=array.offset + start * row)
        return values.reshape((stop - start,) + array.shape[1:])
    return np.asarray(array[start:stop])

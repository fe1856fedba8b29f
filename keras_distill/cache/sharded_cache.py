"""A teacher cache in shards on disk: built in parallel, resumable, streamed at train time."""

import functools
import json
import math
import os
import warnings

import keras
import numpy as np

from keras_distill.cache import cache_checks
from keras_distill.cache import cache_file
from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.cache import teacher_pass
from keras_distill.cache.shard_batches import ShardBatches
from keras_distill.cache.teacher_outputs import TeacherOutputs
from keras_distill.core import atomic_files
from keras_distill.core import cache_origin
from keras_distill.core import data_checks
from keras_distill.core import packed_inputs
from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import StaleCacheError

SETTINGS = "cache.json"
KIND = "keras_distill sharded teacher cache"
DTYPES = ("float16", "float32")


def shard_path(directory, index):
    return os.path.join(directory, f"shard-{index:05d}.npz")


def _num_samples(x):
    return len(keras.tree.flatten(x)[0])


def _rows(x, start, stop):
    return keras.tree.map_structure(lambda a: np.asarray(a[start:stop]), x)


class ShardedTeacherCache:
    """Teacher outputs for data larger than memory, in fixed-size shards on disk.

    `build` runs the teacher over `x` one shard at a time and writes each
    shard atomically with its own fingerprint (the teacher's weights and that
    shard's inputs). Several workers build one cache in parallel, each taking
    every `num_workers`-th shard; an interrupted build, run again, skips the
    shards already written. At train time `dataset` streams the shards
    (one in memory at a time), so memory stays bounded by the shard size.

    `x` is anything indexable by sample ranges: a NumPy array, an
    `np.memmap` (`np.load(path, mmap_mode="r")`), or a list/dict of them.

    Args:
        directory: The cache folder. Make caches with `build` and reopen them
            with `open`, rather than with this constructor.
        settings: The cache's settings, as `build` writes them to
            `cache.json`.

    Example:

    ```python
    x = np.load("features.npy", mmap_mode="r")  # not read into memory
    cache = keras_distill.ShardedTeacherCache.build(teacher, x, "cache_dir", shard_size=65536)
    # The dataset shuffles shards and samples itself: keep fit from reordering its batches.
    distiller.fit(cache.dataset(x, y, batch_size=1024), epochs=3, shuffle=False)
    ```
    """

    def __init__(self, directory, settings):
        self.directory = os.fspath(directory)
        self._settings = settings

    def __repr__(self):
        s = self._settings
        storage = f"top_k={s['top_k']}" if s["top_k"] else "dense"
        return (
            f"ShardedTeacherCache({self.directory!r}, samples={s['num_samples']}, "
            f"shards={s['num_shards']} of {s['shard_size']}, {storage}, dtype={s['dtype']})"
        )

    @property
    def num_samples(self):
        return self._settings["num_samples"]

    @property
    def num_shards(self):
        return self._settings["num_shards"]

    @property
    def shard_size(self):
        return self._settings["shard_size"]

    @property
    def top_k(self):
        return self._settings["top_k"] or None

    @property
    def dtype(self):
        return self._settings["dtype"]

    @classmethod
    def build(
        cls,
        teacher,
        x,
        directory,
        shard_size=65536,
        dtype="float16",
        top_k=None,
        batch_size=1024,
        worker_index=0,
        num_workers=1,
        teacher_activation="auto",
        verbose=0,
    ):
        """Computes the teacher's outputs on `x` into shards under `directory`.

        Args:
            teacher: The teacher `keras.Model` (or a `Distiller`).
            x: The inputs: an array, `np.memmap` or nested structure of them.
            directory: The cache folder (created when missing).
            shard_size: Samples per shard. Memory at train time grows with it.
                Defaults to `65536`.
            dtype: Storage of the logits (or top-k log-probabilities),
                `"float16"` (half the disk and reading) or `"float32"`. The distillation math is float32
                either way. Defaults to `"float16"`.
            top_k: Keep the ids and log-probabilities of the `k` most likely
                classes per sample and the tail mass (as `TeacherCache`), or
                `None` for all. Defaults to `None`.
            batch_size: Batch size of the teacher's pass. Defaults to `1024`.
            worker_index: This worker's index in `[0, num_workers)`; it builds
                shards `worker_index, worker_index + num_workers, ...`.
                Defaults to `0`.
            num_workers: Workers building the cache together. Defaults to `1`.
            teacher_activation: As in `TeacherCache.compute`. Defaults to
                `"auto"`.
            verbose: 1 prints a line per shard. Defaults to `0`.

        Returns:
            The `ShardedTeacherCache` (complete once every worker is done;
            `open` checks that).
        """
        teacher, teacher_activation = teacher_pass.unwrap(teacher, teacher_activation)
        shard_size = cache_checks.positive_int(shard_size, "shard_size")
        batch_size = cache_checks.positive_int(batch_size, "batch_size")
        num_workers = cache_checks.positive_int(num_workers, "num_workers")
        if not isinstance(worker_index, int) or not 0 <= worker_index < num_workers:
            raise ValueError(
                f"`worker_index` must be an integer in [0, num_workers={num_workers}). "
                f"Received: worker_index={worker_index!r}"
            )
        if dtype not in DTYPES:
            raise ValueError(f"`dtype` must be one of {DTYPES}. Received: dtype={dtype!r}")
        if top_k is not None:
            top_k = cache_checks.positive_int(top_k, "top_k")
        teacher_pass.check_single_process(
            "ShardedTeacherCache.build", "`ShardedTeacherCache.open(folder, teacher=teacher, x=x)`"
        )
        logits_fn = teacher_pass.logits_fn(teacher, teacher_activation)
        teacher_part = teacher_pass.teacher_fingerprint(teacher, logits_fn, top_k, f"|{dtype}")
        num_samples = _num_samples(x)
        if num_samples == 0:
            raise ValueError("`x` has no samples.")
        settings = {
            "kind": KIND,
            "format_version": fingerprint_lib.FORMAT_VERSION,
            "teacher": teacher_part,
            "num_samples": num_samples,
            "shard_size": shard_size,
            "num_shards": math.ceil(num_samples / shard_size),
            "dtype": dtype,
            "top_k": top_k or 0,
        }
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        _write_settings(directory, settings)
        model = TeacherOutputs(logits_fn, top_k)
        model.compile(optimizer=None)
        for index in range(worker_index, settings["num_shards"], num_workers):
            start = index * shard_size
            inputs = _rows(x, start, min(start + shard_size, num_samples))
            data_checks.check_samples(inputs, "x")
            expected = fingerprint_lib.fingerprint(
                teacher_part, fingerprint_lib.data_fingerprint(inputs)
            )
            path = shard_path(directory, index)
            if _shard_fingerprint(path) == expected:
                if verbose:
                    print(f"shard {index}: already built", flush=True)
                continue
            outputs = model.predict(inputs, batch_size=batch_size, verbose=0)
            _write_shard(path, outputs, expected, dtype, model.num_classes)
            if verbose:
                print(f"shard {index}: {len(keras.tree.flatten(inputs)[0])} samples", flush=True)
        return cls(directory, settings)

    @classmethod
    def open(cls, directory, teacher=None, x=None, teacher_activation="auto"):
        """Opens a built cache, checking that every shard is there and belongs to `teacher` and `x`.

        Args:
            directory: The cache folder written by `build`.
            teacher: The teacher the cache must belong to (checked against
                its weights; cheap). Defaults to `None`.
            x: The inputs the cache must belong to: every shard's inputs are
                hashed (one pass over the data). Defaults to `None`.
            teacher_activation: As in `build`. Defaults to `"auto"`.

        Returns:
            A `ShardedTeacherCache`.

        Raises:
            FileNotFoundError: No cache in `directory`, or shards missing.
            StaleCacheError: The cache belongs to another teacher or data.
        """
        directory = os.fspath(directory)
        settings = _read_settings(directory)
        if settings.get("format_version") != fingerprint_lib.FORMAT_VERSION:
            raise StaleCacheError(
                f"The sharded cache {directory!r} has format version "
                f"{settings.get('format_version')}; this keras_distill reads version "
                f"{fingerprint_lib.FORMAT_VERSION}. Build it again into a new folder."
            )
        missing = [i for i in range(settings["num_shards"]) if not os.path.exists(
            shard_path(directory, i))]
        if missing:
            raise FileNotFoundError(
                f"The sharded cache {directory!r} is incomplete: {len(missing)} of "
                f"{settings['num_shards']} shards are missing (first: {missing[0]}). Run "
                "`ShardedTeacherCache.build` again with the same arguments: it builds only "
                "the missing shards."
            )
        if teacher is not None:
            teacher, teacher_activation = teacher_pass.unwrap(teacher, teacher_activation)
            logits_fn = teacher_pass.logits_fn(teacher, teacher_activation)
            top_k = settings["top_k"] or None
            part = teacher_pass.teacher_fingerprint(teacher, logits_fn, top_k, f"|{settings['dtype']}")
            if part != settings["teacher"]:
                raise StaleCacheError(
                    f"The sharded cache {directory!r} was built from another teacher "
                    "(weights or output activation). Build it again into a new folder."
                )
        cache = cls(directory, settings)
        if x is not None:
            cache.check_data(x)
        return cache

    def check_data(self, x):
        """Raises `StaleCacheError` unless `x` is, shard by shard, the data the cache was built on."""
        if _num_samples(x) != self.num_samples:
            raise StaleCacheError(
                f"The sharded cache {self.directory!r} holds {self.num_samples} samples; "
                f"`x` has {_num_samples(x)}."
            )
        for index in range(self.num_shards):
            start = index * self.shard_size
            inputs = _rows(x, start, min(start + self.shard_size, self.num_samples))
            expected = fingerprint_lib.data_fingerprint(inputs)
            stored = _shard_fingerprint(shard_path(self.directory, index)) or ""
            if not stored.endswith(f"-{expected}"):
                raise StaleCacheError(
                    f"Shard {index} of {self.directory!r} was built on other inputs than "
                    f"`x[{start}:{start + self.shard_size}]`: pass the same data, in the "
                    "same order, as to `build`."
                )

    def read_shard(self, index):
        """The stored outputs of shard `index`: logits, or a dict of top-k fields."""
        path = shard_path(self.directory, index)
        fields = cache_file.read(path)
        cache_file.check_fields(path, fields)
        if "logits" in fields:
            return fields["logits"]
        return {name: fields[name] for name in packed_inputs.TOP_K_FIELDS}

    def dataset(
        self, x, y=None, sample_weight=None, batch_size=32, shuffle=True, seed=None, shards=None
    ):
        """Batches of `(packed inputs, y, sample_weight)` for `Distiller.fit`, streamed shard by shard.

        Each epoch visits the shards in a new order and each shard's samples
        in a new order (with `shuffle`); batches never mix shards, so only
        one shard of `x` and of the logits is in memory at a time.

        Args:
            x: The same inputs, in the same order, as given to `build`
                (a `np.memmap` is read one shard at a time).
            y: Labels. Defaults to `None`.
            sample_weight: Per-sample weights. Defaults to `None`.
            batch_size: Samples per batch. Defaults to `32`.
            shuffle: Shuffle shards and samples every epoch. Defaults to `True`.
            seed: Seed of the shuffling. Defaults to `None`.
            shards: The shard indices to visit, e.g. `range(process_id,
                cache.num_shards, num_processes)` for one process of several;
                `None` for all. Defaults to `None`.

        Returns:
            A `keras.utils.PyDataset`; pass it to `fit` with `shuffle=False`
            (every backend): `fit`'s default reorders a PyDataset's batches,
            which would read shards again and again (it warns).
        """
        if _num_samples(x) != self.num_samples:
            raise ValueError(
                f"`x` has {_num_samples(x)} samples; the cache holds {self.num_samples}."
            )
        cache_checks.check_labels(y, sample_weight, self.num_samples)
        batch_size = cache_checks.positive_int(batch_size, "batch_size")
        if shards is None:
            shards = range(self.num_shards)
        shards = list(shards)
        wrong = [s for s in shards if not isinstance(s, (int, np.integer))
                 or not 0 <= s < self.num_shards]
        if not shards or wrong or len(set(shards)) != len(shards):
            raise ValueError(
                f"`shards` must be distinct shard indices in [0, {self.num_shards}). "
                f"Received: shards={shards!r}"
            )
        batches = ShardBatches(self, x, y, sample_weight, batch_size, shuffle, seed, shards)
        fingerprint_of = functools.partial(
            teacher_pass.teacher_fingerprint, top_k=self.top_k, storage=f"|{self.dtype}"
        )
        cache_origin.mark(batches, cache_origin.CacheOrigin(
            self._settings["teacher"], fingerprint_of, f"the sharded cache {self.directory!r}"
        ))
        return batches


def _write_settings(directory, settings):
    path = os.path.join(directory, SETTINGS)
    if os.path.exists(path):
        existing = _read_settings(directory)
        if existing != settings:
            changed = sorted(k for k in settings if existing.get(k) != settings[k])
            raise StaleCacheError(
                f"{directory!r} holds a sharded cache built with other settings "
                f"({', '.join(changed)} differ): build into a new folder, or delete this one."
            )
        return

    def write(staged):
        with open(staged, "w") as f:
            json.dump(settings, f, indent=1)

    atomic_files.write_file(path, write)


def _read_settings(directory):
    path = os.path.join(directory, SETTINGS)
    if not os.path.exists(path):
        raise FileNotFoundError(f"No sharded teacher cache in {directory!r} (no {SETTINGS}).")
    try:
        with open(path) as f:
            settings = json.load(f)
    except (OSError, ValueError) as error:
        raise CorruptFileError(
            path, KIND, f"it cannot be parsed ({error})", "Build the cache into a new folder."
        ) from None
    if not isinstance(settings, dict) or settings.get("kind") != KIND:
        raise CorruptFileError(path, KIND, "it is not a sharded cache's settings file",
                               "Build the cache into a new folder.")
    return settings


def _shard_fingerprint(path):
    """The fingerprint stored in a shard, or `None` when missing or unreadable."""
    if not os.path.exists(path):
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["fingerprint"])
    except Exception as error:  # a damaged shard is rebuilt, never trusted
        warnings.warn(f"Rebuilding the unreadable shard {path!r}: {error}", stacklevel=3)
        return None


def _write_shard(path, outputs, fingerprint, dtype, num_classes):
    def stored(array):
        if dtype == "float16":  # beyond float16's range a logit would become inf
            limit = float(np.finfo(np.float16).max)
            array = np.clip(array, -limit, limit)
        return array.astype(dtype)

    if isinstance(outputs, dict):
        # The tail mass stays float32: in float16 a tail under 6e-8 would become 0.
        arrays = {
            "indices": outputs["indices"].astype("int32"),
            "log_probs": stored(outputs["log_probs"]),
            "tail_mass": outputs["tail_mass"].astype("float32"),
        }
        top_k = outputs["indices"].shape[-1]
    else:
        arrays = {"logits": stored(outputs)}
        top_k = 0
    arrays.update(
        fingerprint=np.array(fingerprint),
        top_k=np.array(top_k),
        num_classes=np.array(num_classes),
        format_version=np.array(fingerprint_lib.FORMAT_VERSION),
    )
    cache_file.write(path, arrays)

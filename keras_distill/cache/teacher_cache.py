"""TeacherCache: a frozen teacher's logits, computed once and reused every epoch."""

import functools
import os
import re
import warnings

import keras
import numpy as np

from keras_distill.api_export import register
from keras_distill.cache import cache_checks
from keras_distill.cache import cache_file
from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.cache import teacher_pass
from keras_distill.cache.teacher_outputs import TeacherOutputs
from keras_distill.cache.view_batches import ViewBatches
from keras_distill.cache.views import build_views
from keras_distill.cache.views import check_views
from keras_distill.cache.views import label_views
from keras_distill.cache.views import view_seeds
from keras_distill.cache.views import views_part
from keras_distill.core import atomic_files
from keras_distill.core import cache_consistency as augmentation
from keras_distill.core import cache_origin
from keras_distill.core import data_checks
from keras_distill.core import packed_inputs
from keras_distill.core.errors import StaleCacheError

# A teacher or data digest of `fingerprint.py` (blake2b, 16 bytes, in hex).
_DIGEST = re.compile("[0-9a-f]{32}")


@register
class TeacherCache:
    """A teacher's logits for a fixed dataset, computed once (offline distillation).

    Online distillation runs the teacher on every batch of every epoch, for
    the same inputs. A `TeacherCache` runs it once, batched and compiled, and
    feeds the stored logits to `Distiller.fit`, whose training step then skips
    the teacher. `cache.inputs(x)` (NumPy) and `cache.dataset(x, y)`
    (`tf.data`) put each sample's logits inside its input structure, so they
    stay with their sample under any shuffling. Validation data can be the
    plain inputs: `evaluate` does not use the teacher.

    Sparse storage (`top_k=k`) keeps, per sample (or per token), the ids of
    the teacher's k most likely classes (int32), its log-probabilities there
    (float32, from the softmax over all classes) and its tail mass, the
    probability of every other class together. The distillation loss
    compares the student on these `k + 1` buckets (the student's log-softmax
    over all classes, gathered at the ids, and its own tail), without ever
    expanding the cache to the classes (`keras_distill.losses.top_k_kl`).
    `top_k=C` gives exactly the dense loss.

    On-disk caches (`path=`) are `.npz` files written atomically and
    fingerprinted by the teacher's weights and the input data: a cache whose
    teacher or data changed is recomputed (by `compute`) or rejected (by
    `load`), never silently reused.

    Augmented views (`views=K, augmentation=...`): the teacher labels K
    deterministic views of every example, each regenerated at training time
    from its seed (a `keras_distill.augment.ViewAugmentation` such as
    `RandomShift`); only the logits and one seed per view are stored. The
    `Distiller` (built with the same `augmentation`) picks a view per sample
    and step, rebuilds it, and the student learns the teacher's logits for
    exactly the input it sees, without running the teacher (Beyer et al.
    2022 show that a teacher inconsistent with the student's view hurts).
    Rebuilding a costly view every step (e.g. `RandomDeformation`) can be
    traded for memory: `view_dataset` stores all K views once (K times the
    size of `x`) and serves one per example and epoch, with its logits, to a
    `Distiller` built without `augmentation`.

    Caching is wrong for other random augmentation (the cached logits belong
    to the un-augmented sample): the `Distiller` warns when the student holds
    random preprocessing layers, and `dataset(..., augmented=True)` warns for
    augmentation done in the pipeline.

    Args:
        teacher_outputs: Dense float32 logits of shape `(num_samples, ...,
            num_classes)`, or a dict of top-k `indices`, `log_probs` and
            `tail_mass`.
        fingerprint: The fingerprint of the teacher and data they came from.
        num_classes: Size of the teacher's output (last axis); needed for
            top-k outputs. Defaults to `None` (read from dense logits).
        path: The file the cache was loaded from or saved to. Defaults to `None`.
        views: The number of augmented views per example, or `None`.
            Defaults to `None`.
        view_seed: The seed the views' seeds derive from. Defaults to `0`.
        augmentation: The `ViewAugmentation` of the views. Defaults to `None`.

    Example:

    ```python
    cache = keras_distill.TeacherCache.compute(teacher, x_train, path="teacher.npz")
    distiller.fit(cache.inputs(x_train), y_train, epochs=10,
                  validation_data=(x_val, y_val))
    ```

    Reference:
        Anshumann et al., "Sparse Logit Sampling: Accelerating Knowledge
        Distillation in LLMs", ACL 2025 (bias of top-k teacher caches).
    """

    def __init__(
        self, teacher_outputs, fingerprint, num_classes=None, path=None, views=None, view_seed=0,
        augmentation=None,
    ):
        if isinstance(teacher_outputs, dict):
            missing = set(packed_inputs.TOP_K_FIELDS) - set(teacher_outputs)
            if missing or num_classes is None:
                raise ValueError(
                    "Top-k `teacher_outputs` need the fields "
                    f"{packed_inputs.TOP_K_FIELDS} and `num_classes`. Missing: "
                    f"{sorted(missing) or 'num_classes'}."
                )
        else:
            num_classes = np.shape(teacher_outputs)[-1]
        self._outputs = teacher_outputs
        self._fingerprint = fingerprint
        self._num_classes = int(num_classes)
        self._path = path
        self._views = views
        self._view_seed = int(view_seed)
        self._augmentation = augmentation
        self._stored_views = None  # Kept by `compute(..., keep_views=True)`.

    @classmethod
    def compute(
        cls,
        teacher,
        x,
        batch_size=256,
        top_k=None,
        path=None,
        teacher_activation="auto",
        jit_compile="auto",
        verbose=0,
        views=None,
        augmentation=None,
        seed=0,
        keep_views=False,
    ):
        """Runs the teacher once over `x` (or K augmented views of it) and returns its logits.

        Args:
            teacher: The teacher `keras.Model`, or a `Distiller` (its teacher
                and `teacher_activation` are used).
            x: The inputs, a NumPy array or a nested structure of arrays, in
                the order that `inputs(x)` or `dataset(x)` will use them.
            batch_size: Batch size of the teacher pass. Defaults to `256`.
            top_k: Keep the ids and log-probabilities of the `top_k` most
                likely classes per sample (and the tail mass); `None` keeps
                dense logits. Defaults to `None`.
            path: An `.npz` file. When it holds a cache with the same
                fingerprint, that cache is loaded instead of recomputed;
                otherwise the new cache is written there atomically.
                Defaults to `None` (in memory only).
            teacher_activation: What the teacher outputs, as in `Distiller`:
                `"auto"`, `None`/`"linear"`, `"softmax"` or `"sigmoid"`;
                probabilities are turned back into logits. Defaults to `"auto"`.
            jit_compile: Compile the teacher pass with XLA; `"auto"` follows
                Keras. Defaults to `"auto"`.
            verbose: Progress bar of the teacher pass. Defaults to `0`.
            views: Label this many augmented views of every example (the
                teacher runs `views` times over `x`). Needs `augmentation`.
                Defaults to `None` (the plain inputs only).
            augmentation: A `keras_distill.augment.ViewAugmentation` (e.g.
                `RandomShift`): view `k` of example `i` is
                `augmentation(x[i], seed[i, k])`. Defaults to `None`.
            seed: The seed of the views' seeds. Defaults to `0`.
            keep_views: Keep the views the teacher labelled, in memory (not
                in `path`), for `view_dataset`, which then need not build
                them again. Needs `views`. Defaults to `False`.

        Returns:
            A `TeacherCache`.
        """
        teacher, teacher_activation = teacher_pass.unwrap(teacher, teacher_activation)
        cache_checks.check_arguments(teacher, x, batch_size, top_k)
        if path is not None:
            # Before the teacher pass, not when its result cannot be written.
            atomic_files.check_target(path, overwrite=True)
        data_checks.check_samples(x, "x")
        cache_checks.check_top_k(teacher, top_k)
        check_views(views, augmentation, seed)
        if not isinstance(keep_views, bool) or (keep_views and views is None):
            raise ValueError(
                "`keep_views` must be a bool, and `True` only with `views`. Received: "
                f"keep_views={keep_views!r}, views={views!r}"
            )
        logits_fn = teacher_pass.logits_fn(teacher, teacher_activation)
        storage = views_part(views, augmentation, seed)
        expected = fingerprint_lib.fingerprint(
            teacher_pass.teacher_fingerprint(teacher, logits_fn, top_k, storage),
            fingerprint_lib.data_fingerprint(x),
        )
        if path is not None and os.path.exists(path):
            try:
                return cls.load(path, fingerprint=expected)
            except (ValueError, OSError) as error:
                warnings.warn(f"Recomputing the teacher cache: {error}", stacklevel=2)
        teacher_pass.check_single_process(
            "TeacherCache.compute", "`TeacherCache.load(path, teacher=teacher, x=shard)`"
        )
        model = TeacherOutputs(logits_fn, top_k)
        model.compile(optimizer=None, jit_compile=jit_compile)
        stored = None
        if views is None:
            outputs = model.predict(x, batch_size=batch_size, verbose=verbose)
        else:
            outputs, stored = label_views(
                model, x, views, augmentation, seed, batch_size, verbose, keep=keep_views
            )
        cache_checks.check_teacher_outputs(outputs)
        cache = cls(
            outputs, expected, num_classes=model.num_classes, views=views, view_seed=seed,
            augmentation=augmentation,
        )
        cache._stored_views = stored
        if path is not None:
            cache.save(path)
        return cache

    @classmethod
    def load(cls, path, teacher=None, x=None, fingerprint=None, teacher_activation="auto"):
        """Loads a cache saved by `save`/`compute`, checking its fingerprint.

        Args:
            path: The `.npz` file.
            teacher: The teacher (or `Distiller`) the cache must belong to.
                Defaults to `None`.
            x: The inputs the cache must belong to. Defaults to `None`.
            fingerprint: The expected fingerprint, instead of `teacher` and
                `x`. Defaults to `None`.
            teacher_activation: As in `compute`. Defaults to `"auto"`.

        Returns:
            A `TeacherCache`.

        Raises:
            ValueError: When neither is given, or the file belongs to another
                teacher or other data.
        """
        if fingerprint is None and (teacher is None or x is None):
            raise ValueError(
                "`TeacherCache.load` needs `teacher` and `x` (or `fingerprint`) to check "
                "that the cache belongs to them; a stale cache must not be reused."
            )
        stored = cache_file.read_cache(path)
        top_k, views, view_seed = stored["top_k"], stored["views"], stored["view_seed"]
        augmentation = stored["augmentation"]
        if fingerprint is None:
            teacher, teacher_activation = teacher_pass.unwrap(teacher, teacher_activation)
            teacher_part = teacher_pass.teacher_fingerprint(
                teacher, teacher_pass.logits_fn(teacher, teacher_activation), top_k if top_k > 0 else None,
                views_part(views, augmentation, view_seed),
            )
            fingerprint = fingerprint_lib.fingerprint(
                teacher_part, fingerprint_lib.data_fingerprint(x)
            )
        if stored["fingerprint"] != fingerprint:
            raise StaleCacheError(
                f"The cache {path!r} is stale: it was computed from another teacher "
                "(weights or output activation) or other inputs. Recompute it with "
                "`TeacherCache.compute(teacher, x, path=...)`."
            )
        return cls(
            stored["outputs"], stored["fingerprint"], num_classes=stored["num_classes"],
            path=path, views=views, view_seed=view_seed, augmentation=augmentation,
        )

    def save(self, path):
        """Writes the cache to `path` (`.npz`) atomically: a failure leaves no partial file."""
        cache_file.write_cache(
            path, self._outputs, self._fingerprint, self._num_classes, self._views,
            self._view_seed, self._augmentation,
        )
        self._path = path

    def inputs(self, x, indices=None):
        """Packs `x` with the cached logits, to pass as `x` to `Distiller.fit`.

        `fit` slices the packed structure together with `y` and
        `sample_weight`, so shuffling keeps every sample with its logits.

        Args:
            x: The same inputs, in the same order, as given to `compute`.
            indices: The samples to pack, a 1-D array of indices into `x`
                (e.g. the training part of a cross-validation fold); the
                teacher is not run again. Defaults to `None` (all of them).

        Returns:
            A dict under reserved `keras_distill_*` keys; the `Distiller`
            feeds its model inputs to the student and uses the cached logits
            instead of running the teacher.
        """
        cache_checks.check_data(x, len(self), self._fingerprint)
        seeds = None if not self._views else view_seeds(len(self), self._views, self._view_seed)
        packed = packed_inputs.pack(x, self._outputs, view_seeds=seeds)
        if indices is not None:
            indices = cache_checks.check_indices(indices, len(self))
            packed = keras.tree.map_structure(lambda array: np.asarray(array)[indices], packed)
        for array in keras.tree.flatten(packed_inputs.unpack(packed)[1]):
            self._mark_origin(array)
        return packed

    def dataset(self, x, y=None, sample_weight=None, augmented=False):
        """An unbatched `tf.data.Dataset` of `(packed inputs, y, sample_weight)`.

        Shuffle, batch and prefetch it as usual: the logits travel inside
        each element.

        Args:
            x: The same inputs, in the same order, as given to `compute`.
            y: Labels. Defaults to `None`.
            sample_weight: Per-sample weights. Defaults to `None`.
            augmented: Set when the pipeline will randomly augment the inputs
                after this point; it warns, since the cached logits belong to
                the un-augmented inputs. Defaults to `False`.

        Returns:
            A `tf.data.Dataset`.
        """
        import tensorflow as tf

        if sample_weight is not None and y is None:
            raise ValueError("`sample_weight` needs `y`: pass the labels as well.")
        if augmented:
            augmentation.warn_augmented_pipeline()
        element = (self.inputs(x),) + tuple(v for v in (y, sample_weight) if v is not None)
        dataset = tf.data.Dataset.from_tensor_slices(element[0] if len(element) == 1 else element)
        self._mark_origin(dataset)
        return dataset

    def view_dataset(
        self, x, y=None, sample_weight=None, batch_size=32, shuffle=True, seed=None,
        build_batch_size=1000,
    ):
        """Batches of stored views and their logits, `(packed inputs, y[, w])`, for `Distiller.fit`.

        The alternative to rebuilding a view in every step (`inputs`) when
        the augmentation costs more than memory: all K views of `x` are held
        as arrays (kept by `compute(..., keep_views=True)`, or built here
        once, K times the memory of `x`). Every epoch, each example comes
        once, as one of its K views drawn at random, with the teacher's
        cached outputs for exactly that view. Fit a `Distiller` built
        *without* `augmentation` on it: the views are already made.

        Args:
            x: The same inputs, in the same order, as given to `compute`.
            y: Labels. Defaults to `None`.
            sample_weight: Per-sample weights. Defaults to `None`.
            batch_size: Samples per batch. Defaults to `32`.
            shuffle: Draw a new order of the examples every epoch (the
                views are drawn anew every epoch either way). Defaults to
                `True`.
            seed: Seed of the order and of the views drawn. Defaults to
                `None`.
            build_batch_size: Examples augmented at a time when the views
                are built here. Defaults to `1000`.

        Returns:
            A `keras.utils.PyDataset`.

        Raises:
            ValueError: When the cache holds no views, or `x`, `y` or
                `sample_weight` do not match it.
        """
        if not self._views:
            raise ValueError(
                "`view_dataset` serves the augmented views of a cache computed with "
                "`views=K, augmentation=...`; this cache holds the plain inputs' logits "
                "only. Use `cache.inputs(x)` or `cache.dataset(x)`."
            )
        cache_checks.check_data(x, len(self), self._fingerprint)
        cache_checks.check_labels(y, sample_weight, len(self))
        batch_size = cache_checks.positive_int(batch_size, "batch_size")
        build_batch_size = cache_checks.positive_int(build_batch_size, "build_batch_size")
        if self._stored_views is None:
            self._stored_views = build_views(
                x, self._views, self._augmentation, self._view_seed, build_batch_size
            )
        batches = ViewBatches(
            self._stored_views, self._outputs, y, sample_weight, batch_size, shuffle, seed
        )
        self._mark_origin(batches)
        return batches

    def dense_logits(self):
        """The cached logits as a dense float32 NumPy array.

        A top-k cache is expanded for inspection only (training reads it
        sparse): the kept log-probabilities, and the tail mass spread evenly
        over the other classes. Softmax of the result gives the teacher's
        top-k probabilities exactly.
        """
        if not self.top_k:
            return self._outputs
        outputs = self._outputs
        rest = max(self.num_classes - self.top_k, 1)
        tail = np.maximum(outputs["tail_mass"].astype(np.float64), np.finfo(np.float32).tiny)
        dense = np.repeat((np.log(tail) - np.log(rest))[..., None], self.num_classes, axis=-1)
        np.put_along_axis(dense, outputs["indices"], outputs["log_probs"], axis=-1)
        return dense.astype(np.float32)

    @property
    def top_k(self):
        """The number of logits kept per sample, or `None` for dense storage."""
        if isinstance(self._outputs, dict):
            return self._outputs["indices"].shape[-1]
        return None

    @property
    def views(self):
        """The number of cached augmented views per example, or `None`."""
        return self._views

    @property
    def augmentation(self):
        """The `ViewAugmentation` of the cached views, or `None`."""
        return self._augmentation

    @property
    def num_classes(self):
        """The size of the teacher's output (its last axis)."""
        return self._num_classes

    @property
    def num_samples(self):
        """The number of cached samples."""
        return len(self)

    @property
    def nbytes(self):
        """Bytes held by the cached arrays."""
        return sum(array.nbytes for array in keras.tree.flatten(self._outputs))

    @property
    def fingerprint(self):
        """`"<teacher digest>-<data digest>"`, checked by `load` and `inputs`."""
        return self._fingerprint

    @property
    def path(self):
        """The file this cache was loaded from or saved to, or `None`."""
        return self._path

    def __len__(self):
        return keras.tree.flatten(self._outputs)[0].shape[0]

    def __repr__(self):
        parts = [f"samples={len(self)}", f"classes={self.num_classes}"]
        if self.views:
            parts.append(f"views={self.views}, augmentation={self.augmentation!r}")
        parts.append(f"top_k={self.top_k}" if self.top_k else "dense")
        parts.append(f"{self.nbytes / 2**20:.2f} MiB")
        if self.path:
            parts.append(f"path={self.path!r}")
        return f"TeacherCache({', '.join(parts)})"

    def _mark_origin(self, obj):
        """Lets `Distiller.fit` check that `obj` comes from its own teacher."""
        teacher_part = self._fingerprint.rsplit("-", 1)[0]
        if not _DIGEST.fullmatch(teacher_part):
            return  # Not a fingerprint of `compute`: nothing to compare with.
        fingerprint_of = functools.partial(
            teacher_pass.teacher_fingerprint, top_k=self.top_k,
            storage=views_part(self._views, self._augmentation, self._view_seed),
        )
        cache_origin.mark(obj, cache_origin.CacheOrigin(teacher_part, fingerprint_of, repr(self)))

    def get_config(self):
        return {"path": self._path, "fingerprint": self._fingerprint}

    @classmethod
    def from_config(cls, config):
        if config.get("path") is None:
            raise ValueError(
                "Only a saved TeacherCache can be restored from its config; call "
                "`cache.save(path)` first."
            )
        return cls.load(config["path"], fingerprint=config["fingerprint"])

"""Augmented views of a teacher cache: their settings, seeds and the teacher pass over them."""

import json
import numbers

import keras
import numpy as np

from keras_distill.augment.view_augmentation import ViewAugmentation


def views_part(views, augmentation, seed):
    """The part of the fingerprint that names the views (empty without views)."""
    if not views:
        return ""
    config = json.dumps(keras.saving.serialize_keras_object(augmentation), sort_keys=True)
    return f"|views={views}|seed={seed}|{config}"


def check_views(views, augmentation, seed):
    """Raises unless `views`, `augmentation` and `seed` make a valid set of views."""
    if views is None:
        if augmentation is not None:
            raise ValueError(
                "`augmentation` labels augmented views: pass `views=K` (how many views "
                "of each example the teacher labels) as well."
            )
        return
    if isinstance(views, bool) or not isinstance(views, numbers.Integral) or views < 1:
        raise ValueError(f"`views` must be a positive integer. Received: views={views!r}")
    if not isinstance(augmentation, ViewAugmentation):
        raise TypeError(
            "`views` needs `augmentation`, a keras_distill.augment.ViewAugmentation "
            "(e.g. RandomShift) whose views are reproducible from a seed. Received: "
            f"augmentation={augmentation!r}."
        )
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"`seed` must be an integer >= 0. Received: seed={seed!r}")


def view_seeds(num_samples, views, seed):
    """The int32 seed of view `k` of example `i`, shape `(num_samples, views)`.

    Derived from `(seed, k)` and the example's position only, so the same
    views come back in every process.
    """
    columns = [
        np.random.default_rng([seed, k]).integers(0, 2**31 - 1, size=num_samples)
        for k in range(views)
    ]
    return np.stack(columns, axis=1).astype("int32")


def make_view(x, seeds, augmentation, batch_size):
    """One view of every example of `x` (NumPy), view `i` from `seeds[i]`, built in batches."""
    num_samples = np.shape(keras.tree.flatten(x)[0])[0]
    parts = []
    for start in range(0, num_samples, batch_size):
        rows = slice(start, start + batch_size)
        batch = keras.tree.map_structure(lambda a, rows=rows: a[rows], x)
        parts.append(
            keras.tree.map_structure(keras.ops.convert_to_numpy, augmentation(batch, seeds[rows]))
        )
    return keras.tree.map_structure(lambda *a: np.concatenate(a), *parts)


def label_views(model, x, views, augmentation, seed, batch_size, verbose, keep=False):
    """`(outputs, stored)`: the teacher outputs of every view, stacked on axis 1
    (`(samples, views, ...)`), and with `keep` the views themselves (see
    `build_views`; else `None`)."""
    num_samples = np.shape(keras.tree.flatten(x)[0])[0]
    seeds = view_seeds(num_samples, views, seed)
    per_view = []
    stored = None
    for k in range(views):
        augmented = make_view(x, seeds[:, k], augmentation, batch_size)
        per_view.append(model.predict(augmented, batch_size=batch_size, verbose=verbose))
        if keep:
            stored = _store(stored, k, augmented, views)
    outputs = keras.tree.map_structure(lambda *a: np.stack(a, axis=1), *per_view)
    return outputs, stored


def build_views(x, views, augmentation, seed, batch_size):
    """Every view of every example, each array of shape `(views, samples, ...)`.

    The same views as the teacher labelled in `label_views` (each is a pure
    function of its example and seed).
    """
    num_samples = np.shape(keras.tree.flatten(x)[0])[0]
    seeds = view_seeds(num_samples, views, seed)
    stored = None
    for k in range(views):
        stored = _store(stored, k, make_view(x, seeds[:, k], augmentation, batch_size), views)
    return stored


def _store(stored, k, view, views):
    """Writes `view` as view `k` of `stored`, allocated on the first call (no second copy)."""
    if stored is None:
        stored = keras.tree.map_structure(lambda a: np.empty((views,) + a.shape, a.dtype), view)
    for store, array in zip(keras.tree.flatten(stored), keras.tree.flatten(view)):
        store[k] = array
    return stored

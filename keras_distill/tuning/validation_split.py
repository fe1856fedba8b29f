"""The validation data of a search, carved from the training data (the test data stays untouched):
one held-out split, or cross-validation folds."""

import numbers

import keras
import numpy as np

from keras_distill.core import argument_validation as validation


def carve(x, y, fraction, seed):
    """Splits `(x, y)` into a part to fit on and a validation part.

    Integer class labels are split per class (stratified), so that a small
    validation set still holds every class; other targets are split at random.

    Args:
        x: Inputs, an array or a nested structure of arrays.
        y: Targets, an array.
        fraction: The share of samples held out, in (0, 1).
        seed: Seed of the shuffle.

    Returns:
        `(fit_indices, validation_indices)`, sorted integer arrays.
    """
    fraction = validation.check_fraction(
        fraction, "validation_split", "the share of the training data held out", include_one=False
    )
    if fraction == 0.0:
        raise ValueError(
            "`validation_split` must be > 0: the objective is measured on data held out of "
            "the training data (or pass `validation_data`). Received: validation_split=0.0"
        )
    n = _check_lengths(x, y)
    rng = np.random.default_rng(seed)
    held = [rng.permutation(g)[: int(round(fraction * len(g)))] for g in _groups(y)]
    val_indices = np.sort(np.concatenate(held))
    if not 0 < len(val_indices) < n:
        raise ValueError(
            f"`validation_split={fraction}` of {n} samples leaves no validation or no "
            "training data; pass more samples or another split."
        )
    fit_indices = np.setdiff1d(np.arange(n), val_indices)
    return fit_indices, val_indices


def check_folds(folds):
    """Raises a `ValueError` unless `folds` is `None` or an integer >= 2."""
    if folds is None:
        return
    if isinstance(folds, bool) or not isinstance(folds, numbers.Integral) or folds < 2:
        raise ValueError(
            "`folds` must be an integer >= 2 (the number of cross-validation folds), or None. "
            f"Received: folds={folds!r}"
        )


def folds(x, y, count, seed):
    """Splits `(x, y)` into `count` cross-validation folds.

    Every sample is validated in exactly one fold. Integer class labels are
    dealt out per class (stratified), so each fold holds about the same share
    of every class; other targets are dealt out at random.

    Args:
        x: Inputs, an array or a nested structure of arrays.
        y: Targets, an array.
        count: The number of folds, an integer >= 2.
        seed: Seed of the shuffle.

    Returns:
        A list of `count` pairs `(fit_indices, validation_indices)`, sorted
        integer arrays.
    """
    check_folds(count)
    n = _check_lengths(x, y)
    if n < count:
        raise ValueError(f"`folds={count}` needs at least {count} samples; `y` holds {n}.")
    rng = np.random.default_rng(seed)
    fold_of = np.empty(n, dtype="int64")
    start = 0
    for group in _groups(y):
        # Deal each class out in turn, continuing where the previous one stopped,
        # so that the folds' sizes differ by at most one sample.
        fold_of[rng.permutation(group)] = (start + np.arange(len(group))) % count
        start += len(group)
    every = np.arange(n)
    return [(every[fold_of != k], every[fold_of == k]) for k in range(count)]


def _check_lengths(x, y):
    n = len(y)
    lengths = {np.shape(a)[0] for a in keras.tree.flatten(x)}
    if lengths != {n}:
        raise ValueError(
            f"`x` and `y` must hold the same number of samples. Received {sorted(lengths)} "
            f"inputs and {n} targets."
        )
    return n


def _groups(y):
    """The samples of each class for integer class labels; otherwise all samples, one group."""
    labels = np.asarray(y)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        return [np.flatnonzero(labels == c) for c in np.unique(labels)]
    return [np.arange(len(labels))]


def take(data, indices):
    """The samples `indices` of an array or a nested structure of arrays."""
    return keras.tree.map_structure(lambda a: np.asarray(a)[indices], data)

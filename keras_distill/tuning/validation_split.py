"""The validation split of a search, carved from the training data (the test data stays untouched)."""

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
    n = len(y)
    lengths = {np.shape(a)[0] for a in keras.tree.flatten(x)}
    if lengths != {n}:
        raise ValueError(
            f"`x` and `y` must hold the same number of samples. Received {sorted(lengths)} "
            f"inputs and {n} targets."
        )
    rng = np.random.default_rng(seed)
    labels = np.asarray(y)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        groups = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    else:
        groups = [np.arange(n)]
    held = [rng.permutation(g)[: int(round(fraction * len(g)))] for g in groups]
    val_indices = np.sort(np.concatenate(held))
    if not 0 < len(val_indices) < n:
        raise ValueError(
            f"`validation_split={fraction}` of {n} samples leaves no validation or no "
            "training data; pass more samples or another split."
        )
    fit_indices = np.setdiff1d(np.arange(n), val_indices)
    return fit_indices, val_indices


def take(data, indices):
    """The samples `indices` of an array or a nested structure of arrays."""
    return keras.tree.map_structure(lambda a: np.asarray(a)[indices], data)

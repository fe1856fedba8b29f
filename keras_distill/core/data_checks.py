"""Checks of user data at keras_distill's boundaries: empty arrays, NaN and inf.

One pass over the data with NumPy, negligible next to a teacher pass or a
conversion; each error names the argument, the input and the first bad sample.
"""

import keras
import numpy as np

from keras_distill.core.errors import InvalidDataError


def _leaves(data):
    return [leaf for leaf in keras.tree.flatten(data) if leaf is not None]


def check_samples(data, argument):
    """Raises `InvalidDataError` for empty inputs or float inputs with NaN or inf.

    Args:
        data: An array or a nested structure of arrays, samples first.
        argument: The argument's name, for the message.
    """
    leaves = _leaves(data)
    if not leaves:
        raise InvalidDataError(f"`{argument}` holds no arrays.")
    for index, leaf in enumerate(leaves):
        array = np.asarray(leaf)
        where = f"`{argument}`" if len(leaves) == 1 else f"`{argument}` (input {index})"
        if array.ndim == 0 or len(array) == 0:
            raise InvalidDataError(
                f"{where} holds no samples (shape {array.shape}); pass at least one sample."
            )
        check_finite(array, where, "samples")


def check_finite(array, where, what):
    """Raises `InvalidDataError` when a float array holds NaN or inf."""
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        return
    finite = np.isfinite(array)
    if finite.all():
        return
    bad = ~finite.reshape(len(array), -1).all(axis=1) if array.ndim else np.array([True])
    rows = np.flatnonzero(bad)
    raise InvalidDataError(
        f"{where} holds NaN or inf in {len(rows)} of {len(array)} {what} (first: index "
        f"{int(rows[0])}). Remove or repair those {what} first."
    )

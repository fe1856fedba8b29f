"""Checks of user data at keras_distill's boundaries: empty arrays, NaN and inf.

One pass over the data with NumPy, negligible next to a teacher pass or a
conversion; each error names the argument, the input and the first bad sample.
"""

import keras
import numpy as np

from keras_distill.core.errors import InvalidDataError

# Rows of an array checked at once: about 64 MiB of it.
_BLOCK_BYTES = 64 * 2**20


def leaves(data):
    """The arrays of a nested structure, `None` left out."""
    return [leaf for leaf in keras.tree.flatten(data) if leaf is not None]


def check_samples(data, argument):
    """Raises `InvalidDataError` for empty inputs or float inputs with NaN or inf.

    Args:
        data: An array or a nested structure of arrays, samples first.
        argument: The argument's name, for the message.
    """
    arrays = leaves(data)
    if not arrays:
        raise InvalidDataError(f"`{argument}` holds no arrays.")
    for index, leaf in enumerate(arrays):
        array = np.asarray(leaf)
        where = f"`{argument}`" if len(arrays) == 1 else f"`{argument}` (input {index})"
        if array.ndim == 0 or len(array) == 0:
            raise InvalidDataError(
                f"{where} holds no samples (shape {array.shape}); pass at least one sample."
            )
        check_finite(array, where, "samples")


def check_finite(array, where, what):
    """Raises `InvalidDataError` when a float array holds NaN or inf.

    Reads the array in blocks of rows, so a large `np.memmap` needs no
    second copy in memory.
    """
    array = np.asarray(array)
    if not np.issubdtype(array.dtype, np.floating):
        return
    if array.ndim == 0:
        if not np.isfinite(array):
            raise InvalidDataError(f"{where} is NaN or inf. Pass a finite value.")
        return
    rows = max(1, _BLOCK_BYTES // max(1, array[:1].nbytes))
    bad = []
    for start in range(0, len(array), rows):
        finite = np.isfinite(array[start : start + rows])
        bad.extend(start + np.flatnonzero(~finite.reshape(len(finite), -1).all(axis=1)))
    if len(bad):
        raise InvalidDataError(
            f"{where} holds NaN or inf in {len(bad)} of {len(array)} {what} (first: index "
            f"{int(bad[0])}). Remove or repair those {what} first."
        )

"""Reading `.npy`/`.npz` data files given on the command line, with typed errors."""

import os
import zipfile
import zlib

import numpy as np

from keras_distill.core.errors import CorruptFileError

_FIX = "Write it again with numpy.save (one array) or numpy.savez (several)."


# What `np.load` raises for a damaged, truncated or foreign file.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError)


def unreadable_reason(error, pickled_reason):
    """Why `np.load` failed, in words, for one of `READ_ERRORS`.

    Args:
        error: The exception `np.load` (or reading an array) raised.
        pickled_reason: What to say when NumPy refused to unpickle.
    """
    if isinstance(error, zipfile.BadZipFile):
        return f"the archive is truncated or damaged ({error})"
    if isinstance(error, (zlib.error, EOFError)):
        return f"an array in it is truncated or damaged ({type(error).__name__}: {error})"
    if isinstance(error, ValueError):
        if "pickle" in str(error):
            return pickled_reason
        return f"an array in it cannot be read ({error})"
    return f"it cannot be read ({error})"



def load_arrays(path, argument):
    """The array of a `.npy`, or the arrays of an `.npz` (one array alone, else a list).

    Never unpickles.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: A folder, another format, truncated or damaged data,
            pickled objects.
    """
    path = os.fspath(path)
    what = f"NumPy data file for {argument}"
    if not os.path.lexists(path):
        raise FileNotFoundError(f"{argument} {path!r} does not exist.")
    if os.path.isdir(path):
        raise CorruptFileError(path, what, "it is a folder", "Pass a .npy or .npz file.")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            return loaded
        with loaded:
            arrays = [loaded[key] for key in loaded.files]
    except READ_ERRORS as error:
        reason = unreadable_reason(
            error, "it is not a NumPy array file (NumPy would have to unpickle it)"
        )
        raise CorruptFileError(path, what, reason, _FIX) from None
    if not arrays:
        raise CorruptFileError(path, what, "the .npz archive holds no arrays", _FIX)
    return arrays[0] if len(arrays) == 1 else arrays

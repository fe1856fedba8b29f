"""Reading `.npy`/`.npz` data files given on the command line, with typed errors."""

import os
import zipfile
import zlib

import numpy as np

from keras_distill.core.errors import CorruptFileError

_FIX = "Write it again with numpy.save (one array) or numpy.savez (several)."


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
    except zipfile.BadZipFile as error:
        reason = f"the .npz archive is truncated or damaged ({error})"
    except (zlib.error, EOFError) as error:
        reason = f"an array in it is truncated or damaged ({error})"
    except ValueError as error:
        if "pickle" in str(error):
            reason = "it is not a NumPy array file (NumPy would have to unpickle it)"
        else:
            reason = f"it cannot be read as NumPy arrays ({error})"
    except OSError as error:
        reason = f"it cannot be read ({error})"
    else:
        if not arrays:
            raise CorruptFileError(path, what, "the .npz archive holds no arrays", _FIX)
        return arrays[0] if len(arrays) == 1 else arrays
    raise CorruptFileError(path, what, reason, _FIX)

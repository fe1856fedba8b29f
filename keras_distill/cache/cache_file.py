"""Reading and atomically writing teacher-cache `.npz` files."""

import os
import tempfile

import numpy as np


def write(path, arrays):
    """Writes `arrays` to `path` as an uncompressed `.npz`, atomically.

    The data goes to a temporary file beside `path`, is flushed to disk and
    then renamed over `path`: readers see the old file or the complete new
    one, and a failure leaves no partial file behind.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle = tempfile.NamedTemporaryFile(
        dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp", delete=False
    )
    try:
        with handle:
            np.savez(handle, **arrays)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(handle.name, path)
    except BaseException:
        os.unlink(handle.name)
        raise


def read(path):
    """Returns the arrays of the `.npz` file at `path` as a dict (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}

"""Reading and atomically writing teacher-cache `.npz` files."""

import numpy as np

from keras_distill.core import atomic_files


def write(path, arrays):
    """Writes `arrays` to `path` as an uncompressed `.npz`, atomically.

    The data goes to a temporary file beside `path`, is flushed to disk and
    then renamed over `path`: readers see the old file or the complete new
    one, and a failure leaves no partial file behind.
    """

    def save(staged):
        with open(staged, "wb") as f:
            np.savez(f, **arrays)

    atomic_files.write_file(path, save)


def read(path):
    """Returns the arrays of the `.npz` file at `path` as a dict (no pickles)."""
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}

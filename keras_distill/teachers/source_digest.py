"""Fingerprints of what a foreign teacher is made of: files, folders, arrays, objects.

A teacher from another runtime has no Keras weights for the teacher caches
to hash; its adapter hashes its source instead (the file's bytes, a
SavedModel folder, a torch module's state dict, a fitted estimator), so a
cache built from one file is stale for any other.
"""

import hashlib
import os
import pickle

import numpy as np


def _digest():
    return hashlib.blake2b(digest_size=16)


def file_digest(path):
    """Hex digest of a file's bytes, or of every file in a folder (with their relative paths)."""
    digest = _digest()
    path = os.fspath(path)
    if os.path.isdir(path):
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                full = os.path.join(root, name)
                digest.update(os.path.relpath(full, path).encode())
                _update_with_file(digest, full)
    else:
        _update_with_file(digest, path)
    return digest.hexdigest()


def _update_with_file(digest, path):
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)


def arrays_digest(named_arrays):
    """Hex digest of `(name, array)` pairs: names, dtypes, shapes and bytes."""
    digest = _digest()
    for name, array in named_arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{name}|{array.dtype.str}{array.shape}".encode())
        digest.update(array.data if array.size else b"")
    return digest.hexdigest()


def object_digest(obj):
    """Hex digest of a picklable object (a fitted estimator: parameters and learned state)."""
    try:
        content = pickle.dumps(obj, protocol=4)
    except Exception as error:  # noqa: BLE001 - pickling fails with many error types
        raise TypeError(
            f"Cannot fingerprint {type(obj).__name__} (it does not pickle: {error}). Pass "
            "`version=` to declare which version of it this is."
        ) from None
    digest = _digest()
    digest.update(content)
    return digest.hexdigest()

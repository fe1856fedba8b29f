"""Fingerprints that tie a teacher cache to the teacher and the data it came from."""

import hashlib

import keras
import numpy as np

# 2: top-k caches store ids, log-probabilities and the tail mass (1: values and a fill logit).
FORMAT_VERSION = 2


def _digest():
    return hashlib.blake2b(digest_size=16)


def _update_with_array(digest, array):
    array = np.ascontiguousarray(array)
    digest.update(f"{array.dtype.str}{array.shape}".encode())
    digest.update(array.data if array.size else b"")


def data_fingerprint(x):
    """Hex digest of every array in `x`: structure, dtypes, shapes and bytes."""
    digest = _digest()
    for path, array in keras.tree.flatten_with_path(x):
        digest.update(repr(path).encode())
        _update_with_array(digest, np.asarray(array))
    return digest.hexdigest()


def teacher_fingerprint(teacher, mode, top_k):
    """Hex digest of the teacher's weights and of how its logits are read.

    Variable names are left out: Keras renumbers them between sessions while
    the weights, and so the cached logits, stay the same. A teacher from
    another runtime (`keras_distill.teachers`) has no weights; its
    `source_fingerprint` (file hash, estimator state, declared version)
    stands for them.
    """
    digest = _digest()
    digest.update(f"v{FORMAT_VERSION}|{type(teacher).__name__}|{mode}|{top_k}".encode())
    digest.update(getattr(teacher, "source_fingerprint", "").encode())
    for variable in teacher.weights:
        _update_with_array(digest, keras.ops.convert_to_numpy(variable))
    return digest.hexdigest()


def fingerprint(teacher_part, data_part):
    """Combines the teacher and data fingerprints into the cache fingerprint."""
    return f"{teacher_part}-{data_part}"

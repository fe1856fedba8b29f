"""A teacher read from a file of per-sample outputs saved elsewhere, matched to inputs by a key."""

import hashlib

import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import InvalidDataError
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.runtime_file import check_path
from keras_distill.teachers.source_digest import file_digest

_WHAT = "file of precomputed teacher outputs (.npz with `keys` and `logits`)"


def row_keys(x):
    """The default key of each sample: a hex digest of its float32 bytes.

    Whoever writes a precomputed-outputs file for inputs `x` can key it with
    `row_keys(x)`; the teacher then finds each sample's logits from the
    sample itself, in any order and any batching.

    Args:
        x: A batch of inputs (NumPy array).

    Returns:
        A list of strings, one per sample.

    Example:

    ```python
    logits = teacher.predict(x_train, verbose=0)
    np.savez("outputs.npz", keys=keras_distill.teachers.row_keys(x_train), logits=logits)
    ```
    """
    x = np.ascontiguousarray(np.asarray(x, "float32"))
    return [hashlib.blake2b(row.tobytes(), digest_size=16).hexdigest() for row in x]


@register
class PrecomputedTeacher(ForeignTeacher):
    """Per-sample teacher outputs saved to a file by any framework, as a teacher.

    The file is an `.npz` with `logits` (one row of logits per sample) and
    `keys` (one key per sample). Each input sample is matched to its row by
    `key(batch)`; the default key, `row_keys`, is a digest of the sample's
    bytes, so the file needs no particular order. The caches fingerprint it by
    the file's hash.

    Args:
        path: The `.npz` file.
        input_shape: Shape of one input sample, without the batch.
        key: `key(batch) -> list of keys`, one per sample of a NumPy batch.
            Defaults to `None` (`row_keys`).
        name: Defaults to `"precomputed_teacher"`.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: The file is not such an `.npz`.
        InvalidDataError: (when called) a sample's key is not in the file.

    Example:

    ```python
    logits = teacher.predict(x_train, verbose=0)
    np.savez("outputs.npz", keys=keras_distill.teachers.row_keys(x_train), logits=logits)
    file_teacher = keras_distill.teachers.PrecomputedTeacher("outputs.npz", input_shape=(784,))
    cache = keras_distill.TeacherCache.compute(file_teacher, x_train)
    ```
    """

    def __init__(self, path, input_shape, key=None, name="precomputed_teacher"):
        path = check_path(path, _WHAT)
        try:
            with np.load(path, allow_pickle=False) as data:
                keys, logits = data["keys"], np.asarray(data["logits"], "float32")
        except Exception as error:  # noqa: BLE001 - np.load raises many error types
            raise CorruptFileError(
                path, _WHAT, f"{type(error).__name__}: {error}",
                "Write it with np.savez(path, keys=..., logits=...).",
            ) from None
        if len(keys) != len(logits) or logits.ndim < 2:
            raise CorruptFileError(
                path, _WHAT, f"it has {len(keys)} keys for logits of shape {logits.shape}",
                "Save one key per row of logits (logits of shape (samples, classes...)).",
            )
        super().__init__(
            input_shape, output_shape=logits.shape[1:],
            source_fingerprint=f"precomputed:{file_digest(path)}", name=name,
        )
        self.source_path = path
        self.key = key or row_keys
        self._logits = logits
        self._rows = {_plain(k): i for i, k in enumerate(keys.tolist())}

    def run(self, inputs):
        keys = [_plain(k) for k in self.key(inputs)]
        missing = [k for k in keys if k not in self._rows]
        if missing:
            raise InvalidDataError(
                f"{len(missing)} of {len(keys)} samples have no outputs in {self.source_path!r} "
                f"(first key: {missing[0]!r}). The file must hold every sample the teacher sees."
            )
        return self._logits[[self._rows[k] for k in keys]]


def _plain(key):
    return key.decode() if isinstance(key, bytes) else key

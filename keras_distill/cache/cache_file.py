"""Reading and atomically writing teacher-cache `.npz` files: the fields and their checks."""

import json
import os

import keras
import numpy as np

from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.core import array_files
from keras_distill.core import atomic_files
from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import StaleCacheError

WHAT = "keras_distill teacher cache (.npz)"
FIX = (
    "Recompute it: TeacherCache.compute(teacher, x, path=...) writes a new one in its place "
    "(a cache that cannot be loaded is recomputed)."
)
_ZIP_MAGIC = b"PK\x03\x04"
_NPY_MAGIC = b"\x93NUMPY"


def write_cache(path, outputs, fingerprint, num_classes, views, view_seed, augmentation):
    """Writes a `TeacherCache`'s arrays and settings to `path` atomically.

    Dense logits go under `logits`; a top-k cache's fields under their own
    names. The views' settings are written only for a cache of views.
    """
    top_k = outputs["indices"].shape[-1] if isinstance(outputs, dict) else None
    arrays = dict(outputs) if top_k else {"logits": outputs}
    arrays.update(
        fingerprint=np.array(fingerprint),
        top_k=np.array(top_k or 0),
        num_classes=np.array(num_classes),
        format_version=np.array(fingerprint_lib.FORMAT_VERSION),
    )
    if views:
        arrays.update(
            views=np.array(views),
            view_seed=np.array(view_seed),
            augmentation=np.array(json.dumps(keras.saving.serialize_keras_object(augmentation))),
        )
    write(path, arrays)


def read_cache(path):
    """Reads and checks a file of `write_cache`.

    Returns:
        A dict of `fingerprint` (str), `top_k` (0 for dense), `num_classes`,
        `views` (or `None`), `view_seed`, `augmentation` (rebuilt, or `None`)
        and `outputs` (the dense logits, or the dict of top-k fields).

    Raises:
        CorruptFileError: As `read` and `check_fields`, or the view
            augmentation cannot be rebuilt.
        StaleCacheError: The file has another format version.
    """
    fields = read(path)
    check_fields(path, fields)
    stored = dict(
        fingerprint=str(fields.pop("fingerprint")),
        top_k=int(fields.pop("top_k")),
        num_classes=int(fields.pop("num_classes")),
        views=int(fields.pop("views", 0)) or None,
        view_seed=int(fields.pop("view_seed", 0)),
    )
    augmentation = fields.pop("augmentation", None)
    if augmentation is not None:
        try:
            augmentation = keras.saving.deserialize_keras_object(
                json.loads(str(augmentation)), safe_mode=True
            )
        except Exception as error:  # noqa: BLE001 - any failure means an unusable file
            raise CorruptFileError(
                path, WHAT, f"its view augmentation cannot be rebuilt ({error})", FIX
            ) from None
    fields.pop("format_version")  # checked by `check_fields`
    stored.update(
        augmentation=augmentation,
        outputs=fields["logits"] if "logits" in fields else fields,
    )
    return stored


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
    """Returns the arrays of the `.npz` file at `path` as a dict (never unpickles).

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: `path` is a folder, not an `.npz` archive, truncated
            or damaged, or holds pickled objects.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"No teacher cache at {path!r}.")
    if os.path.isdir(path):
        raise CorruptFileError(path, WHAT, "it is a folder", "Pass the .npz file itself.")
    try:
        with open(path, "rb") as f:
            head = f.read(6)
    except OSError as error:
        raise CorruptFileError(path, WHAT, f"it cannot be opened ({error.strerror})", FIX) from None
    if head.startswith(_NPY_MAGIC):
        raise CorruptFileError(
            path, WHAT, "it is a single NumPy array (.npy), not an .npz archive", FIX
        )
    if not head.startswith(_ZIP_MAGIC):
        found = "it is empty" if not head else f"it does not start like a zip archive ({head!r})"
        raise CorruptFileError(path, WHAT, f"{found}, so it is not an .npz archive", FIX)
    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except array_files.READ_ERRORS as error:
        reason = array_files.unreadable_reason(
            error, "it holds pickled Python objects, which keras_distill never writes or loads"
        )
        raise CorruptFileError(path, WHAT, reason, FIX) from None


def check_fields(path, fields):
    """Checks that the arrays read from `path` form a teacher cache, before any is used.

    Raises:
        CorruptFileError: A field is missing, of the wrong type or shape, or
            the logits hold NaN or inf.
        StaleCacheError: The file has another format version.
    """

    def fail(reason):
        raise CorruptFileError(path, WHAT, reason, FIX)

    for name in ("fingerprint", "top_k", "num_classes", "format_version"):
        if name not in fields:
            fail(f"it has no {name!r} field (found {sorted(fields)})")
        if np.ndim(fields[name]) != 0:
            fail(f"its {name!r} field is not a single value")
    for name in ("top_k", "num_classes", "format_version"):
        if not np.issubdtype(fields[name].dtype, np.integer):
            fail(f"its {name!r} field is not an integer")
    version = int(fields["format_version"])
    if version != fingerprint_lib.FORMAT_VERSION:
        raise StaleCacheError(
            f"The cache {path!r} has format version {version}; this keras_distill reads "
            f"version {fingerprint_lib.FORMAT_VERSION}. {FIX}"
        )
    classes, top_k = int(fields["num_classes"]), int(fields["top_k"])
    if top_k:
        for name in ("indices", "log_probs", "tail_mass"):
            if name not in fields:
                fail(f"it is a top-k cache without its {name!r} array")
        log_probs, indices, tail = fields["log_probs"], fields["indices"], fields["tail_mass"]
        if log_probs.shape != indices.shape or log_probs.shape[-1:] != (top_k,):
            fail(
                f"its top-k arrays have shapes {log_probs.shape} and {indices.shape}, expected "
                f"(..., {top_k}) each"
            )
        if tail.shape != log_probs.shape[:-1]:
            fail(f"its 'tail_mass' array has shape {tail.shape}, expected {log_probs.shape[:-1]}")
        if not np.issubdtype(indices.dtype, np.integer) or (
            indices.size and (indices.min() < 0 or indices.max() >= classes)
        ):
            fail(f"its top-k indices are not class indices in [0, {classes})")
        arrays = (log_probs, tail)
    else:
        if "logits" not in fields:
            fail("it has no 'logits' array")
        logits = fields["logits"]
        if logits.ndim < 2 or logits.shape[-1] != classes:
            fail(f"its logits have shape {logits.shape}, expected (samples, ..., {classes})")
        arrays = (fields["logits"],)
    for array in arrays:
        if not np.issubdtype(array.dtype, np.floating):
            fail(f"its logits are of dtype {array.dtype}, not floating point")
        if not np.isfinite(array).all():
            fail(f"its logits hold {int((~np.isfinite(array)).sum())} NaN or inf values")

"""Opening a teacher file with its runtime: typed errors for missing runtimes and bad files."""

import importlib
import os

from keras_distill.core.errors import CorruptFileError
from keras_distill.export.dependencies import EXTRAS
from keras_distill.export.dependencies import import_optional
from keras_distill.teachers.source_digest import file_digest


def check_path(path, what, folder=False):
    """Returns `path` as a string; raises when nothing, or the wrong kind of thing, is there.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: A folder where a file is expected, or the reverse.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"No {what} at {path!r}.")
    if os.path.isdir(path) != folder:
        kind = "a folder" if os.path.isdir(path) else "a file"
        raise CorruptFileError(path, what, f"it is {kind}", f"Pass the path of the {what}.")
    return path


def open_with(runtime, purpose, path, what, opener, folder=False):
    """Imports `runtime`, checks `path` and returns `(opener(module, path), file hash)`.

    Raises:
        ImportError: The runtime is not installed (the message names the extra).
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: The runtime cannot read the file.
    """
    # TensorFlow is a dependency of keras-distill itself, with no extra to name.
    module = import_optional(runtime, purpose) if runtime in EXTRAS else importlib.import_module(runtime)
    path = check_path(path, what, folder)
    try:
        opened = opener(module, path)
    except Exception as error:  # noqa: BLE001 - every runtime has its own error types
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CorruptFileError(
            path, what, f"{runtime} cannot load it ({type(error).__name__}: {message[:300]})",
            "Check that the file is complete and of this format.",
        ) from None
    return opened, file_digest(path)

"""Loading `.keras` files with typed errors and `safe_mode=True` by default."""

import json
import os
import zipfile

from keras_distill.core.errors import CorruptFileError

WHAT = "Keras model (.keras)"
_FIX = "Save the model again with model.save(path); keras_distill writes .keras files atomically."


def check_keras_file(path):
    """Checks that `path` is a complete `.keras` archive, before Keras parses it.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: A folder, not a zip archive, truncated, damaged
            (checksum), or without the `config.json` a `.keras` file holds.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"No .keras file at {path!r}.")
    if os.path.isdir(path):
        raise CorruptFileError(path, WHAT, "it is a folder", "Pass the .keras file itself.")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04":
        found = "it is empty" if not head else f"it does not start like a zip archive ({head!r})"
        raise CorruptFileError(path, WHAT, found, _FIX)
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            damaged = archive.testzip()
            config = archive.read("config.json") if "config.json" in names else None
    except (zipfile.BadZipFile, EOFError, OSError) as error:
        raise CorruptFileError(path, WHAT, f"the archive is truncated or damaged ({error})", _FIX) from None
    if damaged is not None:
        raise CorruptFileError(path, WHAT, f"its member {damaged!r} is damaged (checksum)", _FIX)
    if config is None:
        raise CorruptFileError(
            path, WHAT, f"it has no config.json (members: {sorted(names)[:5]})", _FIX
        )
    try:
        json.loads(config)
    except ValueError as error:
        raise CorruptFileError(path, WHAT, f"its config.json is not valid JSON ({error})", _FIX) from None


def load_keras_model(path, safe_mode=True, argument="model"):
    """`keras.saving.load_model(path, safe_mode=...)` after `check_keras_file`.

    Args:
        path: The `.keras` file.
        safe_mode: Refuse files that would run code on load (`Lambda` layers
            holding Python bytecode). Defaults to `True`.
        argument: How the caller names the file, for messages.

    Raises:
        FileNotFoundError, CorruptFileError: See `check_keras_file`.
        ValueError: The file needs `safe_mode=False` (the message says so).
    """
    import keras

    check_keras_file(path)
    try:
        return keras.saving.load_model(path, safe_mode=safe_mode)
    except ValueError as error:
        if safe_mode and "safe_mode" in str(error):
            raise ValueError(
                f"{argument} {os.fspath(path)!r} holds code that runs when it is loaded "
                f"(a Lambda layer): {error}\nLoad it with safe_mode=False only if you trust the "
                "file."
            ) from None
        raise CorruptFileError(
            path, WHAT, f"Keras cannot rebuild the model from it ({error})",
            "If it uses custom layers, import the module that registers them before loading.",
        ) from None
    except (TypeError, KeyError, AttributeError, OSError) as error:
        raise CorruptFileError(
            path, WHAT, f"Keras cannot rebuild the model from it ({type(error).__name__}: {error})",
            "If it uses custom layers, import the module that registers them before loading.",
        ) from None

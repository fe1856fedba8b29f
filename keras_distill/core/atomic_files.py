"""Writing a file or an artifact beside its target, then renaming it into place.

The one way keras_distill writes files (caches, reports, plots, exports): a
writer that fails, a verification that fails, or an interrupt leaves the
target path exactly as it was, absent or holding the previous file. Staged
files end with the mode a plain `open(path, "w")` would give (0666 less the
umask), not the 0600 of a temporary file.
"""

import contextlib
import os
import shutil
import tempfile


def default_file_mode():
    """The mode `open(path, "w")` gives a new file: 0666 less the process umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_file(path, write):
    """Writes a file atomically: `write(staged_path)`, fsync, then rename over `path`.

    Args:
        path: The target file.
        write: A function that writes the whole file at the path it is given.
    """
    path = os.path.abspath(os.fspath(path))
    handle, staged = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=os.path.dirname(path)
    )
    os.close(handle)
    try:
        write(staged)
        os.chmod(staged, default_file_mode())
        with open(staged, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(staged, path)
    except BaseException:
        if os.path.lexists(staged):
            os.unlink(staged)
        raise


def check_target(path, overwrite):
    """Returns `path` as an absolute `str`, after checking it may be written."""
    if not isinstance(path, (str, os.PathLike)) or not str(path):
        raise TypeError(f"`path` must be a file path. Received: path={path!r}.")
    path = os.path.abspath(os.fspath(path))
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(
            f"`path` {path!r} already exists; pass `overwrite=True` to replace it."
        )
    parent = os.path.dirname(path)
    if not os.path.isdir(parent):
        raise FileNotFoundError(
            f"`path` {path!r}: its folder {parent!r} does not exist."
        )
    return path


def _move_into_place(staged, path, overwrite):
    if not os.path.lexists(path):
        os.rename(staged, path)
        return
    if not overwrite:
        raise FileExistsError(
            f"`path` {path!r} appeared while exporting; pass `overwrite=True` to "
            "replace it."
        )
    if not os.path.isdir(staged) and not os.path.isdir(path):
        os.replace(staged, path)
        return
    # A folder cannot atomically replace another: park the old artifact in
    # the staging folder (deleted afterwards), restoring it if the second
    # rename fails.
    parked = staged + ".old"
    os.rename(path, parked)
    try:
        os.rename(staged, path)
    except BaseException:
        os.rename(parked, path)
        raise


@contextlib.contextmanager
def staged_path(path, overwrite=False):
    """Yields a fresh path beside `path`; on success renames it to `path`.

    Args:
        path: The target file or folder.
        overwrite: Whether an existing `path` may be replaced. Defaults to
            `False`.

    Yields:
        A path in the same folder as `path` (so the rename stays on one
        filesystem) that does not exist yet. Write the artifact there.
    """
    path = check_target(path, overwrite)
    workdir = tempfile.mkdtemp(
        prefix=f".{os.path.basename(path)}.", suffix=".partial", dir=os.path.dirname(path)
    )
    staged = os.path.join(workdir, os.path.basename(path))
    try:
        yield staged
        if not os.path.lexists(staged):
            raise FileNotFoundError(f"The exporter wrote nothing at {staged!r}.")
        _move_into_place(staged, path, overwrite)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def artifact_size(path):
    """Bytes of a file, or of every file under a folder."""
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )

"""Writing a file or an artifact beside its target, then renaming it into place.

The one way keras_distill writes files (caches, reports, plots, exports): a
writer that fails, a verification that fails, or an interrupt leaves the
target path exactly as it was, absent or holding the previous file. Staged
files end with the mode a plain `open(path, "w")` would give (0666 less the
umask), not the 0600 of a temporary file.
"""

import contextlib
import errno
import glob
import os
import shutil
import signal
import tempfile

from keras_distill.core.errors import TargetWriteError

# Errors of the target's file system that the user fixes (space, permissions,
# a folder in the way), raised as `TargetWriteError`.
_TARGET_ERRNOS = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "the file system is read-only",
    errno.EISDIR: "a folder is in the way",
    errno.ENOTDIR: "a file is in the way of a folder",
}
# Test hook of the fault-injection suite: the process kills itself at this
# named point of a write (see tests/test_crash_safety.py).
_FAULT_POINT = "KERAS_DISTILL_FAULT_POINT"


def fault_point(name):
    """Kills this process with SIGKILL when `KERAS_DISTILL_FAULT_POINT` is `name` (tests only)."""
    if os.environ.get(_FAULT_POINT) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _staging_prefix(path):
    return f".{os.path.basename(path)}.{os.getpid()}."


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clean_leftovers(path):
    """Removes staging files and folders of `path` left by writers that died.

    A writer killed mid-write (SIGKILL, power loss) leaves its staged copy
    beside the target; the next write to the same target removes it. Staging
    names carry the writer's process id, so a live writer's copy is kept.
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    for leftover in glob.glob(os.path.join(glob.escape(folder), f".{glob.escape(name)}.*")):
        parts = os.path.basename(leftover)[len(name) + 2 :].split(".", 1)
        if not parts[0].isdigit() or not leftover.endswith((".tmp", ".partial")):
            continue
        if int(parts[0]) != os.getpid() and _alive(int(parts[0])):
            continue
        parked = os.path.join(leftover, name + ".old")
        target = os.path.join(folder, name)
        if os.path.lexists(parked) and not os.path.lexists(target):
            os.rename(parked, target)  # the writer died between its two renames
        if os.path.isdir(leftover) and not os.path.islink(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(leftover)


def _target_error(path, error):
    """`TargetWriteError` for file-system errors the user fixes; `None` for others."""
    reason = _TARGET_ERRNOS.get(getattr(error, "errno", None))
    if reason is None:
        return None
    return TargetWriteError(
        error.errno,
        f"Cannot write {path!r}: {reason} ({error.strerror or error}). Free space, fix the "
        "folder's permissions or choose another path; the previous file there, if any, "
        "is untouched.",
    )


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
    if os.path.isdir(path):
        raise TargetWriteError(
            errno.EISDIR, f"Cannot write {path!r}: it is a folder. Choose a file path."
        )
    clean_leftovers(path)
    staged = None
    try:
        handle, staged = tempfile.mkstemp(
            prefix=_staging_prefix(path), suffix=".tmp", dir=os.path.dirname(path)
        )
        os.close(handle)
        write(staged)
        fault_point("staged")
        os.chmod(staged, default_file_mode())
        with open(staged, "rb+") as f:
            os.fsync(f.fileno())
        fault_point("before_rename")
        os.replace(staged, path)
        fault_point("after_rename")
    except BaseException as error:
        if staged is not None and os.path.lexists(staged):
            os.unlink(staged)
        typed = _target_error(path, error) if isinstance(error, OSError) else None
        if typed is not None:
            raise typed from error
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
    # A folder cannot replace another with rename(2); Linux swaps the two
    # atomically (renameat2 RENAME_EXCHANGE): readers see the old artifact or
    # the new one, never neither.
    if _exchange(staged, path):
        return
    # Elsewhere: park the old artifact in the staging folder (deleted
    # afterwards), restoring it if the second rename fails; a writer killed
    # between the two renames is repaired by the next `clean_leftovers`.
    parked = staged + ".old"
    os.rename(path, parked)
    fault_point("parked")
    try:
        os.rename(staged, path)
    except BaseException:
        os.rename(parked, path)
        raise


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a, b):
    """Atomically swaps two paths with Linux's renameat2; `False` where unavailable."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system does not support the exchange
    raise OSError(code, os.strerror(code), b)


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
    clean_leftovers(path)
    try:
        workdir = tempfile.mkdtemp(
            prefix=_staging_prefix(path), suffix=".partial", dir=os.path.dirname(path)
        )
    except OSError as error:
        typed = _target_error(path, error)
        if typed is not None:
            raise typed from error
        raise
    staged = os.path.join(workdir, os.path.basename(path))
    try:
        yield staged
        if not os.path.lexists(staged):
            raise FileNotFoundError(f"The exporter wrote nothing at {staged!r}.")
        fault_point("before_rename")
        _move_into_place(staged, path, overwrite)
        fault_point("after_rename")
    except OSError as error:
        typed = _target_error(path, error)
        if typed is not None:
            raise typed from error
        raise
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

"""The errors keras_distill raises for damaged files, stale caches, bad data and unwritable targets.

Every message names the file or argument, says what is wrong and what to do.
Each class also derives from the built-in exception a caller would catch
without knowing keras_distill (`ValueError`, `OSError`), so existing
`except ValueError:` blocks keep working.
"""


class KerasDistillError(Exception):
    """Base class of keras_distill's errors."""


class CorruptFileError(KerasDistillError, ValueError):
    """A file exists but cannot be read as what it should be (truncated, damaged, another format).

    Attributes:
        path: The file.
    """

    def __init__(self, path, what, reason, fix):
        self.path = str(path)
        super().__init__(f"{self.path!r} is not a readable {what}: {reason}. {fix}")


class StaleCacheError(KerasDistillError, ValueError):
    """A teacher cache belongs to another teacher, other inputs or another format version."""


class InvalidDataError(KerasDistillError, ValueError):
    """Data given to keras_distill is unusable: NaN or inf, empty, or of the wrong shape or dtype."""


class TargetWriteError(KerasDistillError, OSError):
    """A file cannot be written at its target (no space, read-only folder, a folder in the way).

    The target is left as it was.
    """


class ExportConversionError(KerasDistillError, ValueError):
    """A converter cannot turn the model into the requested format.

    Attributes:
        ops: The unsupported operations, as the converter names them.
        layers: The model's layers they come from, where known.
    """

    def __init__(self, message, ops=(), layers=()):
        super().__init__(message)
        self.ops = list(ops)
        self.layers = list(layers)

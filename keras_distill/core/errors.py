"""The errors keras_distill raises for damaged files, stale caches, bad data and unwritable targets.

Every message names the file or argument, says what is wrong and what to do.
Each class also derives from the built-in exception a caller would catch
without knowing keras_distill (`ValueError`, `OSError`), so existing
`except ValueError:` blocks keep working.
"""


class KerasDistillError(Exception):
    """Base class of keras_distill's errors.

    Example:

    ```python
    try:
        keras_distill.export_tflite(student, "student.tflite", sample_inputs=x_val)
    except keras_distill.errors.KerasDistillError as error:
        print(f"not exported: {error}")
    ```
    """


class CorruptFileError(KerasDistillError, ValueError):
    """A file exists but cannot be read as what it should be (truncated, damaged, another format).

    Args:
        path: The file.
        what: What the file should be, e.g. `"keras_distill teacher cache (.npz)"`.
        reason: What is wrong with it.
        fix: What to do.

    Attributes:
        path: The file.

    Example:

    ```python
    try:
        cache = keras_distill.TeacherCache.load("teacher.npz", teacher=teacher, x=x_train)
    except keras_distill.errors.CorruptFileError as error:
        print(error.path, "is damaged; recomputing")
        cache = keras_distill.TeacherCache.compute(teacher, x_train, path="teacher.npz")
    ```
    """

    def __init__(self, path, what, reason, fix):
        self.path = str(path)
        super().__init__(f"{self.path!r} is not a readable {what}: {reason}. {fix}")


class StaleCacheError(KerasDistillError, ValueError):
    """A teacher cache belongs to another teacher, other inputs or another format version.

    Example:

    ```python
    try:
        cache = keras_distill.TeacherCache.load("teacher.npz", teacher=teacher, x=x_train)
    except keras_distill.errors.StaleCacheError:
        cache = keras_distill.TeacherCache.compute(teacher, x_train, path="teacher.npz")
    ```
    """


class InvalidDataError(KerasDistillError, ValueError):
    """Data given to keras_distill is unusable: NaN or inf, empty, or of the wrong shape or dtype.

    Raised before any conversion or teacher pass starts; the message names the
    argument, the input and the first bad sample.

    Example:

    ```python
    try:
        keras_distill.TeacherCache.compute(teacher, x_train)
    except keras_distill.errors.InvalidDataError as error:
        print(error)  # `x` holds NaN or inf in 1 of 60000 samples (first: index 123). ...
    ```
    """


class TargetWriteError(KerasDistillError, OSError):
    """A file cannot be written at its target (no space, read-only folder, a folder in the way).

    The target is left as it was.

    Example:

    ```python
    try:
        distiller.student.save("/mnt/full_disk/student.keras")
    except keras_distill.errors.TargetWriteError as error:
        print(error)  # the previous file there, if any, is untouched
    ```
    """


class ExportConversionError(KerasDistillError, ValueError):
    """A converter cannot turn the model into the requested format.

    Args:
        message: The unsupported ops, their layers and the way out.
        ops: The unsupported operations, as the converter names them.
        layers: The model's layers they come from, where known.

    Attributes:
        ops: The unsupported operations, as the converter names them.
        layers: The model's layers they come from, where known.

    Example:

    ```python
    try:
        keras_distill.export_tflite(model_with_lookup, "model.tflite")
    except keras_distill.errors.ExportConversionError as error:
        print(error.ops, error.layers)  # ['HashTableV2', ...] ['integer_lookup (IntegerLookup)']
    ```
    """

    def __init__(self, message, ops=(), layers=()):
        super().__init__(message)
        self.ops = list(ops)
        self.layers = list(layers)

"""What `Distiller.fit` checks and runs once, before the first step.

Each check costs one pass over what it reads (the NumPy training arrays,
the teacher's weights when a cache is fed), never a step: the step itself
only flags non-finite values (see `data_guard.py`).
"""

import keras
import numpy as np

from keras_distill.core import argument_validation as validation
from keras_distill.core import cache_origin
from keras_distill.core import data_checks
from keras_distill.core import packed_inputs
from keras_distill.core.errors import InvalidDataError
from keras_distill.core.errors import StaleCacheError
from keras_distill.distiller import data_guard

# The position of `callbacks` among `keras.Model.fit`'s arguments.
_CALLBACKS = 5


def checked_fit_arguments(distiller, args, kwargs):
    """Runs the checks below on `fit`'s arguments; returns them with a `DataGuard` added.

    Args:
        distiller: The `Distiller` whose `fit` is starting.
        args: `fit`'s positional arguments (`x, y, batch_size, epochs,
            verbose, callbacks, ...`).
        kwargs: `fit`'s keyword arguments.

    Returns:
        `(args, kwargs)` for `keras.Model.fit`.
    """
    x = kwargs["x"] if "x" in kwargs else _positional(args, 0)
    y = kwargs["y"] if "y" in kwargs else _positional(args, 1)
    check_schedule_values(distiller)
    check_arrays(x, y)
    check_cache_teacher(distiller, x)
    if len(args) > _CALLBACKS:
        guarded = data_guard.with_guard(args[_CALLBACKS])
        return args[:_CALLBACKS] + (guarded,) + args[_CALLBACKS + 1 :], kwargs
    return args, dict(kwargs, callbacks=data_guard.with_guard(kwargs.get("callbacks")))


def run_before_fit(distiller, args, kwargs):
    """Calls `before_fit(distiller)` of each of `fit`'s callbacks that has one.

    Callbacks that change the trainable layers (`PhaseScheduler`) build the
    optimizer there, before Keras does.
    """
    callbacks = kwargs["callbacks"] if "callbacks" in kwargs else _positional(args, _CALLBACKS)
    for callback in getattr(callbacks, "callbacks", callbacks) or ():
        before_fit = getattr(callback, "before_fit", None)
        if before_fit is not None:
            before_fit(distiller)


def _positional(args, index):
    return args[index] if len(args) > index else None


def check_arrays(x, y):
    """Raises `InvalidDataError` for empty `x` or NaN/inf in NumPy `x` or `y`.

    A dataset is refused here when its size says it is empty; what datasets,
    generators and backend tensors hold is left to the in-step check.
    """
    if _known_empty(x):
        raise InvalidDataError(
            f"`x` is an empty {type(x).__name__}: it yields no batch. Pass at least one sample."
        )
    inputs = packed_inputs.unpack(x)[0]
    if _all_numpy(inputs):
        data_checks.check_samples(inputs, "x")
    if y is not None and _all_numpy(y):
        for index, leaf in enumerate(data_checks.leaves(y)):
            data_checks.check_finite(leaf, "`y`" if index == 0 else f"`y` (output {index})",
                                     "samples")


def _known_empty(x):
    cardinality = getattr(x, "cardinality", None)
    if callable(cardinality) and hasattr(x, "element_spec"):
        return int(cardinality()) == 0
    if isinstance(x, keras.utils.PyDataset):
        return x.num_batches == 0
    return False


def _all_numpy(data):
    leaves = data_checks.leaves(data)
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)


def check_schedule_values(distiller):
    """Raises when `alpha` or `temperature`, assigned as raw variables, are out of range."""
    validation.check_temperature(_value(distiller.temperature), "distiller.temperature")
    validation.check_alpha(_value(distiller.alpha), "distiller.alpha")


def _value(variable):
    return float(keras.ops.convert_to_numpy(variable))


def check_cache_teacher(distiller, x):
    """Raises `StaleCacheError` when `x` carries a cache of another teacher.

    Fingerprints the Distiller's teacher (its weights are hashed once) only
    when `x` comes from a `TeacherCache` or `ShardedTeacherCache`.
    """
    origin = cache_origin.find(x)
    if origin is None:
        return
    own = origin.fingerprint_of(distiller.teacher, distiller._teacher_logits)
    if own != origin.teacher_fingerprint:
        raise StaleCacheError(
            f"`x` carries cached logits of another teacher: {origin.what} was computed "
            f"from a teacher with fingerprint {origin.teacher_fingerprint}, this "
            f"Distiller's teacher ({distiller.teacher.name!r}, teacher_activation="
            f"{distiller.teacher_activation!r}) has fingerprint {own}. Compute the cache "
            "from this teacher: TeacherCache.compute(distiller, x, path=...)."
        )

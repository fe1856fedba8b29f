"""What a TeacherCache checks: its arguments, the teacher's outputs, the data it is packed with.

Each check runs once, before the teacher pass or before the cached logits are
packed with `x`; a mismatch raises with what was expected, so a cache never
meets inputs it was not computed on.
"""

import numbers

import keras
import numpy as np

from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.core import packed_inputs
from keras_distill.core.errors import InvalidDataError


def check_arguments(teacher, x, batch_size, top_k):
    """Raises on `TeacherCache.compute` arguments that cannot make a cache."""
    if not isinstance(teacher, keras.Model):
        raise TypeError(
            f"`teacher` must be a keras.Model or a Distiller. Received: {teacher!r} "
            f"of type {type(teacher).__name__}."
        )
    if is_dataset(x):
        raise TypeError(
            "`x` must be NumPy arrays (or a nested structure of them), not a dataset: "
            "the cache is indexed by sample. Received a "
            f"{type(x).__name__}."
        )
    if packed_inputs.is_packed(x):
        raise ValueError("`x` already carries cached teacher logits; pass the plain inputs.")
    positive_int(batch_size, "batch_size")
    if top_k is not None:
        positive_int(top_k, "top_k")


def positive_int(value, name):
    """`value` as an int; raises unless it is a positive integer (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    return int(value)


def check_labels(y, sample_weight, num_samples):
    """Raises unless `y` and `sample_weight` (each optional) hold `num_samples` samples."""
    for name, values in (("y", y), ("sample_weight", sample_weight)):
        if values is not None and len(values) != num_samples:
            raise ValueError(f"`{name}` has {len(values)} samples; the cache holds {num_samples}.")
    if sample_weight is not None and y is None:
        raise ValueError("`sample_weight` needs `y`: pass the labels as well.")


def check_teacher_outputs(outputs):
    """Raises when the teacher pass gave NaN or inf, before any cache is written."""
    arrays = [outputs["log_probs"], outputs["tail_mass"]] if isinstance(outputs, dict) else [outputs]
    for array in arrays:
        finite = np.isfinite(array).reshape(len(array), -1).all(axis=1)
        if not finite.all():
            raise InvalidDataError(
                f"The teacher emits NaN or inf logits for {int((~finite).sum())} of "
                f"{len(array)} samples (first: index {int(np.flatnonzero(~finite)[0])}) although "
                "the inputs are finite: check its weights (a diverged training run?) or its last "
                "layers. No cache was written."
            )


def check_top_k(teacher, top_k):
    """Raises when `top_k` exceeds the classes of a teacher with a known output size."""
    outputs = getattr(teacher, "outputs", None)
    if top_k is None or not outputs or outputs[0].shape[-1] is None:
        return
    classes = outputs[0].shape[-1]
    if top_k > classes:
        raise ValueError(
            f"`top_k` must be at most the number of classes of the teacher ({classes}). "
            f"Received: top_k={top_k}. Use top_k={classes} (or None) to keep every logit."
        )


def is_dataset(x):
    """Whether `x` is a `tf.data.Dataset` or a `keras.utils.PyDataset`."""
    return hasattr(x, "element_spec") or isinstance(x, keras.utils.PyDataset)


def check_indices(indices, num_samples):
    """`indices` as a 1-D int64 array, or a `ValueError` unless each is in `[0, num_samples)`."""
    array = np.asarray(indices)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise ValueError(
            "`indices` must be a 1-D array of integer sample indices. Received an array of "
            f"shape {array.shape} and dtype {array.dtype}."
        )
    if array.size and (array.min() < 0 or array.max() >= num_samples):
        raise ValueError(
            f"`indices` must lie in [0, {num_samples}) (the cache holds {num_samples} samples). "
            f"Received indices from {array.min()} to {array.max()}."
        )
    return array.astype("int64")


def check_data(x, num_samples, fingerprint):
    """Raises unless `x` is the data a cache of `num_samples` with `fingerprint` was computed on."""
    lengths = {np.shape(array)[0] for array in keras.tree.flatten(x)}
    if lengths != {num_samples}:
        raise ValueError(
            f"`x` has {sorted(lengths)} samples but the cache holds {num_samples}. "
            "Pass the same inputs, in the same order, as to `TeacherCache.compute`."
        )
    data_part = fingerprint.rsplit("-", 1)[-1]
    if fingerprint_lib.data_fingerprint(x) != data_part:
        raise ValueError(
            "`x` is not the data this cache was computed on (its fingerprint "
            "differs): pass the same inputs, in the same order, as to "
            "`TeacherCache.compute`, or compute a cache for these inputs."
        )

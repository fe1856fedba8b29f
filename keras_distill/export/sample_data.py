"""Turning user data into flat input arrays: samples, calibration data, random inputs."""

import sys

import numpy as np

from keras_distill.core import data_checks
from keras_distill.core.errors import InvalidDataError
from keras_distill.export import signature

# Most samples read from a `tf.data.Dataset`, which may repeat forever.
MAX_DATASET_SAMPLES = 1000
# How many samples verification compares when none are given.
DEFAULT_NUM_SAMPLES = 64
# The most samples verification compares (from `sample_inputs` or the
# calibration data): enough for a tight agreement interval, still seconds.
MAX_VERIFY_SAMPLES = 1000


def _dataset_inputs(model, element, argument):
    """The model inputs of one dataset element: `x`, `(x, y)` or `(x, y, w)`."""
    structure = signature.input_structure(model)
    if isinstance(element, tuple) and not isinstance(structure, (list, tuple)):
        return signature.flatten_inputs(model, element[0], argument)
    try:
        return signature.flatten_inputs(model, element, argument)
    except ValueError:
        if isinstance(element, tuple) and element:
            return signature.flatten_inputs(model, element[0], argument)
        raise


def _from_dataset(model, dataset, argument, limit):
    columns = None
    count = 0
    for element in dataset.as_numpy_iterator():
        arrays = _dataset_inputs(model, element, argument)
        columns = columns or [[] for _ in arrays]
        for column, array in zip(columns, arrays):
            column.append(array)
        count += len(arrays[0])
        if count >= limit:
            break
    if columns is None:
        raise InvalidDataError(f"`{argument}` is an empty dataset.")
    return [np.concatenate(column)[:limit] for column in columns]


def _fit_to_spec(array, spec, argument, single):
    rank = len(spec.shape)
    if array.ndim == rank - 1:
        array = array[None]
    if array.ndim != rank or tuple(array.shape[1:]) != tuple(spec.shape[1:]):
        where = f"`{argument}`" if single else f"`{argument}` input {spec.name!r}"
        raise InvalidDataError(
            f"{where} must have shape (batch,) + "
            f"{tuple(spec.shape[1:])}. Received shape {array.shape}."
        )
    return array.astype(signature.numpy_dtype(spec))


def flat_samples(model, specs, data, argument, limit=None):
    """The samples of `data` as flat arrays fitting `specs`, batch first.

    Args:
        model: The model whose inputs `data` feeds.
        specs: `signature.input_specs(model)`.
        data: Arrays structured like the model inputs (one array, a list or a
            dict), or a `tf.data.Dataset` of `x`, `(x, y)` or `(x, y,
            sample_weight)` elements, batched or not.
        argument: The argument name for error messages.
        limit: The most samples to keep. Defaults to all of them (at most
            `MAX_DATASET_SAMPLES` from a dataset).

    Returns:
        A list of numpy arrays, one per entry of `specs`, with equal batch sizes.
    """
    # Only a process that imported TensorFlow can hold a `tf.data.Dataset`.
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(data, tf.data.Dataset):
        arrays = _from_dataset(model, data, argument, limit or MAX_DATASET_SAMPLES)
    else:
        arrays = signature.flatten_inputs(model, data, argument)
    arrays = [_fit_to_spec(a, spec, argument, len(specs) == 1) for a, spec in zip(arrays, specs)]
    if len({len(a) for a in arrays}) != 1:
        raise InvalidDataError(
            f"`{argument}`: every input needs the same number of samples. Received "
            f"{[len(a) for a in arrays]}."
        )
    if len(arrays[0]) == 0:
        raise InvalidDataError(f"`{argument}` holds no samples.")
    for array, spec in zip(arrays, specs):
        where = f"`{argument}`" if len(arrays) == 1 else f"`{argument}` input {spec.name!r}"
        data_checks.check_finite(array, where, "samples")
    return [a[:limit] for a in arrays]


def random_samples(specs, num_samples=DEFAULT_NUM_SAMPLES, seed=0):
    """Standard-normal floats (small non-negative integers for integer inputs)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for spec in specs:
        shape = (num_samples,) + tuple(spec.shape[1:])
        dtype = signature.numpy_dtype(spec)
        if np.issubdtype(dtype, np.floating):
            arrays.append(rng.standard_normal(shape).astype(dtype))
        else:
            arrays.append(rng.integers(0, 2, size=shape).astype(dtype))
    return arrays


def single_samples(arrays):
    """Yields each sample of the flat `arrays` as a list of batch-1 arrays."""
    for i in range(len(arrays[0])):
        yield [a[i : i + 1] for a in arrays]

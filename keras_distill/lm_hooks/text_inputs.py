"""Raw strings through the student's preprocessor, as `keras_hub` `CausalLM.fit` does.

A keras-hub `CausalLM` maps its preprocessor over the batches given to `fit`:
strings become `x = {"token_ids", "padding_mask"}`, `y` the next token ids and
`sample_weight` the labels' padding mask, so padding carries no loss. The
Distiller does the same with the student's preprocessor whenever the data holds
text; token ids (already preprocessed) go to Keras as they are. The teacher
reads the student's token ids: both share one tokenizer (`causal_lm.check_pair`).
"""

import inspect
import sys

import keras
import numpy as np

_FIT_PARAMETERS = inspect.signature(keras.Model.fit).parameters
_EVALUATE_PARAMETERS = inspect.signature(keras.Model.evaluate).parameters
_DEFAULT_BATCH_SIZE = 32


def has_text(data):
    """Whether `data` (arrays, lists, tensors or a `tf.data.Dataset`) holds strings."""
    tf = _tensorflow()
    if tf is not None and isinstance(data, tf.data.Dataset):
        return any(spec.dtype == tf.string for spec in tf.nest.flatten(data.element_spec))
    for leaf in keras.tree.flatten(data):
        if isinstance(leaf, (str, bytes)):
            return True
        dtype = getattr(leaf, "dtype", None)
        if isinstance(leaf, np.ndarray) and dtype.kind in "USO":
            return dtype.kind != "O" or any(isinstance(v, (str, bytes)) for v in leaf.flat)
        if dtype is not None and "string" in str(dtype):
            return True
    return False


def fit_arguments(student, args, kwargs):
    """`fit`'s arguments with text replaced by the student's preprocessed batches.

    Returns `(args, kwargs)` unchanged unless `x` holds text; then `x` is a
    `tf.data.Dataset` of `(x, y, sample_weight)` batches and `y`,
    `sample_weight`, `batch_size` and `validation_split` are consumed.
    In-memory text is shuffled before batching when `shuffle` is true (as
    Keras shuffles arrays); a `tf.data.Dataset` is read as given.
    """
    arguments = _bind(_FIT_PARAMETERS, args, kwargs)
    x = arguments.get("x")
    if not has_text(x):
        return args, kwargs
    preprocess = _preprocess_samples(student)
    y, sample_weight = arguments.pop("y", None), arguments.pop("sample_weight", None)
    batch_size = arguments.pop("batch_size", None)
    split = arguments.pop("validation_split", 0.0)
    validation = arguments.get("validation_data")
    if split and validation is None:
        (x, y, sample_weight), validation = _split((x, y, sample_weight), split)
    arguments["x"] = _dataset(
        preprocess, x, y, sample_weight, batch_size, shuffle=arguments.get("shuffle", True)
    )
    # Shuffled above, before batching; Keras cannot shuffle a dataset.
    arguments["shuffle"] = False
    if validation is not None:
        vx, vy, vw = _unpack(validation)
        if has_text(vx):
            validation = _dataset(
                preprocess, vx, vy, vw,
                arguments.pop("validation_batch_size", None) or batch_size, shuffle=False,
            )
        arguments["validation_data"] = validation
    return (), arguments


def evaluate_arguments(student, args, kwargs):
    """`evaluate`'s arguments with text replaced by the student's preprocessed batches."""
    arguments = _bind(_EVALUATE_PARAMETERS, args, kwargs)
    if not has_text(arguments.get("x")):
        return args, kwargs
    arguments["x"] = _dataset(
        _preprocess_samples(student),
        arguments["x"],
        arguments.pop("y", None),
        arguments.pop("sample_weight", None),
        arguments.pop("batch_size", None),
        shuffle=False,
    )
    return (), arguments


def bind_fit_arguments(args, kwargs):
    """`fit`'s positional and keyword arguments as one dict, by parameter name."""
    return _bind(_FIT_PARAMETERS, args, kwargs)


def _bind(parameters, args, kwargs):
    names = [
        name for name, parameter in parameters.items()
        if name != "self" and parameter.kind is parameter.POSITIONAL_OR_KEYWORD
    ]
    if len(args) > len(names):
        raise TypeError(f"Too many positional arguments: {len(args)}.")
    arguments = dict(zip(names, args))
    arguments.update(kwargs)
    return arguments


def _preprocess_samples(student):
    if getattr(student, "preprocessor", None) is None:
        raise ValueError(
            "`x` holds text, but the student has no preprocessor to tokenize it: "
            "give the student a keras-hub preprocessor (e.g. `GPT2CausalLM(backbone, "
            "preprocessor=GPT2CausalLMPreprocessor(tokenizer))`), or pass token ids "
            "`x = {'token_ids': ..., 'padding_mask': ...}` with `y` and `sample_weight`."
        )
    return student.preprocess_samples


def _dataset(preprocess, x, y, sample_weight, batch_size, shuffle):
    import tensorflow as tf

    if isinstance(x, tf.data.Dataset):
        if y is not None or sample_weight is not None or batch_size is not None:
            raise ValueError(
                "When `x` is a tf.data.Dataset of text, it already holds the labels and "
                "its batches: pass neither `y`, `sample_weight` nor `batch_size`."
            )
        dataset = x
    else:
        data = keras.utils.pack_x_y_sample_weight(_as_array(x), y, sample_weight)
        dataset = tf.data.Dataset.from_tensor_slices(data)
        if shuffle:
            dataset = dataset.shuffle(len(_as_array(x)), reshuffle_each_iteration=True)
        dataset = dataset.batch(batch_size or _DEFAULT_BATCH_SIZE)
    return dataset.map(preprocess, num_parallel_calls=tf.data.AUTOTUNE).prefetch(
        tf.data.AUTOTUNE
    )


def _as_array(x):
    """Lists of strings as NumPy arrays, so `from_tensor_slices` slices them per sample."""
    return np.asarray(x) if isinstance(x, (list, str)) else x


def _unpack(validation):
    # A list of strings is one `x`, not the `(x, y, sample_weight)` tuple Keras
    # would read it as.
    if isinstance(validation, tuple):
        return keras.utils.unpack_x_y_sample_weight(validation)
    return validation, None, None


def _split(arrays, validation_split):
    """`(train, validation)`: the last `validation_split` of the samples validate, as in Keras."""
    x = _as_array(arrays[0])
    count = len(x)
    at = int(np.floor(count * (1.0 - validation_split)))
    if at in (0, count):
        raise ValueError(
            f"`validation_split={validation_split}` leaves no training or no validation "
            f"samples out of {count}."
        )
    arrays = (x,) + tuple(arrays[1:])
    head = tuple(None if a is None else keras.tree.map_structure(lambda t: t[:at], a) for a in arrays)
    tail = tuple(None if a is None else keras.tree.map_structure(lambda t: t[at:], a) for a in arrays)
    return head, tail


def _tensorflow():
    # keras-hub's preprocessors run in tf.data (TensorFlow Text), on every
    # backend; data cannot be a tf.data.Dataset before TensorFlow is imported,
    # so a JAX or torch run without text never imports it here.
    return sys.modules.get("tensorflow")

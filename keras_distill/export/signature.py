"""What an exported student takes as input, and the serving function around it.

Every exporter serves the same function: one named, flat positional tensor
per model input (batch dimension dynamic), calling the model
with `training=False`. Keeping the inputs flat gives SavedModel, TFLite and
ONNX the same input names and order, so verification can feed all three the
same arrays.
"""

import collections
import inspect
import re

import keras

# One model input: a leaf of the input structure.
_Input = collections.namedtuple("_Input", ["shape", "dtype", "name"])


def resolve_model(model):
    """Returns the `keras.Model` to export: a `Distiller`'s student, or `model`.

    The teacher of a `Distiller` is never traced, so it cannot reach the artifact.
    """
    from keras_distill.distiller import Distiller

    if isinstance(model, Distiller):
        return model.student
    if not isinstance(model, keras.Model):
        raise TypeError(
            "`model` must be a `keras_distill.Distiller` or a `keras.Model`. "
            f"Received: model={model!r} of type {type(model).__name__}."
        )
    return model


def require_backend(format, backends, route=""):
    """Raises `ExportConversionError` when `format` has no route from the current backend.

    Args:
        format: The export format, for the message.
        backends: The Keras backends that convert to `format`.
        route: Why the other backends cannot, for the message.
    """
    from keras_distill.core.errors import ExportConversionError

    backend = keras.backend.backend()
    if backend in backends:
        return
    raise ExportConversionError(
        f"{format} export needs the {' or '.join(backends)} backend; the current backend is "
        f"{backend!r}{route}. A .keras file loads on any backend: save the student "
        f"(`student.save('student.keras')`) and run `KERAS_BACKEND={backends[0]} "
        f"keras-distill export student.keras --format {format} --out ...`."
    )


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(
        isinstance(d, int) or d is None for d in value
    )


def input_structure(model):
    """The model's input structure, with `_Input(shape, dtype, name)` leaves.

    Functional and Sequential models describe their inputs; subclassed models
    are described by the shapes of their first call.
    """
    inputs = getattr(model, "inputs", None)
    if inputs:
        # A Sequential model has one input; `Functional.input` keeps the
        # list/dict nesting the model was built with.
        structure = inputs[0] if isinstance(model, keras.Sequential) else model.input
        return keras.tree.map_structure(
            lambda t: _Input(tuple(t.shape), t.dtype, t.name), structure
        )
    shapes = getattr(model, "_build_shapes_dict", None)
    if not model.built or not shapes:
        raise ValueError(
            f"`model` {model.name!r} has never been called, so its input shapes are "
            "unknown; call it once on a batch before exporting."
        )

    def describe(value):
        if _is_shape(value):
            return _Input(tuple(value), model.input_dtype, None)
        if isinstance(value, dict):
            return {k: describe(v) for k, v in value.items()}
        return [describe(v) for v in value]

    required = [
        p.name
        for p in inspect.signature(model.call).parameters.values()
        if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(required) > 1:
        raise ValueError(
            f"`model` {model.name!r} takes several tensor arguments in `call` "
            f"({', '.join(required)}); exporters pass one argument (a tensor, list or "
            "dict). Wrap it in a model whose `call` takes one."
        )
    return describe(next(iter(shapes.values())))


def _leaves(structure):
    if isinstance(structure, _Input):
        return [structure]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _leaves(structure[key])]
    return [leaf for item in structure for leaf in _leaves(item)]


def _pack(structure, flat):
    """Rebuilds `structure` with the tensors of `flat`, in `_leaves` order."""
    flat = iter(flat)

    def fill(node):
        if isinstance(node, _Input):
            return next(flat)
        if isinstance(node, dict):
            filled = {key: fill(node[key]) for key in sorted(node)}
            return {key: filled[key] for key in node}
        return [fill(item) for item in node]

    return fill(structure)


# Names Keras gives an unnamed `keras.Input` ("keras_tensor_3"): they change
# with the number of tensors created before, so they make poor input names.
_GENERATED_NAME = re.compile(r"keras_tensor(_\d+)?")


def _input_names(leaves):
    """Each input's own name when the user gave one, else `input_<position>`."""
    names = []
    for i, (_, _, name) in enumerate(leaves):
        valid = name and re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name)
        readable = valid and not _GENERATED_NAME.fullmatch(name)
        names.append(name if readable and name not in names else f"input_{i}")
    return names


def input_specs(model):
    """One spec per model input, named, with a dynamic batch dimension.

    On TensorFlow, `tf.TensorSpec`s (the converters trace with them);
    elsewhere `keras.InputSpec`-like `_Input(shape, dtype, name)` tuples, so
    that exports from JAX and PyTorch never import TensorFlow.
    """
    leaves = _leaves(input_structure(model))
    specs = [
        _Input((None,) + tuple(shape[1:]), dtype, name)
        for (shape, dtype, _), name in zip(leaves, _input_names(leaves))
    ]
    if keras.backend.backend() != "tensorflow":
        return specs
    import tensorflow as tf

    return [tf.TensorSpec(s.shape, s.dtype, name=s.name) for s in specs]


def numpy_dtype(spec):
    """The numpy dtype of a `tf.TensorSpec` or an `_Input`."""
    import numpy as np

    return np.dtype(getattr(spec.dtype, "as_numpy_dtype", spec.dtype))


def keras_signature(model, specs, batch_size=None):
    """`specs` as the `input_signature` Keras's own exporters take.

    One `keras.InputSpec`-shaped `KerasTensor` per input, named like `specs`,
    nested like the model's inputs and wrapped as the single argument of
    `call`.
    """
    tensors = [
        keras.KerasTensor((batch_size,) + tuple(s.shape[1:]), str(numpy_dtype(s)), name=s.name)
        for s in specs
    ]
    return [_pack(input_structure(model), tensors)]


def pack_inputs(model, flat_inputs):
    """Rebuilds the model's input structure from flat inputs in spec order."""
    return _pack(input_structure(model), flat_inputs)


def serving_function(model, specs):
    """A `tf.function` taking the flat inputs of `specs` and calling `model`."""
    import tensorflow as tf

    def serve(*flat_inputs):
        return model(pack_inputs(model, flat_inputs), training=False)

    return tf.function(serve, input_signature=specs, autograph=False)


def frozen_graph(model, specs):
    """The serving function as a GraphDef with every captured value frozen to a constant.

    Variables and captured tensors (such as an adapted `Normalization`
    layer's mean and variance, which Keras keeps as tensors, not variables)
    become constants, so converters see only the model's own inputs.

    Returns:
        `(graph_def, input_names, output_names)`.
    """
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    concrete = serving_function(model, specs).get_concrete_function()
    # As tf2onnx freezes functions itself: control flow (RNN loops) kept as
    # functional While ops, which converters map to loops.
    frozen = convert_variables_to_constants_v2(
        concrete, lower_control_flow=False, aggressive_inlining=True
    )
    return (
        frozen.graph.as_graph_def(),
        [t.name for t in frozen.inputs],
        [t.name for t in frozen.outputs],
    )


def _flatten_like(structure, data, argument):
    if isinstance(structure, _Input):
        return [data]
    if isinstance(structure, dict):
        if not isinstance(data, dict) or set(data) != set(structure):
            raise ValueError(
                f"`{argument}` must be a dict with keys {sorted(structure)}, like the "
                f"model inputs. Received: {type(data).__name__}."
            )
        return [
            a for k in sorted(structure) for a in _flatten_like(structure[k], data[k], argument)
        ]
    if not isinstance(data, (list, tuple)) or len(data) != len(structure):
        raise ValueError(
            f"`{argument}` must be a list of {len(structure)} items, one per model "
            f"input. Received: {type(data).__name__}."
        )
    return [a for s, d in zip(structure, data) for a in _flatten_like(s, d, argument)]


def flatten_inputs(model, data, argument):
    """The arrays of `data` (structured like the model inputs) as a flat list.

    Args:
        model: The model whose input structure `data` follows.
        data: An array, or a list/dict of arrays for multi-input models.
        argument: The argument name to put in error messages.

    Returns:
        A list of numpy arrays in the order of `input_specs(model)`.
    """
    import numpy as np

    structure = input_structure(model)
    # Accept what Keras accepts for one input: `x` and `[x]` alike.
    if isinstance(structure, _Input) and isinstance(data, (list, tuple)) and len(data) == 1:
        data = data[0]
    elif isinstance(structure, (list, tuple)) and len(structure) == 1 and hasattr(data, "shape"):
        data = [data]
    arrays = _flatten_like(structure, data, argument)
    return [np.asarray(a) for a in arrays]

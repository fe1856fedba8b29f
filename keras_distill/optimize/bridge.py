"""Rebuilding a Keras 3 student as a `tf_keras` model for tfmot, and back.

tfmot 0.8 wraps only `tf_keras` (Keras 2) layers. The bridge rebuilds a
Sequential or Functional Keras 3 student layer by layer from each layer's
config and copies its weights, so the `tf_keras` copy computes the same
function; after training, the weights travel back into a clone of the Keras 3
student. Only layer types with a known `tf_keras` twin are rebuilt: any other
layer is reported by name, and nothing is pruned or quantized partially.
"""

import inspect

import keras
import numpy as np

# Keras 3 layer types the bridge can rebuild; each has a `tf_keras` twin of the
# same name whose weights are stored in the same order.
BRIDGED_LAYERS = (
    "InputLayer",
    "Dense",
    "Conv2D",
    "DepthwiseConv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "GlobalAveragePooling2D",
    "GlobalMaxPooling2D",
    "ZeroPadding2D",
    "Flatten",
    "Reshape",
    "Dropout",
    "BatchNormalization",
    "Activation",
    "ReLU",
    "Softmax",
    "Add",
    "Concatenate",
)
# Keys every `tf_keras` layer takes besides its own `__init__` arguments.
_BASE_KEYS = ("name", "trainable", "dtype")
_CONVOLUTIONS = ("Conv2D", "DepthwiseConv2D")


def describe(layers):
    """`'name' (Type), ...` for an error message."""
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


def _check_model(student, purpose):
    if not isinstance(student, keras.Model):
        raise TypeError(
            f"`student` must be a Keras 3 `keras.Model`. Received: {student!r} of type "
            f"{type(student).__name__}."
        )
    if not isinstance(student, keras.Sequential) and type(student).__name__ != "Functional":
        raise ValueError(
            f"{purpose} rebuilds the student layer by layer, so `student` must be a "
            "Sequential or Functional model. Received a subclassed "
            f"{type(student).__name__}."
        )
    if not student.inputs:
        raise ValueError(f"{purpose} needs a built `student` with known inputs.")
    if len(student.outputs) != 1:
        raise ValueError(
            f"{purpose} distils one output against the teacher's logits; `student` "
            f"{student.name!r} has {len(student.outputs)} outputs."
        )
    unsupported = [
        layer
        for layer in student.layers
        if type(layer).__name__ not in BRIDGED_LAYERS
        or type(layer).__module__.split(".")[0] != "keras"
    ]
    if unsupported:
        raise ValueError(
            f"{purpose} cannot handle these layers of `student` {student.name!r}: "
            f"{describe(unsupported)}. Supported layer types: {', '.join(BRIDGED_LAYERS)}."
        )


def _convert_object(tf_keras, key, value):
    """A serialized Keras 3 regularizer/constraint as its `tf_keras` twin."""
    module = tf_keras.regularizers if key.endswith("regularizer") else tf_keras.constraints
    try:
        return module.get({"class_name": value["class_name"], "config": value["config"]})
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(
            f"The student's `{key}` ({value.get('class_name')}) has no tf_keras "
            "equivalent; use a built-in one or remove it."
        ) from error


def _tf_keras_config(layer, tf_keras_class, tf_keras):
    # Subclasses forward `**kwargs` to their bases, whose arguments count too.
    accepted = set(_BASE_KEYS).union(
        *(
            inspect.signature(base.__init__).parameters
            for base in tf_keras_class.__mro__
            if "__init__" in vars(base)
        )
    )
    config = {}
    for key, value in layer.get_config().items():
        if key == "dtype":
            config[key] = keras.dtype_policies.get(value).name
        elif key.endswith("_initializer"):
            # The weights are copied, so initializers never run.
            continue
        elif isinstance(value, dict) and key.endswith(("_regularizer", "_constraint")):
            config[key] = _convert_object(tf_keras, key, value)
        elif key in accepted:
            config[key] = value
        elif value not in (None, False, 0):
            raise ValueError(
                f"Layer {layer.name!r} ({type(layer).__name__}) sets `{key}={value!r}`, "
                "which tf_keras layers do not support."
            )
    return config


def _rebuild_layer(layer, tf_keras):
    tf_keras_class = getattr(tf_keras.layers, type(layer).__name__)
    return tf_keras_class(**_tf_keras_config(layer, tf_keras_class, tf_keras))


def _input(tensor, name, tf_keras):
    return tf_keras.Input(
        shape=tuple(tensor.shape[1:]),
        dtype=tensor.dtype,
        name=name,
    )


def to_tf_keras(student, tf_keras, purpose):
    """Returns a `tf_keras` functional model computing what `student` computes.

    Args:
        student: A Sequential or Functional Keras 3 model made of
            `BRIDGED_LAYERS`.
        tf_keras: The `tf_keras` module.
        purpose: What needs the copy, for error messages.

    Returns:
        The `tf_keras.Model`; its layers have the names of the student's.

    Raises:
        ValueError: Listing every layer the bridge cannot rebuild.
    """
    _check_model(student, purpose)
    # Keras tensor id -> the tf_keras tensor standing for it.
    tensors = {}
    inputs = []
    for index, tensor in enumerate(student.inputs):
        history = tensor._keras_history
        name = history.operation.name if history else f"input_{index}"
        inputs.append(_input(tensor, name, tf_keras))
        tensors[id(tensor)] = inputs[-1]
    layers = [layer for layer in student.layers if type(layer).__name__ != "InputLayer"]
    for layer in _topological(student, layers):
        rebuilt = _rebuild_layer(layer, tf_keras)
        for node in layer._inbound_nodes:
            arguments = node.arguments.args
            if not all(id(t) in tensors for t in node.input_tensors):
                continue
            mapped = keras.tree.map_structure(
                lambda t: tensors[id(t)] if isinstance(t, keras.KerasTensor) else t,
                arguments[0] if len(arguments) == 1 else list(arguments),
            )
            output = rebuilt(mapped)
            for source, target in zip(node.output_tensors, keras.tree.flatten(output)):
                tensors[id(source)] = target
        rebuilt.set_weights(layer.get_weights())
    outputs = [tensors[id(t)] for t in student.outputs]
    return tf_keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        outputs[0] if len(outputs) == 1 else outputs,
        name=student.name,
    )


def _topological(student, layers):
    if isinstance(student, keras.Sequential):
        return layers
    order = {id(op): i for i, op in enumerate(student._operations)}
    return sorted(layers, key=lambda layer: order[id(layer)])


def batch_norm_after_convolution(student):
    """Names of `BatchNormalization` layers fed only by a convolution (tfmot folds these)."""
    names = set()
    for layer in student.layers:
        if type(layer).__name__ != "BatchNormalization":
            continue
        sources = [
            t._keras_history.operation
            for node in layer._inbound_nodes
            for t in node.input_tensors
        ]
        if sources and all(type(s).__name__ in _CONVOLUTIONS for s in sources):
            names.add(layer.name)
    return names


def to_keras(tf_keras_model, student):
    """A clone of `student` holding the weights of its `tf_keras` copy.

    Args:
        tf_keras_model: What `to_tf_keras` returned (after training and
            stripping tfmot's wrappers), with the student's layer names.
        student: The Keras 3 model it was rebuilt from.

    Returns:
        A new Keras 3 model; `student` itself is left unchanged.
    """
    # `from_config` keeps every layer name, inputs included (`clone_model`
    # renames the inputs of a Sequential model, which would rename the
    # inputs of its exports).
    clone = type(student).from_config(student.get_config())
    for layer in clone.layers:
        if not layer.weights:
            continue
        weights = tf_keras_model.get_layer(layer.name).get_weights()
        layer.set_weights([np.asarray(w) for w in weights])
    return clone

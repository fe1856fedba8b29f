"""Recovering logits from models whose last layer applies softmax or sigmoid.

Temperature-scaled distillation needs logits. Many teachers end in a softmax
(or sigmoid) layer. Where the graph allows it the logits are recovered exactly
(the input of a final `Softmax`/`Activation` layer, or the pre-activation of a
final `Dense`); otherwise they are computed from probabilities clipped away
from 0 and 1, so the result is always finite.
"""

import numpy as np
from keras import layers
from keras import ops

OUTPUT_ACTIVATIONS = ("auto", None, "linear", "softmax", "sigmoid")
# Smallest normal float32: log() of it is -87.3, finite.
_SOFTMAX_FLOOR = float(np.finfo(np.float32).tiny)
# 1 - 1e-7 is still distinguishable from 1 in float32.
_SIGMOID_EPS = 1e-7


def _activation_name(fn):
    # Keras's activations are functions named after themselves. Not
    # `keras.activations.serialize`: Keras's serialization imports TensorFlow,
    # which JAX and torch need not load.
    return getattr(fn, "__name__", None)


def output_layer(model):
    """Returns the layer producing a single-output model's output, or `None`."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    history = getattr(outputs[0], "_keras_history", None)
    layer = getattr(history, "operation", None)
    if layer is None and getattr(model, "layers", None):
        layer = model.layers[-1]
    if layer is not None and getattr(layer, "outputs", None) and layer is not model:
        inner = output_layer(layer)
        if inner is not None:
            return inner
    return layer


def detect_output_activation(model):
    """Returns `"softmax"`, `"sigmoid"` or `None` for the model's final activation.

    A model class may declare it with a `distillation_output_activation`
    attribute (`None` for logits), as `keras_distill.TeacherEnsemble` does.
    """
    if hasattr(type(model), "distillation_output_activation"):
        return type(model).distillation_output_activation
    layer = output_layer(model)
    if layer is None:
        return None
    if isinstance(layer, layers.Softmax):
        return "softmax"
    name = _activation_name(getattr(layer, "activation", None))
    if name in ("softmax", "sigmoid"):
        return name
    return None


def resolve_output_activation(model, activation, argument):
    """Validates a `*_activation` argument and resolves `"auto"` by inspection."""
    if activation not in OUTPUT_ACTIVATIONS:
        raise ValueError(
            f"`{argument}` must be one of {OUTPUT_ACTIVATIONS}. Received: {argument}={activation!r}"
        )
    if activation == "auto":
        return detect_output_activation(model)
    return None if activation == "linear" else activation


def probabilities_to_logits(outputs, activation):
    """Finite logits from probabilities (exact up to a per-sample shift for softmax)."""
    outputs = ops.cast(outputs, "float32")
    if activation == "softmax":
        return ops.log(ops.clip(outputs, _SOFTMAX_FLOOR, 1.0))
    if activation == "sigmoid":
        p = ops.clip(outputs, _SIGMOID_EPS, 1.0 - _SIGMOID_EPS)
        return ops.log(p) - ops.log1p(-p)
    return outputs


class TeacherLogits:
    """Computes a frozen teacher's logits in inference mode.

    Deliberately not a `keras.Layer`: it holds a view of the teacher's own
    layers, so nothing of it is tracked, saved or exported twice.
    """

    def __init__(self, teacher, activation):
        self.teacher = teacher
        self.activation = activation
        self.mode = "outputs"
        self.body = None
        if activation is None:
            return
        layer = output_layer(teacher)
        try:
            if isinstance(layer, (layers.Softmax, layers.Activation)):
                self.body = _submodel(teacher, layer.input)
                self.mode = "pre_activation"
            elif type(layer) is layers.Dense and not getattr(layer, "quantization_mode", None):
                self.body = _submodel(teacher, layer.input)
                self.dense = layer
                self.mode = "dense"
        except (AttributeError, ValueError, TypeError):
            self.body = None
        if self.body is None:
            self.mode = "clipped_probabilities"

    def __call__(self, x):
        if self.mode == "pre_activation":
            logits = self.body(x, training=False)
        elif self.mode == "dense":
            features = self.body(x, training=False)
            kernel = ops.cast(self.dense.kernel, features.dtype)
            logits = ops.matmul(features, kernel)
            if self.dense.use_bias:
                logits = logits + ops.cast(self.dense.bias, logits.dtype)
        else:
            outputs = self.teacher(x, training=False)
            logits = probabilities_to_logits(outputs, self.activation)
        return ops.stop_gradient(ops.cast(logits, "float32"))


def _submodel(model, output):
    from keras import Model

    inputs = model.inputs
    if inputs is None:
        raise ValueError("model has no symbolic inputs")
    inputs = inputs[0] if len(inputs) == 1 else inputs
    return Model(inputs, output)

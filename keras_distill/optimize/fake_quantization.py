"""Keras-native weight quantization, and its simulation for training (fake quantization).

`model.quantize("int8" | "int4")` replaces the float kernels of `Dense` and
`EinsumDense` layers with integer ones; those are not trainable. Quantization-
aware training therefore runs the float model with each kernel passed through
the same quantize-dequantize round trip `quantize` applies (per-output-channel
abs-max for int8 and per-channel int4, per-group min/max with a zero point for
grouped int4, and int8's per-row abs-max of the inputs), with a straight-
through gradient (`w + stop_gradient(q(w) - w)`). After training,
`quantize_weights` quantizes the same layers natively, so the deployed integer
kernels are the grid points the student trained on.
"""

import contextlib
import math
import numbers

import keras
from keras import ops

from keras_distill.core import layer_calls

MODES = ("int8", "int4", "float8")
# Modes whose integer kernels are simulated during training; float8 layers
# train natively (Keras's delayed-scaling float8 training).
FAKE_QUANT_MODES = ("int8", "int4")
DEFAULT_BLOCK_SIZE = 128
INT8_RANGE = (-127, 127)
INT4_RANGE = (-8, 7)


def check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}. Received: mode={mode!r}.")


def check_block_size(block_size):
    if block_size is None or block_size == -1:
        return None
    if isinstance(block_size, bool) or not isinstance(block_size, numbers.Integral) or block_size < 1:
        raise ValueError(
            "`block_size` must be a positive integer (int4 groups of that many input "
            f"rows), or None or -1 (one scale per output channel). Received: "
            f"block_size={block_size!r}."
        )
    return int(block_size)


def quantization_config(mode, block_size=DEFAULT_BLOCK_SIZE):
    """The `keras.quantizers` config that `quantize_weights` passes to `model.quantize`."""
    check_mode(mode)
    if mode == "int8":
        return keras.quantizers.Int8QuantizationConfig()
    if mode == "int4":
        block_size = check_block_size(block_size)
        return keras.quantizers.Int4QuantizationConfig(block_size=block_size or -1)
    return keras.quantizers.Float8QuantizationConfig()


def _matches(layer, filters):
    if filters is None:
        return True
    if isinstance(filters, str):
        filters = [filters]
    if isinstance(filters, (list, tuple)):
        import re

        return any(re.search(pattern, layer.name) for pattern in filters)
    if callable(filters):
        return bool(filters(layer))
    raise ValueError(
        "`filters` must be None, a regex string, a list of regex strings or a callable "
        f"taking a layer. Received: {type(filters).__name__}."
    )


def _elided(layer):
    # Keras 3.15 cannot quantize an EinsumDense whose equation elides axes
    # ("...b,bc->...c"): `EinsumDense.quantize` fails while parsing it. Such
    # layers stay float.
    return isinstance(layer, keras.layers.EinsumDense) and "..." in layer.equation


def quantizable_layers(model, filters=None):
    """The `Dense` and `EinsumDense` layers of `model` that `filters` selects.

    Raises:
        ValueError: If a selected layer is already quantized or has LoRA on.
    """
    kinds = (keras.layers.Dense, keras.layers.EinsumDense)
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if type(layer) in kinds and _matches(layer, filters) and not _elided(layer)
    ]
    if not layers:
        raise ValueError(
            f"`{model.name}` has no Dense or EinsumDense layer that `filters` selects; "
            "nothing would be quantized."
        )
    bad = [
        f"{layer.name} ("
        + (f"quantized: {layer.quantization_mode}" if layer.quantization_mode else "LoRA enabled")
        + ")"
        for layer in layers
        if layer.quantization_mode is not None or layer.lora_enabled
    ]
    if bad:
        raise ValueError(
            "Quantization-aware distillation starts from a float student without LoRA; "
            f"these layers of `{model.name}` are not: {', '.join(bad)}."
        )
    return layers


def quantize_weights(model, mode="int4", block_size=DEFAULT_BLOCK_SIZE, filters=None):
    """Quantizes `model`'s `Dense` and `EinsumDense` kernels in place, natively.

    Post-training quantization with exactly the layers and scheme that
    `quantize_and_distill` trains for: `model.quantize(mode, config=...)`
    restricted to the selected `Dense`/`EinsumDense` layers (embeddings,
    convolutions and the rest stay float).

    Args:
        model: A built Keras model with float kernels.
        mode: `"int8"`, `"int4"` or `"float8"`. Defaults to `"int4"`.
        block_size: int4 only: input rows per scale (grouped, asymmetric), or
            `None`/`-1` for one scale per output channel. Defaults to `128`,
            Keras's own default.
        filters: Which layers: a regex on layer names, a list of them, or a
            callable `layer -> bool`, as in `keras.Model.quantize`. Defaults
            to `None` (every `Dense` and `EinsumDense`).

    Returns:
        The names of the quantized layers.

    Example:

    ```python
    ptq = keras.models.clone_model(student)
    ptq.set_weights(student.get_weights())
    keras_distill.optimize.quantize_weights(ptq, "int4")
    ```
    """
    config = quantization_config(mode, block_size)
    layers = quantizable_layers(model, filters)
    selected = {id(layer) for layer in layers}
    model.quantize(config=config, filters=lambda layer: id(layer) in selected)
    return [layer.name for layer in layers]


def _straight_through(x, quantized):
    return ops.add(x, ops.stop_gradient(ops.subtract(quantized, x)))


def _abs_max_round_trip(x, axis, value_range):
    q, scale = keras.quantizers.abs_max_quantize(x, axis, value_range, "float32", keras.config.epsilon())
    return ops.divide(q, scale)


def _grouped_round_trip(flat, block_size):
    """int4 per-group min/max with a zero point, as `abs_max_quantize_grouped_with_zero_point`."""
    rows, columns = flat.shape
    groups = math.ceil(rows / block_size)
    padding = groups * block_size - rows
    if padding:
        flat = ops.concatenate([flat, ops.zeros((padding, columns), flat.dtype)], axis=0)
    blocks = ops.reshape(flat, (groups, block_size, columns))
    low, high = INT4_RANGE
    minimum = ops.min(blocks, axis=1, keepdims=True)
    scale = ops.divide(
        ops.subtract(ops.max(blocks, axis=1, keepdims=True), minimum) + keras.config.epsilon(), high - low
    )
    zero = ops.clip(ops.round(ops.divide(ops.negative(minimum), scale)) + low, low, high)
    q = ops.clip(ops.add(ops.round(ops.divide(blocks, scale)), zero), low, high)
    dequantized = ops.multiply(ops.subtract(q, zero), scale)
    return ops.reshape(dequantized, (groups * block_size, columns))[:rows]


def _axes(layer):
    """(input axes, kernel axes) that the layer's contraction reduces."""
    if isinstance(layer, keras.layers.EinsumDense):
        inputs, rest = layer.equation.split(",")
        kernel, outputs = rest.split("->")
        reduced = set(inputs + kernel) - set(outputs)
        return (
            tuple(i for i, c in enumerate(inputs) if c in reduced),
            tuple(i for i, c in enumerate(kernel) if c in reduced),
        )
    return (-1,), (0,)


def fake_quantized_kernel(layer, mode, block_size=DEFAULT_BLOCK_SIZE):
    """`layer.kernel` after `layer.quantize(mode)`'s round trip, with a straight-through gradient."""
    kernel = ops.convert_to_tensor(layer.kernel)
    _, kernel_axes = _axes(layer)
    if mode == "int8":
        return _straight_through(kernel, _abs_max_round_trip(kernel, kernel_axes, INT8_RANGE))
    shape = tuple(kernel.shape)
    rows = math.prod(shape[i] for i in kernel_axes)
    flat = ops.reshape(kernel, (rows, math.prod(shape) // rows))
    block_size = check_block_size(block_size)
    if block_size is None:
        flat = _abs_max_round_trip(flat, 0, INT4_RANGE)
    else:
        flat = _grouped_round_trip(flat, block_size)
    return _straight_through(kernel, ops.reshape(flat, shape))


def _fake_quantized_call(layer, mode, block_size):
    input_axes, _ = _axes(layer)

    def call(inputs, training=None):
        if mode == "int8":  # int8 also quantizes each input row (abs-max), as Keras does
            inputs = _straight_through(inputs, _abs_max_round_trip(inputs, input_axes, INT8_RANGE))
        kernel = fake_quantized_kernel(layer, mode, block_size)
        if isinstance(layer, keras.layers.EinsumDense):
            x = ops.einsum(layer.equation, inputs, kernel)
        else:
            x = ops.matmul(inputs, kernel)
        if layer.bias is not None:
            x = ops.add(x, layer.bias)
        if layer.activation is not None:
            x = layer.activation(x)
        return x

    return call


@contextlib.contextmanager
def fake_quantization(model, mode="int4", block_size=DEFAULT_BLOCK_SIZE, filters=None):
    """Runs `model`'s selected layers with fake-quantized kernels inside the block.

    The layers' float kernels stay trainable variables; on exit every layer
    runs its own `call` again. Models compiled inside the block keep the
    simulated quantization in their traced functions, so reset
    `train_function` and friends after leaving it.

    Args:
        model: A built Keras model with float kernels.
        mode: `"int8"` or `"int4"`. Defaults to `"int4"`.
        block_size: int4 group size, as in `quantize_weights`. Defaults to `128`.
        filters: Layer selection, as in `quantize_weights`. Defaults to `None`.

    Yields:
        The list of fake-quantized layers.
    """
    if mode not in FAKE_QUANT_MODES:
        raise ValueError(
            f"`mode` must be one of {FAKE_QUANT_MODES} for fake quantization. Received: mode={mode!r}."
        )
    check_block_size(block_size)
    layers = quantizable_layers(model, filters)
    with layer_calls.replaced_calls(
        (layer, _fake_quantized_call(layer, mode, block_size)) for layer in layers
    ):
        yield layers

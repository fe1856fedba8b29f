"""Keras-native weight quantization, and its simulation for training (fake quantization).

`model.quantize("int8" | "int4")` replaces the float kernels of `Dense` and
`EinsumDense` layers (and the tables of `Embedding` and `ReversibleEmbedding`
layers) with integer ones; those are not trainable. Quantization-
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


def _embedding_kind(layer):
    """Whether `layer` quantizes and runs as Keras's own `Embedding`/`ReversibleEmbedding`.

    keras-hub's `ReversibleEmbedding` subclasses Keras's without changing how
    it runs or quantizes, so it counts; a subclass that overrides either
    does not (Keras itself refuses to quantize those).
    """
    for base in (keras.layers.ReversibleEmbedding, keras.layers.Embedding):
        if isinstance(layer, base):
            kind = type(layer)
            return all(
                getattr(kind, name) is getattr(base, name)
                for name in ("call", "quantize", "quantized_call", "_int8_call", "_int4_call")
            )
    return False


def _kinds_text(embeddings):
    return "Dense, EinsumDense or Embedding" if embeddings else "Dense or EinsumDense"


def quantizable_layers(model, filters=None, embeddings=False):
    """The `Dense` and `EinsumDense` layers of `model` that `filters` selects,
    and, with `embeddings=True`, its `Embedding` and `ReversibleEmbedding` layers.

    Raises:
        ValueError: If no layer is selected, or a selected layer is already
            quantized or has LoRA on.
    """
    kinds = (keras.layers.Dense, keras.layers.EinsumDense)
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if (type(layer) in kinds and not _elided(layer) or embeddings and _embedding_kind(layer))
        and _matches(layer, filters)
    ]
    if not layers:
        raise ValueError(
            f"`{model.name}` has no {_kinds_text(embeddings)} layer that `filters` selects; "
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


def check_embeddings(embeddings, mode):
    """Raises unless `embeddings` is a bool that `mode` supports."""
    if not isinstance(embeddings, bool):
        raise ValueError(f"`embeddings` must be True or False. Received: embeddings={embeddings!r}.")
    if embeddings and mode not in FAKE_QUANT_MODES:
        raise ValueError(
            f"`embeddings=True` needs `mode` in {FAKE_QUANT_MODES}: Keras quantizes "
            f"embedding tables to int8 or int4 only. Received: mode={mode!r}."
        )


def quantize_weights(model, mode="int4", block_size=DEFAULT_BLOCK_SIZE, filters=None, embeddings=False):
    """Quantizes `model`'s `Dense` and `EinsumDense` kernels in place, natively.

    Post-training quantization with exactly the layers and scheme that
    `quantize_and_distill` trains for: `model.quantize(mode, config=...)`
    restricted to the selected `Dense`/`EinsumDense` layers, and with
    `embeddings=True` the `Embedding`/`ReversibleEmbedding` tables too
    (convolutions and the rest stay float).

    Args:
        model: A built Keras model with float kernels.
        mode: `"int8"`, `"int4"` or `"float8"`. Defaults to `"int4"`.
        block_size: int4 only: input rows per scale (grouped, asymmetric), or
            `None`/`-1` for one scale per output channel. Defaults to `128`,
            Keras's own default.
        filters: Which layers: a regex on layer names, a list of them, or a
            callable `layer -> bool`, as in `keras.Model.quantize`. Defaults
            to `None` (every selectable layer).
        embeddings: Whether embedding tables are quantized too (int8: one
            scale per row; int4: per row, or groups of `block_size` of a
            row's entries with a zero point). A `ReversibleEmbedding` with
            tied weights projects to logits through the same integer table.
            Defaults to `False`.

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
    check_embeddings(embeddings, mode)
    layers = quantizable_layers(model, filters, embeddings)
    selected = {id(layer) for layer in layers}
    # The selection admits only layers that run as Keras's own classes
    # (keras-hub's `ReversibleEmbedding` subclass included).
    model.quantize(config=config, filters=lambda layer: id(layer) in selected, type_check=False)
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


def _table_round_trip(table, mode, block_size, axis):
    """An embedding table (`axis`: the axis of one token's entries) after Keras's round trip."""
    if mode == "int8":
        return _abs_max_round_trip(table, axis, INT8_RANGE)
    if block_size is None:
        return _abs_max_round_trip(table, axis, INT4_RANGE)
    if axis == 0:
        return _grouped_round_trip(table, block_size)
    return ops.transpose(_grouped_round_trip(ops.transpose(table), block_size))


def _fake_embedding_call(layer, mode, block_size):
    """`call` of an `Embedding`/`ReversibleEmbedding` on its fake-quantized table(s)."""
    block_size = check_block_size(block_size)

    def table():
        embeddings = ops.convert_to_tensor(layer.embeddings)
        return _straight_through(embeddings, _table_round_trip(embeddings, mode, block_size, -1))

    def lookup(inputs):
        if inputs.dtype not in ("int32", "int64"):
            inputs = ops.cast(inputs, "int32")
        return ops.cast(ops.take(table(), inputs, axis=0), layer.compute_dtype)

    if not isinstance(layer, keras.layers.ReversibleEmbedding):
        return lookup

    def call(inputs, reverse=False):
        if not reverse:
            return lookup(inputs)
        if layer.tie_weights:
            kernel = ops.transpose(table())
        else:
            kernel = ops.convert_to_tensor(layer.reverse_embeddings)
            kernel = _straight_through(kernel, _table_round_trip(kernel, mode, block_size, 0))
        if mode == "int8":  # Keras's int8 projection also rounds each input row
            inputs = _straight_through(inputs, _abs_max_round_trip(inputs, -1, INT8_RANGE))
        if layer.reverse_dtype is not None:
            inputs, kernel = ops.cast(inputs, layer.reverse_dtype), ops.cast(kernel, layer.reverse_dtype)
        logits = ops.matmul(inputs, kernel)
        if layer.logit_soft_cap is not None:
            cap = layer.logit_soft_cap
            logits = ops.multiply(ops.tanh(ops.divide(logits, cap)), cap)
        return logits

    return call


def _fake_call(layer, mode, block_size):
    if isinstance(layer, keras.layers.Embedding):
        return _fake_embedding_call(layer, mode, block_size)
    return _fake_quantized_call(layer, mode, block_size)


@contextlib.contextmanager
def fake_quantization(model, mode="int4", block_size=DEFAULT_BLOCK_SIZE, filters=None, embeddings=False):
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
        embeddings: Whether embedding tables are fake-quantized too, as in
            `quantize_weights`. Defaults to `False`.

    Yields:
        The list of fake-quantized layers.
    """
    if mode not in FAKE_QUANT_MODES:
        raise ValueError(
            f"`mode` must be one of {FAKE_QUANT_MODES} for fake quantization. Received: mode={mode!r}."
        )
    check_block_size(block_size)
    check_embeddings(embeddings, mode)
    layers = quantizable_layers(model, filters, embeddings)
    with layer_calls.replaced_calls((layer, _fake_call(layer, mode, block_size)) for layer in layers):
        yield layers

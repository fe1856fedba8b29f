"""Small models, one per layer kind, for the export conversion matrix (tests and benchmarks)."""

import keras
import numpy as np

FORMATS = ("saved_model", "tflite", "onnx")
# (layer kind, format) pairs with no conversion: the converter lacks the op.
# Each must raise an ExportConversionError naming the layer.
NOT_CONVERTIBLE = {
    ("discretization", "onnx"): "discretization",
    ("category_encoding", "tflite"): "category_encoding",
    ("integer_lookup", "tflite"): "integer_lookup",
    ("integer_lookup", "onnx"): "integer_lookup",
}


def _head(h, units=3):
    return keras.layers.Dense(units, name="head")(h)


def build(kind, seed=0):
    """`(model, sample_inputs)` for a layer kind of `KINDS`."""
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    if kind == "normalization":
        x = rng.normal(3.0, 2.0, size=(256, 32, 3)).astype("float32")
        norm = keras.layers.Normalization(axis=-1, name="normalization")
        norm.adapt(x)
        inputs = keras.Input((32, 3))
        h = keras.layers.Conv1D(8, 3, activation="relu")(norm(inputs))
        return keras.Model(inputs, _head(keras.layers.GlobalAveragePooling1D()(h))), x
    if kind == "discretization":
        x = rng.normal(size=(256, 6)).astype("float32")
        layer = keras.layers.Discretization(num_bins=4, name="discretization")
        layer.adapt(x)
        inputs = keras.Input((6,))
        h = keras.layers.Lambda(lambda t: keras.ops.cast(t, "float32"))(layer(inputs))
        return keras.Model(inputs, _head(h)), x
    if kind == "category_encoding":
        x = rng.integers(0, 5, size=(256, 4)).astype("int32")
        inputs = keras.Input((4,), dtype="int32")
        h = keras.layers.CategoryEncoding(5, output_mode="count", name="category_encoding")(inputs)
        return keras.Model(inputs, _head(h)), x
    if kind == "rescaling":
        x = rng.uniform(0, 255, size=(256, 8, 8, 3)).astype("float32")
        inputs = keras.Input((8, 8, 3))
        h = keras.layers.Rescaling(1 / 255.0, offset=-0.5)(inputs)
        h = keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(h))
        return keras.Model(inputs, _head(h)), x
    if kind == "integer_lookup":
        x = rng.integers(0, 20, size=(256, 5)).astype("int64")
        lookup = keras.layers.IntegerLookup(vocabulary=list(range(0, 20, 2)), name="integer_lookup")
        inputs = keras.Input((5,), dtype="int64")
        h = keras.layers.Flatten()(keras.layers.Embedding(12, 4)(lookup(inputs)))
        return keras.Model(inputs, _head(h)), x
    if kind == "batch_norm":
        x = rng.normal(size=(256, 8, 8, 3)).astype("float32")
        inputs = keras.Input((8, 8, 3))
        bn = keras.layers.BatchNormalization()
        h = keras.layers.ReLU()(bn(keras.layers.Conv2D(4, 3)(inputs)))
        model = keras.Model(inputs, _head(keras.layers.GlobalAveragePooling2D()(h)))
        bn.moving_mean.assign(np.full(4, 0.3, "float32"))
        bn.moving_variance.assign(np.full(4, 2.0, "float32"))
        return model, x
    if kind == "layer_norm":
        x = rng.normal(size=(256, 12, 4)).astype("float32")
        inputs = keras.Input((12, 4))
        h = keras.layers.LayerNormalization()(keras.layers.Dense(8)(inputs))
        return keras.Model(inputs, _head(keras.layers.Flatten()(h))), x
    if kind == "embedding":
        x = rng.integers(0, 30, size=(256, 7)).astype("int32")
        inputs = keras.Input((7,), dtype="int32")
        h = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(30, 6)(inputs))
        return keras.Model(inputs, _head(h)), x
    if kind in ("gru", "lstm"):
        x = rng.normal(size=(256, 12, 4)).astype("float32")
        inputs = keras.Input((12, 4))
        layer = keras.layers.GRU(8) if kind == "gru" else keras.layers.LSTM(8)
        return keras.Model(inputs, _head(layer(inputs))), x
    if kind == "multi_head_attention":
        x = rng.normal(size=(256, 12, 4)).astype("float32")
        inputs = keras.Input((12, 4))
        h = keras.layers.MultiHeadAttention(2, 4)(inputs, inputs)
        return keras.Model(inputs, _head(keras.layers.GlobalAveragePooling1D()(h))), x
    if kind == "multi_input":
        a = rng.normal(size=(256, 8, 8, 1)).astype("float32")
        b = rng.normal(size=(256, 3)).astype("float32")
        image, extra = keras.Input((8, 8, 1), name="image"), keras.Input((3,), name="extra")
        h = keras.layers.Flatten()(keras.layers.Conv2D(2, 3)(image))
        return keras.Model([image, extra], _head(keras.layers.Concatenate()([h, extra]))), [a, b]
    raise ValueError(kind)


KINDS = (
    "normalization", "discretization", "category_encoding", "rescaling", "integer_lookup",
    "batch_norm", "layer_norm", "embedding", "gru", "lstm", "multi_head_attention", "multi_input",
)

"""int8 TFLite with float fallback: keep the layers whose quantization hurts most in float.

The TFLite quantization debugger measures, for every quantized tensor, the
error quantization adds relative to its quantization step
(`sqrt(mean squared error) / scale`). The layers with the worst tensors are
the candidates. A greedy search then keeps in float, one layer more per
round, the candidate that brings the outputs closest to Keras's (mean
squared error: smooth, unlike the agreement on a few hundred samples), until
the top-1 agreement reaches the target.

The search and the verification see different samples (`search_split`):
agreement measured on the samples a search tuned on overstates what the
artifact does on new data.
"""

import csv
import io
import os
import tempfile

import numpy as np

from keras_distill.export import conversion_errors
from keras_distill.export import converter as converter_lib
from keras_distill.export import runtimes
from keras_distill.export import sample_data
from keras_distill.export import saved_model

# The layers (worst quantization error first) the search may keep in float,
# and the most it keeps before giving up.
MAX_CANDIDATES = 6
MAX_FLOAT_LAYERS = 4


def search_split(samples):
    """`(search, held_out)`: every other verification sample for the search, the rest to verify.

    Not the calibration data: int8 ranges are fitted to it, so full int8
    agrees there (100% where new samples give 98.5%) and the search would
    stop at once.
    """
    return [a[0::2] for a in samples], [a[1::2] for a in samples]


def _debugger(directory, specs, calibration, denylisted=()):
    import tensorflow as tf

    converter = converter_lib.make_converter(
        directory, specs, "int8", calibration, allow_float_ops=True
    )
    options = tf.lite.experimental.QuantizationDebugOptions(denylisted_nodes=list(denylisted))
    # The debugger feeds its dataset positionally.
    dataset = lambda: (list(sample) for sample in sample_data.single_samples(calibration))  # noqa: E731
    with converter_lib.quiet_conversion():
        return tf.lite.experimental.QuantizationDebugger(
            converter=converter, debug_dataset=dataset, debug_options=options
        )


def rank_layers(model, directory, specs, calibration):
    """`[(layer, score, tensor names)]`, the layer whose quantization hurts most first."""
    debugger = _debugger(directory, specs, calibration)
    with converter_lib.quiet_conversion():
        debugger.run()
    buffer = io.StringIO()
    debugger.layer_statistics_dump(buffer)
    buffer.seek(0)
    names = conversion_errors.layer_names(model)
    layers = {}
    for row in csv.DictReader(buffer):
        scale = float(row["scale"] or 0.0)
        score = float(row["mean_squared_error"]) ** 0.5 / scale if scale else 0.0
        layer = None
        for part in row["tensor_name"].split(";"):
            layer = conversion_errors.layer_of(part, names)
            if layer:
                break
        entry = layers.setdefault(layer or row["tensor_name"], [0.0, []])
        entry[0] = max(entry[0], score)
        entry[1].append(row["tensor_name"])
    ranked = sorted(layers.items(), key=lambda item: -item[1][0])
    return [(layer, score, tensors) for layer, (score, tensors) in ranked]


def _evaluate(content, specs, samples, expected):
    """`(top-1 agreement, mean squared output error)` of a candidate against Keras."""
    with tempfile.TemporaryDirectory(prefix="keras_distill_fallback_") as directory:
        path = os.path.join(directory, "candidate.tflite")
        with open(path, "wb") as f:
            f.write(content)
        outputs = runtimes.tflite_runner(path, specs)(samples)
    rates = [
        float(np.mean(np.argmax(a, -1) == np.argmax(e, -1)))
        for a, e in zip(outputs, expected)
        if e.ndim >= 2 and e.shape[-1] > 1
    ]
    error = float(np.mean([np.mean((np.asarray(a) - np.asarray(e)) ** 2) for a, e in zip(outputs, expected)]))
    return (min(rates) if rates else 1.0), error


def convert_with_fallback(model, specs, calibration, samples, expected, min_agreement, fallback):
    """`(flatbuffer, float_layers, int8_size)` of an int8 model with some layers in float.

    Args:
        model: The Keras model.
        specs: Its input specs.
        calibration: Flat calibration arrays.
        samples: Flat verification inputs.
        expected: The Keras model's outputs on `samples`.
        min_agreement: Target top-1 agreement for `"auto"`.
        fallback: `"auto"` or a list of layer names to keep in float.
    """
    with tempfile.TemporaryDirectory(prefix="keras_distill_tflite_") as directory:
        saved_model.write_saved_model(model, specs, directory)
        ranked = rank_layers(model, directory, specs, calibration)
        by_name = {layer: tensors for layer, _, tensors in ranked}
        full = _convert(directory, specs, calibration, [])
        if fallback != "auto":
            unknown = [name for name in fallback if name not in by_name]
            if unknown:
                raise ValueError(
                    f"`fallback`: no quantized layer named {unknown}. Quantized layers: "
                    f"{sorted(n for n in by_name if n in conversion_errors.layer_names(model))}."
                )
            tensors = [t for name in fallback for t in by_name[name]]
            return _convert(directory, specs, calibration, tensors), list(fallback), len(full)
        if _evaluate(full, specs, samples, expected)[0] >= min_agreement:
            return full, [], len(full)
        layers = conversion_errors.layer_names(model)
        candidates = [layer for layer, _, _ in ranked if layer in layers][:MAX_CANDIDATES]
        kept, best = [], (full, 0.0)
        for _ in range(MAX_FLOAT_LAYERS):
            trials = []
            for layer in candidates:
                if layer in kept:
                    continue
                tensors = [t for name in kept + [layer] for t in by_name[name]]
                content = _convert(directory, specs, calibration, tensors)
                agreement, error = _evaluate(content, specs, samples, expected)
                trials.append((error, len(content), agreement, layer, content))
            if not trials:
                break
            _, _, agreement, layer, content = min(trials, key=lambda t: (t[0], t[1]))
            kept.append(layer)
            best = (content, agreement)
            if agreement >= min_agreement:
                break
        return best[0], kept, len(full)


def _convert(directory, specs, calibration, denylisted):
    debugger = _debugger(directory, specs, calibration, denylisted)
    with converter_lib.quiet_conversion():
        return debugger.get_nondebug_quantized_model()

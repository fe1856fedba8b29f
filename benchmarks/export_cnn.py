"""Size, fidelity and single-sample latency of every export of the matrix CNN.

Trains the coverage-matrix CNN (Conv + BatchNorm + Dropout + pooling, 8x8x1
inputs, 10 classes; `tests/export_models.py`) on scikit-learn's digits,
exports it to a SavedModel, TFLite (float32, float16, dynamic-range, int8,
int8 with int8 I/O) and ONNX with `keras_distill.export`, and compares each
artifact with Keras on the 397 held-out digits: max/mean abs diff of the
logits and top-1 agreement. Quantized exports are verified with
`min_agreement=0` so every row is measured; the "default tolerance" column
says whether the default tolerance would have accepted it.

Latency is the median of single-sample calls (batch 1) in each artifact's
own runtime, interleaved round-robin across runtimes so that load from
other processes falls on all of them alike.

Usage:
    python benchmarks/export_cnn.py [--calls 300] [--out benchmarks/results/export.md]
"""

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# The matrix models live with the tests; run from anywhere in the checkout.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import command_line  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from keras_distill.export import export  # noqa: E402
from keras_distill.export import runtimes  # noqa: E402
from keras_distill.export import signature  # noqa: E402
from keras_distill.export import verification  # noqa: E402
from tests import export_models  # noqa: E402

# (row name, format, file name, exporter options)
ROWS = (
    ("SavedModel", "saved_model", "cnn_saved_model", {}),
    ("TFLite float32", "tflite", "cnn_float32.tflite", {}),
    ("TFLite float16", "tflite", "cnn_float16.tflite", {"quantization": "float16"}),
    ("TFLite dynamic", "tflite", "cnn_dynamic.tflite", {"quantization": "dynamic"}),
    ("TFLite int8", "tflite", "cnn_int8.tflite", {"quantization": "int8"}),
    ("TFLite int8, int8 I/O", "tflite", "cnn_int8_io.tflite", {"quantization": "int8", "int8_io": True}),
    ("ONNX (opset 17)", "onnx", "cnn.onnx", {"opset": 17}),
)


def _export_all(model, x_train, x_test, directory):
    results = {}
    for name, format, file_name, options in ROWS:
        options = dict(options, sample_inputs=x_test)
        quantization = options.get("quantization")
        if quantization == "int8":
            options["representative_data"] = x_train
        if quantization is not None:
            options["min_agreement"] = 0.0
        result = export(model, os.path.join(directory, file_name), format=format, **options)
        _, _, default_agreement = verification.DEFAULT_TOLERANCES[quantization]
        results[name] = (result, result.agreement >= default_agreement)
    return results


def _latencies(model, results, x_test, calls):
    """Median single-sample latency per runtime, in milliseconds."""
    specs = signature.input_specs(model)
    runners = {"Keras (model(x), eager)": lambda s: model(s[0], training=False)}
    for name, (result, _) in results.items():
        runners[name] = runtimes.RUNNERS[result.format](result.path, specs)
    samples = [[x_test[i : i + 1]] for i in range(calls)]
    times = {name: [] for name in runners}
    for run in runners.values():
        run(samples[0])
    for sample in samples:
        for name, run in runners.items():
            start = time.perf_counter()
            run(sample)
            times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(t) for name, t in times.items()}


def _table(results, latencies, accuracy):
    float_size = results["TFLite float32"][0].size_bytes
    lines = [
        "| artifact | size (bytes) | size vs TFLite float32 | max abs diff | mean abs diff "
        "| top-1 agreement | default tolerance | latency, batch 1 (ms) |",
        "|---|---:|---:|---:|---:|---:|---|---:|",
    ]
    for name, (result, passes) in results.items():
        lines.append(
            f"| {name} | {result.size_bytes:,} | {result.size_bytes / float_size:.2f}x "
            f"| {result.max_abs_diff:.2e} | {result.mean_abs_diff:.2e} "
            f"| {100 * result.agreement:.2f}% | {'pass' if passes else 'FAIL'} "
            f"| {latencies[name]:.3f} |"
        )
    keras_name = "Keras (model(x), eager)"
    lines.append(f"| {keras_name} | | | | | | | {latencies[keras_name]:.3f} |")
    lines.append("")
    lines.append(f"Keras model top-1 accuracy on the held-out digits: {100 * accuracy:.2f}%.")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300, help="Timed calls per runtime.")
    parser.add_argument("--out", default="benchmarks/results/export.md")
    args = parser.parse_args()

    model, x_train, x_test, y_test = export_models.trained_cnn()
    accuracy = float(np.mean(np.argmax(model(x_test), axis=-1) == y_test))
    calls = min(args.calls, len(x_test))
    with tempfile.TemporaryDirectory() as directory:
        results = _export_all(model, x_train, x_test, directory)
        latencies = _latencies(model, results, x_test, calls)
        table = _table(results, latencies, accuracy)
    print(table)
    import ai_edge_litert
    import onnxruntime
    import tf2onnx

    report = f"""# Export of the matrix CNN: size, fidelity, latency

Command: `{command_line.command("benchmarks/export_cnn.py")}`

Model: the coverage-matrix CNN of `tests/export_models.py` (Conv2D(16, no bias) + BatchNorm +
ReLU, max-pool, Conv2D(32) + ReLU, max-pool, Flatten, Dropout(0.2), Dense(10) logits;
{model.count_params():,} parameters), trained 20 epochs on 1,400 of scikit-learn's 8x8 digits.
int8 calibration: those 1,400 training images. Fidelity: the logits of every artifact against
Keras on the 397 held-out digits. Latency: median of {calls} single-sample calls per runtime,
interleaved across runtimes, on a shared {os.cpu_count()}-core CPU machine also running other jobs
(compare rows with each other, not with other machines).

{table}

Latency is measured through `keras_distill.export`'s runtime wrappers (LiteRT signature runner,
ONNX Runtime session, the SavedModel's `serve` called eagerly), so it includes their Python call
overhead; the int8 I/O row also includes quantizing the float input and dequantizing the output in
NumPy.

"Default tolerance" is what `verify=True` with default settings decides: float32 artifacts need
max abs diff <= 1e-5 + 1e-5 * |Keras| and 100% agreement; float16 needs >= 99.9% agreement; dynamic
and int8 need >= 99%.

Versions: Python {platform.python_version()}, keras {keras.__version__}, tensorflow {tf.__version__},
ai-edge-litert {getattr(ai_edge_litert, "__version__", "?")}, tf2onnx {tf2onnx.__version__},
onnxruntime {onnxruntime.__version__}.
"""
    with open(args.out, "w") as f:
        f.write(report)
    print(f"Wrote {args.out}")


if __name__ == "__main__":
    main()

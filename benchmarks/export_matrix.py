"""Export conversion matrix and int8 fallback: a section of benchmarks/results/export.md.

1. Every layer kind of `tests/export_layers.py` exported from each backend (TensorFlow, JAX,
   PyTorch; one process each) to every format that backend reaches, verified (max |diff| against
   Keras over 256 samples), or the typed error it raises.
2. int8 TFLite of a digits CNN with LayerNormalization: fully int8 vs `fallback="auto"`; agreement
   with Keras on the 397 held-out digits (95% Wilson interval), size against float32.

    python benchmarks/export_matrix.py --out benchmarks/results/export.md
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import command_line  # noqa: E402
import keras  # noqa: E402

import keras_distill  # noqa: E402
from keras_distill.core import atomic_files  # noqa: E402
from keras_distill.errors import ExportVerificationError  # noqa: E402
from tests import export_layers  # noqa: E402

BEGIN, END = "<!-- export_matrix: begin -->", "<!-- export_matrix: end -->"
BACKENDS = ("tensorflow", "jax", "torch")
_BACKEND_NAMES = {"tensorflow": "TF", "jax": "JAX", "torch": "PyTorch"}
_FORMAT_NAMES = {"saved_model": "SavedModel", "tflite": "TFLite", "onnx": "ONNX"}


def _reason(error):
    """What the user reads first: the unconverted ops, else the converter's own last line."""
    ops = ", ".join(getattr(error, "ops", []))
    if ops:
        return ops
    text = str(error)
    text = text.split("cannot convert model", 1)[-1].split(": ", 1)[-1]
    return text.replace("|", "/").replace("\n", " ")[:110]


def backend_cells(folder):
    """`{kind: {format: cell}}` on the current backend, and the backend-level refusals."""
    cells, refused = {}, {}
    for kind in export_layers.KINDS:
        model, x = export_layers.build(kind)
        cells[kind] = {}
        for fmt in export_layers.FORMATS:
            if fmt in refused:
                continue
            export = getattr(keras_distill, f"export_{fmt}")
            start = time.perf_counter()
            try:
                result = export(model, os.path.join(folder, f"{kind}.{fmt}"), sample_inputs=x,
                                overwrite=True)
                cell = f"{result.max_abs_diff:.1e}"
                if result.batch_size:
                    cell += f" (batch {result.batch_size})"
            except Exception as error:  # noqa: BLE001 - recording what the user sees
                if "backend; the current backend is" in str(error):
                    refused[fmt] = str(error)
                    continue
                cell = f"`{type(error).__name__}` ({_reason(error)})"
            cells[kind][fmt] = cell
            print(keras.backend.backend(), kind, fmt, cell,
                  f"{time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return cells, refused


def matrix():
    """Every backend's cells, each backend in its own process."""
    runs = {}
    for backend in BACKENDS:
        with tempfile.TemporaryDirectory() as folder:
            out = os.path.join(folder, "cells.json")
            env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=ROOT)
            subprocess.run([sys.executable, os.path.abspath(__file__), "--cells", out],
                           env=env, check=True)
            with open(out) as f:
                runs[backend] = json.load(f)
    return runs


def layer_norm_cnn():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = inputs
    for index, filters in enumerate((16, 32)):
        h = keras.layers.Conv2D(filters, 3, padding="same", name=f"conv{index + 1}")(h)
        h = keras.layers.LayerNormalization(name=f"layer_norm{index + 1}")(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    h = keras.layers.Dense(256, activation="relu", name="dense")(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x[:1400], y[:1400], epochs=15, batch_size=32, verbose=0)
    accuracy = model.evaluate(x[1400:], y[1400:], verbose=0)[1]
    return model, x, accuracy


def fallback(folder):
    model, x, accuracy = layer_norm_cnn()
    kwargs = dict(representative_data=x[:300], sample_inputs=x[1400:], overwrite=True)
    float32 = keras_distill.export_tflite(model, os.path.join(folder, "f.tflite"), overwrite=True,
                                          sample_inputs=x[1400:])
    rows = [("float32", float32)]
    try:
        full = keras_distill.export_tflite(model, os.path.join(folder, "i.tflite"),
                                           quantization="int8", **kwargs)
    except ExportVerificationError as error:
        full = error.result
    rows.append(("int8", full))
    try:
        auto = keras_distill.export_tflite(model, os.path.join(folder, "a.tflite"),
                                           quantization="int8", fallback="auto", **kwargs)
    except ExportVerificationError as error:
        auto = error.result
    rows.append(('int8, fallback="auto"', auto))
    return rows, float32.size_bytes, accuracy, model.count_params()


def _versions():
    from importlib import metadata

    names = ("keras", "tensorflow", "jax", "torch", "tf2onnx", "jax2onnx", "litert-torch",
             "onnxruntime", "ai-edge-litert")
    found = []
    for name in names:
        try:
            found.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name} (not installed)")
    return ", ".join(found)


def section(runs, fallback_rows, float_size, accuracy, params):
    columns = [(b, f) for b in BACKENDS for f in export_layers.FORMATS
               if f not in runs[b]["refused"]]
    header = " | ".join(f"{_BACKEND_NAMES[b]} {_FORMAT_NAMES[f]}" for b, f in columns)
    lines = [BEGIN, "## Conversion matrix (backend x format x layer kind), int8 fallback", "",
             f"Command: `{command_line.command('benchmarks/export_matrix.py')}`", "",
             "Each layer kind in a small model (`tests/export_layers.py`), built and exported on each "
             "backend (one process per backend) and verified against Keras on 256 samples in the "
             "format's runtime (TensorFlow, LiteRT's `ai_edge_litert` interpreter, ONNX Runtime): max "
             "|diff| of the outputs, or the typed error raised (no file written). Routes: TensorFlow "
             "converts with TensorFlow's TFLite converter and tf2onnx; JAX and PyTorch through Keras's "
             "own exporters (jax2onnx; `torch.onnx`'s TorchScript exporter with a dynamic batch; "
             "litert-torch, static shapes, so batch 1). Every artifact takes only the model's own "
             "inputs (captured state such as an adapted `Normalization`'s mean and variance is frozen "
             "to constants).", "",
             f"| layer | {header} |", "|---|" + "---|" * len(columns)]
    for kind in export_layers.KINDS:
        cells = [runs[b]["cells"][kind][f] for b, f in columns]
        lines.append(f"| {kind} | {' | '.join(cells)} |")
    lines += ["", "Formats a backend does not reach raise `ExportConversionError` before converting:"]
    for backend in BACKENDS:
        for fmt, message in runs[backend]["refused"].items():
            lines.append(f"- {_BACKEND_NAMES[backend]} {_FORMAT_NAMES[fmt]}: {message}")
    lines += ["", f"Versions: {_versions()}."]
    lines += ["", f"int8 with float fallback: a digits CNN with two LayerNormalization layers "
              f"({params:,} parameters, Keras accuracy {100 * accuracy:.2f}% on the 397 held-out "
              "digits), calibrated on 300 training digits; agreement with Keras on the 397 held-out "
              "digits.", "",
              "| artifact | size (bytes) | vs float32 | top-1 agreement (95% CI) | kept in float | "
              "fallback cost |", "|---|---:|---:|---|---|---:|"]
    for label, result in fallback_rows:
        interval = result.agreement_interval
        ci = f"{100 * result.agreement:.2f}% ({100 * interval[0]:.2f}-{100 * interval[1]:.2f}%)"
        kept = "" if result.float_layers is None else (", ".join(result.float_layers) or "none")
        cost = "" if result.fallback_cost_bytes is None else f"{result.fallback_cost_bytes:,} B"
        lines.append(f"| {label} | {result.size_bytes:,} | {result.size_bytes / float_size:.2f}x | "
                     f"{ci} | {kept} | {cost} |")
    lines.append(END)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    parser.add_argument("--cells", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cells:
        with tempfile.TemporaryDirectory() as folder:
            cells, refused = backend_cells(folder)
        with open(args.cells, "w") as f:
            json.dump({"cells": cells, "refused": refused}, f)
        return
    runs = matrix()
    with tempfile.TemporaryDirectory() as folder:
        fallback_rows, float_size, accuracy, params = fallback(folder)
    text = section(runs, fallback_rows, float_size, accuracy, params)
    print(text)
    if args.out:
        current = open(args.out).read() if os.path.exists(args.out) else ""
        if BEGIN in current:
            current = re.sub(re.escape(BEGIN) + ".*" + re.escape(END), lambda m: text, current, flags=re.S)
        else:
            current = current.rstrip("\n") + "\n\n" + text + "\n"
        atomic_files.write_file(args.out, lambda staged: open(staged, "w").write(current))


if __name__ == "__main__":
    main()

"""Export conversion matrix and int8 fallback: a section of benchmarks/results/export.md.

1. Every layer kind of `tests/export_layers.py` exported to SavedModel, TFLite and ONNX and verified
   (max |diff| against Keras over 256 samples), or the typed error it raises.
2. int8 TFLite of a digits CNN with LayerNormalization: fully int8 vs `fallback="auto"`; agreement
   with Keras on the 397 held-out digits (95% Wilson interval), size against float32.

    python benchmarks/export_matrix.py --out benchmarks/results/export.md
"""

import argparse
import os
import re
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import command_line  # noqa: E402
import keras  # noqa: E402

import keras_distill  # noqa: E402
from keras_distill.core import atomic_files  # noqa: E402
from keras_distill.errors import ExportVerificationError  # noqa: E402
from tests import export_layers  # noqa: E402

BEGIN, END = "<!-- export_matrix: begin -->", "<!-- export_matrix: end -->"


def matrix(folder):
    rows = []
    for kind in export_layers.KINDS:
        model, x = export_layers.build(kind)
        cells = []
        for fmt in export_layers.FORMATS:
            export = getattr(keras_distill, f"export_{fmt}")
            try:
                result = export(model, os.path.join(folder, f"{kind}.{fmt}"), sample_inputs=x,
                                overwrite=True)
                cell = f"{result.max_abs_diff:.1e}"
                if result.batch_size:
                    cell += f" (batch {result.batch_size})"
            except Exception as error:  # noqa: BLE001 - recording what the user sees
                ops = ", ".join(getattr(error, "ops", [])) or str(error)[:60]
                cell = f"`{type(error).__name__}` ({ops})"
            cells.append(cell)
            print(kind, fmt, cell, flush=True)
        rows.append((kind, cells))
    return rows


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
    auto = keras_distill.export_tflite(model, os.path.join(folder, "a.tflite"), quantization="int8",
                                       fallback="auto", **kwargs)
    rows.append(('int8, fallback="auto"', auto))
    return rows, float32.size_bytes, accuracy, model.count_params()


def section(matrix_rows, fallback_rows, float_size, accuracy, params):
    lines = [BEGIN, "## Conversion matrix, self-contained files, int8 fallback", "",
             f"Command: `{command_line.command('benchmarks/export_matrix.py')}`", "",
             "Each layer kind in a small model (`tests/export_layers.py`), exported and verified against "
             "Keras on 256 samples: max |diff| of the outputs, or the typed error raised (no file "
             "written). Every artifact takes only the model's own inputs (captured state such as an "
             "adapted `Normalization`'s mean and variance is frozen to constants).", "",
             "| layer | SavedModel | TFLite | ONNX |", "|---|---|---|---|"]
    lines += [f"| {kind} | {' | '.join(cells)} |" for kind, cells in matrix_rows]
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        matrix_rows = matrix(folder)
        fallback_rows, float_size, accuracy, params = fallback(folder)
    text = section(matrix_rows, fallback_rows, float_size, accuracy, params)
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

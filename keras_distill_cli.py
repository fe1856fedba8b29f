"""The `keras-distill` command line.

This module sits beside the `keras_distill` package, not inside it: importing
`keras_distill` imports Keras and its backend (seconds), which `--help` and a
mistyped flag do not need. The parser lives here, importing nothing heavy;
the chosen command's handler (`keras_distill.<command>.command.run`) is
imported only after the arguments parse.

Run it as `keras-distill ...` or `python -m keras_distill_cli ...`.
"""

import argparse
import importlib
import importlib.util
import os
import re
import sys
import tempfile

# Names the handlers accept; tests/test_cli.py checks them against
# keras_distill.demo.presets and keras_distill.export.
DATASETS = ("mnist", "digits", "text")
PRESETS = ("quick", "full")
TEACHERS = ("mlp", "cnn")
TEACHINGS = ("consistent", "cached")
FORMATS = ("saved_model", "tflite", "onnx")
QUANTIZE_CHOICES = ("none", "float16", "dynamic", "int8")


def _add_demo(subparsers):
    parser = subparsers.add_parser(
        "demo",
        help="Train a teacher, the student alone and a distilled student; export; report.",
        description=(
            "Train a teacher, the student alone and the distilled student on MNIST (the "
            "784-800-800-10 student of Hinton et al. 2015) or on scikit-learn's 8x8 digits; "
            "or, with --dataset text, keras-hub language models on Python's reference manual; "
            "export the distilled student to SavedModel, TFLite int8 and ONNX with "
            "verification; write report.md, report.json and plots to --out."
        ),
    )
    parser.add_argument("--dataset", choices=DATASETS, default="mnist",
                        help="digits runs offline on scikit-learn's 8x8 digits, scaled down; text "
                        "trains keras-hub language models offline on Python's reference "
                        'manual (needs pip install "keras-distill[hub]").')
    parser.add_argument("--data", metavar="PATH",
                        help="A local mnist.npz (x_train, y_train, x_test, y_test); default: "
                        "keras.datasets.mnist.load_data().")
    parser.add_argument("--preset", choices=PRESETS, default="quick",
                        help="quick: a few epochs (digits: about 45 s of CPU time, longer on a "
                        "busy machine; MNIST: about 2 min on 2 cores); full: the long recipe "
                        "(MNIST: 10-11 min with the CNN teacher).")
    parser.add_argument("--teacher", choices=TEACHERS, default=None,
                        help="cnn (default on MNIST): a small convolutional teacher, not in "
                        "the paper; mlp (default on digits): the paper's 784-1200-1200-10 "
                        "teacher, scaled down on digits.")
    parser.add_argument("--teaching", choices=TEACHINGS, default=None,
                        help="consistent (default): the online teacher labels every "
                        "augmented batch the student sees (Beyer et al. 2022); cached: the "
                        "student learns cached logits of the plain images, then fine-tunes "
                        "(Hinton et al. 2015).")
    parser.add_argument("--out", default="keras_distill_demo", help="Output folder.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                        help="0 silent, 1 a line every tenth of the epochs, 2 one line per epoch.")
    parser.set_defaults(handler="keras_distill.demo.command")


def _add_export(subparsers):
    parser = subparsers.add_parser(
        "export",
        help="Export a .keras model (a Distiller's student) and verify it.",
        description=(
            "Export a .keras model to SavedModel, TFLite or ONNX, run the artifact "
            "in its runtime and compare it with Keras. A saved Distiller exports "
            "its student only."
        ),
    )
    parser.add_argument("model", help="The .keras file to export.")
    parser.add_argument("--out", required=True, help="Where to write the artifact.")
    parser.add_argument("--format", default="saved_model", choices=FORMATS)
    parser.add_argument("--quantize", choices=QUANTIZE_CHOICES, help="TFLite only.")
    parser.add_argument(
        "--representative-data",
        metavar="FILE",
        help="Calibration inputs for --quantize int8 (.npy, or .npz with one array "
        "per model input, in input order).",
    )
    parser.add_argument("--sample-data", metavar="FILE", help="Inputs to verify on.")
    parser.add_argument("--int8-io", action="store_true", help="int8 input/output tensors.")
    parser.add_argument("--allow-select-tf-ops", action="store_true")
    parser.add_argument(
        "--fallback",
        metavar="auto|LAYER,...",
        help="With --quantize int8: keep the layers that quantize worst in float until "
        "--min-agreement is met (auto), or the named layers.",
    )
    parser.add_argument("--opset", type=int, help="ONNX opset (15-18; 21-23 on JAX).")
    parser.add_argument("--atol", type=float)
    parser.add_argument("--rtol", type=float)
    parser.add_argument("--min-agreement", type=float)
    parser.add_argument("--no-verify", action="store_true", help="Skip verification.")
    parser.add_argument("--overwrite", action="store_true", help="Replace --out.")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="Load with safe_mode=False (allows Lambda layers; runs code in the file).",
    )
    parser.set_defaults(handler="keras_distill.export.command")


# Each entry adds one subcommand whose `handler` names the module with its `run(args)`.
COMMANDS = (_add_demo, _add_export)


def build_parser():
    """The argument parser with every subcommand of `COMMANDS`."""
    parser = argparse.ArgumentParser(
        prog="keras-distill",
        description="Knowledge distillation for Keras 3: ship the student.",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add_parser in COMMANDS:
        add_parser(subparsers)
    return parser


def main(argv=None):
    """Runs `keras-distill` with `argv` (defaults to `sys.argv[1:]`).

    Returns:
        The exit status: `0` on success, `1` when an export fails
        verification, `2` for bad arguments (argparse exits with `2` itself
        for malformed command lines).
    """
    args = build_parser().parse_args(argv)
    if args.command == "export":
        _select_backend(args.format)
    return _import_quietly(args.handler).run(args)


# The exporters each backend runs itself; the rest go through TensorFlow.
_NATIVE_FORMATS = {"jax": {"onnx": "jax2onnx"}, "torch": {"onnx": "torch", "tflite": "litert_torch"}}


def _select_backend(format):
    """Keeps the shell's backend where it exports `format` itself, else selects TensorFlow.

    JAX exports ONNX (jax2onnx) and PyTorch ONNX and TFLite (litert-torch)
    through Keras's own exporters; SavedModel, and TFLite from JAX, need
    TensorFlow. A `.keras` file loads on any backend, so those exports run
    on TensorFlow, with a note.
    """
    if "keras" in sys.modules:
        return  # In-process callers keep their backend; the exporter checks it.
    chosen = os.environ.get("KERAS_BACKEND")
    if not chosen or chosen == "tensorflow":
        return
    converter = _NATIVE_FORMATS.get(chosen, {}).get(format)
    if converter and importlib.util.find_spec(converter) is not None:
        return
    print(
        f"keras-distill export: exporting through TensorFlow (KERAS_BACKEND={chosen} "
        f"{'has no ' + format + ' exporter installed' if converter else 'does not export ' + format}"
        "; the .keras file loads on any backend).",
        file=sys.stderr,
    )
    os.environ["KERAS_BACKEND"] = "tensorflow"


# TensorFlow 2.21 logs through absl before initializing it, so its startup
# INFO lines (oneDNN, CPU features, missing CUDA drivers) reach stderr
# whatever TF_CPP_MIN_LOG_LEVEL says (abseil/abseil-cpp#1957).
_INFO_LINE = re.compile(
    r"I\d{4} |To enable the following instructions:|"
    r"WARNING: All log messages before absl::InitializeLog\(\) is called"
)
_NO_DRIVER = "Could not find cuda drivers on your machine, GPU will not be used."
# Logged as an error when TensorFlow first looks for devices, right after it
# said (above) that there is no driver: the same news, not a failure.
_CUINIT_LINE = re.compile(r"E\d{4} .*failed call to cuInit")


def _import_quietly(name):
    """Imports `name` (and with it Keras and its backend), minus the backend's startup lines.

    The process's stderr is captured while importing and while TensorFlow
    (when imported) lists its devices, which it does once per process; every
    other line (warnings, errors, a traceback) is written back in order.
    """
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # No real descriptors (embedded interpreters).
        return importlib.import_module(name)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            module = importlib.import_module(name)
            if "tensorflow" in sys.modules:
                sys.modules["tensorflow"].config.list_logical_devices()
            return module
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            sys.stderr.write(_without_startup_lines(captured.read().decode("utf-8", "replace")))


def _without_startup_lines(text):
    no_driver = _NO_DRIVER in text
    return "".join(
        line
        for line in text.splitlines(keepends=True)
        if not _INFO_LINE.match(line) and not (no_driver and _CUINIT_LINE.match(line))
    )


if __name__ == "__main__":
    raise SystemExit(main())

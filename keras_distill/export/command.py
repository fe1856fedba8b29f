"""`keras-distill export`: export a saved student from the command line."""

import os
import sys

from keras_distill.cli_flags import as_flags

# Options that only the TFLite exporter takes, by command-line flag.
TFLITE_FLAGS = {
    "quantization": "--quantize",
    "representative_data": "--representative-data",
    "int8_io": "--int8-io",
    "allow_select_tf_ops": "--allow-select-tf-ops",
    "fallback": "--fallback",
}


def _fail(message, status=2):
    print(f"keras-distill export: error: {message}", file=sys.stderr)
    return status


def _load_arrays(path, flag):
    from keras_distill.core.array_files import load_arrays

    if not path.endswith((".npy", ".npz")):
        raise ValueError(f"{flag} {path!r} must be a .npy or .npz file.")
    return load_arrays(path, flag)


def _fallback(value):
    if value is None or value == "auto":
        return value
    return [name.strip() for name in value.split(",") if name.strip()]


def _options(args):
    options = {
        "quantization": None if args.quantize in (None, "none") else args.quantize,
        "int8_io": args.int8_io,
        "allow_select_tf_ops": args.allow_select_tf_ops,
        "overwrite": args.overwrite,
        "verify": not args.no_verify,
        "atol": args.atol,
        "rtol": args.rtol,
        "min_agreement": args.min_agreement,
        "fallback": _fallback(args.fallback),
    }
    if args.representative_data:
        options["representative_data"] = _load_arrays(
            args.representative_data, "--representative-data"
        )
    if args.sample_data:
        options["sample_inputs"] = _load_arrays(args.sample_data, "--sample-data")
    if args.opset is not None:
        if args.format != "onnx":
            raise ValueError("--opset is only for --format onnx.")
        options["opset"] = args.opset
    if args.format != "tflite":
        values = {flag: options.pop(name, None) for name, flag in TFLITE_FLAGS.items()}
        used = [flag for flag, value in values.items() if value is not None and value is not False]
        if used:
            raise ValueError(f"{', '.join(used)}: only for --format tflite.")
    return options


def _load_model(path, unsafe):
    from keras_distill.core.model_files import load_keras_model

    if not os.path.isfile(path) and not os.path.isdir(path):
        raise ValueError(f"MODEL {path!r} does not exist.")
    if not path.endswith(".keras"):
        raise ValueError(f"MODEL {path!r} must be a .keras file.")
    try:
        return load_keras_model(path, safe_mode=not unsafe, argument="MODEL")
    except ValueError as error:
        if not unsafe and "safe_mode=False" in str(error):
            raise ValueError(
                str(error).replace("Load it with safe_mode=False", "Pass --unsafe")
            ) from None
        raise


def run(args):
    """Handles `keras-distill export`; returns the exit status."""
    from keras_distill.export.export import export
    from keras_distill.export.verification import ExportVerificationError

    try:
        options = _options(args)
        model = _load_model(args.model, args.unsafe)
        result = export(model, args.out, format=args.format, **options)
    except ExportVerificationError as error:
        return _fail(as_flags(f"{error}\nMeasured: {error.result}"), status=1)
    except (ValueError, TypeError, OSError) as error:
        return _fail(as_flags(error))
    print(result)
    return 0

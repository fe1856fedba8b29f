"""Running an exported artifact in its own runtime, on flat input arrays.

Each loader takes the artifact's path and the specs it was exported with
(`signature.input_specs`), and returns `run(flat_inputs) -> list of numpy outputs`,
outputs in the order `keras.tree.flatten` gives the Keras model's outputs.
"""

import os
import re

import numpy as np

from keras_distill.core.errors import CorruptFileError
from keras_distill.core.native_output import quiet_native_output
from keras_distill.export.dependencies import import_optional


def saved_model_runner(path, specs):
    """Loads a SavedModel with TensorFlow and calls its `serve` endpoint."""
    import tensorflow as tf

    # `run` keeps the loaded object alive: its endpoint's variables die with it.
    loaded = tf.saved_model.load(path)

    def run(flat_inputs):
        outputs = loaded.serve(*[tf.constant(x) for x in flat_inputs])
        return [np.asarray(t) for t in tf.nest.flatten(outputs)]

    return run


def _natural_key(name):
    return re.sub(r"\d+", lambda m: m.group().zfill(10), name)


def _quantize(array, details):
    scale, zero_point = details["quantization"]
    info = np.iinfo(details["dtype"])
    quantized = np.round(array / scale + zero_point)
    return np.clip(quantized, info.min, info.max).astype(details["dtype"])


def _dequantize(array, details):
    scale, zero_point = details["quantization"]
    return (array.astype("float32") - zero_point) * scale


def tflite_runner(path, specs):
    """Loads a `.tflite` file with the LiteRT interpreter.

    The signature runner resizes the (dynamic) batch dimension to each call's
    batch. Integer input/output tensors (`int8_io=True`) are quantized and
    dequantized with the tensors' own scale and zero point, so callers always
    pass and receive float arrays.
    """
    litert = import_optional("ai_edge_litert.interpreter", "Running a TFLite model")
    with open(path, "rb") as f:
        content = f.read()
    with quiet_native_output():
        interpreter = litert.Interpreter(model_content=content)
    runner = interpreter.get_signature_runner()
    input_details = runner.get_input_details()
    output_details = runner.get_output_details()
    # The signature lists inputs alphabetically, under the names of `specs`
    # (litert-torch names them by position: `args_0`, `args_1`, ...).
    input_names = [spec.name for spec in specs]
    if set(input_names) != set(input_details):
        input_names = sorted(input_details, key=_natural_key)
    output_names = sorted(output_details, key=_natural_key)
    fixed_batch = any(
        list(d.get("shape_signature", d["shape"]))[:1] == [1] for d in input_details.values()
    )
    allocated = []

    def run(flat_inputs):
        if fixed_batch and len(flat_inputs[0]) != 1:
            # An artifact exported with a batch of 1 (recurrent layers) runs
            # one sample per call.
            parts = [run_batch([a[i : i + 1] for a in flat_inputs]) for i in range(len(flat_inputs[0]))]
            return [np.concatenate(outputs) for outputs in zip(*parts)]
        return run_batch(flat_inputs)

    def run_batch(flat_inputs):
        feed = {}
        for name, array in zip(input_names, flat_inputs):
            details = input_details[name]
            if np.issubdtype(details["dtype"], np.integer) and details["quantization"][0]:
                array = _quantize(array, details)
            feed[name] = array
        # The first run allocates tensors and applies the XNNPACK delegate,
        # which LiteRT announces on stderr.
        if not allocated:
            with quiet_native_output():
                outputs = runner(**feed)
            allocated.append(True)
        else:
            outputs = runner(**feed)
        results = []
        for name in output_names:
            array, details = outputs[name], output_details[name]
            if np.issubdtype(details["dtype"], np.integer) and details["quantization"][0]:
                array = _dequantize(array, details)
            results.append(np.array(array))
        return results

    return run


def onnx_runner(path, specs):
    """Loads an `.onnx` file with ONNX Runtime on the CPU."""
    onnxruntime = import_optional("onnxruntime", "Running an ONNX model")
    options = onnxruntime.SessionOptions()
    # Errors only: jax2onnx's loops leave unused initializers that ONNX
    # Runtime removes, with a warning on stderr per session.
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(
        path, sess_options=options, providers=["CPUExecutionProvider"]
    )
    input_names = [i.name for i in session.get_inputs()]

    def run(flat_inputs):
        return session.run(None, dict(zip(input_names, flat_inputs)))

    return run


RUNNERS = {
    "saved_model": saved_model_runner,
    "tflite": tflite_runner,
    "onnx": onnx_runner,
}

_WHAT = {"saved_model": "SavedModel", "tflite": "TFLite model", "onnx": "ONNX model"}


def open_runner(format, path, specs):
    """`RUNNERS[format](path, specs)`, with a typed error for a missing or damaged file.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: The runtime cannot load the file.
    """
    path = os.fspath(path)
    what = _WHAT[format]
    if not os.path.lexists(path):
        raise FileNotFoundError(f"No {what} at {path!r}: was it moved or deleted after export?")
    expects_folder = format == "saved_model"
    if os.path.isdir(path) != expects_folder:
        kind = "a folder" if os.path.isdir(path) else "a file"
        raise CorruptFileError(
            path, what, f"it is {kind}", f"Pass the path the exporter returned ({format})."
        )
    try:
        return RUNNERS[format](path, specs)
    except ImportError:
        raise
    except Exception as error:  # noqa: BLE001 - every runtime has its own error types
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise CorruptFileError(
            path, what,
            f"its runtime cannot load it ({type(error).__name__}: {message[:300]})",
            "Export the model again (exports are written atomically, so a damaged file was "
            "changed after it was written).",
        ) from None

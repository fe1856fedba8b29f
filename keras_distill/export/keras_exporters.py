"""ONNX and LiteRT files from JAX and PyTorch, written by Keras's own exporters.

Keras 3 exports ONNX from JAX through jax2onnx and from PyTorch through
`torch.onnx`, and LiteRT from PyTorch through litert-torch
(`keras/src/export/onnx.py`, `litert.py`). These writers hand the student to
`Model.export` with the exporters' shared input names and nesting, so the
staging, verification and `ExportResult` stay those of the TensorFlow route,
and TensorFlow is never imported.
"""

import contextlib
import os
import re
import warnings

import keras

from keras_distill.core.errors import ExportConversionError
from keras_distill.core.native_output import quiet_native_output
from keras_distill.export import signature
from keras_distill.export.dependencies import import_optional

# What `torch.onnx`'s TorchScript tracer says about Keras's Python-side shape
# and dtype handling: the trace is checked instead, on the verification
# batch and on single samples (two batch sizes).
_TRACER_NOTES = (
    r".*Converting a tensor to a Python (boolean|integer|float).*",
    r".*Iterating over a tensor.*",
    r".*torch.tensor results are registered as constants.*",
    r".*Using len to get tensor shape.*",
    # torch's pytree, copied by litert-torch's tracing.
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",
)

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_KERAS_WRAPPING = ("Exception encountered when calling", "Arguments received by", "•")


@contextlib.contextmanager
def _quiet_tracing():
    """Silences the converters' native logs and the torch tracer's notes."""
    with warnings.catch_warnings(), quiet_native_output():
        for message in _TRACER_NOTES:
            warnings.filterwarnings("ignore", message=message)
        yield


def _conversion_error(format, error, model):
    """An `ExportConversionError` for a converter's own exception.

    Keras wraps what a layer raised while traced in "Exception encountered
    when calling ..." and the call's arguments; the message keeps the cause.
    """
    lines = [_ANSI.sub("", line).strip() for line in str(error).splitlines()]
    lines = [line for line in lines if line and not line.startswith(_KERAS_WRAPPING)]
    detail = lines[0][:300] if lines else "no message"
    return ExportConversionError(
        f"Keras's {format} exporter on the {keras.backend.backend()} backend cannot convert "
        f"model {model.name!r}: {type(error).__name__}: {detail}",
    )


def write_onnx(model, specs, staged, opset):
    """Writes `model` as ONNX at `staged` with `Model.export(format="onnx")`.

    The batch dimension stays dynamic (jax2onnx's symbolic `batch`; on
    PyTorch, the TorchScript exporter's dynamic axes).

    Args:
        model: The student.
        specs: Its `signature.input_specs`.
        staged: The file to write.
        opset: The ONNX opset.
    """
    purpose = "ONNX export on JAX" if keras.backend.backend() == "jax" else "ONNX export"
    if keras.backend.backend() == "jax":
        import_optional("jax2onnx", purpose)
    import_optional("onnx", purpose)
    try:
        with _quiet_tracing():
            model.export(
                staged, format="onnx", input_signature=signature.keras_signature(model, specs),
                opset_version=opset, verbose=False,
            )
    except ImportError:
        raise
    except Exception as error:  # noqa: BLE001 - each converter has its own error types
        raise _conversion_error("ONNX", error, model) from None


def write_tflite(model, specs, staged):
    """Writes `model` as a `.tflite` file at `staged` with litert-torch (PyTorch only).

    litert-torch traces static shapes, so the file takes a batch of 1.

    Args:
        model: The student.
        specs: Its `signature.input_specs`.
        staged: The file to write.

    Returns:
        The batch size the file takes (`1`).
    """
    # litert-torch's import logs from C++ (torchao kernels it cannot load,
    # a torch deprecation it triggers): not the caller's to act on.
    with _quiet_tracing():
        import_optional("litert_torch", "TFLite export on PyTorch")
    # Keras's LiteRT exporter wants a `.tflite` name; the staged one is the user's.
    target = os.path.join(os.path.dirname(staged), "keras_export.tflite")
    try:
        with _quiet_tracing():
            model.export(
                target, format="litert",
                input_signature=signature.keras_signature(model, specs, batch_size=1),
                verbose=False,
            )
    except ImportError:
        raise
    except Exception as error:  # noqa: BLE001
        raise _conversion_error("LiteRT", getattr(error, "__cause__", None) or error, model) \
            from None
    os.replace(target, staged)
    return 1

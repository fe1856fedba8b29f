"""Optional dependencies of the exporters, imported only when used."""

import importlib

# Which extra of keras-distill installs each optional module.
EXTRAS = {
    "tf2onnx": "onnx",
    "onnx": "onnx",
    "onnxruntime": "onnx",
    "ai_edge_litert.interpreter": "litert",
    "jax2onnx": "jax-export",
    "litert_torch": "torch-export",
    "keras_tuner": "tune",
}


def import_optional(module, purpose):
    """Imports `module`, or raises an `ImportError` naming the extra to install.

    Args:
        module: A key of `EXTRAS`.
        purpose: What needs it, for the message (e.g. `"ONNX export"`).

    Returns:
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        extra = EXTRAS[module]
        raise ImportError(
            f"{purpose} needs `{module.split('.')[0]}`, which is not installed. Run: "
            f'pip install "keras-distill[{extra}]"'
        ) from error

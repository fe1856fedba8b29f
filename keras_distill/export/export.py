"""One entry point for every export format."""

import inspect

from keras_distill.export.onnx import export_onnx
from keras_distill.export.saved_model import export_saved_model
from keras_distill.export.tflite import export_tflite

EXPORTERS = {
    "saved_model": export_saved_model,
    "tflite": export_tflite,
    "onnx": export_onnx,
}
available_formats = tuple(EXPORTERS)


def export(model, path, format="saved_model", **options):
    """Exports a student (or any Keras model) and verifies the artifact.

    Dispatches to `export_saved_model`, `export_tflite` or `export_onnx`;
    see those for the options each format takes. Every format writes the
    artifact atomically, runs it in its own runtime and compares it with the
    Keras model before it appears at `path`.

    Args:
        model: A `keras_distill.Distiller` (its student is exported, never
            its teacher) or a built `keras.Model`.
        path: Where to write the artifact.
        format: One of `available_formats`: `"saved_model"`, `"tflite"` or
            `"onnx"`. Defaults to `"saved_model"`.
        **options: Options of the chosen format's exporter, e.g.
            `quantization="int8"` for TFLite or `opset=17` for ONNX.

    Returns:
        An `ExportResult`.

    Example:

    ```python
    result = keras_distill.export.export(
        distiller, "student.tflite", format="tflite", quantization="float16"
    )
    print(result.size_bytes, result.agreement)
    ```
    """
    if format not in EXPORTERS:
        raise ValueError(
            f"`format` must be one of {available_formats}. Received: format={format!r}."
        )
    exporter = EXPORTERS[format]
    accepted = list(inspect.signature(exporter).parameters)[2:]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"Format {format!r} does not take the option(s) {unknown}; it takes "
            f"{accepted}."
        )
    return exporter(model, path, **options)

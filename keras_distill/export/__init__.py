"""Exporting students to SavedModel, TFLite and ONNX, verified against Keras."""

from keras_distill.export.export import available_formats
from keras_distill.export.export import export
from keras_distill.export.export_result import ExportResult
from keras_distill.export.onnx import export_onnx
from keras_distill.export.saved_model import export_saved_model
from keras_distill.export.tflite import export_tflite
from keras_distill.export.verification import ExportVerificationError

__all__ = [
    "available_formats",
    "export",
    "ExportResult",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "ExportVerificationError",
]

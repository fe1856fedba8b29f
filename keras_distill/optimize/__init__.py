"""Pruning- and quantization-aware distillation with tensorflow-model-optimization.

Needs the `tfmot` extra (`pip install "keras-distill[tfmot]"`). tfmot is
imported only when one of these functions runs, and without changing what
`keras` and `tf.keras` resolve to.
"""

from keras_distill.optimize.prune import prune_and_distill
from keras_distill.optimize.qat_export import export_qat_onnx
from keras_distill.optimize.qat_export import export_qat_saved_model
from keras_distill.optimize.qat_export import export_qat_tflite
from keras_distill.optimize.quantize import quantization_aware_distill
from keras_distill.optimize.sparsity import kernel_sparsity

__all__ = [
    "prune_and_distill",
    "export_qat_onnx",
    "export_qat_saved_model",
    "export_qat_tflite",
    "quantization_aware_distill",
    "kernel_sparsity",
]

"""Pruning- and quantization-aware distillation.

`quantize_and_distill` and `quantize_weights` use Keras's native quantization
(int8, int4, float8) on every backend. The other functions use
tensorflow-model-optimization and need the `tfmot` extra
(`pip install "keras-distill[tfmot]"`); tfmot is imported only when one of
them runs, and without changing what `keras` and `tf.keras` resolve to.
"""

from keras_distill.optimize.fake_quantization import quantize_weights
from keras_distill.optimize.prune import prune_and_distill
from keras_distill.optimize.qat_export import export_qat_onnx
from keras_distill.optimize.qat_export import export_qat_saved_model
from keras_distill.optimize.qat_export import export_qat_tflite
from keras_distill.optimize.quantize import quantization_aware_distill
from keras_distill.optimize.quantize_and_distill import quantize_and_distill
from keras_distill.optimize.sparsity import kernel_sparsity

__all__ = [
    "prune_and_distill",
    "export_qat_onnx",
    "export_qat_saved_model",
    "export_qat_tflite",
    "quantization_aware_distill",
    "quantize_and_distill",
    "quantize_weights",
    "kernel_sparsity",
]

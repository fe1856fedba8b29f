"""Teachers from other runtimes, functions and files of precomputed outputs.

Each is a weightless `keras.Model` returning logits, taken by the Distiller
and the teacher caches like any teacher (see docs/teachers.md).
"""

from keras_distill.teachers.aligned_teacher import AlignedTeacher
from keras_distill.teachers.estimator_teacher import EstimatorTeacher
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.function_teacher import FunctionTeacher
from keras_distill.teachers.onnx_teacher import OnnxTeacher
from keras_distill.teachers.precomputed_teacher import PrecomputedTeacher
from keras_distill.teachers.precomputed_teacher import row_keys
from keras_distill.teachers.saved_model_teacher import SavedModelTeacher
from keras_distill.teachers.text_alignment import align_positions
from keras_distill.teachers.text_alignment import token_ends
from keras_distill.teachers.text_alignment import token_pieces
from keras_distill.teachers.tflite_teacher import TFLiteTeacher
from keras_distill.teachers.token_logprob_teacher import TokenLogprobTeacher
from keras_distill.teachers.torch_teacher import TorchTeacher

__all__ = [
    "AlignedTeacher",
    "align_positions",
    "EstimatorTeacher",
    "ForeignTeacher",
    "FunctionTeacher",
    "OnnxTeacher",
    "PrecomputedTeacher",
    "row_keys",
    "SavedModelTeacher",
    "TFLiteTeacher",
    "token_ends",
    "token_pieces",
    "TokenLogprobTeacher",
    "TorchTeacher",
]

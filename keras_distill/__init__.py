"""keras-distill: knowledge distillation for Keras 3.

Train a small student from a large teacher with `compile`/`fit`, then ship it.
"""

from keras_distill import augment
from keras_distill import callbacks
from keras_distill import distribute
from keras_distill import errors
from keras_distill import export
from keras_distill import features
from keras_distill import language
from keras_distill import losses
from keras_distill import optimize
from keras_distill import report
from keras_distill import schedules
from keras_distill import teachers
from keras_distill import tuning
from keras_distill.cache import ShardedTeacherCache
from keras_distill.cache import TeacherCache
from keras_distill.callbacks import Phase
from keras_distill.distiller import Distiller
from keras_distill.ensemble import TeacherEnsemble
from keras_distill.export import ExportResult
from keras_distill.export import ExportVerificationError
from keras_distill.export import export_onnx
from keras_distill.export import export_saved_model
from keras_distill.export import export_tflite
from keras_distill.report import DistillationReport
from keras_distill.transfer import TransferResult
from keras_distill.transfer import transfer_weights
from keras_distill.version import __version__

__all__ = [
    "augment",
    "callbacks",
    "distribute",
    "errors",
    "export",
    "features",
    "language",
    "losses",
    "optimize",
    "report",
    "schedules",
    "teachers",
    "tuning",
    "ShardedTeacherCache",
    "TeacherCache",
    "Phase",
    "Distiller",
    "TeacherEnsemble",
    "ExportResult",
    "ExportVerificationError",
    "export_onnx",
    "export_saved_model",
    "export_tflite",
    "DistillationReport",
    "TransferResult",
    "transfer_weights",
    "__version__",
]

"""Reports on a distillation run: accuracy, agreement, calibration, size, latency."""

from keras_distill.report import metrics
from keras_distill.report.distillation_report import DistillationReport
from keras_distill.report.metrics import agreement
from keras_distill.report.metrics import confusion_matrix
from keras_distill.report.metrics import expected_calibration_error
from keras_distill.report.metrics import gap_closed
from keras_distill.report.metrics import mean_kl

__all__ = [
    "metrics",
    "DistillationReport",
    "agreement",
    "confusion_matrix",
    "expected_calibration_error",
    "gap_closed",
    "mean_kl",
]

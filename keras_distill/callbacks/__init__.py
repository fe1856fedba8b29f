"""Callbacks that schedule a Distiller's temperature, alpha, learning rate and phases."""

from keras_distill.callbacks.alpha_scheduler import AlphaScheduler
from keras_distill.callbacks.backup_and_restore import BackupAndRestore
from keras_distill.callbacks.distiller_callback import DistillerCallback
from keras_distill.callbacks.fine_tuning import FineTuning
from keras_distill.callbacks.phase import Phase
from keras_distill.callbacks.phase_learning_rate import PhaseLearningRate
from keras_distill.callbacks.phase_scheduler import PhaseScheduler
from keras_distill.callbacks.student_checkpoint import StudentCheckpoint
from keras_distill.callbacks.temperature_scheduler import TemperatureScheduler

__all__ = [
    "AlphaScheduler",
    "BackupAndRestore",
    "DistillerCallback",
    "FineTuning",
    "Phase",
    "PhaseLearningRate",
    "PhaseScheduler",
    "StudentCheckpoint",
    "TemperatureScheduler",
]

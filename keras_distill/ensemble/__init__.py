"""Several teachers distilled as one."""

from keras_distill.ensemble.teacher_ensemble import TeacherEnsemble

__all__ = ["TeacherEnsemble"]

"""Offline distillation: the teacher's outputs computed once and fed to `fit`."""

from keras_distill.cache.sharded_cache import ShardedTeacherCache
from keras_distill.cache.tail_prior import teacher_tail_prior
from keras_distill.cache.teacher_cache import TeacherCache

__all__ = [
    "ShardedTeacherCache",
    "TeacherCache",
    "teacher_tail_prior",
]

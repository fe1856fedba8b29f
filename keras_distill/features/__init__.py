"""Feature distillation: match intermediate layers of teacher and student."""

from keras_distill.features.feature_pair import FeaturePair

__all__ = ["FeaturePair"]

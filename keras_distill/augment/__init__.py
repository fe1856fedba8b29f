"""Augmentations that keep teacher and student consistent: batch mixing."""

from keras_distill.augment.batch_mix import BatchMix
from keras_distill.augment.cutmix import CutMix
from keras_distill.augment.mixup import MixUp

__all__ = ["BatchMix", "CutMix", "MixUp"]

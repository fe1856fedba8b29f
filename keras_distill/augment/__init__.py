"""Augmentations that keep teacher and student consistent: batch mixing and seeded views."""

from keras_distill.augment.batch_mix import BatchMix
from keras_distill.augment.cutmix import CutMix
from keras_distill.augment.mixup import MixUp
from keras_distill.augment.random_deformation import RandomDeformation
from keras_distill.augment.random_shift import RandomShift
from keras_distill.augment.random_views import RandomViews
from keras_distill.augment.view_augmentation import ViewAugmentation

__all__ = ["BatchMix", "CutMix", "MixUp", "RandomDeformation", "RandomShift", "RandomViews",
           "ViewAugmentation"]

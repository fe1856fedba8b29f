"""Warnings for random augmentation combined with cached teacher outputs.

A cached teacher output belongs to the un-augmented input. When the student
sees a randomly augmented view, the cached target is the teacher's answer for
a different image, which weakens or biases distillation (Beyer et al. 2022
find that consistent teacher and student views matter). Random preprocessing
layers inside the student are detected by class; augmentation done in a
`tf.data` pipeline cannot be seen, so `TeacherCache.dataset(..., augmented=True)`
lets users say so.

Reference:
    Beyer, Zhai, Royer, Markeeva, Anil and Kolesnikov, "Knowledge
    distillation: A good teacher is patient and consistent", CVPR 2022.
"""

import warnings

import keras

_RANDOM_LAYER_NAMES = (
    "AugMix",
    "CutMix",
    "MixUp",
    "RandAugment",
    "RandomBrightness",
    "RandomColorDegeneration",
    "RandomColorJitter",
    "RandomContrast",
    "RandomCrop",
    "RandomElasticTransform",
    "RandomErasing",
    "RandomFlip",
    "RandomGaussianBlur",
    "RandomGrayscale",
    "RandomHue",
    "RandomInvert",
    "RandomPerspective",
    "RandomPosterization",
    "RandomRotation",
    "RandomSaturation",
    "RandomSharpness",
    "RandomShear",
    "RandomTranslation",
    "RandomZoom",
    "Solarization",
)
RANDOM_LAYERS = tuple(
    getattr(keras.layers, name) for name in _RANDOM_LAYER_NAMES if hasattr(keras.layers, name)
)

AUGMENTATION_MESSAGE = (
    "Cached teacher outputs were computed on un-augmented inputs, but {where}. "
    "The student then learns the teacher's answer for a different view of each "
    "sample (Beyer et al. 2022). Distil online (pass plain inputs, the teacher "
    "runs on the augmented batch), or cache the teacher on fixed augmented "
    "copies of the data."
)


def random_layers(model):
    """Names of the random augmentation layers inside `model` (nested models included)."""
    found = []
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, RANDOM_LAYERS) or type(layer).__name__.startswith("Random"):
            found.append(layer.name)
    return found


def warn_if_augmented(student):
    """Warns when `student` contains random augmentation layers."""
    names = random_layers(student)
    if names:
        where = f"the student applies random augmentation layers {names} in training"
        warnings.warn(AUGMENTATION_MESSAGE.format(where=where), stacklevel=3)


def warn_augmented_pipeline():
    """Warns for a pipeline the user marked as augmented."""
    where = "the pipeline was marked `augmented=True`"
    warnings.warn(AUGMENTATION_MESSAGE.format(where=where), stacklevel=3)

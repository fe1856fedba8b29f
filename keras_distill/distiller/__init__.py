"""The Distiller model and the helpers that feed its training step."""

from keras_distill.distiller.distiller import Distiller

__all__ = [
    "Distiller",
]

"""Distillation-aware hyper-parameter search on KerasTuner (`pip install "keras-distill[tune]"`).

`DistillerHyperModel` subclasses `keras_tuner.HyperModel`; it is imported on
first use, so that keras_distill imports without KerasTuner.
"""

import typing

from keras_distill.tuning.search import search
from keras_distill.tuning.search_space import SearchSpace
from keras_distill.tuning.trial_distiller import TrialDistiller  # noqa: F401 - registered for loading
from keras_distill.tuning.tuning_result import TuningResult

if typing.TYPE_CHECKING:  # for static readers (mkdocstrings); imported on first use below
    from keras_distill.tuning.distiller_hypermodel import DistillerHyperModel

__all__ = ["DistillerHyperModel", "SearchSpace", "TuningResult", "search"]


def __getattr__(name):
    if name == "DistillerHyperModel":
        from keras_distill.tuning.distiller_hypermodel import DistillerHyperModel

        return DistillerHyperModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

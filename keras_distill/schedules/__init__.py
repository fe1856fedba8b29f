"""Schedules: small serializable callables `value = schedule(step_or_epoch)`."""

from keras_distill.schedules.constant import Constant
from keras_distill.schedules.cosine import Cosine
from keras_distill.schedules.exponential import Exponential
from keras_distill.schedules.linear import Linear
from keras_distill.schedules.lookup import get  # noqa: F401 - `schedules.get`, outside `__all__` as before
from keras_distill.schedules.piecewise import Piecewise
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.warmup import Warmup

__all__ = [
    "Constant",
    "Cosine",
    "Exponential",
    "Linear",
    "Piecewise",
    "Schedule",
    "Warmup",
]

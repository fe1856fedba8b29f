"""Base class of the schedules: a value as a function of the epoch or step."""

import abc
import math
import numbers

from keras_distill.api_export import register


def check_number(value, argument, minimum=None, strict=False):
    """Returns `value` as a finite float, raising a `ValueError` naming `argument`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(
            f"`{argument}` must be a finite number. Received: {argument}={value!r}"
        )
    if minimum is not None and (value <= minimum if strict else value < minimum):
        relation = ">" if strict else ">="
        raise ValueError(
            f"`{argument}` must be {relation} {minimum}. Received: {argument}={value!r}"
        )
    return float(value)


def check_count(value, argument, minimum=1):
    """Returns `value` as an int, raising unless it is an integer >= `minimum`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(
            f"`{argument}` must be an integer >= {minimum}. Received: {argument}={value!r}"
        )
    return int(value)


@register
class Schedule(abc.ABC):
    """A value that changes with the training epoch or step.

    A schedule is a small callable: `value = schedule(step)`, where `step` is
    a 0-based epoch or optimizer step (the callback that uses it decides
    which). Values are plain Python floats computed on the host; the
    callbacks write them into the `Distiller`'s variables, so the compiled
    train step is never retraced for a new value.

    Subclasses implement `call(step)` and `get_config()`; every constructor
    argument is checked when the schedule is built, so a bad schedule fails
    before training starts.

    Example:

    ```python
    schedule = keras_distill.schedules.Linear(start=8.0, end=1.0, steps=10)
    schedule(0), schedule(5), schedule(20)  # 8.0, 4.5, 1.0
    ```
    """

    def __call__(self, step):
        step = check_count(step, "step", minimum=0)
        return float(self.call(step))

    @abc.abstractmethod
    def call(self, step):
        """Returns the value at `step`, a non-negative int."""

    @abc.abstractmethod
    def get_config(self):
        """Returns the constructor arguments as a JSON-serializable dict."""

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        args = ", ".join(f"{key}={value!r}" for key, value in self.get_config().items())
        return f"{type(self).__name__}({args})"

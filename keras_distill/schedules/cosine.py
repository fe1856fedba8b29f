"""Half-cosine interpolation from a start value to an end value."""

import math

from keras_distill.api_export import register
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_count
from keras_distill.schedules.schedule import check_number


@register
class Cosine(Schedule):
    """Goes from `start` to `end` along half a cosine over `steps`, then stays at `end`.

    `value(t) = end + (start - end) * (1 + cos(pi * min(t, steps) / steps)) / 2`:
    flat at both ends, steepest in the middle.

    Args:
        start: Value at step 0.
        end: Value from step `steps` on.
        steps: Length of the decay, an integer >= 1.

    Example:

    ```python
    schedule = keras_distill.schedules.Cosine(start=4.0, end=1.0, steps=10)
    schedule(5)  # 2.5
    ```

    Reference:
        Loshchilov and Hutter, "SGDR: Stochastic Gradient Descent with Warm
        Restarts", 2017.
    """

    def __init__(self, start, end, steps):
        self.start = check_number(start, "start")
        self.end = check_number(end, "end")
        self.steps = check_count(steps, "steps")

    def call(self, step):
        fraction = min(step, self.steps) / self.steps
        return self.end + (self.start - self.end) * 0.5 * (1.0 + math.cos(math.pi * fraction))

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}

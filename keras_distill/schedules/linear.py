"""Linear interpolation from a start value to an end value."""

from keras_distill.api_export import register
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_count
from keras_distill.schedules.schedule import check_number


@register
class Linear(Schedule):
    """Goes linearly from `start` (step 0) to `end` (step `steps`), then stays at `end`.

    `value(t) = start + (end - start) * min(t, steps) / steps`.

    Args:
        start: Value at step 0.
        end: Value from step `steps` on.
        steps: Number of steps of the ramp, an integer >= 1.

    Example:

    ```python
    # Anneal the temperature from 8 to 1 over 10 epochs.
    schedule = keras_distill.schedules.Linear(start=8.0, end=1.0, steps=10)
    schedule(5)  # 4.5
    ```
    """

    def __init__(self, start, end, steps):
        self.start = check_number(start, "start")
        self.end = check_number(end, "end")
        self.steps = check_count(steps, "steps")

    def call(self, step):
        fraction = min(step, self.steps) / self.steps
        return self.start + (self.end - self.start) * fraction

    def get_config(self):
        return {"start": self.start, "end": self.end, "steps": self.steps}

"""A linear warm-up in front of another schedule."""

import keras

from keras_distill.api_export import register
from keras_distill.schedules import lookup
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_count
from keras_distill.schedules.schedule import check_number


@register
class Warmup(Schedule):
    """Ramps linearly from `start` to `schedule(0)`, then follows `schedule`.

    For `t < warmup_steps`, `value(t) = start + (schedule(0) - start) * t /
    warmup_steps`; afterwards `value(t) = schedule(t - warmup_steps)`.

    Args:
        schedule: The schedule that follows the warm-up: a `Schedule`, a
            number (constant) or a callable `step -> value`.
        warmup_steps: Length of the ramp, an integer >= 1.
        start: Value at step 0. Defaults to `0.0`.

    Example:

    ```python
    schedule = keras_distill.schedules.Warmup(
        keras_distill.schedules.Cosine(1.0, 0.0, steps=10), warmup_steps=2
    )
    schedule(1), schedule(2)  # 0.5, 1.0
    ```
    """

    def __init__(self, schedule, warmup_steps, start=0.0):
        self.schedule = lookup.get(schedule, "schedule")
        self.warmup_steps = check_count(warmup_steps, "warmup_steps")
        self.start = check_number(start, "start")

    def call(self, step):
        if step >= self.warmup_steps:
            return self.schedule(step - self.warmup_steps)
        target = self.schedule(0)
        return self.start + (target - self.start) * step / self.warmup_steps

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "warmup_steps": self.warmup_steps,
            "start": self.start,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)

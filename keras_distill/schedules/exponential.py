"""Exponential growth or decay from a start value."""

from keras_distill.api_export import register
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_number


@register
class Exponential(Schedule):
    """Multiplies `start` by `rate` every step, optionally bounded by `limit`.

    `value(t) = start * rate ** t`, clipped at `limit` (a floor when
    `rate < 1`, a ceiling when `rate > 1`).

    Args:
        start: Value at step 0.
        rate: Factor per step, > 0 (`< 1` decays, `> 1` grows).
        limit: Optional bound the value never passes. Defaults to `None`.

    Example:

    ```python
    schedule = keras_distill.schedules.Exponential(start=8.0, rate=0.5, limit=1.0)
    schedule(2), schedule(10)  # 2.0, 1.0
    ```
    """

    def __init__(self, start, rate, limit=None):
        self.start = check_number(start, "start")
        self.rate = check_number(rate, "rate", minimum=0.0, strict=True)
        self.limit = None if limit is None else check_number(limit, "limit")

    def call(self, step):
        value = self.start * self.rate**step
        if self.limit is None:
            return value
        return max(value, self.limit) if self.rate < 1.0 else min(value, self.limit)

    def get_config(self):
        return {"start": self.start, "rate": self.rate, "limit": self.limit}

"""Piecewise-constant values between step boundaries."""

import bisect

from keras_distill.api_export import register
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_count
from keras_distill.schedules.schedule import check_number


@register
class Piecewise(Schedule):
    """Returns `values[i]` between `boundaries[i - 1]` and `boundaries[i]`.

    Steps before `boundaries[0]` get `values[0]`; from `boundaries[i]` on
    (inclusive), `values[i + 1]`.

    Args:
        boundaries: Strictly increasing integers >= 1.
        values: One more number than `boundaries`.

    Example:

    ```python
    schedule = keras_distill.schedules.Piecewise([3, 6], [4.0, 2.0, 1.0])
    schedule(2), schedule(3), schedule(9)  # 4.0, 2.0, 1.0
    ```
    """

    def __init__(self, boundaries, values):
        if not isinstance(boundaries, (list, tuple)) or not isinstance(values, (list, tuple)):
            raise ValueError(
                "`boundaries` and `values` must be lists. Received: "
                f"boundaries={boundaries!r}, values={values!r}"
            )
        self.boundaries = [
            check_count(b, f"boundaries[{i}]") for i, b in enumerate(boundaries)
        ]
        self.values = [check_number(v, f"values[{i}]") for i, v in enumerate(values)]
        if any(a >= b for a, b in zip(self.boundaries, self.boundaries[1:])):
            raise ValueError(
                f"`boundaries` must be strictly increasing. Received: boundaries={boundaries!r}"
            )
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                "`values` must have one more entry than `boundaries`. Received "
                f"{len(self.values)} values for {len(self.boundaries)} boundaries."
            )

    def call(self, step):
        return self.values[bisect.bisect_right(self.boundaries, step)]

    def get_config(self):
        return {"boundaries": list(self.boundaries), "values": list(self.values)}

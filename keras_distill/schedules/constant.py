"""A schedule that always returns the same value."""

from keras_distill.api_export import register
from keras_distill.schedules.schedule import Schedule
from keras_distill.schedules.schedule import check_number


@register
class Constant(Schedule):
    """Returns `value` at every step.

    Args:
        value: The value, a finite number.

    Example:

    ```python
    keras_distill.schedules.Constant(4.0)(10)  # 4.0
    ```
    """

    def __init__(self, value):
        self.value = check_number(value, "value")

    def call(self, step):
        return self.value

    def get_config(self):
        return {"value": self.value}

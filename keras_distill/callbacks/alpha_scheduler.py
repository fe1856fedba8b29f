"""A callback that schedules the weight of the hard-label loss."""

from keras_distill.api_export import register
from keras_distill.callbacks.value_scheduler import ValueScheduler


@register
class AlphaScheduler(ValueScheduler):
    """Sets `distiller.alpha` (the hard-label loss weight) from a schedule.

    The loss is `alpha * student_loss + (1 - alpha) * distillation_loss`, so
    a schedule rising from 0 to 1 moves training from imitating the teacher
    to fitting the labels. Like `TemperatureScheduler`, the value is
    `.assign()`ed to a variable (no retracing), restored by
    `BackupAndRestore`, and written into `logs["alpha"]` every epoch.

    Args:
        schedule: A `keras_distill.schedules.Schedule`, a number or a
            callable `int -> float` returning values in [0, 1].
        unit: `"epoch"` or `"step"` (the optimizer's `iterations`).
            Defaults to `"epoch"`.
        verbose: 0 is quiet, 1 prints each new value. Defaults to `0`.

    Example:

    ```python
    ramp = keras_distill.callbacks.AlphaScheduler(
        keras_distill.schedules.Linear(start=0.1, end=0.9, steps=2000), unit="step"
    )
    distiller.fit(x, y, epochs=10, callbacks=[ramp])
    ```
    """

    variable = "alpha"

"""A callback that schedules the distillation temperature."""

from keras_distill.api_export import register
from keras_distill.callbacks.value_scheduler import ValueScheduler


@register
class TemperatureScheduler(ValueScheduler):
    """Sets `distiller.temperature` from a schedule, per epoch or per step.

    Shaped like `keras.callbacks.LearningRateScheduler`. The temperature is a
    non-trainable variable of the `Distiller`, so a new value takes effect in
    the next step without retracing the (possibly XLA-compiled) train
    function, and `BackupAndRestore` restores it. The value is written into
    `logs["temperature"]` at the end of each epoch.

    Args:
        schedule: A `keras_distill.schedules.Schedule`, a number or a
            callable `int -> float` returning values > 0.
        unit: `"epoch"` or `"step"` (the optimizer's `iterations`).
            Defaults to `"epoch"`.
        verbose: 0 is quiet, 1 prints each new value. Defaults to `0`.

    Example:

    ```python
    anneal = keras_distill.callbacks.TemperatureScheduler(
        keras_distill.schedules.Linear(start=8.0, end=2.0, steps=10)
    )
    distiller.fit(x, y, epochs=10, callbacks=[anneal, keras.callbacks.CSVLogger("log.csv")])
    ```
    """

    variable = "temperature"

"""A learning-rate schedule that a phase can replace by a constant."""

import keras
from keras import ops

from keras_distill.api_export import register

FOLLOW_SCHEDULE = -1.0


@register
class PhaseLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """Follows `schedule`, unless a phase has set a constant learning rate.

    `PhaseScheduler` installs this wrapper in place of an optimizer's
    `LearningRateSchedule` for the duration of `fit` when a phase sets a
    `learning_rate` (a schedule cannot be assigned a float). The constant
    lives in a variable, so switching it never retraces the train function;
    a negative value means "follow the schedule".

    Args:
        schedule: The optimizer's `keras.optimizers.schedules.LearningRateSchedule`.
        override: The constant learning rate, or `-1.0` to follow `schedule`.
            Defaults to `-1.0`.

    Example:

    ```python
    schedule = keras_distill.callbacks.PhaseLearningRate(keras.optimizers.schedules.CosineDecay(1e-3, 1000))
    schedule.override.assign(1e-4)  # a constant from now on, without retracing
    ```
    """

    def __init__(self, schedule, override=FOLLOW_SCHEDULE):
        if not isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
            raise ValueError(
                "`schedule` must be a keras.optimizers.schedules.LearningRateSchedule. "
                f"Received: schedule={schedule!r}"
            )
        self.schedule = schedule
        self.override = keras.Variable(
            float(override), dtype="float32", trainable=False, name="phase_learning_rate"
        )

    def __call__(self, step):
        scheduled = ops.convert_to_tensor(self.schedule(step))
        override = ops.cast(self.override, scheduled.dtype)
        return ops.where(override >= 0, override, scheduled)

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "override": float(keras.ops.convert_to_numpy(self.override)),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)

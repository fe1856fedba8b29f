"""Shared logic of the callbacks that schedule one Distiller variable."""

import keras

from keras_distill import schedules as schedules_lib
from keras_distill.callbacks.distiller_callback import DistillerCallback
from keras_distill.callbacks.distiller_callback import read_float

UNITS = ("epoch", "step")


class ValueScheduler(DistillerCallback):
    """Writes `schedule(epoch)` or `schedule(step)` into one Distiller variable.

    The value goes through the Distiller's property setter (validated, then
    `.assign()`ed), so the compiled train step reads it without retracing.
    `on_epoch_end` writes the value into `logs`, so `History`, `CSVLogger`
    and `TensorBoard` record it; place this callback before those in the
    `callbacks` list, as with `keras.callbacks.LearningRateScheduler`.

    Args:
        schedule: A `keras_distill.schedules.Schedule`, a number or a
            callable `int -> float`.
        unit: `"epoch"` calls the schedule with the 0-based epoch at the start
            of each epoch; `"step"` with the optimizer's `iterations` before
            each batch (each execution when `steps_per_execution > 1`),
            which a `BackupAndRestore` resume restores. Defaults to `"epoch"`.
        verbose: 0 is quiet, 1 prints each new value per epoch. Defaults to `0`.
    """

    variable = None

    def __init__(self, schedule, unit="epoch", verbose=0):
        super().__init__()
        if unit not in UNITS:
            raise ValueError(f"`unit` must be one of {UNITS}. Received: unit={unit!r}")
        self.schedule = schedules_lib.get(schedule)
        self.unit = unit
        self.verbose = verbose

    def _assign(self, step):
        raw = self.schedule(step)
        try:
            value = float(raw)
        except (TypeError, ValueError):
            value = raw
        try:
            setattr(self.distiller, self.variable, value)
        except ValueError as error:
            raise ValueError(
                f"{type(self).__name__}: the schedule returned {raw!r} at "
                f"{self.unit} {step}, which is not a valid {self.variable}. {error}"
            ) from None
        return value

    def on_epoch_begin(self, epoch, logs=None):
        if self.unit == "epoch":
            value = self._assign(epoch)
            if self.verbose > 0:
                print(
                    f"\nEpoch {epoch + 1}: {type(self).__name__} setting "
                    f"{self.variable} to {value:.6g}."
                )

    def on_train_batch_begin(self, batch, logs=None):
        if self.unit == "step":
            self._assign(int(read_float(self.distiller.optimizer.iterations)))

    def on_epoch_end(self, epoch, logs=None):
        value = read_float(getattr(self.distiller, self.variable))
        if logs is not None:
            logs[self.variable] = value
        if self.verbose > 0 and self.unit == "step":
            print(f"\nEpoch {epoch + 1}: {self.variable} is {value:.6g}.")

    def get_config(self):
        return {
            "schedule": keras.saving.serialize_keras_object(self.schedule),
            "unit": self.unit,
            "verbose": self.verbose,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["schedule"] = keras.saving.deserialize_keras_object(config["schedule"])
        return cls(**config)

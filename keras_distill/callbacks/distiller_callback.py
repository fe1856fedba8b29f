"""Base class of the callbacks that drive a Distiller's schedulable state."""

import keras
import numpy as np

from keras_distill.api_export import register


def read_float(value):
    """Returns a variable, tensor or number as a Python float (for logs)."""
    return float(np.asarray(keras.ops.convert_to_numpy(value)))


@register
class DistillerCallback(keras.callbacks.Callback):
    """A `keras.callbacks.Callback` that only works on a `keras_distill.Distiller`.

    `set_model` checks the model, so passing the callback to the `fit` of a
    plain model fails before the first step with an error that says what to
    do. Subclasses reach the model as `self.distiller`.

    Example:

    ```python
    class LogTemperature(keras_distill.callbacks.DistillerCallback):
        def on_epoch_end(self, epoch, logs=None):
            print(epoch, float(self.distiller.temperature))
    ```
    """

    def set_model(self, model):
        from keras_distill.distiller import Distiller

        if not isinstance(model, Distiller):
            raise TypeError(
                f"{type(self).__name__} drives a keras_distill.Distiller, but it was "
                f"passed to the fit of {type(model).__name__} {getattr(model, 'name', '')!r}. "
                "Pass it to `distiller.fit(..., callbacks=[...])`."
            )
        super().set_model(model)

    def before_fit(self, distiller):
        """Called by `Distiller.fit` before Keras builds the model and optimizer.

        Keras sets the callbacks' model only after that build; a callback that
        needs the optimizer built a certain way (as `PhaseScheduler` does for
        layers that a phase unfreezes) does it here. Does nothing by default.

        Args:
            distiller: The `Distiller` whose `fit` is starting.
        """

    @property
    def distiller(self):
        """The `Distiller` being trained."""
        return self.model

    def current_values(self):
        """Returns the Distiller's alpha, temperature and learning rate as floats."""
        values = {
            "alpha": read_float(self.distiller.alpha),
            "temperature": read_float(self.distiller.temperature),
        }
        optimizer = getattr(self.distiller, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "learning_rate"):
            values["learning_rate"] = read_float(optimizer.learning_rate)
        return values

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

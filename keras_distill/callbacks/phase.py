"""One stage of a multi-stage distillation run, for `PhaseScheduler`."""

from keras_distill.api_export import register
from keras_distill.core import argument_validation as validation
from keras_distill.schedules.schedule import check_count
from keras_distill.schedules.schedule import check_number


def check_trainable(trainable):
    """Returns `trainable` normalized (None, True, a tuple or a dict), or raises."""
    if trainable is None or trainable is True:
        return trainable
    if isinstance(trainable, dict) and trainable:
        for name, flag in trainable.items():
            if not isinstance(name, str) or not isinstance(flag, bool):
                raise ValueError(
                    "`trainable` as a dict maps student layer names to True "
                    f"(unfreeze) or False (freeze). Received the entry {name!r}: {flag!r}."
                )
        return dict(trainable)
    if isinstance(trainable, (list, tuple)) and trainable:
        if not all(isinstance(name, str) for name in trainable):
            raise ValueError(
                "`trainable` as a list holds student layer names (str). "
                f"Received: trainable={trainable!r}"
            )
        return tuple(trainable)
    raise ValueError(
        "`trainable` must be None (keep the previous phase's trainable layers), "
        "True (every student layer trainable), a non-empty list of student layer "
        "names (exactly those trainable, every other layer frozen) or a non-empty "
        "dict {layer_name: bool} (change only those layers). "
        f"Received: trainable={trainable!r}"
    )


@register
class Phase:
    """A named stage of training: its length and the settings it applies.

    Every setting left `None` keeps the value the previous phase (or
    `compile`, or another callback) left, so a phase states only what changes.

    Args:
        name: Phase name, logged per epoch and printed when `verbose=1`.
        epochs: Length in epochs, an integer >= 1; `None` for a last phase
            that runs until `fit` ends. Defaults to `None`.
        alpha: Weight of the hard-label loss in [0, 1], assigned when the
            phase starts (1.0 trains on the labels alone). Defaults to `None`.
        temperature: Distillation temperature > 0, assigned when the phase
            starts. Defaults to `None`.
        learning_rate: Learning rate >= 0. With a float learning rate it is
            assigned to the optimizer when the phase starts; with a
            `LearningRateSchedule` it replaces the schedule for the phase's
            epochs (phases without one follow the schedule). Defaults to `None`.
        trainable: Which student layers train, by name: `True` (all), a list
            (exactly these; every other layer is frozen) or a dict
            `{name: bool}` (freeze or unfreeze only these). A layer name
            covers its sublayers. Defaults to `None`.

    Example:

    ```python
    phases = [
        keras_distill.Phase("distill", epochs=8, alpha=0.1, temperature=4.0),
        keras_distill.Phase("head_only", epochs=2, alpha=1.0, trainable={"backbone": False}),
    ]
    ```
    """

    def __init__(
        self,
        name,
        epochs=None,
        alpha=None,
        temperature=None,
        learning_rate=None,
        trainable=None,
    ):
        if not isinstance(name, str) or not name:
            raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
        self.name = name
        self.epochs = None if epochs is None else check_count(epochs, "epochs")
        self.alpha = None if alpha is None else validation.check_alpha(alpha)
        self.temperature = (
            None if temperature is None else validation.check_temperature(temperature)
        )
        self.learning_rate = (
            None if learning_rate is None else check_number(learning_rate, "learning_rate", 0.0)
        )
        self.trainable = check_trainable(trainable)

    def get_config(self):
        trainable = self.trainable
        return {
            "name": self.name,
            "epochs": self.epochs,
            "alpha": self.alpha,
            "temperature": self.temperature,
            "learning_rate": self.learning_rate,
            "trainable": list(trainable) if isinstance(trainable, tuple) else trainable,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return isinstance(other, Phase) and self.get_config() == other.get_config()

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if v is not None)
        return f"Phase({args})"

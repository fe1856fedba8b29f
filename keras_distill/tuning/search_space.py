"""The ranges a distillation search varies: temperature, alpha, loss, consistent teaching, features."""

import numbers

from keras_distill import losses as losses_lib
from keras_distill.api_export import register
from keras_distill.core import argument_validation as validation

# "ls": logit standardization (Sun et al. 2024) is KD on z-scored logits.
_FAMILY_ARGUMENTS = {"ls": ("kd", {"standardize": True})}
DEFAULT_LOSSES = ("kd", "ls", "dkd", "dist", "jsd")


def make_loss(family):
    """A fresh distillation loss of `family` (a name of `losses.ALL_LOSSES`, or `"ls"`)."""
    name, kwargs = _FAMILY_ARGUMENTS.get(family, (family, {}))
    return losses_lib.ALL_LOSSES[name](**kwargs)


@register
class SearchSpace:
    """The ranges of a distillation search, with the field's usual defaults.

    Each setting is a fixed value, a `(low, high)` tuple (a range) or a list
    (the choices). Ranges of `temperature` and `feature_weight_scale` are
    sampled on a log scale.

    Args:
        temperature: Softening temperature, > 0. Defaults to `(1.0, 8.0)`.
        alpha: Weight of the hard-label loss, in [0, 1]. Defaults to
            `(0.0, 0.9)`.
        losses: Distillation loss families: names of
            `keras_distill.losses.ALL_LOSSES` (`"kd"`, `"dkd"`, `"dist"`,
            `"jsd"`, `"reverse_kl"`, ...) or `"ls"` (KD on standardized
            logits). Defaults to `["kd", "ls", "dkd", "dist", "jsd"]`.
        consistent_teaching: Whether the student and the teacher see the
            same augmented view (needs `augmentation` in the hypermodel);
            `[False, True]` searches both. Defaults to `[False, True]`
            (fixed at `False` without an augmentation).
        feature_weight_scale: Factor on each `FeaturePair`'s weight (one
            setting per pair; only used with `features`). Defaults to
            `(0.1, 10.0)`.

    Example:

    ```python
    space = keras_distill.tuning.SearchSpace(temperature=[2.0, 4.0], losses=["kd", "dist"])
    ```
    """

    def __init__(
        self,
        temperature=(1.0, 8.0),
        alpha=(0.0, 0.9),
        losses=DEFAULT_LOSSES,
        consistent_teaching=(False, True),
        feature_weight_scale=(0.1, 10.0),
    ):
        self.temperature = _check_setting(temperature, "temperature", validation.check_temperature)
        self.alpha = _check_setting(alpha, "alpha", validation.check_alpha)
        if isinstance(losses, str):
            losses = [losses]
        losses = list(losses)
        unknown = [f for f in losses if f not in _FAMILY_ARGUMENTS and f not in losses_lib.ALL_LOSSES]
        if not losses or unknown:
            raise ValueError(
                "`losses` must name one or more loss families among "
                f"{sorted(set(losses_lib.ALL_LOSSES) | set(_FAMILY_ARGUMENTS))}. "
                f"Received: losses={losses!r}"
            )
        self.losses = losses
        if isinstance(consistent_teaching, bool):
            consistent_teaching = [consistent_teaching]
        consistent_teaching = list(consistent_teaching)
        if not consistent_teaching or not all(isinstance(v, bool) for v in consistent_teaching):
            raise ValueError(
                "`consistent_teaching` must be True, False or a list of them (e.g. "
                f"[False, True]). Received: consistent_teaching={consistent_teaching!r}"
            )
        self.consistent_teaching = consistent_teaching
        self.feature_weight_scale = _check_setting(
            feature_weight_scale, "feature_weight_scale", validation.check_temperature
        )

    def declare(self, hp, augmented, num_features):
        """Declares the settings on a KerasTuner `HyperParameters` and returns their values.

        Args:
            hp: A `keras_tuner.HyperParameters`.
            augmented: Whether the hypermodel has an augmentation (otherwise
                consistent teaching is off).
            num_features: The number of `FeaturePair`s.

        Returns:
            A dict: `temperature`, `alpha`, `loss`, `consistent_teaching` and
            `feature_weight_scale_{i}` for each pair.
        """
        # Each setting's default is the `Distiller`'s own (within the space):
        # a search that starts from the defaults (`search(defaults_first=True)`)
        # has the untuned Distiller as its first trial.
        values = {
            "temperature": _declare(
                hp, "temperature", self.temperature, validation.DEFAULT_TEMPERATURE, log=True
            ),
            "alpha": _declare(hp, "alpha", self.alpha, validation.DEFAULT_ALPHA, log=False),
            "loss": _declare(hp, "loss", self.losses, "kd", log=False),
            "consistent_teaching": (
                _declare(hp, "consistent_teaching", self.consistent_teaching, False, log=False)
                if augmented else False
            ),
        }
        for i in range(num_features):
            name = f"feature_weight_scale_{i}"
            values[name] = _declare(hp, name, self.feature_weight_scale, 1.0, log=True)
        return values

    def get_config(self):
        return {
            "temperature": self.temperature,
            "alpha": self.alpha,
            "losses": list(self.losses),
            "consistent_teaching": list(self.consistent_teaching),
            "feature_weight_scale": self.feature_weight_scale,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __repr__(self):
        return "SearchSpace(" + ", ".join(f"{k}={v!r}" for k, v in self.get_config().items()) + ")"


def _check_setting(value, argument, check):
    """A fixed number, a `(low, high)` range or a list of choices, each checked by `check`."""
    if isinstance(value, tuple):
        if len(value) != 2:
            raise ValueError(
                f"`{argument}` as a tuple is a range `(low, high)`; pass a list for choices. "
                f"Received: {argument}={value!r}"
            )
        low, high = (check(v, argument) for v in value)
        if not low < high:
            raise ValueError(
                f"`{argument}` range needs low < high. Received: {argument}={value!r}"
            )
        return (low, high)
    if isinstance(value, list):
        if not value:
            raise ValueError(f"`{argument}` needs at least one choice. Received: {argument}=[]")
        return [check(v, argument) for v in value]
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return check(value, argument)
    raise TypeError(
        f"`{argument}` must be a number, a (low, high) tuple or a list of choices. "
        f"Received: {argument}={value!r}"
    )


def _declare(hp, name, setting, default, log):
    """Declares one setting; `default` (the Distiller's) is clipped into a range, or kept if a choice."""
    if isinstance(setting, tuple):
        low, high = setting
        return hp.Float(
            name, low, high, sampling="log" if log else "linear",
            default=min(max(default, low), high),
        )
    if isinstance(setting, list) and sorted(setting) == [False, True]:
        return hp.Boolean(name, default=default)
    if isinstance(setting, list):
        if len(setting) == 1:
            return hp.Fixed(name, setting[0])
        return hp.Choice(name, setting, default=default if default in setting else setting[0])
    return hp.Fixed(name, setting)

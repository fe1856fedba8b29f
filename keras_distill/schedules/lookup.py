"""A schedule from what a user passes: a `Schedule`, a number, a config dict or a callable."""

import numbers

import keras

from keras_distill.schedules.constant import Constant


def get(identifier, argument="schedule"):
    """Returns a callable `step -> value` from a schedule identifier.

    Args:
        identifier: A `Schedule`, a number (a `Constant`), a config dict from
            `keras.saving.serialize_keras_object`, or any callable taking one
            int (the epoch or step) and returning a number.
        argument: Name used in the error message. Defaults to `"schedule"`.

    Returns:
        A callable `step -> value`.
    """
    if isinstance(identifier, numbers.Real) and not isinstance(identifier, bool):
        return Constant(identifier)
    if isinstance(identifier, dict):
        identifier = keras.saving.deserialize_keras_object(identifier)
    if callable(identifier):
        return identifier
    raise ValueError(
        f"`{argument}` must be a keras_distill.schedules.Schedule, a number or a "
        f"callable step -> value. Received: {argument}={identifier!r} of type "
        f"{type(identifier).__name__}."
    )

"""The Distiller's hard-label loss, from whatever `compile(student_loss_fn=...)` received."""

import keras

from keras_distill.losses.adapters import FunctionLoss


def resolve(identifier):
    """A `keras.losses.Loss` (or `None`) from a loss, a loss name or config, or a function."""
    if identifier is None or isinstance(identifier, keras.losses.Loss):
        return identifier
    if isinstance(identifier, (str, dict)):
        try:
            fn = keras.losses.get(identifier)
        except (ValueError, TypeError):
            fn = None
        if fn is None:
            raise ValueError(
                f"`student_loss_fn`: unknown loss {identifier!r}. Expected a Keras "
                "loss name such as 'sparse_categorical_crossentropy', a "
                "keras.losses.Loss or a function (y_true, y_pred) -> per-sample loss."
            )
        identifier = fn
        if isinstance(fn, keras.losses.Loss):
            return fn
    if callable(identifier):
        return FunctionLoss(identifier)
    raise ValueError(
        "`student_loss_fn` must be a Keras loss, a loss name or a function. "
        f"Received: {identifier!r} of type {type(identifier).__name__}."
    )

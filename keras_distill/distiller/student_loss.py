"""The Distiller's hard-label loss, from whatever `compile(student_loss_fn=...)` received."""

import warnings

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


def either(student_loss_fn, loss):
    """The hard-label loss given as `student_loss_fn` or as its alias `loss`."""
    if loss is not None and student_loss_fn is not None:
        raise ValueError(
            "Pass the hard-label loss as `student_loss_fn` or as `loss`, not both."
        )
    return loss if student_loss_fn is None else student_loss_fn


def check_given(student_loss_fn, alpha):
    """Raises when `alpha` weights a hard-label loss that was not given."""
    if student_loss_fn is None and alpha > 0:
        raise ValueError(
            "`student_loss_fn` is required when `alpha` > 0 (received "
            f"alpha={alpha}); pass a Keras loss such as "
            "keras.losses.SparseCategoricalCrossentropy(from_logits=True), or "
            "alpha=0 to train on the teacher alone."
        )


def warn_on_logits_mismatch(student_loss_fn, activation):
    """Warns when a loss on logits meets a student that outputs probabilities.

    Called from `Distiller.compile`: the warning points at the caller's line.
    """
    from_logits = getattr(student_loss_fn, "from_logits", None)
    if from_logits is None:
        from_logits = getattr(student_loss_fn, "_fn_kwargs", {}).get("from_logits")
    if from_logits and activation in ("softmax", "sigmoid"):
        warnings.warn(
            f"The student ends in {activation} but `student_loss_fn` has "
            "from_logits=True: the hard-label loss will treat probabilities as "
            "logits. Use from_logits=False, or remove the student's final "
            "activation.",
            stacklevel=3,
        )

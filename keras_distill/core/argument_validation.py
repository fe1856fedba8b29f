"""Argument checks shared by the Distiller and the callbacks that change it."""

import numbers

import keras


def check_model(model, argument):
    """Raises unless `model` is a built `keras.Model` with a single output."""
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{argument}` must be a keras.Model. Received: {argument}={model!r} "
            f"of type {type(model).__name__}."
        )
    if not model.built:
        raise ValueError(
            f"`{argument}` ({model.name!r}) is not built. Build it first: define it "
            f"with keras.Input, call `{argument}.build(input_shape)`, or call it on "
            "a batch of data."
        )
    outputs = getattr(model, "outputs", None)
    if outputs is not None and len(outputs) != 1:
        raise ValueError(
            f"`{argument}` ({model.name!r}) must have a single output; it has "
            f"{len(outputs)}. Distil each head with its own Distiller, or wrap the "
            "model so it returns the output to distil."
        )


def check_compatible_shapes(teacher_shape, student_shape):
    """Raises when teacher and student output shapes cannot be compared."""
    teacher_shape, student_shape = tuple(teacher_shape), tuple(student_shape)
    compatible = len(teacher_shape) == len(student_shape) and all(
        t is None or s is None or t == s
        for t, s in zip(teacher_shape[1:], student_shape[1:])
    )
    if not compatible:
        raise ValueError(
            "`teacher` and `student` outputs cannot be compared: teacher output "
            f"shape {teacher_shape}, student output shape {student_shape}. They "
            "must match in every dimension except the batch."
            + (" For a teacher with another tokenizer, use keras_distill.losses.ULDLoss "
               "(see docs/teachers.md)." if len(teacher_shape) == len(student_shape) > 2
               and teacher_shape[1:-1] == student_shape[1:-1] else "")
        )


# The one set of defaults: `Distiller.compile` and the tfmot training loops use them.
DEFAULT_ALPHA = 0.1
DEFAULT_TEMPERATURE = 3.0


def check_temperature(temperature, argument="temperature"):
    """Returns `temperature` as a float, raising unless it is a number > 0."""
    if (
        isinstance(temperature, bool)
        or not isinstance(temperature, numbers.Real)
        or not temperature > 0
        or temperature != temperature
        or temperature == float("inf")
    ):
        raise ValueError(
            f"`{argument}` must be a finite number > 0. Received: {argument}={temperature!r}"
        )
    return float(temperature)


def check_alpha(alpha, argument="alpha"):
    """Returns `alpha` as a float, raising unless it is a number in [0, 1]."""
    return check_fraction(alpha, argument, "the weight of the hard-label loss")


def check_fraction(value, argument, meaning, include_one=True):
    """Returns `value` as a float, raising unless it is a number in [0, 1] (or [0, 1)).

    Args:
        value: The argument's value.
        argument: The argument's name, for the message.
        meaning: What the number weighs, for the message.
        include_one: Whether 1 is allowed. Defaults to `True`.
    """
    upper_ok = (lambda v: v <= 1.0) if include_one else (lambda v: v < 1.0)
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
        0.0 <= value and upper_ok(value)
    ):
        interval = "[0, 1]" if include_one else "[0, 1)"
        raise ValueError(
            f"`{argument}` ({meaning}) must be a number in {interval}. "
            f"Received: {argument}={value!r}"
        )
    return float(value)


def check_labels(y, y_pred):
    """Raises when the labels' static shape does not fit the student's output."""
    if y is None or not hasattr(y, "shape") or not hasattr(y_pred, "shape"):
        return
    y_shape, p_shape = tuple(y.shape), tuple(y_pred.shape)
    if len(y_shape) == len(p_shape):
        fits = y_shape[-1] in (None, 1, p_shape[-1]) or p_shape[-1] is None
    else:
        fits = len(y_shape) == len(p_shape) - 1
        fits = fits and all(
            a is None or b is None or a == b for a, b in zip(y_shape[1:], p_shape[1:-1])
        )
    if not fits:
        raise ValueError(
            f"Labels `y` of shape {y_shape} do not fit the student's output of shape "
            f"{p_shape}. Expected one-hot or regression targets of shape "
            f"{p_shape} or class indices of shape {p_shape[:-1]}."
        )

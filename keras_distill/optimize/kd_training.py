"""Distilling a `tf_keras` student against cached teacher logits.

The Keras 3 teacher never runs inside a `tf_keras` training step: its logits
are computed once (a `TeacherCache`) and travel with each sample as the
training target, next to the hard label. The loss is the `Distiller`'s:
`alpha * cross-entropy(y, s) + (1 - alpha) * kd_loss(t, s, T)`.
"""

import numbers

import keras
import numpy as np

from keras_distill.cache import TeacherCache
from keras_distill.core import argument_validation as validation
from keras_distill.core.output_logits import detect_output_activation
from keras_distill.losses.kd_loss import kd_loss

# The Distiller's defaults and checks, so the two ways of distilling agree.
DEFAULT_ALPHA = validation.DEFAULT_ALPHA
DEFAULT_TEMPERATURE = validation.DEFAULT_TEMPERATURE


def split_data(data):
    """`data` as `(x, y)`; `y` is `None` when only inputs are given."""
    if isinstance(data, tuple):
        if len(data) != 2:
            raise ValueError(
                "`data` must be the inputs `x` or a tuple `(x, y)` of inputs and "
                f"integer labels. Received a tuple of {len(data)} items."
            )
        return data
    if hasattr(data, "element_spec"):
        raise TypeError(
            "`data` must be NumPy arrays `x` or `(x, y)`, not a dataset: the teacher "
            "logits are cached per sample."
        )
    return data, None


def teacher_logits(teacher_or_cache, x):
    """Dense teacher logits for `x`, from a cache (checked against `x`) or a teacher."""
    if isinstance(teacher_or_cache, TeacherCache):
        # `inputs` rejects data other than what the cache was computed on.
        teacher_or_cache.inputs(x)
        return teacher_or_cache.dense_logits()
    # A `Distiller` is a `keras.Model`; `compute` runs its teacher.
    if isinstance(teacher_or_cache, keras.Model):
        return TeacherCache.compute(teacher_or_cache, x).dense_logits()
    raise TypeError(
        "`teacher_or_cache` must be a `keras_distill.TeacherCache`, a teacher "
        f"`keras.Model` or a `Distiller`. Received: {type(teacher_or_cache).__name__}."
    )


def check_student_logits(student, purpose):
    activation = detect_output_activation(student)
    if activation is not None:
        raise ValueError(
            f"{purpose} needs a student that outputs logits; `student` "
            f"{student.name!r} ends in {activation}. Remove the final activation "
            "(apply it after export if needed)."
        )


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}.")


def check_options(epochs, batch_size, learning_rate, temperature):
    _check_positive_int("epochs", epochs)
    _check_positive_int("batch_size", batch_size)
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, numbers.Real) or not (
        learning_rate > 0
    ):
        raise ValueError(
            f"`learning_rate` must be a positive number. Received: learning_rate={learning_rate!r}."
        )
    validation.check_temperature(temperature)


def resolve_alpha(alpha, y):
    if alpha is None:
        return DEFAULT_ALPHA if y is not None else 0.0
    alpha = validation.check_alpha(alpha)
    if alpha > 0 and y is None:
        raise ValueError(
            f"`alpha={alpha}` weights a hard-label loss, so `data` must be `(x, y)`; "
            "pass alpha=0 to distil from the teacher alone."
        )
    return float(alpha)


def targets(logits, y):
    """The training target: teacher logits, then the label as one more column."""
    logits = np.asarray(logits, "float32")
    if y is None:
        return logits
    y = np.asarray(y)
    if y.shape != logits.shape[:-1] or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(
            "`y` must hold integer class labels of shape "
            f"{logits.shape[:-1]} (one per teacher output). Received shape {y.shape} "
            f"and dtype {y.dtype}."
        )
    return np.concatenate([logits, y[..., None].astype("float32")], axis=-1)


def distillation_loss(num_classes, alpha, temperature):
    """A `tf_keras` loss on `(targets(...), student logits)` pairs."""
    import tensorflow as tf

    def loss(packed, student_logits):
        distill = kd_loss(packed[..., :num_classes], student_logits, temperature)
        if alpha == 0.0:
            return distill
        labels = tf.cast(packed[..., num_classes], "int32")
        hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels, student_logits)
        return alpha * hard + (1.0 - alpha) * distill

    return loss


def prepare(student, teacher_or_cache, data, alpha, purpose):
    """Checks the student and data; returns `(x, packed targets, num_classes, alpha)`."""
    check_student_logits(student, purpose)
    x, y = split_data(data)
    alpha = resolve_alpha(alpha, y)
    logits = teacher_logits(teacher_or_cache, x)
    packed = targets(logits, y if alpha > 0 else None)
    return x, packed, logits.shape[-1], alpha


def fit(model, tf_keras, prepared, temperature, options, callbacks=()):
    """Compiles `model` with the distillation loss and trains it.

    Args:
        model: A `tf_keras` model (possibly wrapped by tfmot).
        tf_keras: The `tf_keras` module.
        prepared: What `prepare` returned.
        temperature: Softening temperature.
        options: `epochs`, `batch_size`, `learning_rate`, `verbose`.
        callbacks: `tf_keras` callbacks. Defaults to `()`.

    Returns:
        The `tf_keras` `History`.
    """
    x, packed, num_classes, alpha = prepared
    model.compile(
        optimizer=tf_keras.optimizers.Adam(options["learning_rate"]),
        loss=distillation_loss(num_classes, alpha, temperature),
    )
    return model.fit(
        x,
        packed,
        epochs=options["epochs"],
        batch_size=options["batch_size"],
        callbacks=list(callbacks),
        shuffle=True,
        verbose=options["verbose"],
    )

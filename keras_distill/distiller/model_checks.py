"""What the Distiller checks about its teacher and student when it is built.

Mistakes that would otherwise show only at `fit` (a student for other
inputs) or never (a teacher whose probabilities are read as logits).
"""

import warnings

import keras
import numpy as np

from keras_distill.augment.batch_mix import BatchMix
from keras_distill.core import argument_validation as validation
from keras_distill.core.output_logits import output_layer
from keras_distill.lm_hooks import hooks as language

# Samples of the probe that looks at an opaque teacher's outputs.
_PROBE_BATCH = 2


def check_arguments(teacher, student, augmentation, mix):
    """Raises on `Distiller(...)` arguments that cannot work together."""
    validation.check_model(teacher, "teacher")
    validation.check_model(student, "student")
    if teacher is student:
        raise ValueError("`teacher` and `student` must be different models.")
    language.check_models(teacher, student)
    if getattr(teacher, "outputs", None) and getattr(student, "outputs", None):
        validation.check_compatible_shapes(
            teacher.outputs[0].shape, student.outputs[0].shape
        )
    check_input_shapes(teacher, student)
    if augmentation is not None and not callable(augmentation):
        raise TypeError(
            "`augmentation` must be a callable applied to a batch of inputs, such "
            "as a keras.Sequential of random preprocessing layers. Received: "
            f"augmentation={augmentation!r}."
        )
    if mix is not None and not isinstance(mix, BatchMix):
        raise TypeError(
            "`mix` must be `keras_distill.augment.MixUp(...)`, `CutMix(...)` or "
            f"None. Received: mix={mix!r}."
        )


def check_input_shapes(teacher, student):
    """Raises when teacher and student cannot take the same inputs.

    Both get the same batches in `fit`; only dimensions known on both sides
    are compared (subclassed models without symbolic inputs are skipped).
    """
    teacher_inputs = getattr(teacher, "inputs", None) or []
    student_inputs = getattr(student, "inputs", None) or []
    if len(teacher_inputs) != len(student_inputs):
        return
    for index, (t, s) in enumerate(zip(teacher_inputs, student_inputs)):
        t_shape, s_shape = tuple(t.shape), tuple(s.shape)
        fits = len(t_shape) == len(s_shape) and all(
            a is None or b is None or a == b for a, b in zip(t_shape[1:], s_shape[1:])
        )
        if not fits:
            which = "" if len(teacher_inputs) == 1 else f" {index}"
            raise ValueError(
                f"`teacher` and `student` take inputs of different shapes: teacher input"
                f"{which} shape {t_shape}, student input{which} shape {s_shape}. Both "
                "models are fed the same batches `x` in `fit`; build the student for the "
                "teacher's input shape (a resizing or reshaping layer inside the student "
                "can adapt it)."
            )


def warn_if_probabilities(teacher, teacher_activation, resolved):
    """Warns when `"auto"` reads the teacher as logits but its outputs are probabilities.

    `"auto"` knows a final softmax only from the graph (a `Softmax` or
    `Activation` layer, a `Dense(activation="softmax")`); a `Lambda` or a
    custom last layer hides it. Such an opaque teacher runs once on two
    random samples: rows in [0, 1] summing to 1 are a softmax.
    """
    if teacher_activation != "auto" or resolved is not None:
        return
    if hasattr(type(teacher), "distillation_output_activation"):
        return  # The model declares its outputs (as TeacherEnsemble does).
    layer = output_layer(teacher)
    activation = getattr(layer, "activation", None)
    if activation is not None and getattr(activation, "__name__", None) == "linear":
        return
    probe = _probe_inputs(teacher)
    if probe is None:
        return
    outputs = keras.ops.convert_to_numpy(teacher(probe, training=False))
    if outputs.ndim < 2 or outputs.shape[-1] < 2:
        return
    if (outputs.min() >= 0.0 and outputs.max() <= 1.0
            and np.allclose(outputs.sum(axis=-1), 1.0, atol=1e-3)):
        warnings.warn(
            f"The teacher {teacher.name!r} outputs probabilities (rows in [0, 1] summing "
            "to 1) behind a last layer that teacher_activation=\"auto\" cannot read "
            f"({type(layer).__name__}), so they would be taken as logits. Pass "
            "`teacher_activation=\"softmax\"` to the Distiller (and to TeacherCache.compute).",
            stacklevel=3,
        )


def _probe_inputs(model):
    """Random float inputs for `model`, or `None` where its input shapes are not all known."""
    inputs = getattr(model, "inputs", None)
    if not inputs:
        return None
    rng = np.random.default_rng(0)
    arrays = []
    for tensor in inputs:
        dtype = keras.backend.standardize_dtype(tensor.dtype)
        if not keras.backend.is_float_dtype(dtype) or None in tuple(tensor.shape[1:]):
            return None
        arrays.append(rng.normal(size=(_PROBE_BATCH,) + tuple(tensor.shape[1:])).astype(dtype))
    return arrays[0] if len(arrays) == 1 else arrays

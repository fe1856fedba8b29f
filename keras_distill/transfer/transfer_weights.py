"""Copying weights from a teacher into a student, layer by layer."""

import collections
import dataclasses

import keras

MATCH_MODES = ("name", "shape")


@dataclasses.dataclass
class TransferResult:
    """What `transfer_weights` copied.

    Args:
        copied: See Attributes.
        not_copied: See Attributes.

    Attributes:
        copied: `(student_layer, teacher_layer)` name pairs whose weights were copied.
        not_copied: Names of student layers with weights that received nothing.

    Example:

    ```python
    result = keras_distill.transfer_weights(teacher, student)
    print(result.copied, result.not_copied)
    ```
    """

    copied: list
    not_copied: list

    def __repr__(self):
        pairs = ", ".join(f"{s}<-{t}" for s, t in self.copied)
        return f"TransferResult(copied=[{pairs}], not_copied={self.not_copied})"


def _weighted_layers(model):
    """Top-level layers that own weights, by name, in model order."""
    return {layer.name: layer for layer in model.layers if layer.weights}


def _shapes(layer):
    return tuple(tuple(w.shape) for w in layer.weights)


def _check_pair(student_layer, teacher_layer):
    if _shapes(student_layer) != _shapes(teacher_layer):
        raise ValueError(
            f"`mapping`: student layer {student_layer.name!r} has weight shapes "
            f"{_shapes(student_layer)} but teacher layer {teacher_layer.name!r} has "
            f"{_shapes(teacher_layer)}; they cannot be copied."
        )


def _pairs_by_shape(student_layers, teacher_layers):
    by_signature = collections.defaultdict(list)
    for name, layer in teacher_layers.items():
        by_signature[_shapes(layer)].append(name)
    wanted = collections.defaultdict(list)
    for name, layer in student_layers.items():
        wanted[_shapes(layer)].append(name)
    pairs = {}
    for signature, student_names in wanted.items():
        teacher_names = by_signature.get(signature, [])
        if not teacher_names:
            continue
        if len(teacher_names) != len(student_names):
            raise ValueError(
                "Matching by shape is ambiguous: student layers "
                f"{student_names} and teacher layers {teacher_names} all have weight "
                f"shapes {signature}. Pass an explicit `mapping` "
                "{student_layer: teacher_layer}."
            )
        pairs.update(zip(student_names, teacher_names))
    return pairs


def transfer_weights(teacher, student, mapping=None, match="name"):
    """Copies weights from `teacher` layers into `student` layers.

    Used to initialise a student from its teacher before distilling, e.g.
    DistilBERT took every second layer of BERT.

    Args:
        teacher: The source `keras.Model` (built).
        student: The target `keras.Model` (built).
        mapping: Optional dict `{student_layer_name: teacher_layer_name}`.
            Every named layer must exist and have identical weight shapes.
        match: Without `mapping`: `"name"` copies between top-level layers of
            the same name and weight shapes; `"shape"` pairs layers whose
            weight shapes are identical, in model order, and raises when a
            shape signature occurs a different number of times in the two
            models (ambiguous). Defaults to `"name"`.

    Returns:
        A `TransferResult` listing the copied pairs and the student layers
        left untouched.

    Example:

    ```python
    result = keras_distill.transfer_weights(
        teacher, student, mapping={"block_0": "block_0", "block_1": "block_2"}
    )
    print(result.copied, result.not_copied)
    ```

    Reference:
        Sanh et al., "DistilBERT, a distilled version of BERT", 2019.
    """
    for model, argument in ((teacher, "teacher"), (student, "student")):
        if not isinstance(model, keras.Model):
            raise TypeError(
                f"`{argument}` must be a keras.Model. Received: {type(model).__name__}."
            )
        if not model.built:
            raise ValueError(f"`{argument}` ({model.name!r}) is not built.")
    if match not in MATCH_MODES:
        raise ValueError(f"`match` must be one of {MATCH_MODES}. Received: match={match!r}")
    teacher_layers = _weighted_layers(teacher)
    student_layers = _weighted_layers(student)
    if mapping is not None:
        if not isinstance(mapping, dict):
            raise TypeError(
                "`mapping` must be a dict {student_layer_name: teacher_layer_name}. "
                f"Received: {type(mapping).__name__}."
            )
        missing = [s for s in mapping if s not in student_layers]
        missing += [t for t in mapping.values() if t not in teacher_layers]
        if missing:
            raise ValueError(
                f"`mapping` names layers that do not exist or have no weights: {missing}. "
                f"Student layers: {list(student_layers)}; teacher layers: {list(teacher_layers)}."
            )
        pairs = dict(mapping)
    elif match == "name":
        pairs = {
            name: name
            for name, layer in student_layers.items()
            if name in teacher_layers and _shapes(teacher_layers[name]) == _shapes(layer)
        }
    else:
        pairs = _pairs_by_shape(student_layers, teacher_layers)
    for student_name, teacher_name in pairs.items():
        _check_pair(student_layers[student_name], teacher_layers[teacher_name])
    for student_name, teacher_name in pairs.items():
        student_layers[student_name].set_weights(teacher_layers[teacher_name].get_weights())
    return TransferResult(
        copied=list(pairs.items()),
        not_copied=[name for name in student_layers if name not in pairs],
    )

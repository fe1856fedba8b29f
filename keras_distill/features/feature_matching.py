"""Resolves feature pairs against a teacher and a student, with their adapters and losses."""

import contextlib

import keras
import numpy as np
from keras import ops

from keras_distill.features.feature_pair import FeaturePair
from keras_distill.features.feature_pair import make_adapter
from keras_distill.features.layer_capture import find_layer
from keras_distill.features.layer_capture import record_outputs

# Batch of the probe pass that finds feature shapes; a free time axis gets this length.
_PROBE_BATCH = 2
_PROBE_LENGTH = 8


def as_pairs(features):
    """`features` (pairs, `keras.distillation.FeatureDistillation`s) as a list of pairs."""
    if features is None:
        return []
    if isinstance(features, FeaturePair) or _is_keras_feature_distillation(features):
        features = [features]
    if not isinstance(features, (list, tuple)):
        raise TypeError(
            "`features` must be a list of keras_distill.features.FeaturePair (or "
            f"keras.distillation.FeatureDistillation). Received: features={features!r}"
        )
    pairs = []
    for item in features:
        if isinstance(item, dict):
            item = keras.saving.deserialize_keras_object(item)
        if _is_keras_feature_distillation(item):
            item = FeaturePair.from_keras(item)
        if not isinstance(item, FeaturePair):
            raise TypeError(
                "Each entry of `features` must be a keras_distill.features.FeaturePair "
                "or a keras.distillation.FeatureDistillation. Received: "
                f"{item!r} of type {type(item).__name__}."
            )
        pairs.append(item)
    return pairs


def _is_keras_feature_distillation(obj):
    distillation = getattr(keras, "distillation", None)
    base = getattr(distillation, "FeatureDistillation", None)
    return base is not None and isinstance(obj, base)


class FeatureMatcher:
    """The resolved layers, adapters and losses of a Distiller's feature pairs.

    Deliberately not a `keras.Layer`: the Distiller tracks the adapters itself
    (they train with the student and are saved with the Distiller), and the
    matched layers belong to the teacher and the student.

    Args:
        teacher: The teacher model.
        student: The student model.
        pairs: A list of `FeaturePair`.
    """

    def __init__(self, teacher, student, pairs):
        self.pairs = list(pairs)
        self.teacher_layers = [
            _resolve(teacher, p.teacher_layer, f"features[{i}].teacher_layer", "teacher")
            for i, p in enumerate(self.pairs)
        ]
        self.student_layers = [
            _resolve(student, p.student_layer, f"features[{i}].student_layer", "student")
            for i, p in enumerate(self.pairs)
        ]
        teacher_shapes = _probe_shapes(teacher, self.teacher_layers, "teacher")
        student_shapes = _probe_shapes(student, self.student_layers, "student")
        self.adapters = [
            _adapter_for(i, pair, s_shape, t_shape)
            for i, (pair, s_shape, t_shape) in enumerate(
                zip(self.pairs, student_shapes, teacher_shapes)
            )
        ]
        self.teacher_shapes = teacher_shapes
        self.student_shapes = student_shapes

    def resolved_pairs(self):
        """The pairs with their layers as paths (what a saved Distiller stores).

        Each pair's `adapter_layer` is the adapter in use (`None` where the
        shapes match); its `repr` shows it.
        """
        resolved = []
        for pair, t, s, adapter in zip(
            self.pairs, self.teacher_layers, self.student_layers, self.adapters
        ):
            resolved.append(FeaturePair(
                None if t is None else t[1], None if s is None else s[1], loss=pair.loss,
                weight=pair.weight, adapter=pair.adapter,
            ))
            resolved[-1].adapter_layer = adapter
        return resolved

    @contextlib.contextmanager
    def record(self, model_name):
        """Records the watched layers of the teacher or the student during one pass."""
        watched = self.teacher_layers if model_name == "teacher" else self.student_layers
        watched = [w for w in watched if w is not None]
        with record_outputs([w[0] for w in watched], [w[1] for w in watched], model_name) as rec:
            yield rec

    def teacher_features(self, recording, teacher_logits):
        """Float32 teacher features, without gradient, one per pair."""
        features = []
        for layer in self.teacher_layers:
            value = teacher_logits if layer is None else recording.output_of(layer[0])
            features.append(ops.stop_gradient(ops.cast(value, "float32")))
        return features

    def student_features(self, recording, student_logits):
        """Student features through their adapters, one per pair."""
        features = []
        for layer, adapter in zip(self.student_layers, self.adapters):
            value = student_logits if layer is None else recording.output_of(layer[0])
            if adapter is not None:
                value = adapter(value)
            features.append(value)
        return features

    def loss(self, teacher_features, student_features, sample_weight=None):
        """`sum_k weight_k * loss_k(teacher_k, student_k)`, float32."""
        total = ops.zeros((), "float32")
        for pair, t, s in zip(self.pairs, teacher_features, student_features):
            if pair.weight:
                value = pair.loss(t, s, sample_weight=sample_weight)
                total = total + pair.weight * ops.cast(value, "float32")
        return total


def _resolve(model, reference, argument, model_name):
    if reference is None:
        return None
    return find_layer(model, reference, argument, model_name)


def _probe_inputs(model, model_name):
    inputs = getattr(model, "inputs", None)
    if not inputs:
        raise ValueError(
            f"Feature matching needs to know the {model_name}'s input shape, but the "
            f"{model_name} ({model.name!r}) is a subclassed model without symbolic inputs. "
            f"Wrap it: keras.Sequential([keras.Input(shape), {model_name}]) (layers inside "
            "it are then found by name or as 'outer/inner' paths)."
        )
    arrays = []
    for tensor in inputs:
        shape = [_PROBE_BATCH] + [_PROBE_LENGTH if d is None else d for d in tensor.shape[1:]]
        arrays.append(np.zeros(shape, dtype=tensor.dtype))
    return arrays[0] if len(arrays) == 1 else arrays


def _probe_shapes(model, layers, model_name):
    """Shapes of the watched layers' outputs (or the final output), batch included."""
    if not layers:
        return []
    watched = [w for w in layers if w is not None]
    with record_outputs([w[0] for w in watched], [w[1] for w in watched], model_name) as rec:
        outputs = model(_probe_inputs(model, model_name), training=False)
    shapes = []
    for layer in layers:
        value = outputs if layer is None else rec.output_of(layer[0])
        if isinstance(value, (list, tuple, dict)):
            raise ValueError(
                f"The {model_name} has several outputs; name the layer to match instead "
                "of None (the final output)."
            )
        shapes.append((None,) + tuple(value.shape[1:]))
    return shapes


def _adapter_for(index, pair, student_shape, teacher_shape):
    same = tuple(student_shape[1:]) == tuple(teacher_shape[1:])
    if isinstance(pair.adapter, keras.layers.Layer):
        adapter = pair.adapter
        if not adapter.built:
            adapter.build(student_shape)
        out_shape = tuple(adapter.compute_output_shape(student_shape))
        if pair.loss.matches_shapes and tuple(out_shape[1:]) != tuple(teacher_shape[1:]):
            raise ValueError(
                f"`features[{index}].adapter` maps the student's {student_shape} to "
                f"{out_shape}, but the teacher's features are {teacher_shape}."
            )
        return adapter
    if not pair.loss.matches_shapes or same:
        return None
    if pair.adapter is None:
        raise ValueError(
            f"`features[{index}]`: the {pair.loss.name} loss compares features of the same "
            f"shape, but the student's are {student_shape} and the teacher's "
            f"{teacher_shape}, and adapter=None. Use adapter='auto' or a Keras layer."
        )
    return make_adapter(student_shape, teacher_shape, name=f"feature_adapter_{index}")

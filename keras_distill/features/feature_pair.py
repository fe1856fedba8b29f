"""One pair of matched layers: a teacher layer, a student layer, a loss and a weight."""

import keras

from keras_distill import losses as losses_lib
from keras_distill.api_export import register

ADAPTERS = ("auto", None)


@register
class FeaturePair:
    """Matches a student layer's output to a teacher layer's output.

    Pass a list of pairs to `Distiller(teacher, student, features=[...])`. The
    student's features come out of the same forward pass as its logits; the
    teacher's come out of its one inference pass, without gradient. The
    weighted feature losses are added to the Distiller's loss:
    `alpha * hard-label + (1 - alpha) * distillation + sum(weight * feature
    loss)`.

    Args:
        teacher_layer: The teacher layer: a name, a path through nested
            models (`"backbone/conv3"`), a layer object, or `None` for the
            teacher's logits.
        student_layer: The student layer, the same way (`None`: the
            student's logits).
        loss: A feature loss: `"hint"` (FitNets, the default),
            `"attention_transfer"`, `"similarity_preserving"`, `"rkd"`, a
            `keras_distill.losses.FeatureLoss`, or a Keras loss name or
            instance (`"mse"`, `"cosine_similarity"`).
        weight: Weight of this term, `>= 0`. Defaults to `None`: the loss's
            `default_weight` (the paper's: 1 for hint and RKD, 1000 for
            attention transfer, 3000 for similarity-preserving).
        adapter: How student features reach the teacher's shape for losses
            that compare values (`hint`, Keras losses): `"auto"` creates a
            `Dense` (vectors, sequences) or 1x1 convolution (feature maps)
            when the shapes differ; a Keras layer is used as given; `None`
            requires equal shapes. Adapters train with the student and are
            never part of the saved or exported student. Defaults to
            `"auto"`.

    Attributes:
        adapter_layer: The adapter layer in use: the `adapter` given as a
            layer, or in the pairs of `distiller.features` the one a
            Distiller created (`None` where the shapes match). `repr(pair)`
            shows it, e.g. `Dense('feature_adapter_0', 8 -> 64)`.

    Example:

    ```python
    distiller = keras_distill.Distiller(
        teacher,
        student,
        features=[
            keras_distill.features.FeaturePair("conv_3", "conv_2", loss="hint"),
            keras_distill.features.FeaturePair("embedding", "embedding", loss="rkd"),
        ],
    )
    ```
    """

    def __init__(self, teacher_layer, student_layer, loss="hint", weight=None, adapter="auto"):
        for argument, value in (("teacher_layer", teacher_layer), ("student_layer", student_layer)):
            if value is not None and not isinstance(value, (str, keras.layers.Layer)):
                raise TypeError(
                    f"`{argument}` must be a layer name, a path, a layer object or None "
                    f"(the final outputs). Received: {argument}={value!r}"
                )
        self.teacher_layer = teacher_layer
        self.student_layer = student_layer
        self.loss = losses_lib.get_feature_loss(loss)
        if weight is None:
            weight = self.loss.default_weight
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ValueError(f"`weight` must be a number >= 0. Received: weight={weight!r}")
        self.weight = float(weight)
        if adapter not in ADAPTERS and not isinstance(adapter, keras.layers.Layer):
            raise ValueError(
                "`adapter` must be 'auto', None or a Keras layer mapping the student's "
                f"features to the teacher's shape. Received: adapter={adapter!r}"
            )
        self.adapter = adapter
        # The layer in use once a Distiller resolved the pair (see `Distiller.features`).
        self.adapter_layer = adapter if isinstance(adapter, keras.layers.Layer) else None

    @classmethod
    def from_keras(cls, feature_distillation):
        """A pair from a `keras.distillation.FeatureDistillation`, same layers and loss."""
        loss = feature_distillation.loss
        if isinstance(loss, (list, tuple, dict)):
            raise ValueError(
                "A keras.distillation.FeatureDistillation with one loss per output is "
                "not supported as a feature pair; give it a single loss. Received: "
                f"loss={loss!r}"
            )
        return cls(
            feature_distillation.teacher_layer_name,
            feature_distillation.student_layer_name,
            loss=losses_lib.KerasFeatureLoss(loss),
            weight=1.0,
        )

    def __repr__(self):
        return (
            f"FeaturePair(teacher_layer={_reference(self.teacher_layer)!r}, "
            f"student_layer={_reference(self.student_layer)!r}, loss={self.loss.name!r}, "
            f"weight={self.weight}, adapter={_describe_adapter(self)})"
        )

    def get_config(self):
        adapter = self.adapter
        if isinstance(adapter, keras.layers.Layer):
            adapter = keras.saving.serialize_keras_object(adapter)
        return {
            "teacher_layer": _reference(self.teacher_layer),
            "student_layer": _reference(self.student_layer),
            "loss": keras.saving.serialize_keras_object(self.loss),
            "weight": self.weight,
            "adapter": adapter,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("adapter"), dict):
            config["adapter"] = keras.saving.deserialize_keras_object(config["adapter"])
        return cls(**config)


def _describe_adapter(pair):
    layer = pair.adapter_layer
    if layer is None:
        return repr(pair.adapter)
    kernel = getattr(layer, "kernel", None)
    if kernel is None:
        return f"{type(layer).__name__}({layer.name!r})"
    return f"{type(layer).__name__}({layer.name!r}, {kernel.shape[-2]} -> {kernel.shape[-1]})"


def _reference(layer):
    return layer.name if isinstance(layer, keras.layers.Layer) else layer


def make_adapter(student_shape, teacher_shape, name):
    """A trainable layer mapping student features to the teacher's shape.

    `Dense` on the last axis for vectors and sequences, a 1x1 convolution for
    2-D and 3-D feature maps; the axes between batch and channels must agree.
    """
    student_shape, teacher_shape = tuple(student_shape), tuple(teacher_shape)
    if student_shape[1:-1] != teacher_shape[1:-1] or len(student_shape) != len(teacher_shape):
        raise ValueError(
            f"No automatic adapter maps student features of shape {student_shape} to the "
            f"teacher's {teacher_shape}: only the last (channel) axis may differ. Pass "
            "`adapter=` a Keras layer producing the teacher's shape (for example "
            "pooling followed by a 1x1 convolution), or pick layers at the same "
            "resolution."
        )
    units = teacher_shape[-1]
    rank = len(student_shape)
    if rank in (2, 3):
        adapter = keras.layers.Dense(units, name=name)
    elif rank == 4:
        adapter = keras.layers.Conv2D(units, 1, name=name)
    elif rank == 5:
        adapter = keras.layers.Conv3D(units, 1, name=name)
    else:
        raise ValueError(
            f"No automatic adapter for features of rank {rank} (shape {student_shape}); "
            "pass `adapter=` a Keras layer."
        )
    adapter.build(student_shape)
    return adapter

"""Distillation and feature losses by name: the registries and the lookups `get`, `get_feature_loss`."""

import keras

from keras_distill.losses.adapters import KerasDistillationLossAdapter
from keras_distill.losses.adapters import KerasFeatureLoss
from keras_distill.losses.adapters import KerasLossAdapter
from keras_distill.losses.adapters import is_keras_distillation_loss
from keras_distill.losses.attention_transfer import AttentionTransfer
from keras_distill.losses.dist_loss import DISTLoss
from keras_distill.losses.distillation_loss import DistillationLoss
from keras_distill.losses.divergence_losses import GeneralizedJSD
from keras_distill.losses.divergence_losses import ReverseKL
from keras_distill.losses.divergence_losses import SkewKL
from keras_distill.losses.divergence_losses import SkewReverseKL
from keras_distill.losses.divergence_losses import TotalVariation
from keras_distill.losses.dkd_loss import DKDLoss
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.hint_loss import HintLoss
from keras_distill.losses.kd_loss import KDLoss
from keras_distill.losses.logit_mse import LogitMSE
from keras_distill.losses.relational import RKDLoss
from keras_distill.losses.similarity_preserving import SimilarityPreserving
from keras_distill.losses.soft_target_cross_entropy import SoftTargetCrossEntropy
from keras_distill.losses.uld_loss import ULDLoss

ALL_LOSSES = {
    "kd_loss": KDLoss,
    "kd": KDLoss,
    "soft_target_cross_entropy": SoftTargetCrossEntropy,
    "logit_mse": LogitMSE,
    "dkd_loss": DKDLoss,
    "dkd": DKDLoss,
    "dist_loss": DISTLoss,
    "dist": DISTLoss,
    "forward_kl": KDLoss,
    "reverse_kl": ReverseKL,
    "jsd": GeneralizedJSD,
    "generalized_jsd": GeneralizedJSD,
    "skew_kl": SkewKL,
    "skew_reverse_kl": SkewReverseKL,
    "tvd": TotalVariation,
    "total_variation": TotalVariation,
    "uld": ULDLoss,
    "uld_loss": ULDLoss,
}

FEATURE_LOSSES = {
    "hint": HintLoss,
    "hint_loss": HintLoss,
    "fitnets": HintLoss,
    "attention": AttentionTransfer,
    "attention_transfer": AttentionTransfer,
    "at": AttentionTransfer,
    "similarity": SimilarityPreserving,
    "similarity_preserving": SimilarityPreserving,
    "sp": SimilarityPreserving,
    "rkd": RKDLoss,
    "rkd_loss": RKDLoss,
}


def get_feature_loss(identifier):
    """Returns a feature loss from an identifier.

    Args:
        identifier: `None` (a `HintLoss`), one of the names in
            `FEATURE_LOSSES` (`"hint"`, `"attention_transfer"`,
            `"similarity_preserving"`, `"rkd"`, and short forms), a
            `FeatureLoss`, a Keras loss name (`"mse"`, `"cosine_similarity"`,
            ...), a `keras.losses.Loss`, a function `(y_true, y_pred)`, or a
            config dict.

    Returns:
        A `FeatureLoss`.

    Example:

    ```python
    loss = keras_distill.losses.get_feature_loss("at")  # an AttentionTransfer
    ```
    """
    if identifier is None:
        return HintLoss()
    if isinstance(identifier, dict):
        identifier = keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, FeatureLoss):
        return identifier
    if isinstance(identifier, str):
        if identifier in FEATURE_LOSSES:
            return FEATURE_LOSSES[identifier]()
        try:
            keras.losses.get(identifier)
        except ValueError:
            raise ValueError(
                f"`loss`: unknown feature loss {identifier!r}. Expected one of "
                f"{sorted(FEATURE_LOSSES)} or a Keras loss name such as 'mse'."
            ) from None
        return KerasFeatureLoss(identifier)
    if isinstance(identifier, keras.losses.Loss) or callable(identifier):
        return KerasFeatureLoss(identifier)
    raise ValueError(
        "`loss` must be a feature loss name, a keras_distill FeatureLoss, a "
        f"keras.losses.Loss or a callable. Received: {identifier!r} of type "
        f"{type(identifier).__name__}."
    )


def get(identifier):
    """Returns a distillation loss callable from an identifier.

    Args:
        identifier: `None` (a `KDLoss`), one of the names `"kd_loss"`, `"kd"`,
            `"soft_target_cross_entropy"`, `"logit_mse"`, `"dkd_loss"`,
            `"dist_loss"`, the divergences `"forward_kl"`, `"reverse_kl"`,
            `"jsd"`, `"skew_kl"`, `"skew_reverse_kl"`, `"tvd"`, a Keras loss name
            (used like the keras.io example: on softened probabilities, times
            T²), a `DistillationLoss`, a `keras.losses.Loss`, a
            `keras.distillation.DistillationLoss`, or a config dict.

    Returns:
        A callable `(teacher_outputs, student_outputs, sample_weight=None,
        temperature=1.0, activation=None) -> scalar`.

    Example:

    ```python
    loss = keras_distill.losses.get("kd")  # a KDLoss
    ```
    """
    if identifier is None:
        return KDLoss()
    if isinstance(identifier, dict):
        identifier = keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, DistillationLoss):
        return identifier
    if isinstance(identifier, str):
        if identifier in ALL_LOSSES:
            return ALL_LOSSES[identifier]()
        try:
            keras_loss = keras.losses.get(identifier)
        except ValueError:
            keras_loss = None
        if keras_loss is None:
            raise ValueError(
                "`distillation_loss_fn`: unknown loss name "
                f"{identifier!r}. Expected one of {sorted(ALL_LOSSES)} or a "
                "Keras loss name such as 'kl_divergence'."
            )
        return KerasLossAdapter(keras_loss)
    if is_keras_distillation_loss(identifier):
        return KerasDistillationLossAdapter(identifier)
    if isinstance(identifier, keras.losses.Loss) or callable(identifier):
        return KerasLossAdapter(identifier)
    raise ValueError(
        "`distillation_loss_fn` must be a loss name, a keras_distill loss, a "
        "keras.losses.Loss, a keras.distillation.DistillationLoss or a callable. "
        f"Received: {identifier!r} of type {type(identifier).__name__}."
    )

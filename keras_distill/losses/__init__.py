"""Distillation losses: each a function and a registered `keras.losses.Loss` class."""

from keras_distill.losses.adapters import KerasFeatureLoss
from keras_distill.losses.attention_transfer import AttentionTransfer
from keras_distill.losses.attention_transfer import attention_map
from keras_distill.losses.attention_transfer import attention_transfer_loss
from keras_distill.losses.dist_loss import DISTLoss
from keras_distill.losses.dist_loss import dist_loss
from keras_distill.losses.distillation_loss import DistillationLoss
from keras_distill.losses.divergence_losses import Divergence
from keras_distill.losses.divergence_losses import GeneralizedJSD
from keras_distill.losses.divergence_losses import ReverseKL
from keras_distill.losses.divergence_losses import SkewKL
from keras_distill.losses.divergence_losses import SkewReverseKL
from keras_distill.losses.divergence_losses import TotalVariation
from keras_distill.losses.divergences import generalized_jsd
from keras_distill.losses.divergences import reverse_kl
from keras_distill.losses.divergences import skew_kl
from keras_distill.losses.divergences import skew_reverse_kl
from keras_distill.losses.divergences import total_variation
from keras_distill.losses.dkd_loss import DKDLoss
from keras_distill.losses.dkd_loss import dkd_loss
from keras_distill.losses.feature_loss import FeatureLoss
from keras_distill.losses.hint_loss import HintLoss
from keras_distill.losses.hint_loss import hint_loss
from keras_distill.losses.kd_loss import KDLoss
from keras_distill.losses.kd_loss import kd_loss
from keras_distill.losses.kd_loss import standardize_logits
from keras_distill.losses.logit_mse import LogitMSE
from keras_distill.losses.logit_mse import logit_mse
from keras_distill.losses.registry import ALL_LOSSES
from keras_distill.losses.registry import FEATURE_LOSSES
from keras_distill.losses.registry import get
from keras_distill.losses.registry import get_feature_loss
from keras_distill.losses.relational import RKDLoss
from keras_distill.losses.relational import rkd_loss
from keras_distill.losses.similarity_preserving import SimilarityPreserving
from keras_distill.losses.similarity_preserving import similarity_preserving_loss
from keras_distill.losses.soft_target_cross_entropy import SoftTargetCrossEntropy
from keras_distill.losses.soft_target_cross_entropy import soft_target_cross_entropy
from keras_distill.losses.top_k import compress_top_k
from keras_distill.losses.top_k import spread_tail_kl
from keras_distill.losses.top_k import top_k_divergence
from keras_distill.losses.top_k import top_k_kl
from keras_distill.losses.uld_loss import ULDLoss
from keras_distill.losses.uld_loss import uld_loss
from keras_distill.losses.uld_loss import uld_top_k_loss

__all__ = [
    "AttentionTransfer",
    "attention_map",
    "attention_transfer_loss",
    "FeatureLoss",
    "HintLoss",
    "hint_loss",
    "KerasFeatureLoss",
    "RKDLoss",
    "rkd_loss",
    "SimilarityPreserving",
    "similarity_preserving_loss",
    "FEATURE_LOSSES",
    "get_feature_loss",
    "DISTLoss",
    "dist_loss",
    "DistillationLoss",
    "Divergence",
    "GeneralizedJSD",
    "generalized_jsd",
    "ReverseKL",
    "reverse_kl",
    "SkewKL",
    "skew_kl",
    "SkewReverseKL",
    "skew_reverse_kl",
    "TotalVariation",
    "total_variation",
    "compress_top_k",
    "spread_tail_kl",
    "top_k_divergence",
    "top_k_kl",
    "ULDLoss",
    "uld_loss",
    "uld_top_k_loss",
    "DKDLoss",
    "dkd_loss",
    "KDLoss",
    "kd_loss",
    "standardize_logits",
    "LogitMSE",
    "logit_mse",
    "SoftTargetCrossEntropy",
    "soft_target_cross_entropy",
    "ALL_LOSSES",
    "get",
]

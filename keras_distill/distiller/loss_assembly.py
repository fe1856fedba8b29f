"""How the Distiller's loss is assembled from its terms, for `compute_loss`.

In a training step `Distiller.call` returns a dict (see `batch_views`): the
student's outputs, the teacher's logits and, where used, the mixing shares
and the matched features. From it the total is

`alpha * hard-label loss + (1 - alpha) * distillation loss
 + feature losses + the student's regularization losses`,

every term as this replica's share of the global-batch mean (so the shares
sum to the single-device value under `tf.distribute`), in float32. The
`student_loss`, `distillation_loss` and `feature_loss` trackers get each
replica's local mean instead. Outside a training step (`evaluate`) the total
is the hard-label loss plus regularization.
"""

import keras
from keras import ops

from keras_distill.core import argument_validation as validation
from keras_distill.core import distribution
from keras_distill.core import token_masks
from keras_distill.distiller import batch_views
from keras_distill.losses.distillation_loss import check_reads_top_k

_BATCH_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


def total_loss(distiller, x, y, y_pred, sample_weight):
    """`Distiller.compute_loss`: the total loss of one batch, with the trackers updated."""
    outputs = student_outputs(y_pred)
    # One cross-replica reduction per step, shared by every loss term.
    correction = distribution.global_batch_correction(outputs)
    if in_training_step(y_pred):
        total, student_loss, distillation_loss = distillation_terms(
            distiller, y, outputs, y_pred[batch_views.TEACHER], sample_weight, correction,
            y_pred.get(batch_views.SHARES), y_pred.get(batch_views.PARTNERS),
        )
        if batch_views.TEACHER_FEATURES in y_pred:
            feature_loss = _corrected(distiller._features.loss(
                y_pred[batch_views.TEACHER_FEATURES], y_pred[batch_views.STUDENT_FEATURES],
                sample_weight,
            ), correction)
            total = total + feature_loss
            distiller.feature_loss_tracker.update_state(
                _local_mean(feature_loss, correction), sample_weight=ops.shape(outputs)[0]
            )
        distiller.non_finite_tracker.update_state(x, y_pred[batch_views.TEACHER], total)
    else:
        student_loss = hard_label_loss(distiller, y, outputs, sample_weight, correction)
        distillation_loss = None
        total = with_regularization(distiller, student_loss)
    batch_size = ops.shape(outputs)[0]
    # Log each replica's local mean weighted by its local batch, so the
    # epoch means are global-batch means even for uneven last batches
    # (the shares above are scaled for the gradient, not for logging).
    batch_mean = getattr(distiller.student_loss_fn, "reduction", None) in _BATCH_MEAN_REDUCTIONS
    distiller.student_loss_tracker.update_state(
        _local_mean(student_loss, correction if batch_mean else 1.0), sample_weight=batch_size
    )
    if distillation_loss is not None:
        distiller.distillation_loss_tracker.update_state(
            _local_mean(distillation_loss, correction), sample_weight=batch_size
        )
    return total


def distillation_terms(
    distiller, y, y_pred, teacher_logits, sample_weight, correction, shares, partners
):
    """`(total, hard-label loss, distillation loss)`, each this replica's share."""
    # A top-k cache stays sparse; the distillation loss reads its fields.
    if isinstance(teacher_logits, dict):
        check_reads_top_k(distiller.distillation_loss_fn)
    elif getattr(distiller.distillation_loss_fn, "vocabulary_free", False):
        # Sorted probabilities (ULD): only the positions must match, not the vocabularies.
        validation.check_compatible_shapes(teacher_logits.shape[:-1], y_pred.shape[:-1])
    else:
        validation.check_compatible_shapes(teacher_logits.shape, y_pred.shape)
    alpha = ops.cast(distiller._alpha, "float32")
    if shares is None:
        student_loss = hard_label_loss(distiller, y, y_pred, sample_weight, correction)
    else:
        student_loss = _mixed_hard_label_loss(
            distiller, y, y_pred, sample_weight, correction, shares, partners
        )
    # Sequence outputs with a Keras mask: the distillation loss averages
    # over the valid tokens, as the hard-label Keras loss does.
    distillation_weight = token_masks.masked_weights(
        sample_weight, token_masks.keras_mask(y_pred)
    )
    distillation_loss_fn = distiller.distillation_loss_fn
    extra = {}
    if getattr(distillation_loss_fn, "uses_labels", False):
        extra["labels"] = y
    if getattr(distillation_loss_fn, "uses_step", False):
        extra["step"] = distiller.optimizer.iterations if distiller.optimizer is not None else 0
    distillation_loss = distillation_loss_fn(
        teacher_logits,
        distiller.student_logits(y_pred),
        sample_weight=distillation_weight,
        temperature=distiller._temperature,
        activation=(
            distiller._teacher_output_activation or distiller._student_output_activation
        ),
        **extra,
    )
    distillation_loss = _corrected(ops.cast(distillation_loss, "float32"), correction)
    total = alpha * student_loss + (1.0 - alpha) * distillation_loss
    total = with_regularization(distiller, total)
    return total, student_loss, distillation_loss


def hard_label_loss(distiller, y, y_pred, sample_weight, correction):
    """The hard-label loss as this replica's share of the global-batch mean."""
    loss_fn = distiller.student_loss_fn
    if loss_fn is None:
        return ops.zeros((), "float32")
    validation.check_labels(y, y_pred)
    if sample_weight is not None:
        # Keras losses apply a Keras mask with `sample_weight *= mask`, which
        # on torch rescales the caller's tensor in place: the distillation
        # terms would get the mask twice. The loss gets its own copy.
        sample_weight = ops.copy(sample_weight)
    loss = ops.cast(loss_fn(y, y_pred, sample_weight), "float32")
    if getattr(loss_fn, "reduction", None) in _BATCH_MEAN_REDUCTIONS:
        loss = _corrected(loss, correction)
    return loss


def _mixed_hard_label_loss(distiller, y, y_pred, sample_weight, correction, shares, partners):
    """`mean_i w_i (s_i * l(y_i) + (1 - s_i) * l(y_partner(i)))` for mixed inputs."""
    if distiller.student_loss_fn is None:
        return ops.zeros((), "float32")
    weight = ops.ones_like(shares) if sample_weight is None else ops.reshape(
        ops.cast(sample_weight, "float32"), ops.shape(shares)
    )
    partner_y = keras.tree.map_structure(lambda t: ops.take(t, partners, axis=0), y)
    own = hard_label_loss(distiller, y, y_pred, weight * shares, correction)
    other = hard_label_loss(distiller, partner_y, y_pred, weight * (1.0 - shares), correction)
    return own + other


def with_regularization(distiller, loss):
    """`loss` plus the student's regularization losses of this forward pass."""
    # On JAX the trainer hands the losses collected during the forward pass
    # to `compute_loss` through `_losses_override`; the teacher is frozen,
    # so they are the student's (and any augmentation layer's).
    extra = distiller._losses_override or distiller.student.losses
    if not extra:
        return loss
    total = ops.sum([ops.cast(ops.sum(value), "float32") for value in extra])
    return loss + distribution.scale_loss(total)


def reported_losses(distiller, logs, y_pred):
    """`compute_metrics`'s logs, without the trackers that hold nothing here."""
    if not in_training_step(y_pred):
        logs.pop(distiller.distillation_loss_tracker.name, None)
        logs.pop("feature_loss", None)
        logs.pop(distiller.non_finite_tracker.name, None)
    if distiller.student_loss_fn is None:
        # Without a hard-label loss the tracker only ever holds zeros.
        logs.pop(distiller.student_loss_tracker.name, None)
    return logs


def in_training_step(y_pred):
    """Whether `y_pred` is what `Distiller.call` returns inside a training step."""
    return isinstance(y_pred, dict) and batch_views.TEACHER in y_pred


def student_outputs(y_pred):
    """The student's outputs, from what `Distiller.call` returned."""
    if isinstance(y_pred, dict) and batch_views.STUDENT in y_pred:
        return y_pred[batch_views.STUDENT]
    return y_pred


def _corrected(loss, correction):
    """`loss * correction`, without an op where there is nothing to correct."""
    if isinstance(correction, float) and correction == 1.0:
        return loss
    return loss * correction


def _local_mean(share, correction):
    """A replica's loss share back to its local-batch mean (0 for an empty replica)."""
    value = distribution.unscale_loss(share)
    if isinstance(correction, float):
        return value if correction == 1.0 else value / correction
    return ops.divide_no_nan(value, correction)

"""The input structure that carries cached teacher logits through `fit`.

`fit` slices every array of `x` with the same indices as `y` and
`sample_weight`, whether it shuffles NumPy arrays itself or reads a user's
shuffled `tf.data` pipeline. Putting the cached logits inside `x` therefore
keeps each sample's teacher output with that sample by construction. The
structure is a dict under reserved keys, so it cannot be mistaken for a
model's own dict inputs.
"""

import numpy as np
from keras import ops

INPUTS_KEY = "keras_distill_inputs"
LOGITS_KEY = "keras_distill_teacher_logits"
TOP_K_KEY = "keras_distill_teacher_top_k"
# Per-sample seeds of the cached augmented views, shape (samples, views).
VIEW_SEEDS_KEY = "keras_distill_view_seeds"
TOP_K_FIELDS = ("values", "indices", "fill")
# log() of the smallest normal float32: the least tail mass a top-k cache keeps.
LOG_FLOOR = float(np.log(np.finfo(np.float32).tiny))


def is_packed(x):
    """Whether `x` is a structure made by `pack` (inputs plus cached logits)."""
    return isinstance(x, dict) and INPUTS_KEY in x and (LOGITS_KEY in x or TOP_K_KEY in x)


def pack(inputs, teacher_outputs, view_seeds=None):
    """Returns `{inputs, cached teacher outputs[, view seeds]}` under the reserved keys.

    Args:
        inputs: The model inputs (an array or a nested structure of arrays).
        teacher_outputs: Dense logits, or a dict with the `TOP_K_FIELDS`;
            with views, of shape `(samples, views, ..., classes)`.
        view_seeds: For a cache of augmented views, the int32 seed of each
            sample's views, shape `(samples, views)`. Defaults to `None`.
    """
    if is_packed(inputs):
        raise ValueError(
            "`x` already carries cached teacher logits; pass the plain model "
            "inputs to `TeacherCache.inputs`/`TeacherCache.dataset`."
        )
    key = TOP_K_KEY if isinstance(teacher_outputs, dict) else LOGITS_KEY
    packed = {INPUTS_KEY: inputs, key: teacher_outputs}
    if view_seeds is not None:
        packed[VIEW_SEEDS_KEY] = view_seeds
    return packed


def view_seeds(x):
    """The per-sample view seeds of packed inputs, or `None` (no cached views)."""
    if not is_packed(x):
        return None
    return x.get(VIEW_SEEDS_KEY)


def unpack(x):
    """Splits `x` into `(model inputs, cached teacher outputs or None)`."""
    if not is_packed(x):
        return x, None
    cached = x[LOGITS_KEY] if LOGITS_KEY in x else x[TOP_K_KEY]
    return x[INPUTS_KEY], cached


def cached_teacher_logits(cached, teacher, student):
    """Dense float32 teacher logits from a batch of cached outputs.

    Args:
        cached: Dense logits, or a dict of top-k `values`, `indices` and the
            per-sample `fill` logit of the classes outside the top k.
        teacher: The teacher; its output size expands top-k caches.
        student: The student, whose output size is used when the teacher's
            is unknown.

    Returns:
        A float32 tensor without gradient.
    """
    if not isinstance(cached, dict):
        return ops.stop_gradient(ops.cast(cached, "float32"))
    for model in (teacher, student):
        outputs = getattr(model, "outputs", None)
        if outputs and outputs[0].shape[-1] is not None:
            return expand_top_k(cached, outputs[0].shape[-1])
    raise ValueError(
        "A top-k teacher cache needs the number of classes: give the teacher or "
        "the student a known output shape (build it with keras.Input), or cache "
        "dense logits (`top_k=None`)."
    )


def expand_top_k(cached, num_classes):
    """Dense logits from top-k `values`, `indices` and `fill`.

    Top-k entries are copied exactly; the other classes get `fill`.
    """
    values = ops.cast(cached["values"], "float32")
    indices = ops.cast(cached["indices"], "int32")
    fill = ops.cast(cached["fill"], "float32")
    batch_shape = ops.shape(values)[:-1]
    k = values.shape[-1]
    rows = ops.reshape(ops.repeat(ops.arange(ops.size(fill), dtype="int32"), k), (-1, 1))
    positions = ops.concatenate([rows, ops.reshape(indices, (-1, 1))], axis=-1)
    dense = ops.broadcast_to(ops.reshape(fill, (-1, 1)), (ops.size(fill), num_classes))
    dense = ops.scatter_update(dense, positions, ops.reshape(values, (-1,)))
    return ops.stop_gradient(ops.reshape(dense, tuple(batch_shape) + (num_classes,)))


def compress_top_k(logits, k):
    """Top-k values and indices of `logits`, and the fill logit of the rest.

    The fill gives each of the `C - k` remaining classes an equal share of the
    teacher's residual probability mass, so softmax of the expanded logits
    keeps the exact top-k probabilities and sums to one. Runs in `keras.ops`
    inside the compiled teacher pass.

    Returns:
        A dict with `values` (float32), `indices` (int32) and `fill` (float32).
    """
    logits = ops.cast(logits, "float32")
    num_classes = logits.shape[-1]
    values, indices = ops.top_k(logits, k)
    indices = ops.cast(indices, "int32")
    flat = ops.reshape(logits, (-1, num_classes))
    rows = ops.reshape(ops.repeat(ops.arange(ops.shape(flat)[0], dtype="int32"), k), (-1, 1))
    positions = ops.concatenate([rows, ops.reshape(indices, (-1, 1))], axis=-1)
    lowest = ops.full((ops.shape(positions)[0],), float(np.finfo(np.float32).min))
    tail = ops.scatter_update(flat, positions, lowest)
    log_total = ops.logsumexp(flat, axis=-1)
    log_tail = ops.maximum(ops.logsumexp(tail, axis=-1) - log_total, LOG_FLOOR)
    fill = log_total + log_tail - float(np.log(max(num_classes - k, 1)))
    fill = ops.reshape(fill, ops.shape(values)[:-1])
    return {"values": values, "indices": indices, "fill": fill}

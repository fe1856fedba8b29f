"""The input structure that carries cached teacher logits through `fit`.

`fit` slices every array of `x` with the same indices as `y` and
`sample_weight`, whether it shuffles NumPy arrays itself or reads a user's
shuffled `tf.data` pipeline. Putting the cached logits inside `x` therefore
keeps each sample's teacher output with that sample by construction. The
structure is a dict under reserved keys, so it cannot be mistaken for a
model's own dict inputs.
"""

from keras import ops

INPUTS_KEY = "keras_distill_inputs"
LOGITS_KEY = "keras_distill_teacher_logits"
TOP_K_KEY = "keras_distill_teacher_top_k"
# Per-sample seeds of the cached augmented views, shape (samples, views).
VIEW_SEEDS_KEY = "keras_distill_view_seeds"
# A top-k cache per position: k class ids (int32), the teacher's log-probabilities
# there and its probability mass outside them (see keras_distill/losses/top_k.py).
TOP_K_FIELDS = ("indices", "log_probs", "tail_mass")


def is_packed(x):
    """Whether `x` is a structure made by `pack` (inputs plus cached logits)."""
    return isinstance(x, dict) and INPUTS_KEY in x and (LOGITS_KEY in x or TOP_K_KEY in x)


def pack(inputs, teacher_outputs, view_seeds=None):
    """Returns `{inputs, cached teacher outputs[, view seeds]}` under the reserved keys.

    Args:
        inputs: The model inputs (an array or a nested structure of arrays).
        teacher_outputs: Dense logits, or a dict of the `TOP_K_FIELDS`;
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


def cached_teacher_logits(cached):
    """The teacher's outputs for a batch of cached outputs, without gradient.

    Args:
        cached: Dense logits, or a dict of the `TOP_K_FIELDS`: per position
            the `indices` of the teacher's k most likely classes, its
            `log_probs` there and its `tail_mass` outside them.

    Returns:
        Float32 logits, or the top-k dict (kept sparse: the distillation
        loss reads it as it is, see `keras_distill.losses.top_k`).
    """
    if not isinstance(cached, dict):
        return ops.stop_gradient(ops.cast(cached, "float32"))
    return {name: ops.stop_gradient(value) for name, value in cached.items()}

"""The teacher's own tail outside its top k: the prior for a top-k cache's spread tail.

A top-k cache keeps, per position, the teacher's k most likely ids and one
tail mass. `KDLoss(top_k_tail=..., top_k_prior=prior)` spreads that mass over
the other ids in proportion to a prior; the best prior measured
(benchmarks/results/token_distillation.md and language_models.md) is the
teacher's probability outside its top k, summed over the training tokens. It
needs the teacher's full distribution, which the cache no longer holds, so it
is computed from a pass of the teacher over the same inputs.
"""

import keras
import numpy as np
from keras import ops

from keras_distill.cache import teacher_pass
from keras_distill.core import data_checks


def teacher_tail_prior(
    teacher, x, top_k, sample_weight=None, batch_size=64, teacher_activation="auto"
):
    """Sums the teacher's probability outside its `top_k` ids over the training positions.

    Pass the result as `top_k_prior` of `KDLoss` (or `prior` of
    `keras_distill.losses.top_k_kl`) with a cache computed by
    `TeacherCache.compute(teacher, x, top_k=top_k)`.

    Args:
        teacher: The teacher `keras.Model`, or a `Distiller` (its teacher and
            `teacher_activation` are used).
        x: The training inputs, as given to `TeacherCache.compute`.
        top_k: The cache's `top_k`, a positive int.
        sample_weight: Weights of the positions (the leading axes of the
            teacher's outputs, e.g. `(samples, sequence)`): 0 leaves padding
            out. Defaults to `None` (every position counts).
        batch_size: Samples per teacher call. Defaults to `64`.
        teacher_activation: As in `TeacherCache.compute`. Defaults to `"auto"`.

    Returns:
        A float64 NumPy vector, one positive weight per id (ids never in any
        tail get a tiny weight, so the prior stays valid).

    Example:

    ```python
    cache = keras_distill.TeacherCache.compute(teacher, x, top_k=8)
    prior = keras_distill.cache.teacher_tail_prior(teacher, x, 8, sample_weight=w)
    loss = keras_distill.losses.KDLoss(top_k_tail=0.5, top_k_prior=prior)
    ```
    """
    teacher, teacher_activation = teacher_pass.unwrap(teacher, teacher_activation)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ValueError(f"`top_k` must be a positive int. Received: top_k={top_k!r}.")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int. Received: batch_size={batch_size!r}.")
    data_checks.check_samples(x, "x")
    logits_fn = teacher_pass.logits_fn(teacher, teacher_activation)
    count = np.shape(keras.tree.flatten(x)[0])[0]
    if sample_weight is not None and np.shape(sample_weight)[0] != count:
        raise ValueError(
            f"`sample_weight` must have one row per sample of `x` ({count}). "
            f"Received shape {np.shape(sample_weight)}."
        )
    total = None
    for start in range(0, count, batch_size):
        rows = slice(start, start + batch_size)
        batch = keras.tree.map_structure(lambda a, rows=rows: a[rows], x)
        tail = _tail(ops.cast(logits_fn(batch), "float32"), top_k)
        if sample_weight is not None:
            weights = ops.convert_to_tensor(
                np.asarray(sample_weight[rows], np.float32)
            )
            if len(weights.shape) != len(tail.shape) - 1:
                raise ValueError(
                    "`sample_weight` must weigh the positions of the teacher's outputs "
                    f"(shape {tuple(tail.shape[:-1])} for this batch). Received a batch of "
                    f"shape {tuple(weights.shape)}."
                )
            tail = tail * ops.expand_dims(weights, -1)
        summed = np.asarray(ops.convert_to_numpy(ops.reshape(tail, (-1, tail.shape[-1]))),
                            np.float64).sum(0)
        total = summed if total is None else total + summed
    if total is None or not total.sum() > 0:
        raise ValueError(
            "The teacher leaves no probability outside its top k on the weighted positions "
            f"(top_k={top_k}, or every weight is 0): there is no tail to take a prior from."
        )
    return total + 1e-12 * total.sum()


def _tail(logits, top_k):
    """The softmax with the `top_k` largest probabilities of each position set to 0."""
    vocabulary = logits.shape[-1]
    if top_k > vocabulary:
        raise ValueError(
            f"`top_k` must be at most the teacher's {vocabulary} classes. Received: top_k={top_k}."
        )
    probabilities = ops.softmax(logits, axis=-1)
    _, indices = ops.top_k(probabilities, k=top_k)
    kept = ops.zeros_like(probabilities)
    # One id at a time: a one-hot of all k ids at once would be k times the logits' size.
    for j in range(top_k):
        kept = kept + ops.one_hot(indices[..., j], vocabulary, dtype=probabilities.dtype)
    return probabilities * (1.0 - kept)

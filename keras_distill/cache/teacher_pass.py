"""What every teacher cache does before and while it runs the teacher.

`TeacherCache` and `ShardedTeacherCache` both run a frozen teacher over the
training inputs once. They share the three steps here: refuse a multi-process
JAX run (Keras's `predict` cannot return each process's own outputs there),
resolve the teacher's logits function, and fingerprint the teacher together
with how its outputs were turned into logits and stored.
"""

import keras

from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.core.output_logits import TeacherLogits
from keras_distill.core.output_logits import resolve_output_activation
from keras_distill.distiller.distiller import Distiller


def check_single_process(builder, loader):
    """Raises in a multi-process JAX run, where `predict` cannot return local outputs.

    Args:
        builder: What runs the teacher, for the message (`"TeacherCache.compute"`).
        loader: How the training processes load a cache built beforehand.
    """
    if keras.backend.backend() != "jax" or keras.distribution.distribution() is None:
        return
    import jax

    if jax.process_count() > 1:
        raise RuntimeError(
            f"{builder} runs the teacher with Keras's `predict`, which cannot "
            f"return per-process outputs across {jax.process_count()} JAX processes. "
            "Compute each process's shard in a single-process run (before "
            "keras.distribution.initialize), save it, and load it in the training "
            f"processes with {loader} (see docs/distributed.md)."
        )


def unwrap(teacher, teacher_activation):
    """A `Distiller` stands for its teacher (with its `teacher_activation`)."""
    if isinstance(teacher, Distiller):
        return teacher.teacher, teacher.teacher_activation
    return teacher, teacher_activation


def logits_fn(teacher, teacher_activation):
    """The teacher's float32 logits function (exact logits where the graph allows)."""
    activation = resolve_output_activation(teacher, teacher_activation, "teacher_activation")
    return TeacherLogits(teacher, activation)


def teacher_fingerprint(teacher, logits, top_k, storage=""):
    """Fingerprint of the teacher's weights, how `logits` gets them, and the storage.

    Args:
        teacher: The teacher model.
        logits: The `TeacherLogits` that runs it.
        top_k: Logits kept per sample, or `None` for all.
        storage: Anything else that changes the stored values (views, dtype).
    """
    mode = f"{logits.activation}:{logits.mode}{storage}"
    return fingerprint_lib.teacher_fingerprint(teacher, mode, top_k)

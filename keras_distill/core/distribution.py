"""Per-replica loss shares under `tf.distribute`; no-ops on every other setup.

Keras's trainers sum gradients over replicas, so a loss computed on one
replica's batch must be that replica's share of the global-batch mean. Only
the TensorFlow backend runs replicas inside the step (JAX and torch see the
global batch), so TensorFlow is imported only when it is the backend.
"""

import keras
from keras import ops


def _replica_count():
    if keras.backend.backend() != "tensorflow":
        return 1
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_loss(value):
    """Divides a per-replica mean by the replica count, as Keras losses do."""
    replicas = _replica_count()
    return value / float(replicas) if replicas > 1 else value


def unscale_loss(value):
    """Undoes `scale_loss`, for logging a replica's value as a batch mean."""
    replicas = _replica_count()
    return value * float(replicas) if replicas > 1 else value


def global_batch_correction(batch_tensor):
    """Turns a Keras-style per-replica loss share into a global-batch share.

    Keras losses divide by the replica's batch and then by the replica count,
    which equals the global mean only when every replica holds the same number
    of samples. Multiplying by `local * replicas / global` divides by the
    global batch instead, so an uneven last batch is weighted correctly.

    Args:
        batch_tensor: Any tensor whose first axis is this replica's batch.

    Returns:
        `1.0` outside `tf.distribute`, else a float32 scalar tensor.
    """
    replicas = _replica_count()
    if replicas == 1:
        return 1.0
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None:
        return 1.0
    local = ops.cast(ops.shape(batch_tensor)[0], "float32")
    global_batch = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    return local * float(replicas) / global_batch

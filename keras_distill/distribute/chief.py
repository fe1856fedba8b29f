"""Which process of a multi-process run writes files: the chief."""

import json
import os

import keras


def is_chief(model=None):
    """Whether this process is the one that writes checkpoints, backups and exports.

    In a multi-process run every process trains the same replicated weights;
    one writing them is enough, and several writing one path would race.

    - JAX (`keras.distribution.initialize`): the process with index 0.
    - TensorFlow `MultiWorkerMirroredStrategy`: the `chief` task, or worker 0
      when the cluster has no chief (read from the strategy's cluster
      resolver, else from `TF_CONFIG`).
    - A single process (any backend, any single-machine strategy): `True`.

    Args:
        model: The model being trained, whose `distribute_strategy` is used on
            TensorFlow; `None` uses the current strategy. Defaults to `None`.

    Returns:
        `True` when this process should write files.

    Example:

    ```python
    if keras_distill.distribute.is_chief():
        distiller.student.save("student.keras")
    ```
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.process_index() == 0
    if backend == "tensorflow":
        return _tensorflow_is_chief(model)
    return True


def _tensorflow_is_chief(model):
    import tensorflow as tf

    strategy = getattr(model, "distribute_strategy", None) or tf.distribute.get_strategy()
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is not None and resolver.task_type:
        cluster = resolver.cluster_spec().as_dict()
        return _chief_task(resolver.task_type, resolver.task_id, cluster)
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task.get("type"):
        return True
    return _chief_task(task["type"], int(task.get("index", 0)), config.get("cluster", {}))


def _chief_task(task_type, task_id, cluster):
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster

"""Workarounds that let a Distiller `fit` under `tf.distribute.MultiWorkerMirroredStrategy`.

With Keras 3.15 / TensorFlow 2.21, `fit` fails for every Keras model under a
multi-worker strategy (keras-team/keras#20585, tensorflow/tensorflow#72388):

1. Before the first step, Keras builds the model on a batch averaged over the
   replicas with `strategy.reduce(..., axis=None)`, which cannot convert the
   multi-worker `PerReplica` batch ("Attempt to convert a value (PerReplica...)").
   The workaround builds on this worker's first local batch instead (the
   build needs shapes, not values).
2. Each step's logs are scalars, and Keras averages them across workers with
   `strategy.reduce("MEAN", value, axis=0)`, which fails on a scalar
   ("Invalid reduction dimension 0 for input with 0 dimensions"). The
   workaround hands Keras each log as a 1-element vector, which it averages
   into the same scalar.

Each is a capability probe, not a version check: the stock path is tried
first, and the workaround is used only where it fails with that error, so it
switches itself off once Keras is fixed. TensorFlow is imported only here, on
the TensorFlow backend.
"""

import keras

# Whether Keras's own step-log reduction works under the current multi-worker
# strategy; probed once per process.
_stock_log_reduction_works = None


def _multi_worker(strategy):
    import tensorflow as tf

    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return False
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return False
    cluster = resolver.cluster_spec().as_dict()
    return sum(len(tasks) for name, tasks in cluster.items() if name in ("chief", "worker")) > 1


def symbolic_build(model, stock_build, iterator=None, data_batch=None):
    """Runs Keras's pre-fit build, falling back to a local batch where the stock one fails."""
    if keras.backend.backend() != "tensorflow" or iterator is None:
        return stock_build(iterator=iterator, data_batch=data_batch)
    strategy = model.distribute_strategy
    if not _multi_worker(strategy):
        return stock_build(iterator=iterator, data_batch=data_batch)
    _probe_log_reduction(strategy)
    try:
        return stock_build(iterator=iterator, data_batch=data_batch)
    except ValueError as error:
        if "PerReplica" not in str(error):
            raise
    return stock_build(data_batch=_first_local_batch(strategy, iterator))


def _first_local_batch(strategy, iterator):
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    for _, _, batches in iterator:
        return tf.nest.map_structure(local, next(batches))
    return None


def _probe_log_reduction(strategy):
    """Tries Keras's reduction of a scalar log once; every worker runs it at the same point."""
    global _stock_log_reduction_works
    if _stock_log_reduction_works is not None:
        return
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    @tf.function
    def reduce_a_scalar_log():
        value = strategy.run(lambda: tf.constant(1.0))
        return tf_trainer.reduce_per_replica({"loss": value}, strategy, reduction="auto")

    try:
        reduce_a_scalar_log()
        _stock_log_reduction_works = True
    except (ValueError, tf.errors.InvalidArgumentError) as error:
        if "reduction dimension" not in str(error):
            raise
        _stock_log_reduction_works = False


def reducible_logs(model, logs):
    """`logs` as Keras can average them across workers: 1-element vectors where scalars fail."""
    if keras.backend.backend() != "tensorflow" or _stock_log_reduction_works is not False:
        return logs
    if not _multi_worker(model.distribute_strategy):
        return logs
    return {name: keras.ops.reshape(value, (1,)) for name, value in logs.items()}

"""A child process for the TensorFlow multi-worker tests.

    python -m tests.multiworker_child WORKER NUM_WORKERS PORT0,PORT1 MODE OUT_DIR

With NUM_WORKERS > 1 the process is one worker of a `MultiWorkerMirroredStrategy`
cluster on localhost (`TF_CONFIG`) and feeds its own shard through
`distribute_datasets_from_function`; with NUM_WORKERS == 1 it trains the same
global batches alone, the reference. Each worker holds `SHARD` samples, so the
last batch is uneven. MODE is `online` or `cached`. The chief alone writes the
student's weights and a `StudentCheckpoint`.
"""

import json
import os
import sys

worker, num_workers = int(sys.argv[1]), int(sys.argv[2])
ports, mode, out = sys.argv[3].split(","), sys.argv[4], sys.argv[5]
os.environ["KERAS_BACKEND"] = "tensorflow"
if num_workers > 1:
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{port}" for port in ports]},
        "task": {"type": "worker", "index": worker},
    })

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import keras_distill  # noqa: E402
from tests import cluster_testing  # noqa: E402

LOCAL_BATCH, WORKERS = cluster_testing.LOCAL_BATCH, cluster_testing.PARTS
x, y, shards = cluster_testing.data()
if num_workers > 1:
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    order = shards[worker]
else:
    strategy = tf.distribute.get_strategy()
    order = cluster_testing.reference_order(shards)
with strategy.scope():
    teacher, student, distiller = cluster_testing.small_distiller()
inputs = x[order]
if mode == "cached":
    inputs = keras_distill.TeacherCache.compute(teacher, inputs, batch_size=16).inputs(inputs)
elements = (inputs, y[order])
if num_workers > 1:

    def local_batches(context):
        # This worker's shard, in per-replica batches: no auto-sharding.
        return tf.data.Dataset.from_tensor_slices(elements).batch(
            context.get_per_replica_batch_size(LOCAL_BATCH * WORKERS)
        )

    data = strategy.distribute_datasets_from_function(local_batches)
else:
    data = tf.data.Dataset.from_tensor_slices(elements).batch(LOCAL_BATCH * WORKERS)
folder = os.path.join(out, f"worker{worker}")
checkpoint = keras_distill.callbacks.StudentCheckpoint(os.path.join(folder, "student.keras"))
history = distiller.fit(data, epochs=2, verbose=0, callbacks=[checkpoint])
if keras_distill.distribute.is_chief(distiller):
    weights = np.concatenate([np.ravel(w) for w in student.get_weights()])
    np.save(os.path.join(out, f"weights_{num_workers}.npy"), weights)
    np.save(os.path.join(out, f"loss_{num_workers}.npy"), np.array(history.history["loss"]))

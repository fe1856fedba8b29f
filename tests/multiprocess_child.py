"""A child process for the JAX multi-process tests.

    python -m tests.multiprocess_child PROCESS_ID NUM_PROCESSES PORT MODE OUT_DIR

MODE `build_cache` computes the teacher cache of shard PROCESS_ID in a plain
single process (`cache_<id>.npz`), as a cluster's processes need it before
they join. With NUM_PROCESSES > 1 the process joins a cluster on localhost:PORT through
`keras.distribution.initialize` and trains under `DataParallel` on its own
shard; with NUM_PROCESSES == 1 it trains the same global batches alone, the
reference. Each process holds `SHARD` samples: the last batch is uneven
(`SHARD % LOCAL_BATCH != 0`). Process 0 alone writes the student's weights and
a `StudentCheckpoint`; every process writes what it trained on, for the test.
"""

import os
import sys

process_id, num_processes, port = (int(a) for a in sys.argv[1:4])
mode, out = sys.argv[4], sys.argv[5]
os.environ["KERAS_BACKEND"] = "jax"
os.environ["JAX_PLATFORMS"] = "cpu"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

if num_processes > 1 and mode != "build_cache":
    keras.distribution.initialize(f"localhost:{port}", num_processes, process_id)

import keras_distill  # noqa: E402
from tests import cluster_testing  # noqa: E402

x, y, shards = cluster_testing.data()
if mode == "build_cache":
    order, batch_size = shards[process_id], cluster_testing.LOCAL_BATCH
elif num_processes > 1:
    assert jax.process_count() == num_processes and len(jax.devices()) == num_processes
    # Each process passes its own shard as NumPy arrays: no auto-sharding.
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )
    order, batch_size = shards[process_id], cluster_testing.LOCAL_BATCH
else:
    order = cluster_testing.reference_order(shards)
    batch_size = cluster_testing.LOCAL_BATCH * cluster_testing.PARTS
teacher, student, distiller = cluster_testing.small_distiller()
inputs = x[order]
if mode == "build_cache":
    path = os.path.join(out, f"cache_{process_id}.npz")
    keras_distill.TeacherCache.compute(teacher, inputs, batch_size=16, path=path)
    sys.exit(0)
if mode == "compute_in_cluster":
    keras_distill.TeacherCache.compute(teacher, inputs)  # raises: predict cannot gather
if mode == "cached" and num_processes > 1:
    # Computing here would need predict across processes: load the shard built before.
    path = os.path.join(out, f"cache_{process_id}.npz")
    inputs = keras_distill.TeacherCache.load(path, teacher=teacher, x=inputs).inputs(inputs)
elif mode == "cached":
    inputs = keras_distill.TeacherCache.compute(teacher, inputs, batch_size=16).inputs(inputs)
# Each process names its own folder: only the chief's may get a file.
folder = os.path.join(out, f"process{process_id}")
checkpoint = keras_distill.callbacks.StudentCheckpoint(os.path.join(folder, "student.keras"))
history = distiller.fit(inputs, y[order], batch_size=batch_size, epochs=2, shuffle=False,
                        verbose=0, callbacks=[checkpoint])
tag = f"{num_processes}_{process_id}"
np.save(os.path.join(out, f"seen_{tag}.npy"), order)
if keras_distill.distribute.is_chief():
    weights = np.concatenate([np.ravel(w) for w in student.get_weights()])
    np.save(os.path.join(out, f"weights_{num_processes}.npy"), weights)
    np.save(os.path.join(out, f"loss_{num_processes}.npy"), np.array(history.history["loss"]))

"""What the multi-process tests share: the data, the shards, the models, the launcher.

Every cluster process and its single-process reference train the same small
Distiller on `PARTS` equal shards of `SHARD` samples; the global batch `k`
is the `k`-th local batch of every part, in part order. `SHARD` is not a
multiple of `LOCAL_BATCH`, so each epoch ends with an uneven batch.
"""

import os
import socket
import subprocess

import numpy as np

SHARD, LOCAL_BATCH, PARTS = 35, 8, 2
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def data():
    """`(x, y, shards)`: the inputs, labels and each part's sample indices."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SHARD * PARTS, 8)).astype("float32")
    y = rng.integers(0, 4, SHARD * PARTS)
    return x, y, [np.arange(SHARD) + p * SHARD for p in range(PARTS)]


def reference_order(shards):
    """The samples of the global batches, in order, for one process alone."""
    return np.concatenate(
        [s[k : k + LOCAL_BATCH] for k in range(0, SHARD, LOCAL_BATCH) for s in shards]
    )


def small_distiller():
    """`(teacher, student, distiller)`, compiled, with seeded weights (build inside a scope)."""
    import keras

    import keras_distill

    keras.utils.set_random_seed(0)
    teacher = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)]
    )
    student = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(4)],
        name="student",
    )
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.1),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5,
        temperature=2.0,
    )
    return teacher, student, distiller


def free_ports(count):
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("localhost", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def run_together(commands, env, check=True, timeout=240):
    """Starts every command at once from the repository root; returns their outputs."""
    processes = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
        for command in commands
    ]
    try:
        outputs = [process.communicate(timeout=timeout)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    if check:
        for process, output in zip(processes, outputs):
            assert process.returncode == 0, output[-3000:]
    return [process.returncode for process in processes], outputs

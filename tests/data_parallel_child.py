"""A child process for the JAX data-parallel tests: trains a Distiller on N virtual CPU devices.

    python -m tests.data_parallel_child DEVICES MODE OUT.npy
"""

import os
import sys

devices, mode, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
os.environ["KERAS_BACKEND"] = "jax"
# Virtual CPU devices must be requested before JAX initialises.
os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={devices}"

import jax  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill  # noqa: E402

assert len(jax.devices()) == devices
if devices > 1 and mode == "model_parallel":
    # A 2 x (devices / 2) mesh: the batch over one axis, every Dense kernel
    # (teacher's and student's) split by output units over the other.
    mesh = keras.distribution.DeviceMesh((2, devices // 2), ("batch", "model"), jax.devices())
    layouts = keras.distribution.LayoutMap(mesh)
    layouts[".*kernel"] = (None, "model")
    layouts[".*bias"] = ("model",)
    keras.distribution.set_distribution(
        keras.distribution.ModelParallel(layout_map=layouts, batch_dim_name="batch")
    )
elif devices > 1:
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
keras.utils.set_random_seed(0)
rng = np.random.default_rng(0)
x, y = rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 4, 64)
teacher = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="t_hidden"), keras.layers.Dense(4)]
)
student = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(8, activation="relu", name="s_hidden"), keras.layers.Dense(4)]
)
if mode == "model_parallel" and devices > 1:  # the kernels are split, not replicated
    assert not student.layers[0].kernel.value.sharding.is_fully_replicated
    assert not teacher.layers[0].kernel.value.sharding.is_fully_replicated
options = {}
if mode == "features":
    options["features"] = [keras_distill.features.FeaturePair("t_hidden", "s_hidden")]
if mode == "mix":
    options = dict(mix=keras_distill.augment.MixUp(), seed=3)
distiller = keras_distill.Distiller(teacher, student, **options)
distiller.compile(
    optimizer=keras.optimizers.SGD(0.1),
    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    alpha=0.5, temperature=2.0,
)
inputs = x
if mode == "cached":
    inputs = keras_distill.TeacherCache.compute(teacher, x, batch_size=16).inputs(x)
distiller.fit(inputs, y, batch_size=16, epochs=2, shuffle=False, verbose=0)
np.save(out, np.concatenate([np.ravel(w) for w in student.get_weights()]))

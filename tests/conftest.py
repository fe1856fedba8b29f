"""Shared pytest setup: two logical CPU devices (for MirroredStrategy tests), seeding.

The suite runs on the backend of `KERAS_BACKEND` (TensorFlow by default). Tests
of features that are TensorFlow by nature (tf.distribute, exporters, tfmot)
or not supported on another backend carry `@pytest.mark.tensorflow_only`;
CI's JAX leg deselects them with `-m "not tensorflow_only"`, and elsewhere
they are skipped with the reason.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

BACKEND = keras.backend.backend()
_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )
except RuntimeError:
    pass


@pytest.fixture(autouse=True)
def _seed_and_clean():
    keras.utils.set_random_seed(1234)
    yield
    keras.mixed_precision.set_global_policy("float32")
    keras.backend.clear_session()


def pytest_collection_modifyitems(config, items):
    if BACKEND == "tensorflow":
        return
    skip = pytest.mark.skip(reason=f"TensorFlow-only feature; the backend is {BACKEND}")
    for item in items:
        if "tensorflow_only" in item.keywords:
            item.add_marker(skip)

"""Shared pytest setup: two logical CPU devices (for MirroredStrategy tests), seeding.

The suite runs on the backend of `KERAS_BACKEND` (TensorFlow by default). Tests
of features that are TensorFlow by nature (tf.distribute, exporters, tfmot)
or not supported on another backend carry `@pytest.mark.tensorflow_only`,
tests of JAX-only behaviour `@pytest.mark.jax_only`, and tests of what
Keras's torch trainer does not do (compiled-step tracing, `steps_per_execution`)
`@pytest.mark.not_torch`, and checks of what must hold off TensorFlow
`@pytest.mark.not_tensorflow`; tests of another backend are deselected (CI's
JAX leg also passes `-m "not tensorflow_only"`).
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
    # Tests of another backend's behaviour are deselected (reported as such),
    # never skipped: each runs in the CI leg of its backend.
    wrong = [
        item for item in items
        if ("tensorflow_only" in item.keywords and BACKEND != "tensorflow")
        or ("jax_only" in item.keywords and BACKEND != "jax")
        or ("not_torch" in item.keywords and BACKEND == "torch")
        or ("not_tensorflow" in item.keywords and BACKEND == "tensorflow")
    ]
    if wrong:
        config.hook.pytest_deselected(items=wrong)
        items[:] = [item for item in items if item not in wrong]

"""Importing tensorflow-model-optimization without changing the user's Keras.

tfmot 0.8 works on `tf_keras` (Keras 2) models, and its import sets
`TF_USE_LEGACY_KERAS=1` and resolves TensorFlow's lazy `tf.keras`,
`tf.compat.v1.keras` and `tf.compat.v2.keras` under it, so after a plain
`import tensorflow_model_optimization` those names lead to Keras 2 for the rest
of the session. Here the lazy names are resolved under the user's own setting
first (importing `tf_keras` resets the two `compat` ones, hence the order), and
the environment variable is restored afterwards.
"""

import importlib
import os
import sys

LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"
_INSTALL_HINT = 'pip install "keras-distill[tfmot]"'


def _resolve_lazy_keras(tf):
    # Any attribute access makes a `KerasLazyLoader` choose its Keras now.
    for loader in (tf.keras, tf.compat.v1.keras, tf.compat.v2.keras):
        try:
            loader.layers  # noqa: B018
        except AttributeError:
            # Keras 3 has no `tf.compat.v1.keras`; the loader still chose it.
            pass


def _restore_variable(value):
    if value is None:
        os.environ.pop(LEGACY_KERAS_VARIABLE, None)
    else:
        os.environ[LEGACY_KERAS_VARIABLE] = value


def import_tfmot(purpose):
    """Imports `tensorflow_model_optimization` and `tf_keras`, leaving Keras as it was.

    Args:
        purpose: What needs tfmot, for the `ImportError` message.

    Returns:
        A `(tfmot, tf_keras)` tuple of modules.

    Raises:
        ImportError: When tfmot or tf-keras is not installed; it names the
            extra to install.
    """
    import tensorflow as tf

    saved = os.environ.get(LEGACY_KERAS_VARIABLE)
    first_time = "tensorflow_model_optimization" not in sys.modules
    try:
        if first_time:
            _resolve_lazy_keras(tf)
        tf_keras = importlib.import_module("tf_keras")
        if first_time:
            _resolve_lazy_keras(tf)
        tfmot = importlib.import_module("tensorflow_model_optimization")
    except ImportError as error:
        raise ImportError(
            f"{purpose} needs tensorflow-model-optimization and tf-keras, which are "
            f"not installed. Run: {_INSTALL_HINT}"
        ) from error
    finally:
        _restore_variable(saved)
    return tfmot, tf_keras

"""Registration of public objects for Keras serialization.

Every public class of `keras_distill` is decorated with `register` at its
definition, so `keras.models.load_model` and `keras.saving` resolve it as
`keras_distill>ClassName` without `custom_objects`.
"""

import keras

PACKAGE = "keras_distill"


def register(cls):
    """Registers `cls` for Keras serialization under the `keras_distill` package."""
    return keras.saving.register_keras_serializable(package=PACKAGE)(cls)

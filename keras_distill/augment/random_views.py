"""A Keras layer that draws a fresh view of each sample while training."""

import keras

from keras_distill.api_export import register
from keras_distill.augment.view_augmentation import ViewAugmentation


@register
class RandomViews(keras.layers.Layer):
    """Applies a `ViewAugmentation` with a new seed per sample in training.

    The identity at inference. Put it in front of a model to train that model
    (a teacher, or a student trained alone as a baseline) on the very
    augmentation a `Distiller` uses, inside the compiled training step of any
    backend.

    Args:
        augmentation: A `ViewAugmentation`, such as `RandomDeformation`.
        seed: Seed of the per-sample seeds. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, ...).

    Example:

    ```python
    deform = keras_distill.augment.RandomDeformation(image_shape=(28, 28))
    trainer = keras.Sequential([keras.Input((784,)), keras_distill.augment.RandomViews(deform), teacher])
    trainer.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    trainer.fit(x_train, y_train, epochs=30)  # trains `teacher`
    ```
    """

    def __init__(self, augmentation, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(augmentation, ViewAugmentation):
            raise TypeError(
                "`augmentation` must be a keras_distill.augment.ViewAugmentation, such as "
                f"RandomDeformation. Received: augmentation={augmentation!r}"
            )
        self.augmentation = augmentation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.built = True

    def call(self, inputs, training=False):
        if not training:
            return inputs
        batch = keras.ops.shape(inputs)[0]
        seeds = keras.random.randint((batch,), 0, 2**31 - 1, seed=self.seed_generator,
                                     dtype="int32")
        return self.augmentation(inputs, seeds)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            augmentation=keras.saving.serialize_keras_object(self.augmentation),
            seed=self.seed,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["augmentation"] = keras.saving.deserialize_keras_object(config["augmentation"])
        return cls(**config)

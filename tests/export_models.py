"""The export coverage matrix: tiny models of every kind a student can be.

Shared by the export tests and `benchmarks/export_cnn.py`.
"""

import keras
import numpy as np

from tests import testing


def mlp():
    return testing.mlp(inputs=8, hidden=16, outputs=4, name="mlp")


def cnn():
    """Conv + BatchNorm + Dropout + pooling on 8x8x1 images, 10 logits."""
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(16, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(10),
        ],
        name="cnn",
    )


def softmax():
    return keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(4),
            keras.layers.Softmax(),
        ],
        name="softmax",
    )


def two_input():
    image = keras.Input((8, 8, 1), name="image")
    extra = keras.Input((3,), name="extra")
    features = keras.layers.Flatten()(keras.layers.Conv2D(4, 3)(image))
    merged = keras.layers.Concatenate()([features, keras.layers.Dense(4)(extra)])
    return keras.Model([image, extra], keras.layers.Dense(4)(merged), name="two_input")


class SubclassedStudent(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(16, activation="relu")
        self.logits = keras.layers.Dense(4)

    def call(self, inputs, training=False):
        return self.logits(self.hidden(inputs))


def subclassed():
    model = SubclassedStudent(name="subclassed")
    model(np.zeros((1, 8), "float32"))
    return model


MODELS = {
    "mlp": mlp,
    "cnn": cnn,
    "softmax": softmax,
    "two_input": two_input,
    "subclassed": subclassed,
}


def inputs_for(name, n=32, seed=0):
    """Inputs structured like model `name`'s: a list for the two-input model."""
    rng = np.random.default_rng(seed)
    if name == "cnn":
        return rng.random((n, 8, 8, 1), dtype="float32")
    if name == "two_input":
        return [rng.random((n, 8, 8, 1), dtype="float32"), rng.random((n, 3), dtype="float32")]
    return rng.standard_normal((n, 8), dtype="float32")


def trained_cnn(epochs=20, seed=1234):
    """The matrix CNN trained on scikit-learn's digits, with held-out images.

    Seeded here because module-scoped fixtures run before the per-test seeding.

    Returns:
        `(model, x_train, x_test, y_test)`, images shaped `(n, 8, 8, 1)`.
    """
    keras.utils.set_random_seed(seed)
    x, y = testing.digits()
    x = x.reshape(-1, 8, 8, 1)
    model = cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(x[:1400], y[:1400], epochs=epochs, batch_size=32, verbose=0)
    return model, x[:1400], x[1400:], y[1400:]

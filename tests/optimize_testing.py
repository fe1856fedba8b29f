"""Small teachers, students and caches shared by the keras_distill.optimize tests."""

import keras
import numpy as np

import keras_distill as kd
from tests import testing

FEATURES = 16
CLASSES = 4


def data(n=512, seed=0):
    return testing.synthetic(n=n, features=FEATURES, classes=CLASSES, seed=seed)


def teacher(sharp=False):
    """A random MLP; `sharp` scales its logits up, so its top-1 is clear-cut."""
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(32, activation="relu"),
            keras.layers.Dense(CLASSES),
        ],
        name="teacher",
    )
    if sharp:
        last = model.layers[-1]
        last.kernel.assign(last.kernel * 5.0)
    return model


def student(hidden=64):
    return keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(CLASSES),
        ],
        name="student",
    )


def cnn():
    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    norm = keras.layers.BatchNormalization()(conv)
    merged = keras.layers.Add()([conv, norm])
    pooled = keras.layers.MaxPooling2D()(merged)
    depthwise = keras.layers.DepthwiseConv2D(3, padding="same")(pooled)
    features = keras.layers.Concatenate()(
        [
            keras.layers.Flatten()(depthwise),
            keras.layers.GlobalAveragePooling2D()(pooled),
        ]
    )
    outputs = keras.layers.Dense(CLASSES)(keras.layers.ReLU()(features))
    return keras.Model(inputs, outputs, name="cnn")


def cache(model, x):
    return kd.TeacherCache.compute(model, x)


def agreement(a, b, x):
    """Top-1 agreement of two models (Keras 3 or tf_keras) on `x`."""
    return float(np.mean(np.argmax(np.asarray(a(x)), -1) == np.argmax(np.asarray(b(x)), -1)))

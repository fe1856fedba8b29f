"""Small models and data shared by the tests."""

import keras
import numpy as np


def digits(n=None):
    """scikit-learn's bundled 8x8 digits, scaled to [0, 1], as float32/int32."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    y = y.astype("int32")
    if n is not None:
        x, y = x[:n], y[:n]
    return x, y


def to_numpy(tensor):
    """A backend tensor (or variable) as a NumPy array, on every backend."""
    return keras.ops.convert_to_numpy(tensor)


def synthetic(n=64, features=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = rng.integers(0, classes, size=(n,)).astype("int32")
    return x, y


def mlp(inputs=8, hidden=16, outputs=4, activation=None, name=None, **dense_kwargs):
    """A one-hidden-layer MLP; `activation` is the output activation."""
    return keras.Sequential(
        [
            keras.Input((inputs,)),
            keras.layers.Dense(hidden, activation="relu", **dense_kwargs),
            keras.layers.Dense(outputs, activation=activation),
        ],
        name=name,
    )


def assert_weights_close(a, b, atol=0.0):
    """Asserts two lists of weights are equal within `atol`; returns the max abs diff."""
    diffs = [float(np.max(np.abs(np.asarray(x) - np.asarray(y)))) for x, y in zip(a, b)]
    assert len(a) == len(b)
    worst = max(diffs) if diffs else 0.0
    assert worst <= atol, f"max abs diff {worst} > {atol}"
    return worst

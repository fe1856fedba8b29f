"""The demo's data: MNIST (from a file or Keras' downloader) or scikit-learn's digits."""

import dataclasses
import os

import numpy as np

MNIST_KEYS = ("x_train", "y_train", "x_test", "y_test")
# Digits held out for testing (stratified, fixed across seeds).
DIGITS_TEST_SIZE = 500


class DataError(Exception):
    """The demo's data could not be loaded; the message says what to pass instead."""


@dataclasses.dataclass
class Dataset:
    """Flattened images in [0, 1] (float32) and integer labels.

    Attributes:
        name: `"mnist"` or `"digits"`.
        image_shape: `(height, width)` of one image, for the jitter.
        x_train, y_train, x_test, y_test: The splits.
        source: Where the data came from, for the report.
    """

    name: str
    image_shape: tuple
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    source: str

    @property
    def num_classes(self):
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _flatten(images, scale):
    images = np.asarray(images)
    return (images.reshape(len(images), -1) / scale).astype("float32")


def _mnist_from_file(path):
    if not os.path.isfile(path):
        raise DataError(f"--data {path!r} does not exist; pass the path of an mnist.npz file.")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [key for key in MNIST_KEYS if key not in data.files]
            if missing:
                raise DataError(
                    f"--data {path!r} lacks the arrays {missing}; an mnist.npz holds "
                    f"{list(MNIST_KEYS)} (as written by keras.datasets.mnist)."
                )
            return tuple(data[key] for key in MNIST_KEYS)
    except (OSError, ValueError) as error:
        raise DataError(f"--data {path!r} is not a readable .npz file: {error}") from error


def _mnist_from_keras():
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = keras.datasets.mnist.load_data()
    except Exception as error:  # The downloader raises many kinds when offline.
        raise DataError(
            "Could not download MNIST with keras.datasets.mnist.load_data() and no "
            f"cached copy exists in ~/.keras/datasets ({type(error).__name__}: {error}). "
            "Pass --data PATH to a local mnist.npz (arrays x_train, y_train, x_test, "
            "y_test), or run offline with --dataset digits."
        ) from error
    return x_train, y_train, x_test, y_test


def load_mnist(path=None):
    """MNIST from `path` (an `.npz`), else from `keras.datasets.mnist`.

    Raises:
        DataError: When the file is missing or malformed, or the download
            fails; the message names `--data`.
    """
    arrays = _mnist_from_file(path) if path else _mnist_from_keras()
    x_train, y_train, x_test, y_test = arrays
    if x_train.shape[1:] != (28, 28) or x_test.shape[1:] != (28, 28):
        raise DataError(
            f"MNIST images must be 28x28; received x_train {x_train.shape} and x_test "
            f"{x_test.shape}."
        )
    return Dataset(
        name="mnist",
        image_shape=(28, 28),
        x_train=_flatten(x_train, 255.0),
        y_train=np.asarray(y_train, "int32"),
        x_test=_flatten(x_test, 255.0),
        y_test=np.asarray(y_test, "int32"),
        source=path or "keras.datasets.mnist",
    )


def load_digits():
    """scikit-learn's bundled 8x8 digits (offline): 1,297 train, 500 test."""
    from sklearn.datasets import load_digits as sklearn_digits
    from sklearn.model_selection import train_test_split

    images, labels = sklearn_digits(return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=DIGITS_TEST_SIZE, random_state=0, stratify=labels
    )
    return Dataset(
        name="digits",
        image_shape=(8, 8),
        x_train=_flatten(x_train, 16.0),
        y_train=y_train.astype("int32"),
        x_test=_flatten(x_test, 16.0),
        y_test=y_test.astype("int32"),
        source="sklearn.datasets.load_digits",
    )


def load(dataset, path=None):
    """Loads `"mnist"` (optionally from `path`) or `"digits"`."""
    if dataset == "digits":
        if path:
            raise DataError("--data is for --dataset mnist; digits ship with scikit-learn.")
        return load_digits()
    if dataset == "mnist":
        return load_mnist(path)
    raise DataError(f"--dataset must be 'mnist' or 'digits'. Received: {dataset!r}.")

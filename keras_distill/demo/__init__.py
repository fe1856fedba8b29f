"""The end-to-end demo behind `keras-distill demo` and `examples/mnist_hinton.py`."""

from keras_distill.demo.data import DataError
from keras_distill.demo.pipeline import run

__all__ = [
    "DataError",
    "run",
]

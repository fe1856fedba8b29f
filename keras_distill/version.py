"""The package version, read by `setup.py` and exposed as `keras_distill.__version__`."""

__version__ = "0.1.0"

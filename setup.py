"""Installs keras-distill. Metadata and tool settings live in setup.cfg."""

import pathlib
import re

from setuptools import find_packages
from setuptools import setup

HERE = pathlib.Path(__file__).parent
VERSION = re.search(
    r'__version__ = "([^"]+)"',
    (HERE / "keras_distill" / "version.py").read_text(),
).group(1)

ONNX = ["tf2onnx>=1.17", "onnx>=1.16", "onnxruntime>=1.18"]
LITERT = ["ai-edge-litert>=1.2"]
TFMOT = ["tensorflow-model-optimization>=0.8.0", "tf-keras>=2.18"]
PLOT = ["matplotlib>=3.7"]
EXAMPLES = ["scikit-learn>=1.3"]
# ONNX from JAX, LiteRT from PyTorch: the converters Keras's own exporters call.
JAX_EXPORT = ["jax2onnx>=0.17.1"]
TORCH_EXPORT = ["litert-torch>=0.10"]
EXPORT = ONNX + LITERT
JAX = ["jax[cpu]>=0.4.36"]
TORCH = ["torch>=2.5"]
DOCS = ["mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings[python]>=0.26"]
PACKAGING = ["build>=1.2"]
# keras-hub language models (keras_distill.language); its tokenizers need TensorFlow Text.
HUB = ["keras-hub>=0.21"]
# Hyper-parameter search (keras_distill.tuning).
TUNE = ["keras-tuner>=1.4.7"]

setup(
    version=VERSION,
    packages=find_packages(include=["keras_distill", "keras_distill.*"]),
    # The command line's parser, outside the package so that `--help` imports no Keras.
    py_modules=["keras_distill_cli"],
    extras_require={
        "onnx": ONNX,
        "litert": LITERT,
        "export": EXPORT,
        "jax-export": JAX_EXPORT,
        "torch-export": TORCH_EXPORT,
        "tfmot": TFMOT,
        "plot": PLOT,
        "examples": EXAMPLES,
        "jax": JAX,
        "torch": TORCH,
        "docs": DOCS,
        "hub": HUB,
        "tune": TUNE,
        "demo": EXAMPLES + EXPORT + PLOT,
        "test": ["pytest>=7", "pytest-xdist>=3", "tensorboard>=2.18", "ruff>=0.6"]
        + EXAMPLES + EXPORT + PLOT + TFMOT + JAX + TORCH + DOCS + PACKAGING + HUB + JAX_EXPORT
        + TORCH_EXPORT + TUNE,
    },
)

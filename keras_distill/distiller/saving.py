"""How a Distiller is saved: atomically, without the sub-models' own optimizers or compile settings."""

import contextlib
import os

import keras

from keras_distill.core import atomic_files


def save_atomically(save, filepath, overwrite, kwargs):
    """`save(filepath)` through a staged copy renamed into place (local paths)."""
    local = isinstance(filepath, (str, os.PathLike)) and "://" not in os.fspath(filepath)
    if not local or (not overwrite and os.path.exists(filepath)):
        # Remote paths, and Keras's own overwrite prompt, go to Keras unchanged.
        return save(filepath, overwrite=overwrite, **kwargs)
    with atomic_files.staged_path(filepath, overwrite=True) as staged:
        save(staged, overwrite=True, **kwargs)


@contextlib.contextmanager
def without_submodel_optimizers(*models):
    """Detaches the models' own optimizers while the block runs.

    A teacher or student compiled on its own carries an optimizer whose state
    the Distiller never uses; it stays out of the Distiller's files.
    """
    detached = []
    for model in models:
        optimizer = getattr(model, "optimizer", None)
        if optimizer is not None:
            detached.append((model, optimizer))
            model.optimizer = None
    try:
        yield
    finally:
        for model, optimizer in detached:
            model.optimizer = optimizer


def without_compile_config(config):
    """A sub-model's config without its own `compile()` settings.

    The Distiller's optimizer trains the student; an optimizer the teacher or
    student was compiled with on its own is neither saved nor rebuilt when the
    Distiller is loaded.
    """
    if isinstance(config, dict):
        config = dict(config)
        config.pop("compile_config", None)
    return config


def portable_compile_config(config):
    """A compile config whose optimizer any backend can rebuild.

    Under torch, `keras.optimizers.Adam()` is a subclass in
    `keras.src.backend.torch.optimizers`; its serialized module path makes
    TensorFlow and JAX rebuild the torch class, which fails on the first
    step. The public name lets each backend pick its own class again.
    """
    if isinstance(config, list):
        return [portable_compile_config(item) for item in config]
    if not isinstance(config, dict):
        return config
    config = {key: portable_compile_config(value) for key, value in config.items()}
    module = config.get("module")
    if (
        isinstance(module, str)
        and module.startswith("keras.src.backend.")
        and ".optimizers." in module
        and hasattr(keras.optimizers, str(config.get("class_name")))
    ):
        config["module"] = "keras.optimizers"
    return config

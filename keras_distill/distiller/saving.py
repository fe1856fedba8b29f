"""How a Distiller is saved: atomically, without the sub-models' own optimizers or compile settings."""

import contextlib
import os
import types

import keras

from keras_distill.core import atomic_files
from keras_distill.lm_hooks import hooks as language


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


def distiller_config(distiller, config):
    """`Distiller.get_config`: Keras's `config` plus the Distiller's arguments."""
    config.update(
        teacher=without_compile_config(keras.saving.serialize_keras_object(distiller.teacher)),
        student=without_compile_config(keras.saving.serialize_keras_object(distiller.student)),
        teacher_activation=distiller.teacher_activation,
        student_activation=distiller.student_activation,
        augmentation=keras.saving.serialize_keras_object(distiller.augmentation),
        mix=keras.saving.serialize_keras_object(distiller.mix),
        seed=distiller.seed,
    )
    if distiller._features is not None:
        config["features"] = [
            keras.saving.serialize_keras_object(pair) for pair in distiller.features
        ]
    config.update(language.config(distiller.teacher, distiller.student))
    return config


def constructor_arguments(config):
    """`Distiller.from_config`: the `Distiller(...)` arguments of a config."""
    config = dict(config)
    config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
    config["student"] = keras.saving.deserialize_keras_object(config["student"])
    config = language.restore(config)
    for key in ("augmentation", "mix"):
        if config.get(key) is not None:
            config[key] = keras.saving.deserialize_keras_object(config[key])
    if config.get("features"):
        config["features"] = [
            keras.saving.deserialize_keras_object(pair) for pair in config["features"]
        ]
    return config


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


def compile_settings(**settings):
    """What `Distiller.compile` received, kept to be serialized when asked for.

    Serialized only then, as Keras's own compile config is: Keras's
    serialization imports TensorFlow, which JAX and torch need not load.
    A read-only mapping: a dict attribute would track the metrics in it.
    """
    return types.MappingProxyType(dict(settings))


def compile_config(settings):
    """`Distiller.get_compile_config` from its `compile_settings` (`{}` before `compile`)."""
    if settings is None:
        return {}
    return portable_compile_config(keras.saving.serialize_keras_object(dict(settings)))


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

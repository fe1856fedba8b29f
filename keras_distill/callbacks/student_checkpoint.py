"""StudentCheckpoint: `ModelCheckpoint` that saves the student alone."""

import keras

from keras_distill.api_export import register
from keras_distill.core import atomic_files
from keras_distill.distribute.chief import is_chief


@register
class StudentCheckpoint(keras.callbacks.ModelCheckpoint):
    """Saves the Distiller's student (never the teacher) during `fit`.

    A `keras.callbacks.ModelCheckpoint` on a `Distiller` writes the teacher
    too, every time (1.89 MB for a 5 KB student in a small CNN case). This
    callback takes the same arguments and monitors the Distiller's logs
    (`val_loss`, `val_accuracy`, ... are the student's), but writes
    `distiller.student`: a plain Keras model that `keras.models.load_model`
    reads without keras_distill. In a multi-process run (JAX processes,
    TensorFlow workers) only the chief writes (`keras_distill.distribute.is_chief`).

    Args:
        filepath: Where to save, as for `ModelCheckpoint` (`.keras`, or
            `.weights.h5` with `save_weights_only=True`); may contain
            `{epoch}` and log keys.
        **kwargs: `monitor`, `save_best_only`, `mode`, `save_freq`,
            `initial_value_threshold`, ... as for `ModelCheckpoint`.

    Example:

    ```python
    checkpoint = keras_distill.callbacks.StudentCheckpoint(
        "student.keras", monitor="val_accuracy", save_best_only=True
    )
    distiller.fit(x, y, validation_data=(x_val, y_val), callbacks=[checkpoint])
    student = keras.models.load_model("student.keras")
    ```
    """

    def __init__(self, filepath, **kwargs):
        super().__init__(filepath, **kwargs)
        self._config = {"filepath": filepath, **kwargs}

    def get_config(self):
        return dict(self._config)

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def set_model(self, model):
        from keras_distill.distiller import Distiller

        if not isinstance(model, Distiller):
            raise TypeError(
                "StudentCheckpoint saves a keras_distill.Distiller's student, but it was "
                f"passed to the fit of {type(model).__name__} {getattr(model, 'name', '')!r}. "
                "Use keras.callbacks.ModelCheckpoint for other models."
            )
        # In a multi-process run every process tracks the best value, the chief alone writes.
        self._writes = is_chief(model)
        # ModelCheckpoint saves `self.model` and, with `mode="auto"`, looks
        # up the monitored metric's direction in `self.model.metrics`: the
        # student is saved, the Distiller's compiled metrics are searched.
        super().set_model(_AtomicSaves(model.student, metrics_of=model))


    def _should_save_model(self, epoch, batch, logs, filepath):
        return super()._should_save_model(epoch, batch, logs, filepath) and self._writes


class _AtomicSaves:
    """A model whose `save`/`save_weights` write beside the target, then rename.

    A process killed while a checkpoint is written leaves the previous
    checkpoint in place, never a truncated file.
    """

    def __init__(self, model, metrics_of):
        self._model = model
        self._metrics_of = metrics_of

    @property
    def metrics(self):
        return self._metrics_of.metrics

    def __getattr__(self, name):
        return getattr(self._model, name)

    def save(self, filepath, overwrite=True, **kwargs):
        with atomic_files.staged_path(filepath, overwrite=overwrite) as staged:
            self._model.save(staged, **kwargs)

    def save_weights(self, filepath, overwrite=True, **kwargs):
        with atomic_files.staged_path(filepath, overwrite=overwrite) as staged:
            self._model.save_weights(staged, **kwargs)

"""BackupAndRestore whose backups survive a crash at any instant."""

import json
import os
import re

import keras

from keras_distill.api_export import register
from keras_distill.core import atomic_files
from keras_distill.core.errors import CorruptFileError
from keras_distill.distribute.chief import is_chief

_STATE = "state.json"
_WEIGHTS = re.compile(r"^epoch-(\d+)\.weights\.h5$")


@register
class BackupAndRestore(keras.callbacks.Callback):
    """Backs up training at the end of every epoch and resumes from the last backup.

    Like `keras.callbacks.BackupAndRestore`, but crash-safe: Keras's callback
    overwrites its weights file in place and then writes its epoch counter, so
    a process killed in between leaves weights and counter of different
    epochs (or a truncated weights file). Here each epoch's weights (model and
    optimizer state, the Distiller's alpha and temperature included) go to a
    new file written atomically, and a small `state.json`, also replaced
    atomically, then names it: whenever the process dies, the backup is the
    last complete epoch. A resumed `fit` continues from that epoch and, with
    deterministic ops and unshuffled (or seeded per-epoch) data, ends with the
    same weights as an uninterrupted one.

    Works with any Keras model and backend. In a multi-process run (JAX
    processes, TensorFlow workers) every process restores from `backup_dir`
    and only the chief (`keras_distill.distribute.is_chief`) writes and
    deletes it: give every process the same folder on shared storage.

    Args:
        backup_dir: Folder of the backups (created when missing).
        delete_checkpoint: Delete the folder when `fit` completes. Defaults to
            `True`.

    Example:

    ```python
    distiller.fit(x, y, epochs=30, callbacks=[keras_distill.callbacks.BackupAndRestore("backup")])
    # Killed at epoch 17? Run the same line again: it resumes after epoch 16.
    ```
    """

    def __init__(self, backup_dir, delete_checkpoint=True):
        super().__init__()
        if not backup_dir or not isinstance(backup_dir, (str, os.PathLike)):
            raise ValueError(f"`backup_dir` must be a folder path. Received: {backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self.delete_checkpoint = delete_checkpoint

    def _state_path(self):
        return os.path.join(self.backup_dir, _STATE)

    def read_state(self):
        """The last backed-up `{"epoch": ..., "weights": ...}`, or `None`."""
        path = self._state_path()
        if not os.path.exists(path):
            return None
        try:
            with open(path) as f:
                state = json.load(f)
            epoch, weights = int(state["epoch"]), str(state["weights"])
        except (ValueError, KeyError, TypeError) as error:
            raise CorruptFileError(
                path, "keras_distill backup state", f"it cannot be parsed ({error})",
                f"Delete {self.backup_dir!r} to train from the start.",
            ) from None
        weights_path = os.path.join(self.backup_dir, weights)
        if not os.path.isfile(weights_path):
            raise CorruptFileError(
                path, "keras_distill backup state", f"the weights it names, {weights!r}, are missing",
                f"Delete {self.backup_dir!r} to train from the start.",
            )
        return {"epoch": epoch, "weights": weights_path}

    def on_train_begin(self, logs=None):
        state = self.read_state()
        if state is None:
            return
        if self.model.optimizer is not None and not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        self.model.load_weights(state["weights"])
        self.model._initial_epoch = state["epoch"]

    def set_model(self, model):
        super().set_model(model)
        self._writes = is_chief(model)

    def on_epoch_end(self, epoch, logs=None):
        if not self._writes:
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        name = f"epoch-{epoch + 1}.weights.h5"
        weights_path = os.path.join(self.backup_dir, name)
        with atomic_files.staged_path(weights_path, overwrite=True) as staged:
            self.model.save_weights(staged)
        state = json.dumps({"epoch": epoch + 1, "weights": name})

        def write_state(staged):
            with open(staged, "w") as f:
                f.write(state)

        # The commit point: until this rename, the previous epoch is the backup.
        atomic_files.write_file(self._state_path(), write_state)
        for other in os.listdir(self.backup_dir):
            match = _WEIGHTS.match(other)
            if match and other != name:
                os.unlink(os.path.join(self.backup_dir, other))

    def on_train_end(self, logs=None):
        self.model._initial_epoch = None
        if self._writes and self.delete_checkpoint and os.path.isdir(self.backup_dir):
            import shutil

            shutil.rmtree(self.backup_dir, ignore_errors=True)

    def get_config(self):
        return {"backup_dir": self.backup_dir, "delete_checkpoint": self.delete_checkpoint}

"""The demo's training progress: a plain line every tenth of the epochs.

Keras's progress bars redraw one line with carriage returns, which a log file
keeps as one unreadable line per epoch; 300 epochs of per-epoch lines bury
the summary. These lines read the same on a terminal and in a log.
"""

import keras

# Logs shown, in this order, when present.
_KEYS = ("loss", "distillation_loss", "accuracy", "val_loss", "val_accuracy")


class EpochProgress(keras.callbacks.Callback):
    """Prints `epoch N/E  loss ...  val_accuracy ...` about ten times per `fit`.

    Args:
        epochs: The number of epochs `fit` runs.
        lines: About how many lines to print. Defaults to `10`.
    """

    def __init__(self, epochs, lines=10):
        super().__init__()
        self.epochs = epochs
        self.every = max(1, epochs // lines)

    def on_epoch_end(self, epoch, logs=None):
        done = epoch + 1
        if done % self.every and done != self.epochs:
            return
        logs = logs or {}
        values = "  ".join(f"{key} {logs[key]:.4f}" for key in _KEYS if key in logs)
        width = len(str(self.epochs))
        print(f"  epoch {done:>{width}}/{self.epochs}  {values}", flush=True)


def fit_arguments(verbose, epochs, callbacks=()):
    """`verbose` and `callbacks` for `fit` at the demo's verbosity.

    0: silent; 1: `EpochProgress` lines; 2: Keras's one line per epoch.
    """
    callbacks = list(callbacks)
    if verbose == 1:
        return {"verbose": 0, "callbacks": callbacks + [EpochProgress(epochs)]}
    return {"verbose": 2 if verbose else 0, "callbacks": callbacks}

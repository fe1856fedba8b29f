"""Non-finite training batches: flagged inside the step, raised at the batch's end.

Data that `fit` cannot see up front (a `tf.data` pipeline, a generator, a
`PyDataset`) and a teacher that emits NaN or inf would otherwise ruin the
student without a word. The step only counts what is not finite (the
batch's float inputs, the teacher's logits, the loss) in a metric, with
`keras.ops` and no host transfer; `DataGuard` reads the count from the
batch logs Keras already hands its callbacks (off the training thread
where the backend allows it) and raises `InvalidDataError` naming the
batch and what was not finite. Inside the step the count costs a few
reductions (benchmarks/results/data_guard_cost.md).
"""

import threading

import keras
import numpy as np
from keras import ops

from keras_distill.core import packed_inputs
from keras_distill.core.errors import InvalidDataError

# The metric's log key; `DataGuard` takes it out of the logs, so neither the
# progress bar nor `History` shows it.
LOG_KEY = "keras_distill_non_finite"
# Bit of each part in the logged code, in the order the message names them.
_PARTS = (
    (1, "the batch's inputs `x`"),
    (2, "the teacher's logits (the inputs are finite: check the teacher's weights and "
        "last layers, or its `teacher_activation`)"),
    (4, "the loss (inputs and teacher logits are finite: check `temperature`, the labels "
        "`y`, `sample_weight`, the learning rate, or a loss that divides by zero)"),
)


class NonFiniteCount(keras.metrics.Metric):
    """Counts training steps whose inputs, teacher logits or loss are not finite.

    `result()` is a code: the sum of each part's bit (inputs 1, teacher 2,
    loss 4) over the parts that were non-finite in any step since the last
    reset, 0 when everything was finite.
    """

    def __init__(self, name=LOG_KEY):
        super().__init__(name=name, dtype="float32")
        self.counts = self.add_variable(
            shape=(len(_PARTS),), initializer="zeros", name="counts", aggregation="sum"
        )

    def update_state(self, inputs, teacher_logits, loss):
        flags = ops.stack([
            _any_non_finite(keras.tree.flatten(packed_inputs.unpack(inputs)[0])),
            # A top-k cache hands the loss a dict of ids, log-probabilities and tail masses.
            _any_non_finite(keras.tree.flatten(teacher_logits)),
            _any_non_finite([loss]),
        ])
        self.counts.assign_add(ops.cast(flags, "float32"))

    def result(self):
        bits = ops.convert_to_tensor([bit for bit, _ in _PARTS], dtype="float32")
        return ops.sum(ops.where(self.counts > 0, bits, ops.zeros_like(bits)))

    def reset_state(self):
        self.counts.assign(ops.zeros(self.counts.shape, "float32"))


def _any_non_finite(tensors):
    flags = [
        ops.logical_not(ops.all(ops.isfinite(t)))
        for t in tensors
        if t is not None and keras.backend.is_float_dtype(keras.backend.standardize_dtype(t.dtype))
    ]
    if not flags:
        return ops.convert_to_tensor(False)
    return ops.any(ops.stack(flags))


class DataGuard(keras.callbacks.Callback):
    """Stops training at the first batch with non-finite values, then raises `InvalidDataError`.

    `Distiller.fit` adds it in front of the other callbacks. It takes the
    count out of the logs; at a non-finite batch it stops training, and at
    that epoch's end (once Keras has run every pending batch-end call, which
    may run concurrently off the training thread) it raises, naming the
    earliest such batch, before any later callback saves the weights. It
    also raises when the first epoch ends without a single batch (empty
    data; Keras itself only warns).
    """

    # The check only reads the logs: Keras may run it off the training thread.
    async_safe = True

    def on_train_begin(self, logs=None):
        self._batches = 0
        self._failures = []
        self._lock = threading.Lock()

    def on_train_batch_end(self, batch, logs=None):
        code = (logs or {}).pop(LOG_KEY, 0)
        with self._lock:
            self._batches += 1
            if code:
                self._failures.append((batch, code))
                # Not `self.model`: on JAX it syncs the training state, which
                # this thread must not touch.
                self._model.stop_training = True

    def on_train_end(self, logs=None):
        (logs or {}).pop(LOG_KEY, None)

    def on_epoch_end(self, epoch, logs=None):
        (logs or {}).pop(LOG_KEY, None)
        if self._failures:
            batch, code = min(self._failures)
            raise InvalidDataError(
                f"Training stopped at epoch {epoch + 1}, batch {batch}: {describe(code)} "
                "held NaN or inf. The student's weights from this batch on are not usable; "
                "repair the data (or the teacher) and train again."
            )
        if not self._batches:
            raise InvalidDataError(
                "`fit` ran no training batch: the training data `x` is empty (a dataset "
                "or generator that yields nothing). Pass at least one sample."
            )


def describe(code):
    """The parts a non-finite code names, most specific first."""
    code = int(np.asarray(code).item())
    parts = [text for bit, text in _PARTS if code & bit]
    return parts[0] if parts else "the step"


def with_guard(callbacks):
    """`callbacks` with a `DataGuard` in front (a `CallbackList` is extended in place)."""
    guard = DataGuard()
    if isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks.callbacks.insert(0, guard)
        if callbacks.model is not None:
            guard.set_model(callbacks.model)
        guard.set_params(callbacks.params)
        return callbacks
    return [guard] + list(callbacks or ())

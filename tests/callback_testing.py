"""Helpers shared by the callback tests: a small compiled Distiller, trace counting, snapshots."""

import keras
import numpy as np

import keras_distill as kd
from tests import testing


def distiller(
    optimizer=None,
    alpha=0.1,
    temperature=4.0,
    teacher_seed=0,
    student=None,
    jit_compile=False,
):
    """A Distiller of an 8-16-4 teacher and an 8-8-4 student, compiled with SGD by default."""
    teacher = testing.mlp(
        hidden=16, name="teacher", kernel_initializer=keras.initializers.GlorotUniform(teacher_seed)
    )
    if student is None:
        student = keras.Sequential(
            [
                keras.Input((8,)),
                keras.layers.Dense(8, activation="relu", name="hidden",
                                   kernel_initializer=keras.initializers.GlorotUniform(1)),
                keras.layers.Dense(4, name="head",
                                   kernel_initializer=keras.initializers.GlorotUniform(2)),
            ],
            name="student",
        )
    model = kd.Distiller(teacher=teacher, student=student)
    model.compile(
        optimizer=optimizer or keras.optimizers.SGD(0.1),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=alpha,
        temperature=temperature,
        jit_compile=jit_compile,
    )
    return model


def count_traces(model):
    """Wraps `model.train_step`; the returned list's length is the number of traces.

    Under `tf.function` (or `jax.jit`) the Python body of `train_step` runs
    only while tracing.
    """
    traces = []
    train_step = model.train_step

    def counted(*args):  # (data), or (state, data) on JAX
        traces.append(1)
        return train_step(*args)

    model.train_step = counted
    return traces


class WeightSnapshots(keras.callbacks.Callback):
    """Records the student's weights by layer name at the start of every epoch and at the end."""

    def __init__(self, student):
        super().__init__()
        self.student = student
        self.at = {}

    def _take(self):
        return {
            layer.name: [np.array(w) for w in layer.get_weights()] for layer in self.student.layers
        }

    def on_epoch_begin(self, epoch, logs=None):
        self.at[epoch] = self._take()

    def on_train_end(self, logs=None):
        self.at["end"] = self._take()

    def changed(self, layer, start, stop):
        """Whether `layer`'s weights differ between two snapshots."""
        return any(
            not np.array_equal(a, b) for a, b in zip(self.at[start][layer], self.at[stop][layer])
        )

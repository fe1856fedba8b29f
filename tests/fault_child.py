"""A child process for the crash-safety tests: writes one artifact, maybe killed midway.

    python -m tests.fault_child OPERATION FOLDER VERSION

`VERSION` seeds the models, so version 1 and version 2 of an artifact differ.
`KERAS_DISTILL_FAULT_POINT` (see `keras_distill.core.atomic_files.fault_point`)
makes the process SIGKILL itself at a named point of the write; operation
`backup` kills itself inside epoch `KILL_EPOCH` instead.
"""

import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill  # noqa: E402

TARGETS = {
    "cache": "cache.npz",
    "saved_model": "student_savedmodel",
    "tflite": "student.tflite",
    "onnx": "student.onnx",
    "report": "report/report.json",
    "distiller": "distiller.keras",
    "checkpoint": "student.keras",
    "backup": "final.weights.h5",
}


def models(version):
    keras.utils.set_random_seed(version)
    teacher = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)],
        name="teacher",
    )
    student = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(6, activation="relu"), keras.layers.Dense(4)],
        name="student",
    )
    return teacher, student


def data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 8)).astype("float32"), rng.integers(0, 4, 64)


def distiller(version):
    teacher, student = models(version)
    d = keras_distill.Distiller(teacher, student)
    d.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5, temperature=2.0,
    )
    return d


class KillInEpoch(keras.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self._epoch == self.epoch and batch == 1:
            os.kill(os.getpid(), signal.SIGKILL)

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch


def run(operation, folder, version):
    target = os.path.join(folder, TARGETS[operation])
    x, y = data()
    if operation == "cache":
        teacher, _ = models(version)
        cache = keras_distill.TeacherCache.compute(teacher, x)
        cache.save(target)
    elif operation in ("saved_model", "tflite", "onnx"):
        _, student = models(version)
        export = getattr(keras_distill, f"export_{operation}")
        export(student, target, sample_inputs=x, overwrite=True)
    elif operation == "report":
        teacher, student = models(version)
        report = keras_distill.DistillationReport(teacher, student, x, y, latency_samples=2)
        report.save(os.path.dirname(target))
    elif operation == "distiller":
        distiller(version).save(target)
    elif operation == "checkpoint":
        d = distiller(version)
        checkpoint = keras_distill.callbacks.StudentCheckpoint(target)
        d.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[checkpoint])
    elif operation == "backup":
        d = distiller(version)
        callbacks = [keras_distill.callbacks.BackupAndRestore(os.path.join(folder, "backup"))]
        if os.environ.get("KILL_EPOCH"):
            callbacks.append(KillInEpoch(int(os.environ["KILL_EPOCH"])))
        d.fit(x, y, epochs=4, batch_size=16, verbose=0, shuffle=False, callbacks=callbacks)
        d.save_weights(target)
    else:
        raise SystemExit(f"unknown operation {operation!r}")


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]))

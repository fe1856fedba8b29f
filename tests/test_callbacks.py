import csv
import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests import callback_testing
from tests import testing

EPOCHS = 4


def _schedulers():
    return [
        kd.callbacks.TemperatureScheduler(kd.schedules.Linear(4.0, 1.0, steps=3)),
        kd.callbacks.PhaseScheduler(
            [kd.Phase("distill", epochs=2, alpha=0.2, learning_rate=0.1),
             kd.Phase("fine_tune", alpha=1.0, learning_rate=0.05)]
        ),
    ]


def _check_early_stopping(history, model, tmp_path):
    assert len(history["loss"]) == 2


def _check_model_checkpoint(history, model, tmp_path):
    restored = callback_testing.distiller()
    restored.load_weights(str(tmp_path / "distiller.weights.h5"))
    testing.assert_weights_close(restored.student.get_weights(), model.student.get_weights())
    assert float(restored.temperature) == history["temperature"][-1]


def _check_reduce_lr_on_plateau(history, model, tmp_path):
    # The first epoch sets the best loss; the plateau halves the LR after every later
    # epoch, and the second phase starts again from its own LR (0.05).
    assert history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.025])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.0125)


def _check_tensorboard(history, model, tmp_path):
    tags = {}
    for path in glob.glob(str(tmp_path / "tb" / "train" / "*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, []).append(
                    float(tf.make_ndarray(value.tensor))
                )
    for key in ("temperature", "alpha", "phase"):
        assert tags[f"epoch_{key}"] == pytest.approx(history[key]), key


def _check_csv_logger(history, model, tmp_path):
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == EPOCHS
    for key in ("temperature", "alpha", "phase", "learning_rate"):
        assert [float(row[key]) for row in rows] == pytest.approx(history[key]), key


CASES = {
    "early_stopping": (
        lambda tmp: keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=10.0, patience=1),
        _check_early_stopping,
    ),
    "model_checkpoint": (
        lambda tmp: keras.callbacks.ModelCheckpoint(
            str(tmp / "distiller.weights.h5"), save_weights_only=True
        ),
        _check_model_checkpoint,
    ),
    "reduce_lr_on_plateau": (
        lambda tmp: keras.callbacks.ReduceLROnPlateau(
            monitor="loss", min_delta=10.0, patience=0, factor=0.5, min_lr=0.0
        ),
        _check_reduce_lr_on_plateau,
    ),
    "tensorboard": (
        lambda tmp: keras.callbacks.TensorBoard(str(tmp / "tb"), write_graph=False),
        _check_tensorboard,
    ),
    "csv_logger": (lambda tmp: keras.callbacks.CSVLogger(str(tmp / "log.csv")), _check_csv_logger),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_composes_with_keras_callbacks(tmp_path, name):
    make, check = CASES[name]
    x, y = testing.synthetic(n=32)
    model = callback_testing.distiller()
    history = model.fit(
        x, y, epochs=EPOCHS, batch_size=16, verbose=0, validation_data=(x, y),
        callbacks=_schedulers() + [make(tmp_path)],
    ).history
    assert history["temperature"] == pytest.approx([4.0, 3.0, 2.0, 1.0][: len(history["loss"])])
    assert history["phase"] == [0, 0, 1, 1][: len(history["loss"])]
    check(history, model, tmp_path)


CALLBACK_NAMES = ["TemperatureScheduler", "AlphaScheduler", "PhaseScheduler", "FineTuning", "Phase",
                  "DistillerCallback", "PhaseLearningRate"]
SCHEDULE_NAMES = ["Schedule", "Constant", "Linear", "Cosine", "Exponential", "Piecewise", "Warmup"]


@pytest.mark.parametrize(
    "module,name",
    [("callbacks", n) for n in CALLBACK_NAMES] + [("schedules", n) for n in SCHEDULE_NAMES],
)
def test_public_classes_exist_and_are_registered(module, name):
    cls = getattr(getattr(kd, module), name)
    assert keras.saving.get_registered_object(f"keras_distill>{name}") is cls
    assert "Args:" in cls.__doc__ or name in ("Schedule", "DistillerCallback")
    assert kd.Phase is kd.callbacks.Phase


def test_student_checkpoint_saves_the_best_student_alone(tmp_path):
    x, y = testing.synthetic(n=64)
    teacher = testing.mlp(hidden=8192, name="teacher")  # 256 KiB of weights
    student = testing.mlp(hidden=4, name="student")
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer="adam",
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    path = str(tmp_path / "student.keras")
    checkpoint = kd.callbacks.StudentCheckpoint(path, monitor="val_loss", save_best_only=True)
    history = distiller.fit(x, y, epochs=3, validation_data=(x, y), verbose=0,
                            callbacks=[checkpoint])
    restored = keras.models.load_model(path)
    assert restored.name == "student" and restored.count_params() == student.count_params()
    # Far smaller than the teacher: the teacher is not in the file.
    assert os.path.getsize(path) < teacher.count_params() * 4
    assert checkpoint.best == pytest.approx(min(history.history["val_loss"]))
    # Regression: mode="auto" found no direction for val_accuracy (it searched
    # the student's metrics, not the Distiller's) and raised.
    by_accuracy = kd.callbacks.StudentCheckpoint(
        str(tmp_path / "best.keras"), monitor="val_accuracy", save_best_only=True
    )
    history = distiller.fit(x, y, epochs=2, validation_data=(x, y), verbose=0,
                            callbacks=[by_accuracy])
    assert by_accuracy.best == pytest.approx(max(history.history["val_accuracy"]))
    with pytest.raises(TypeError, match="StudentCheckpoint"):
        student.compile("sgd", "mse")
        student.fit(x, np.zeros((64, 4)), verbose=0, callbacks=[kd.callbacks.StudentCheckpoint(path)])

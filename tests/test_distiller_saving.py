import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

import keras_distill as kd
from tests import testing


def _trained_distiller():
    x, y = testing.synthetic(n=64)
    teacher = testing.mlp(hidden=64, activation="softmax", name="big_teacher")
    student = testing.mlp(hidden=8, name="small_student")
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=kd.losses.KDLoss(),
        alpha=0.25,
        temperature=5.0,
    )
    distiller.fit(x, y, epochs=1, batch_size=16, verbose=0)
    return distiller, x, y


def test_config_round_trip():
    distiller, _, _ = _trained_distiller()
    config = json.loads(json.dumps(distiller.get_config()))
    restored = kd.Distiller.from_config(config)
    assert json.loads(json.dumps(restored.get_config())) == config
    # The restored teacher is outside training as the original was.
    teacher_ids = {id(v) for v in restored.teacher.weights}
    assert not teacher_ids & {id(v) for v in restored.trainable_weights}


def test_keras_file_round_trip_restores_predictions_and_keeps_training(tmp_path):
    distiller, x, y = _trained_distiller()
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored, kd.Distiller)
    np.testing.assert_array_equal(restored.predict(x, verbose=0), distiller.predict(x, verbose=0))
    np.testing.assert_array_equal(
        np.asarray(restored.teacher_logits(x)), np.asarray(distiller.teacher_logits(x))
    )
    assert float(restored.alpha) == pytest.approx(0.25)
    assert float(restored.temperature) == pytest.approx(5.0)
    assert isinstance(restored.distillation_loss_fn, kd.losses.KDLoss)
    # Optimizer state came back: one more epoch continues from the same point.
    history = restored.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    expected = distiller.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], expected.history["loss"], rtol=1e-5)


def test_saved_student_contains_no_teacher_weights(tmp_path):
    distiller, x, _ = _trained_distiller()
    path = tmp_path / "student.keras"
    distiller.student.save(path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode()
        with archive.open("model.weights.h5") as handle, h5py.File(handle) as weights:
            shapes = []
            weights.visititems(
                lambda name, obj: shapes.append(obj.shape) if isinstance(obj, h5py.Dataset) else None
            )
    assert "big_teacher" not in config
    student_shapes = sorted(tuple(w.shape) for w in distiller.student.weights)
    assert sorted(shapes) == student_shapes
    teacher_sizes = sum(int(np.prod(w.shape)) for w in distiller.teacher.weights)
    assert sum(int(np.prod(s)) for s in shapes) < teacher_sizes
    reloaded = keras.models.load_model(path)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), distiller.predict(x, verbose=0))


def test_saved_distiller_leaves_out_the_sub_models_own_optimizers(tmp_path):
    # Regression: a compiled teacher's Adam state was written into the
    # Distiller's file, and loading warned about optimizer variables.
    import warnings

    x, y = testing.digits(128)
    teacher = testing.mlp(64, 128, 10, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=1, verbose=0)
    distiller = kd.Distiller(teacher, testing.mlp(64, 8, 10, name="student"))
    distiller.compile(student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    distiller.fit(x, y, epochs=1, verbose=0)
    path = tmp_path / "distiller.keras"
    distiller.save(path)
    assert teacher.optimizer is not None  # the caller's teacher keeps its optimizer
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    with h5py.File(tmp_path / "model.weights.h5") as f:
        groups = []
        f.visit(groups.append)
    assert "optimizer/vars" in groups  # the Distiller's own optimizer
    assert not [g for g in groups if g.startswith("layers/") and "optimizer" in g]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        restored = keras.models.load_model(path)
    assert not [w for w in caught if "optimizer" in str(w.message)]
    restored.fit(x, y, epochs=1, verbose=0)

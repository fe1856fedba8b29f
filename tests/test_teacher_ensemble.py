"""TeacherEnsemble: averaged tempered soft targets as logits, for the Distiller and the cache."""

import keras
import numpy as np
import pytest

import keras_distill
from tests.testing import mlp
from tests.testing import synthetic


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


def _np(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def test_output_is_log_of_weighted_average_tempered_probabilities():
    t1 = mlp(activation="softmax", name="t1")
    t2 = mlp(hidden=32, name="t2")
    t3 = mlp(hidden=8, name="t3")
    x, _ = synthetic()
    ensemble = keras_distill.TeacherEnsemble(
        [t1, t2, t3], teacher_weights=[2, 1, 1], temperatures=[1.0, 3.0, 0.5]
    )
    p1 = _np(t1(x))  # softmax teacher: its logits are recovered, then T=1
    p2 = _softmax(_np(t2(x)) / 3.0)
    p3 = _softmax(_np(t3(x)) / 0.5)
    expected = np.log(0.5 * p1 + 0.25 * p2 + 0.25 * p3)
    np.testing.assert_allclose(_np(ensemble(x)), expected, atol=1e-5)
    assert ensemble.teacher_weights == [0.5, 0.25, 0.25]


def test_sigmoid_teachers_average_probabilities():
    t1 = mlp(outputs=1, activation="sigmoid", name="t1")
    t2 = mlp(outputs=1, name="t2")
    x, _ = synthetic()
    ensemble = keras_distill.TeacherEnsemble([t1, t2])
    p = 0.5 * _np(t1(x)) + 0.5 / (1.0 + np.exp(-_np(t2(x))))
    np.testing.assert_allclose(_np(ensemble(x)), np.log(p) - np.log1p(-p), atol=1e-4)


def test_distiller_trains_a_student_from_the_ensemble_and_the_cache_stores_its_targets(tmp_path):
    teachers = [mlp(hidden=32, name="t1"), mlp(hidden=24, name="t2")]
    ensemble = keras_distill.TeacherEnsemble(teachers)
    student = mlp(hidden=8, name="s")
    x, y = synthetic(n=64)
    distiller = keras_distill.Distiller(ensemble, student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-2), alpha=0.0, temperature=1.0,
        distillation_loss_fn="kd",
    )
    assert len(distiller.trainable_variables) == len(student.trainable_variables)
    history = distiller.fit(x, y, epochs=5, verbose=0)
    assert history.history["distillation_loss"][-1] < history.history["distillation_loss"][0]
    cache = keras_distill.TeacherCache.compute(ensemble, x)
    np.testing.assert_allclose(cache.dense_logits(), _np(ensemble(x)), atol=1e-5)
    distiller.save(tmp_path / "d.keras")
    restored = keras.models.load_model(tmp_path / "d.keras")
    assert isinstance(restored.teacher, keras_distill.TeacherEnsemble)
    np.testing.assert_allclose(_np(restored.teacher(x)), _np(ensemble(x)), atol=1e-6)


def test_bad_ensembles_are_named():
    a, b = mlp(name="a"), mlp(outputs=3, name="b")
    with pytest.raises(ValueError, match="same output shape"):
        keras_distill.TeacherEnsemble([a, b])
    with pytest.raises(ValueError, match="non-empty list"):
        keras_distill.TeacherEnsemble(a)
    with pytest.raises(ValueError, match="one value per teacher"):
        keras_distill.TeacherEnsemble([a, mlp(name="c")], teacher_weights=[1.0])
    with pytest.raises(ValueError, match="must all be > 0"):
        keras_distill.TeacherEnsemble([a, mlp(name="c")], teacher_weights=[1.0, 0.0])
    with pytest.raises(ValueError, match=r"temperatures\[1\]"):
        keras_distill.TeacherEnsemble([a, mlp(name="c")], temperatures=[1.0, -2.0])

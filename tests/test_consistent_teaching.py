"""Consistent teaching: teacher and student see the same augmented, mixed batch."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.augment import CutMix
from keras_distill.augment import MixUp
from tests.testing import to_numpy as _np


def _pair(features=8, classes=5, seed=0):
    """A teacher and a student with the teacher's weights: equal outputs on equal inputs."""
    keras.utils.set_random_seed(seed)
    teacher = keras.Sequential(
        [keras.Input((features,)), keras.layers.Dense(16, activation="relu"),
         keras.layers.Dense(classes)]
    )
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    return teacher, student


def _data(n=96, features=8, classes=5):
    rng = np.random.default_rng(1)
    return rng.normal(size=(n, features)).astype("float32"), rng.integers(0, classes, n)


def _distillation_loss(distiller, x, y):
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=2.0)
    history = distiller.fit(x, y, batch_size=32, epochs=2, verbose=0, shuffle=False)
    return history.history["distillation_loss"]


@pytest.mark.parametrize(
    "augmentation,mix",
    [
        (keras.layers.GaussianNoise(1.0), None),
        (None, MixUp()),
        (keras.Sequential([keras.layers.GaussianNoise(0.5)]), MixUp(alpha=0.4)),
    ],
    ids=["noise", "mixup", "noise+mixup"],
)
def test_teacher_labels_the_view_the_student_sees(augmentation, mix):
    # The student equals the teacher: its KD loss is 0 iff both see the same view.
    teacher, student = _pair()
    x, y = _data()
    distiller = kd.Distiller(teacher, student, augmentation=augmentation, mix=mix, seed=3)
    assert max(_distillation_loss(distiller, x, y)) < 1e-6


def test_views_are_not_the_clean_inputs():
    # Control for the test above: a teacher labelling the clean inputs while
    # the student sees noisy ones gives a clearly positive loss.
    teacher, student = _pair()
    x, y = _data()
    noisy_student = keras.Sequential([keras.layers.GaussianNoise(1.0), student])
    noisy_student.build((None, 8))
    distiller = kd.Distiller(teacher, noisy_student)
    assert min(_distillation_loss(distiller, x, y)) > 1e-2


def test_mixup_draws_new_shares_and_partners_every_batch():
    x = np.arange(64, dtype="float32").reshape(16, 4)
    seed = keras.random.SeedGenerator(0)
    mixed, shares, partners = MixUp()(x, seed)
    mixed2, shares2, _ = MixUp()(x, seed)
    shares, partners = np.asarray(shares), np.asarray(partners)
    np.testing.assert_allclose(
        np.asarray(mixed), shares[:, None] * x + (1 - shares[:, None]) * x[partners], rtol=1e-6
    )
    assert sorted(partners.tolist()) == list(range(16))
    assert not np.allclose(shares, np.asarray(shares2))
    assert ((shares >= 0) & (shares <= 1)).all()


def test_cutmix_pastes_a_box_and_reports_the_kept_share():
    images = np.zeros((8, 10, 12, 1), "float32")
    images += np.arange(8, dtype="float32")[:, None, None, None]
    mixed, shares, partners = CutMix()(images, keras.random.SeedGenerator(1))
    mixed, shares, partners = np.asarray(mixed), np.asarray(shares), np.asarray(partners)
    for i in range(8):
        from_partner = mixed[i, ..., 0] == partners[i]
        if partners[i] != i:
            assert from_partner.mean() == pytest.approx(1 - shares[i], abs=1e-6)
            rows, cols = np.nonzero(from_partner)
            if rows.size:  # the pasted region is one rectangle
                assert from_partner[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()
    with pytest.raises(ValueError, match="CutMix"):
        CutMix()(np.zeros((4, 3), "float32"), keras.random.SeedGenerator(0))


def test_mixed_hard_label_loss_mixes_both_labels():
    teacher, student = _pair()
    x, y = _data(n=12)
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True), alpha=1.0
    )
    shares = np.linspace(0.0, 1.0, 12).astype("float32")
    partners = np.roll(np.arange(12), 1)
    y_pred = student(x)
    _, student_loss, _ = distiller.compute_distillation_loss(
        y, y_pred, teacher(x), shares=shares, partners=partners
    )
    logits = _np(y_pred).astype(np.float64)
    log_q = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    own = -log_q[np.arange(12), y]
    other = -log_q[np.arange(12), y[partners]]
    want = (shares * own + (1 - shares) * other).mean()
    assert float(student_loss) == pytest.approx(want, rel=1e-5)


def test_predict_and_evaluate_see_clean_inputs():
    teacher, student = _pair()
    x, y = _data()
    distiller = kd.Distiller(
        teacher, student, augmentation=keras.layers.GaussianNoise(1.0), mix=MixUp()
    )
    distiller.compile(
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    np.testing.assert_allclose(
        distiller.predict(x, verbose=0), _np(student(x)), rtol=1e-5, atol=1e-6
    )
    a = distiller.evaluate(x, y, verbose=0, return_dict=True)
    b = distiller.evaluate(x, y, verbose=0, return_dict=True)
    assert a == b and "distillation_loss" not in a
    # A direct call, even in training mode, is the student alone.
    np.testing.assert_allclose(
        _np(distiller(x, training=True)), _np(student(x)), rtol=1e-5, atol=1e-6
    )


def test_augmentation_with_cached_logits_is_refused(tmp_path):
    teacher, student = _pair()
    x, y = _data()
    cache = kd.TeacherCache.compute(teacher, x)
    distiller = kd.Distiller(teacher, student, mix=MixUp())
    distiller.compile(alpha=0.0)
    with pytest.raises(ValueError, match="cached teacher logits"):
        distiller.fit(cache.inputs(x), y, epochs=1, verbose=0)


def test_bad_augmentation_arguments():
    teacher, student = _pair()
    with pytest.raises(TypeError, match="augmentation"):
        kd.Distiller(teacher, student, augmentation="flip")
    with pytest.raises(TypeError, match="mix"):
        kd.Distiller(teacher, student, mix="mixup")
    with pytest.raises(ValueError, match="alpha"):
        MixUp(alpha=0)


def test_distiller_with_augmentation_round_trips(tmp_path):
    teacher, student = _pair()
    x, y = _data()
    distiller = kd.Distiller(
        teacher, student, augmentation=keras.layers.GaussianNoise(0.1), mix=CutMix(0.5), seed=7
    )
    distiller.compile(alpha=0.0)
    path = str(tmp_path / "d.keras")
    distiller.save(path)
    restored = keras.models.load_model(path)
    assert isinstance(restored.mix, CutMix) and restored.mix.alpha == 0.5
    assert isinstance(restored.augmentation, keras.layers.GaussianNoise)
    assert restored.seed == 7

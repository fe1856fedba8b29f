"""TeacherCache over augmented views, regenerated from seeds in the Distiller's step."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.augment import RandomDeformation
from keras_distill.augment import RandomShift
from keras_distill.cache.teacher_cache import view_seeds
from tests import testing
from tests.testing import to_numpy as _np


def _shift64(image, dy, dx):
    out = np.zeros_like(image)
    h, w = image.shape[:2]
    for r in range(h):
        for c in range(w):
            if 0 <= r - dy < h and 0 <= c - dx < w:
                out[r, c] = image[r - dy, c - dx]
    return out


def test_random_shift_is_a_zero_filled_shift_chosen_by_the_seed():
    rng = np.random.default_rng(0)
    images = rng.random((40, 5, 6, 2)).astype("float32")
    seeds = rng.integers(0, 2**31 - 1, size=40).astype("int32")
    shifted = np.asarray(RandomShift(2)(images, seeds))
    found = set()
    for image, out in zip(images, shifted):
        matches = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3)
                   if np.array_equal(_shift64(image, dy, dx), out)]
        assert matches, "not a shift of at most 2 pixels"
        found.add(matches[0])
    assert len(found) > 10  # the seeds spread over the 25 shifts
    # Pure function of (input, seed); flattened images with image_shape agree.
    np.testing.assert_array_equal(np.asarray(RandomShift(2)(images, seeds)), shifted)
    flat = np.asarray(RandomShift(2, image_shape=(5, 6, 2))(images.reshape(40, -1), seeds))
    np.testing.assert_array_equal(flat.reshape(shifted.shape), shifted)


def test_random_shift_rejects_non_images():
    with pytest.raises(ValueError, match="image_shape"):
        RandomShift(1)(np.zeros((2, 5), "float32"), np.zeros(2, "int32"))
    with pytest.raises(ValueError, match="max_shift"):
        RandomShift(0)


def _pair(seed=0):
    keras.utils.set_random_seed(seed)
    teacher = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    return teacher, student


@pytest.mark.parametrize(
    "jitter",
    [RandomShift(1, image_shape=(8, 8)), RandomDeformation(translation=1.0, image_shape=(8, 8))],
    ids=["shift", "deformation"],
)
def test_cached_logits_belong_to_the_regenerated_view(jitter):
    x, y = testing.digits(128)
    teacher, student = _pair()
    cache = kd.TeacherCache.compute(teacher, x, views=3, augmentation=jitter, seed=5)
    logits = cache.dense_logits()
    assert logits.shape == (128, 3, 10)
    seeds = view_seeds(128, 3, 5)
    for k in range(3):
        want = _np(teacher(_np(jitter(x, seeds[:, k]))))
        np.testing.assert_allclose(logits[:, k], want, rtol=1e-5, atol=1e-5)
    # A student equal to the teacher has zero loss iff it sees each cached view.
    distiller = kd.Distiller(teacher, student, augmentation=jitter, seed=1)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = distiller.fit(cache.inputs(x), y, batch_size=32, epochs=2, verbose=0)
    assert max(history.history["distillation_loss"]) < 1e-6
    # Control: another augmentation rebuilds other views, and the loss shows it.
    other = kd.Distiller(teacher, student, augmentation=RandomShift(3, image_shape=(8, 8)))
    other.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = other.fit(cache.inputs(x), y, batch_size=32, epochs=1, verbose=0)
    assert history.history["distillation_loss"][0] > 1e-3


def test_views_round_trip_on_disk_and_the_fingerprint_covers_them(tmp_path):
    x, _ = testing.digits(64)
    teacher, _ = _pair()
    jitter = RandomShift(1, image_shape=(8, 8))
    path = str(tmp_path / "views.npz")
    cache = kd.TeacherCache.compute(teacher, x, views=2, augmentation=jitter, seed=3, path=path,
                                    top_k=4)
    loaded = kd.TeacherCache.load(path, teacher=teacher, x=x)
    assert loaded.views == 2 and loaded.augmentation.get_config() == jitter.get_config()
    np.testing.assert_array_equal(loaded.dense_logits(), cache.dense_logits())
    assert loaded.dense_logits().shape == (64, 2, 10)
    packed = loaded.inputs(x)
    np.testing.assert_array_equal(packed["keras_distill_view_seeds"], view_seeds(64, 2, 3))
    # Other views, seed or augmentation: recomputed, never reused.
    for kwargs in (dict(views=3, seed=3, augmentation=jitter),
                   dict(views=2, seed=4, augmentation=jitter),
                   dict(views=2, seed=3, augmentation=RandomShift(2, image_shape=(8, 8)))):
        with pytest.warns(UserWarning, match="Recomputing"):
            other = kd.TeacherCache.compute(teacher, x, path=path, top_k=4, **kwargs)
        assert other.fingerprint != cache.fingerprint


def test_view_arguments_are_checked():
    x, y = testing.digits(32)
    teacher, student = _pair()
    with pytest.raises(ValueError, match="pass `views=K`"):
        kd.TeacherCache.compute(teacher, x, augmentation=RandomShift(1, image_shape=(8, 8)))
    with pytest.raises(TypeError, match="ViewAugmentation"):
        kd.TeacherCache.compute(teacher, x, views=2, augmentation=keras.layers.RandomFlip())
    with pytest.raises(ValueError, match="`views` must be a positive integer"):
        kd.TeacherCache.compute(teacher, x, views=0, augmentation=RandomShift(1, (8, 8)))
    cache = kd.TeacherCache.compute(teacher, x, views=2, augmentation=RandomShift(1, (8, 8)))
    plain = kd.Distiller(teacher, student)
    plain.compile(alpha=0.0)
    with pytest.raises(ValueError, match="augmentation=cache.augmentation"):
        plain.fit(cache.inputs(x), y, epochs=1, verbose=0)


def test_view_augmentation_online_draws_new_views_each_step():
    x, y = testing.digits(64)
    teacher, student = _pair()
    # Online, the same augmentation gets fresh seeds: teacher and student
    # still see the same view (zero loss for a student equal to the teacher).
    distiller = kd.Distiller(teacher, student, augmentation=RandomShift(1, (8, 8)), seed=2)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = distiller.fit(x, y, batch_size=32, epochs=2, verbose=0)
    assert max(history.history["distillation_loss"]) < 1e-6


def _epoch(batches):
    """One epoch of a view dataset whose labels are the examples' indices."""
    inputs, logits, rows = [], [], []
    for index in range(len(batches)):
        packed, y = batches[index]
        inputs.append(packed["keras_distill_inputs"])
        logits.append(packed["keras_distill_teacher_logits"])
        rows.append(y)
    batches.on_epoch_end()
    return np.concatenate(inputs), np.concatenate(logits), np.concatenate(rows)


def _deformed_views(num_samples, keep_views=True):
    """Digits, a teacher and an equal student, and a cache of 3 deformed views (seed 5)."""
    x, y = testing.digits(num_samples)
    teacher, student = _pair()
    jitter = RandomDeformation(rotation=10.0, translation=1.0, image_shape=(8, 8))
    cache = kd.TeacherCache.compute(teacher, x, views=3, augmentation=jitter, seed=5,
                                    keep_views=keep_views)
    return x, y, teacher, student, jitter, cache


def test_view_dataset_serves_every_example_once_an_epoch_as_one_labelled_view():
    x, _, teacher, _, jitter, cache = _deformed_views(96)
    all_views = np.stack([_np(jitter(x, view_seeds(96, 3, 5)[:, k])) for k in range(3)])
    cached = cache.dense_logits()
    batches = cache.view_dataset(x, np.arange(96), batch_size=40, seed=0)
    assert len(batches) == 3
    drawn = []
    for _ in range(2):
        inputs, logits, rows = _epoch(batches)
        assert sorted(rows) == list(range(96))  # each example once, in a new order
        assert not np.array_equal(rows, np.arange(96))
        # Each input is one of its example's views, and its logits are that view's.
        k = np.argmin(np.abs(all_views[:, rows] - inputs[None]).max(axis=-1), axis=0)
        # (Float round-off of the deformation depends on the batch it was built in.)
        np.testing.assert_allclose(inputs, all_views[k, rows], atol=1e-6)
        np.testing.assert_array_equal(logits, cached[rows, k])
        drawn.append(k[np.argsort(rows)])
    assert set(drawn[0]) == {0, 1, 2}
    assert (drawn[0] != drawn[1]).mean() > 0.3  # new views every epoch
    # Built on demand (a cache without kept views, e.g. loaded): the same batches.
    rebuilt = _deformed_views(96, keep_views=False)[-1]
    again = rebuilt.view_dataset(x, np.arange(96), batch_size=40, seed=0, build_batch_size=7)
    kept = cache.view_dataset(x, np.arange(96), batch_size=40, seed=0)
    for got, want in zip(_epoch(again), _epoch(kept)):
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_a_distiller_without_augmentation_learns_the_stored_views():
    x, y, teacher, student, jitter, cache = _deformed_views(128)
    # A student equal to the teacher has zero loss iff each batch's logits are its inputs'.
    distiller = kd.Distiller(teacher, student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = distiller.fit(cache.view_dataset(x, y, batch_size=32, seed=1), epochs=2,
                            verbose=0)
    assert len(history.history["distillation_loss"]) == 2
    assert max(history.history["distillation_loss"]) < 1e-6
    # Control: the same logits with the plain images give a loss.
    data_part = cache.fingerprint.rsplit("-", 1)[-1]
    plain = kd.TeacherCache(cache.dense_logits()[:, 0], f"control-{data_part}")
    history = distiller.fit(plain.inputs(x), y, batch_size=32, epochs=1, verbose=0)
    assert history.history["distillation_loss"][0] > 1e-3
    # The views are made already: augmenting again is refused, with the way out.
    augmenting = kd.Distiller(teacher, student, augmentation=jitter)
    augmenting.compile(alpha=0.0)
    with pytest.raises(ValueError, match="view_dataset"):
        augmenting.fit(cache.view_dataset(x, y, batch_size=32), epochs=1, verbose=0)
    # A cache of another teacher is refused, as for `inputs`.
    other, _ = _pair(seed=7)
    stale = kd.Distiller(other, student)
    stale.compile(alpha=0.0)
    with pytest.raises(kd.errors.StaleCacheError, match="another teacher"):
        stale.fit(cache.view_dataset(x, y, batch_size=32), epochs=1, verbose=0)


def test_view_dataset_arguments_are_checked():
    x, y = testing.digits(32)
    teacher, _ = _pair()
    jitter = RandomShift(1, (8, 8))
    with pytest.raises(ValueError, match="`keep_views` must be a bool, and `True` only with"):
        kd.TeacherCache.compute(teacher, x, keep_views=True)
    with pytest.raises(ValueError, match="`keep_views` must be a bool"):
        kd.TeacherCache.compute(teacher, x, views=2, augmentation=jitter, keep_views="yes")
    with pytest.raises(ValueError, match="holds the plain inputs' logits only"):
        kd.TeacherCache.compute(teacher, x).view_dataset(x, y)
    cache = kd.TeacherCache.compute(teacher, x, views=2, augmentation=jitter)
    with pytest.raises(ValueError, match="`y` has 31 samples; the cache holds 32"):
        cache.view_dataset(x, y[:31])
    with pytest.raises(ValueError, match="`sample_weight` needs `y`"):
        cache.view_dataset(x, sample_weight=np.ones(32))
    with pytest.raises(ValueError, match="`batch_size` must be a positive integer"):
        cache.view_dataset(x, y, batch_size=0)
    with pytest.raises(ValueError, match="not the data this cache was computed on"):
        cache.view_dataset(x[::-1], y)


def test_view_dataset_serves_top_k_fields_of_the_drawn_view():
    x, y = testing.digits(64)
    teacher, student = _pair()
    jitter = RandomShift(1, (8, 8))
    cache = kd.TeacherCache.compute(teacher, x, views=2, augmentation=jitter, seed=3, top_k=4)
    packed, _ = cache.view_dataset(x, y, batch_size=64, shuffle=False, seed=0)[0]
    fields = packed["keras_distill_teacher_top_k"]
    assert {name: value.shape for name, value in fields.items()} == {
        "indices": (64, 4), "log_probs": (64, 4), "tail_mass": (64,)
    }
    # Each row is the top-k of the teacher on the very view served.
    want = np.argsort(-_np(teacher(packed["keras_distill_inputs"])), axis=-1)[:, :4]
    np.testing.assert_array_equal(np.sort(fields["indices"], -1), np.sort(want, -1))
    distiller = kd.Distiller(teacher, student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.0), alpha=0.0, temperature=1.0)
    history = distiller.fit(cache.view_dataset(x, y, batch_size=32, seed=1), epochs=1, verbose=0)
    assert history.history["distillation_loss"][0] < 1e-5

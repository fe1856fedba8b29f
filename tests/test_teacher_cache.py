import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from keras_distill.cache import cache_file
from keras_distill.cache import teacher_cache
from keras_distill.cache.teacher_outputs import TeacherOutputs
from keras_distill.core import packed_inputs
from tests import testing

CLASSES = 6


def _linear(identity=False, seed=0, activation=None):
    """A bias-free Dense model; identity kernels make logits equal to the inputs."""
    initializer = "identity" if identity else keras.initializers.RandomNormal(seed=seed)
    return keras.Sequential(
        [
            keras.Input((CLASSES,)),
            keras.layers.Dense(
                CLASSES, use_bias=False, kernel_initializer=initializer, activation=activation
            ),
        ]
    )


def _data(n=96):
    rng = np.random.default_rng(3)
    x = (3.0 * rng.normal(size=(n, CLASSES))).astype("float32")
    y = rng.integers(0, CLASSES, size=(n,)).astype("int32")
    w = rng.uniform(0.2, 2.0, size=(n,)).astype("float32")
    return x, y, w


def _frozen_distiller(teacher, student, alpha=0.0):
    """A Distiller whose weights never change (lr=0), so epoch losses are sample means."""
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.SGD(learning_rate=0.0),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=alpha,
        temperature=2.0,
    )
    return distiller


def _epoch_loss(distiller, source, x, y, w, packed):
    if source == "tf.data":
        data = tf.data.Dataset.from_tensor_slices((packed, y, w)).shuffle(len(y), seed=1).batch(8)
        history = distiller.fit(data, epochs=2, verbose=0)
    else:
        history = distiller.fit(packed, y, sample_weight=w, batch_size=8, epochs=2, shuffle=True, verbose=0)
    return np.array(history.history["distillation_loss"])


@pytest.mark.parametrize("source", ["numpy", "tf.data"])
def test_cached_logits_stay_with_their_samples_under_shuffling(source):
    # Teacher and student are both identity maps: the KD loss of a sample is 0
    # only against its own teacher logits, so any misalignment shows.
    x, y, w = _data()
    teacher, student = _linear(identity=True), _linear(identity=True)
    cache = kd.TeacherCache.compute(teacher, x, batch_size=16)
    distiller = _frozen_distiller(teacher, student)
    if source == "tf.data":
        data = cache.dataset(x, y, sample_weight=w).shuffle(len(y), seed=1).batch(8)
        losses = np.array(distiller.fit(data, epochs=2, verbose=0).history["distillation_loss"])
    else:
        losses = _epoch_loss(distiller, source, x, y, w, cache.inputs(x))
    np.testing.assert_allclose(losses, 0.0, atol=1e-6)
    # Negative control: logits shuffled once against their samples.
    permuted = packed_inputs.pack(x, cache.dense_logits()[np.random.default_rng(0).permutation(len(x))])
    assert np.all(_epoch_loss(distiller, source, x, y, w, permuted) > 0.1)


@pytest.mark.parametrize("source", ["numpy", "tf.data"])
def test_cached_fit_matches_online_fit_with_sample_weights(source):
    x, y, w = _data()
    teacher, student = _linear(seed=1), _linear(seed=2)
    distiller = _frozen_distiller(teacher, student, alpha=0.3)
    cache = kd.TeacherCache.compute(teacher, x, batch_size=32)
    online = _epoch_loss(distiller, source, x, y, w, x)
    cached = _epoch_loss(distiller, source, x, y, w, cache.inputs(x))
    np.testing.assert_allclose(cached, online, rtol=1e-5)
    assert online[0] > 0.01


def test_cached_training_never_runs_the_teacher(monkeypatch):
    x, y, w = _data(64)
    teacher, student = _linear(seed=1), _linear(seed=2)
    cache = kd.TeacherCache.compute(teacher, x)
    expected = _frozen_distiller(teacher, student).evaluate(x, y, verbose=0, return_dict=True)["loss"]
    distiller = _frozen_distiller(teacher, student)
    calls = []
    teacher_call = teacher.call
    monkeypatch.setattr(teacher, "call", lambda *a, **k: calls.append(1) or teacher_call(*a, **k))
    history = distiller.fit(
        cache.inputs(x), y, batch_size=16, epochs=1, verbose=0, validation_data=(cache.inputs(x), y)
    )
    assert not calls
    assert np.isfinite(history.history["distillation_loss"][0])
    assert history.history["val_loss"][0] == pytest.approx(expected, rel=1e-6)
    distiller.fit(x, y, batch_size=16, epochs=1, verbose=0)
    assert calls


def test_predict_and_evaluate_accept_packed_and_plain_inputs():
    x, y, _ = _data(48)
    teacher, student = _linear(seed=1), _linear(seed=2)
    cache = kd.TeacherCache.compute(teacher, x)
    distiller = _frozen_distiller(teacher, student, alpha=0.5)
    np.testing.assert_array_equal(
        distiller.predict(cache.inputs(x), verbose=0), distiller.predict(x, verbose=0)
    )
    assert distiller.evaluate(cache.inputs(x), y, verbose=0) == pytest.approx(
        distiller.evaluate(x, y, verbose=0)
    )


def test_softmax_teacher_and_distiller_give_the_distillers_logits():
    x, _, _ = _data(40)
    teacher = _linear(seed=4, activation="softmax")
    distiller = kd.Distiller(teacher=teacher, student=_linear(seed=5))
    from_teacher = kd.TeacherCache.compute(teacher, x, batch_size=16)
    from_distiller = kd.TeacherCache.compute(distiller, x, batch_size=16)
    expected = keras.ops.convert_to_numpy(distiller.teacher_logits(x))
    np.testing.assert_allclose(from_teacher.dense_logits(), expected, rtol=1e-6, atol=1e-6)
    assert from_distiller.fingerprint == from_teacher.fingerprint
    assert from_teacher.dense_logits().shape == (40, CLASSES)
    assert len(from_teacher) == 40 and from_teacher.num_classes == CLASSES


def test_save_load_round_trip_and_stale_detection(tmp_path):
    x, _, _ = _data(32)
    teacher = _linear(seed=1)
    path = str(tmp_path / "teacher.npz")
    cache = kd.TeacherCache.compute(teacher, x, top_k=3, path=path)
    assert cache.path == path and os.path.exists(path)
    loaded = kd.TeacherCache.load(path, teacher=teacher, x=x)
    np.testing.assert_array_equal(loaded.dense_logits(), cache.dense_logits())
    assert loaded.top_k == 3 and loaded.fingerprint == cache.fingerprint
    restored = kd.TeacherCache.from_config(cache.get_config())
    np.testing.assert_array_equal(restored.dense_logits(), cache.dense_logits())
    with pytest.raises(ValueError, match="stale"):
        kd.TeacherCache.load(path, teacher=teacher, x=x + 1.0)
    changed = _linear(seed=9)
    with pytest.raises(ValueError, match="stale"):
        kd.TeacherCache.load(path, teacher=changed, x=x)
    with pytest.raises(ValueError, match="needs `teacher` and `x`"):
        kd.TeacherCache.load(path)


def test_compute_reuses_a_matching_file_and_recomputes_a_stale_one(tmp_path, monkeypatch):
    x, _, _ = _data(32)
    teacher = _linear(seed=1)
    path = str(tmp_path / "teacher.npz")
    first = kd.TeacherCache.compute(teacher, x, path=path)

    def no_teacher_pass(*args, **kwargs):
        raise AssertionError("the teacher ran although the cache file matches")

    with monkeypatch.context() as patch:
        patch.setattr(TeacherOutputs, "predict", no_teacher_pass)
        again = kd.TeacherCache.compute(teacher, x, path=path)
    np.testing.assert_array_equal(again.dense_logits(), first.dense_logits())
    teacher.set_weights([w * 2.0 for w in teacher.get_weights()])
    with pytest.warns(UserWarning, match="Recomputing the teacher cache"):
        fresh = kd.TeacherCache.compute(teacher, x, path=path)
    np.testing.assert_allclose(fresh.dense_logits(), 2.0 * first.dense_logits(), rtol=1e-6)
    assert kd.TeacherCache.load(path, teacher=teacher, x=x).fingerprint == fresh.fingerprint


def test_a_failed_save_leaves_the_previous_file_and_no_partial_one(tmp_path, monkeypatch):
    x, _, _ = _data(16)
    path = str(tmp_path / "teacher.npz")
    cache = kd.TeacherCache.compute(_linear(seed=1), x, path=path)
    before = open(path, "rb").read()

    def failing_savez(handle, **arrays):
        handle.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(cache_file.np, "savez", failing_savez)
    with pytest.raises(OSError, match="disk full"):
        cache.save(path)
    with pytest.raises(OSError, match="disk full"):
        cache.save(str(tmp_path / "new.npz"))
    assert open(path, "rb").read() == before
    assert sorted(os.listdir(tmp_path)) == ["teacher.npz"]


def test_inputs_reject_other_data():
    x, _, _ = _data(32)
    cache = kd.TeacherCache.compute(_linear(seed=1), x)
    with pytest.raises(ValueError, match="samples but the cache holds 32"):
        cache.inputs(x[:16])
    with pytest.raises(ValueError, match="not the data this cache was computed on"):
        cache.inputs(x[::-1].copy())
    with pytest.raises(ValueError, match="already carries cached teacher logits"):
        packed_inputs.pack(cache.inputs(x), cache.dense_logits())
    with pytest.raises(ValueError, match="`sample_weight` needs `y`"):
        cache.dataset(x, sample_weight=np.ones(32))


def test_inputs_of_some_samples_carry_their_logits_and_their_teacher():
    x, y, _ = _data(40)
    teacher = _linear(seed=1)
    cache = kd.TeacherCache.compute(teacher, x)
    indices = np.array([5, 0, 39, 12])
    packed = cache.inputs(x, indices)
    np.testing.assert_array_equal(packed[packed_inputs.INPUTS_KEY], x[indices])
    np.testing.assert_allclose(packed[packed_inputs.LOGITS_KEY],
                               testing.to_numpy(teacher(x[indices])), atol=1e-5)
    # Still marked with its teacher: a Distiller of another teacher refuses it.
    other = kd.Distiller(_linear(seed=2), _linear(seed=3))
    other.compile(optimizer="sgd",
                  student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(kd.errors.StaleCacheError, match="another teacher"):
        other.fit(packed, y[indices], epochs=1, verbose=0)
    for bad, match in (([40], r"in \[0, 40\)"), ([-1], r"in \[0, 40\)"),
                       ([[1, 2]], "1-D array"), ([0.5], "integer")):
        with pytest.raises(ValueError, match=match):
            cache.inputs(x, np.array(bad))


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (dict(batch_size=0), ValueError, "`batch_size` must be a positive integer"),
        (dict(top_k=0), ValueError, "`top_k` must be a positive integer"),
        (dict(top_k=CLASSES + 1), ValueError, "`top_k` must be at most the number of classes"),
        (dict(teacher="teacher"), TypeError, "`teacher` must be a keras.Model"),
        (dict(x="dataset"), TypeError, "`x` must be NumPy arrays"),
    ],
)
def test_compute_rejects_bad_arguments(kwargs, error, match):
    x, _, _ = _data(16)
    arguments = dict(teacher=_linear(seed=1), x=x)
    arguments.update(kwargs)
    if isinstance(arguments["x"], str):
        arguments["x"] = tf.data.Dataset.from_tensor_slices(x).batch(4)
    with pytest.raises(error, match=match):
        kd.TeacherCache.compute(**arguments)


def test_cache_with_a_dict_input_model_is_not_confused_with_user_dicts():
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(40, 3)).astype("float32"), "b": rng.normal(size=(40, 5)).astype("float32")}
    y = rng.integers(0, 4, size=(40,)).astype("int32")

    def model(seed):
        inputs = {"a": keras.Input((3,), name="a"), "b": keras.Input((5,), name="b")}
        merged = keras.layers.Concatenate()([inputs["a"], inputs["b"]])
        dense = keras.layers.Dense(4, kernel_initializer=keras.initializers.RandomNormal(seed=seed))
        return keras.Model(inputs, dense(merged))

    teacher, student = model(1), model(2)
    cache = kd.TeacherCache.compute(teacher, x, batch_size=16)
    assert not packed_inputs.is_packed(x)
    distiller = _frozen_distiller(teacher, student, alpha=0.5)
    online = distiller.fit(x, y, batch_size=8, verbose=0).history["loss"]
    cached = distiller.fit(cache.inputs(x), y, batch_size=8, verbose=0).history["loss"]
    np.testing.assert_allclose(cached, online, rtol=1e-5)


def test_cached_fit_trains_the_student():
    x, y = testing.digits(256)
    teacher = testing.mlp(inputs=64, hidden=32, outputs=10, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=20, batch_size=64, verbose=0)
    cache = kd.TeacherCache.compute(teacher, x, top_k=4)
    distiller = kd.Distiller(teacher, testing.mlp(inputs=64, hidden=16, outputs=10, name="student"))
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        temperature=2.0,
    )
    history = distiller.fit(cache.inputs(x), y, epochs=25, batch_size=32, verbose=0)
    assert history.history["distillation_loss"][-1] < 0.5 * history.history["distillation_loss"][0]
    assert history.history["accuracy"][-1] > 0.6


def test_teacher_cache_is_exported_and_registered():
    assert kd.TeacherCache is teacher_cache.TeacherCache
    assert keras.saving.get_registered_object("keras_distill>TeacherCache") is kd.TeacherCache


def test_top_k_larger_than_the_classes_is_refused_up_front():
    # Regression: it failed deep inside Keras's call wrapper with a tensor dump.
    x, _ = testing.synthetic()
    teacher = testing.mlp(name="teacher")  # 4 classes
    message = r"`top_k` must be at most the number of classes of the teacher \(4\)"
    with pytest.raises(ValueError, match=message):
        kd.TeacherCache.compute(teacher, x, top_k=5)


def test_repr_is_readable():
    x, _ = testing.synthetic()
    cache = kd.TeacherCache.compute(testing.mlp(name="teacher"), x, top_k=2)
    assert repr(cache).startswith("TeacherCache(samples=64, classes=4, top_k=2, ")
    assert "MiB" in repr(cache)

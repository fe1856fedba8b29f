"""What used to ruin a student without a word (issue 24): now a clear error or warning."""

import os
import warnings

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.errors import InvalidDataError
from keras_distill.errors import StaleCacheError
from tests import testing

_HARD = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _distiller(teacher=None, jit_compile="auto", **kwargs):
    distiller = kd.Distiller(
        teacher or testing.mlp(name="teacher"), testing.mlp(hidden=8, name="student"), **kwargs
    )
    distiller.compile(optimizer="sgd", student_loss_fn=_HARD, jit_compile=jit_compile)
    return distiller


def _batches(x, y, batch_size=8):
    """A generator `fit` cannot check before training (no `len`, no arrays)."""
    for start in range(0, len(x), batch_size):
        yield x[start : start + batch_size], y[start : start + batch_size]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_numpy_x_is_refused_before_training(bad):
    x, y = testing.synthetic(64)
    x[37, 3] = bad
    distiller = _distiller()
    before = [testing.to_numpy(w) for w in distiller.student.weights]
    with pytest.raises(InvalidDataError, match=r"`x` holds NaN or inf in 1 of 64 .*index 37"):
        distiller.fit(x, y, batch_size=16, verbose=0)
    testing.assert_weights_close(before, distiller.student.weights)


def test_non_finite_numpy_y_is_refused():
    x, _ = testing.synthetic(32)
    y = np.zeros((32, 4), "float32")
    y[5, 0] = np.nan
    distiller = kd.Distiller(testing.mlp(), testing.mlp(hidden=8))
    distiller.compile(student_loss_fn="mse")
    with pytest.raises(InvalidDataError, match=r"`y` holds NaN or inf .*index 5"):
        distiller.fit(x, y, verbose=0)


def test_empty_numpy_x_is_refused():
    x, y = testing.synthetic(64)
    with pytest.raises(InvalidDataError, match=r"`x` holds no samples"):
        _distiller().fit(x[:0], y[:0], verbose=0)


def test_empty_dataset_is_refused():
    import tensorflow as tf

    x, y = testing.synthetic(8)
    empty = tf.data.Dataset.from_tensor_slices((x[:0], y[:0])).batch(4)
    with pytest.raises(InvalidDataError, match="`x` is an empty .*yields no batch"):
        _distiller().fit(empty, verbose=0)


# Keras's JAX and torch trainers fail on their own (UnboundLocalError) after
# an epoch without batches; TensorFlow's returned an empty History.
@pytest.mark.tensorflow_only
def test_a_dataset_found_empty_only_while_training_is_refused():
    import tensorflow as tf

    x, y = testing.synthetic(8)
    empty = tf.data.Dataset.from_tensor_slices((x, y)).filter(lambda a, b: b > 99).batch(4)
    with pytest.raises(InvalidDataError, match="ran no training batch"):
        _distiller().fit(empty, verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_non_finite_batch_of_a_generator_stops_training_at_that_batch(jit_compile):
    x, y = testing.synthetic(64)
    x[21, 0] = np.nan  # batch 2 of 8 samples each
    distiller = _distiller(jit_compile=jit_compile)
    with pytest.raises(InvalidDataError, match=r"epoch 1, batch 2: the batch's inputs `x`"):
        distiller.fit(_batches(x, y), epochs=1, verbose=0)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_a_teacher_emitting_nan_online_is_named(jit_compile):
    teacher = testing.mlp(name="teacher")
    kernel = testing.to_numpy(teacher.layers[-1].kernel)
    kernel[0, 0] = np.nan
    teacher.layers[-1].kernel.assign(kernel)
    x, y = testing.synthetic(64)
    distiller = _distiller(teacher, jit_compile=jit_compile)
    with pytest.raises(InvalidDataError, match=r"batch 0: the teacher's logits"):
        distiller.fit(x, y, batch_size=16, verbose=0)


def test_the_guard_leaves_logs_and_history_as_they_were():
    x, y = testing.synthetic(64)
    distiller = _distiller()
    seen = []
    callback = keras.callbacks.LambdaCallback(on_train_batch_end=lambda b, logs: seen.append(logs))
    history = distiller.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[callback])
    assert set(history.history) == {"loss", "student_loss", "distillation_loss"}
    assert all("keras_distill_non_finite" not in logs for logs in seen)
    assert np.isfinite(history.history["loss"]).all()
    assert "keras_distill_non_finite" not in distiller.evaluate(x, y, verbose=0, return_dict=True)


def test_a_cache_of_another_teacher_is_refused_at_fit(tmp_path):
    x, y = testing.synthetic(64)
    teacher_a, teacher_b = testing.mlp(name="a"), testing.mlp(name="b")
    cache = kd.TeacherCache.compute(teacher_a, x, path=str(tmp_path / "a.npz"))
    other = kd.TeacherCache.load(str(tmp_path / "a.npz"), teacher=teacher_a, x=x)
    with pytest.raises(StaleCacheError, match=r"another teacher.*fingerprint [0-9a-f]{32}.*"
                       r"'b'.*fingerprint [0-9a-f]{32}"):
        _distiller(teacher_b).fit(cache.inputs(x), y, verbose=0)
    with pytest.raises(StaleCacheError, match="another teacher"):
        _distiller(teacher_b).fit(other.inputs(x), y, verbose=0)
    history = _distiller(teacher_a).fit(cache.inputs(x), y, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_a_cache_dataset_of_another_teacher_is_refused_through_the_pipeline():
    x, y = testing.synthetic(64)
    teacher_a, teacher_b = testing.mlp(name="a"), testing.mlp(name="b")
    cache = kd.TeacherCache.compute(teacher_a, x, top_k=2)
    pipeline = cache.dataset(x, y).shuffle(64, seed=0).batch(16).prefetch(1)
    with pytest.raises(StaleCacheError, match="another teacher"):
        _distiller(teacher_b).fit(pipeline, verbose=0)
    _distiller(teacher_a).fit(pipeline, verbose=0)


def test_a_cache_with_another_teacher_activation_is_refused():
    x, y = testing.synthetic(32)
    teacher = testing.mlp(activation="softmax", name="teacher")
    cache = kd.TeacherCache.compute(teacher, x, teacher_activation="linear")
    with pytest.raises(StaleCacheError, match="teacher_activation='auto'"):
        _distiller(teacher).fit(cache.inputs(x), y, verbose=0)


def _lambda_softmax_teacher():
    return keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(4),
        keras.layers.Lambda(lambda t: keras.ops.softmax(t)),
    ], name="lambda_teacher")


def test_a_teacher_hiding_its_softmax_gets_a_warning():
    with pytest.warns(UserWarning, match='outputs probabilities.*teacher_activation="softmax"'):
        kd.Distiller(_lambda_softmax_teacher(), testing.mlp(hidden=8))
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        kd.Distiller(_lambda_softmax_teacher(), testing.mlp(hidden=8), teacher_activation="softmax")
        kd.Distiller(testing.mlp(), testing.mlp(hidden=8))
        logits_behind_lambda = keras.Sequential(
            [keras.Input((8,)), keras.layers.Dense(4), keras.layers.Lambda(lambda t: 3.0 * t)]
        )
        kd.Distiller(logits_behind_lambda, testing.mlp(hidden=8))


@pytest.mark.parametrize("name", ["temperature", "alpha"])
def test_an_out_of_range_raw_assignment_fails_at_fit(name):
    x, y = testing.synthetic(32)
    distiller = _distiller()
    getattr(distiller, name).assign(0.0 if name == "temperature" else 1.5)
    with pytest.raises(ValueError, match=f"`distiller.{name}` .*Received: distiller.{name}="):
        distiller.fit(x, y, verbose=0)


@pytest.mark.not_torch
def test_keras_export_of_a_distiller_exports_the_student(tmp_path):
    import tensorflow as tf

    x, y = testing.synthetic(32)
    distiller = _distiller()
    distiller.fit(x, y, verbose=0)
    path = str(tmp_path / "student")
    distiller.export(path, verbose=False)
    loaded = tf.saved_model.load(path)
    served = loaded.serve(tf.constant(x))
    np.testing.assert_allclose(
        np.asarray(served), distiller.student.predict(x, verbose=0), rtol=1e-5, atol=1e-5
    )


def test_a_cache_path_in_a_missing_folder_fails_before_the_teacher_pass(tmp_path):
    calls = []

    class CountingTeacher(keras.Model):
        def call(self, x):
            calls.append(1)
            return x

    teacher = CountingTeacher()
    teacher.build((None, 4))
    path = os.path.join(tmp_path, "missing_dir", "c.npz")
    with pytest.raises(FileNotFoundError, match=r"`path` .*missing_dir.* does not exist"):
        kd.TeacherCache.compute(teacher, np.zeros((4, 4), "float32"), path=path)
    assert not calls


def test_printed_features_show_the_adapter():
    teacher, student = testing.mlp(hidden=64), testing.mlp(hidden=8)
    pair = keras.distillation.FeatureDistillation(
        loss="mse", teacher_layer_name=teacher.layers[0].name,
        student_layer_name=student.layers[0].name,
    )
    distiller = kd.Distiller(teacher, student, features=[pair])
    assert "adapter=Dense('feature_adapter_0', 8 -> 64)" in repr(distiller.features)


def test_no_student_loss_is_logged_without_a_hard_label_loss():
    x, y = testing.synthetic(32)
    distiller = kd.Distiller(testing.mlp(), testing.mlp(hidden=8))
    distiller.compile(alpha=0.0)
    history = distiller.fit(x, y, verbose=0)
    assert set(history.history) == {"loss", "distillation_loss"}


def test_a_student_for_other_inputs_is_refused_at_construction():
    with pytest.raises(ValueError, match=r"teacher input shape \(None, 8\), student input "
                       r"shape \(None, 6\)"):
        kd.Distiller(testing.mlp(inputs=8), testing.mlp(inputs=6))

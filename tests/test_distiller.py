import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill as kd
from tests import callback_testing
from tests import testing
from tests.testing import to_numpy as _np


def _compiled(teacher=None, student=None, alpha=0.1, temperature=4.0, **compile_kwargs):
    teacher = teacher or testing.mlp(hidden=32, name="teacher")
    student = student or testing.mlp(hidden=8, name="student")
    distiller = kd.Distiller(teacher=teacher, student=student)
    compile_kwargs.setdefault("optimizer", "adam")
    distiller.compile(
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=kd.losses.KDLoss(),
        alpha=alpha,
        temperature=temperature,
        **compile_kwargs,
    )
    return distiller


def test_fit_logs_losses_and_student_metrics():
    x, y = testing.synthetic(n=96)
    distiller = _compiled()
    history = distiller.fit(x, y, epochs=2, batch_size=32, validation_data=(x, y), verbose=0)
    for key in ("loss", "student_loss", "distillation_loss", "accuracy", "val_loss", "val_accuracy"):
        assert key in history.history, key
    assert "val_distillation_loss" not in history.history
    # loss = alpha * student + (1 - alpha) * distillation (no regularizers), per batch
    # and hence for the epoch averages.
    h = history.history
    np.testing.assert_allclose(
        h["loss"], 0.1 * np.array(h["student_loss"]) + 0.9 * np.array(h["distillation_loss"]),
        rtol=1e-5,
    )
    # evaluate reports the student alone: identical to the student's own evaluate.
    results = distiller.evaluate(x, y, return_dict=True, verbose=0)
    student = distiller.student
    student.compile(
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    own = student.evaluate(x, y, return_dict=True, verbose=0)
    assert results["loss"] == pytest.approx(own["loss"], rel=1e-6)
    assert results["accuracy"] == pytest.approx(own["accuracy"])
    np.testing.assert_array_equal(distiller.predict(x, verbose=0), student.predict(x, verbose=0))


def test_teacher_weights_are_bit_identical_after_fit():
    teacher = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(4),
        ]
    )
    before = [w.copy() for w in teacher.get_weights()]
    x, y = testing.synthetic()
    distiller = _compiled(teacher=teacher)
    distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    # Regression: the Distiller used to set the caller's teacher to
    # trainable=False for good; it now leaves the flag alone.
    assert teacher.trainable and all(layer.trainable for layer in teacher.layers)
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert all(not any(w is t for t in teacher.weights) for w in distiller.trainable_weights)


def test_teacher_runs_once_per_step_in_inference_mode():
    calls = []

    class Recorder(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(4)

        def build(self, input_shape):
            self.dense.build(input_shape)

        def call(self, x, training=None):
            calls.append(training)
            return self.dense(x)

    teacher = Recorder()
    teacher.build((None, 8))
    distiller = _compiled(teacher=teacher, jit_compile=False)
    traces = callback_testing.count_traces(distiller)
    x, y = testing.synthetic(n=32)
    distiller.fit(x, y, epochs=2, batch_size=16, verbose=0)
    # Calls happen while tracing (or on every step where the step runs
    # eagerly); every call is in inference mode, and each run of the step's
    # Python body calls the teacher exactly once.
    assert traces and calls == [False] * len(traces)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_alpha_one_matches_plain_student_fit(optimizer):
    x, y = testing.digits(n=256)
    teacher = testing.mlp(inputs=64, hidden=32, outputs=10, name="teacher")
    student = testing.mlp(inputs=64, hidden=16, outputs=10, name="student")
    twin = keras.models.clone_model(student)
    twin.set_weights(student.get_weights())
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    distiller = kd.Distiller(teacher, student)
    distiller.compile(optimizer=optimizer, student_loss_fn=loss, alpha=1.0, temperature=4.0)
    distiller.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)
    twin.compile(optimizer=optimizer, loss=loss)
    twin.fit(x, y, epochs=3, batch_size=32, shuffle=False, verbose=0)

    worst = testing.assert_weights_close(student.get_weights(), twin.get_weights(), atol=1e-6)
    print(f"alpha=1 equivalence ({optimizer}, 24 steps): max abs weight diff {worst:.3g}")


@pytest.mark.parametrize(
    "steps_per_execution",
    # Keras's torch trainer refuses steps_per_execution > 1.
    [1, pytest.param(4, marks=pytest.mark.not_torch)],
)
def test_jit_and_steps_per_execution_agree_with_eager_graph(steps_per_execution):
    x, y = testing.synthetic(n=128)
    results = []
    for jit in (False, True):
        keras.utils.set_random_seed(7)
        distiller = _compiled(
            optimizer=keras.optimizers.SGD(0.1),
            jit_compile=jit,
            steps_per_execution=steps_per_execution,
        )
        distiller.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        results.append(distiller.student.get_weights())
    testing.assert_weights_close(results[0], results[1], atol=1e-5)


def test_one_hot_labels_give_the_same_update_as_sparse():
    x, y = testing.synthetic(n=64)
    weights = []
    for labels, loss in (
        (y, keras.losses.SparseCategoricalCrossentropy(from_logits=True)),
        (keras.utils.to_categorical(y, 4), keras.losses.CategoricalCrossentropy(from_logits=True)),
    ):
        keras.utils.set_random_seed(3)
        distiller = kd.Distiller(testing.mlp(name="t"), testing.mlp(hidden=8, name="s"))
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), student_loss_fn=loss, alpha=0.5)
        distiller.fit(x, labels, epochs=1, batch_size=16, shuffle=False, verbose=0)
        weights.append(distiller.student.get_weights())
    testing.assert_weights_close(weights[0], weights[1], atol=1e-6)


def test_tf_data_with_sample_weights_weights_both_losses():
    x, y = testing.synthetic(n=32)
    w = np.linspace(0.0, 2.0, 32).astype("float32")
    distiller = _compiled(optimizer=keras.optimizers.SGD(0.0), alpha=0.3, temperature=2.0)
    dataset = tf.data.Dataset.from_tensor_slices((x, y, w)).batch(32)
    history = distiller.fit(dataset, epochs=1, verbose=0)

    teacher_logits = _np(distiller.teacher(x))
    student_logits = _np(distiller.student(x))
    kd_values = _np(kd.losses.kd_loss(teacher_logits, student_logits, 2.0))
    ce = np.asarray(
        keras.losses.sparse_categorical_crossentropy(y, student_logits, from_logits=True)
    )
    expected_kd = (kd_values * w).sum() / 32
    expected_ce = (ce * w).sum() / 32
    assert history.history["distillation_loss"][0] == pytest.approx(expected_kd, rel=1e-5)
    assert history.history["student_loss"][0] == pytest.approx(expected_ce, rel=1e-5)
    assert history.history["loss"][0] == pytest.approx(0.3 * expected_ce + 0.7 * expected_kd, rel=1e-5)


def test_student_regularization_is_added_to_the_loss():
    x, y = testing.synthetic(n=32)
    student = testing.mlp(hidden=8, name="student", kernel_regularizer=keras.regularizers.L2(0.1))
    distiller = _compiled(student=student, optimizer=keras.optimizers.SGD(0.0), alpha=0.5)
    history = distiller.fit(x, y, batch_size=32, epochs=1, verbose=0)
    h = history.history
    regularization = float(sum(_np(v) for v in student.losses))
    assert regularization > 0
    expected = 0.5 * h["student_loss"][0] + 0.5 * h["distillation_loss"][0] + regularization
    assert h["loss"][0] == pytest.approx(expected, rel=1e-5)


def test_unlabelled_transfer_set_with_alpha_zero():
    x, _ = testing.synthetic(n=64)
    distiller = kd.Distiller(testing.mlp(name="t"), testing.mlp(hidden=8, name="s"))
    distiller.compile(optimizer="adam", alpha=0.0, temperature=2.0)
    history = distiller.fit(x, epochs=3, batch_size=16, verbose=0)
    losses = history.history["distillation_loss"]
    assert losses[-1] < losses[0]


def test_compiled_metrics_are_skipped_with_a_warning_when_fit_has_no_labels():
    x, y = testing.synthetic(n=64)
    distiller = kd.Distiller(testing.mlp(name="t"), testing.mlp(hidden=8, name="s"))
    distiller.compile(optimizer="adam", alpha=0.0, metrics=["accuracy"])
    with pytest.warns(UserWarning, match="metrics given to `compile` need labels"):
        history = distiller.fit(x, epochs=2, batch_size=16, verbose=0)
    assert "accuracy" not in history.history
    assert len(history.history["distillation_loss"]) == 2
    # Labelled data afterwards (the same compiled steps) tracks them again.
    logs = distiller.evaluate(x, y, batch_size=16, verbose=0, return_dict=True)
    predicted = np.argmax(_np(distiller.student.predict(x, verbose=0)), axis=-1)
    assert logs["accuracy"] == pytest.approx(np.mean(predicted == y), abs=1e-6)
    with warnings.catch_warnings():
        # JAX traces the step again (the metrics' state has grown) and warns again.
        warnings.simplefilter("ignore", UserWarning)
        history = distiller.fit(x, epochs=1, batch_size=16, verbose=0, validation_data=(x, y))
    assert "val_accuracy" in history.history and "accuracy" not in history.history


def test_keras_distillation_losses_and_keras_losses_are_accepted():
    x, y = testing.synthetic(n=32)
    logged = {}
    for name, fn in (
        ("ours", kd.losses.KDLoss()),
        ("keras_io", keras.losses.KLDivergence()),
        # The class instance: keras.distillation resolves its default string
        # "kl_divergence" to a function and then skips the softmax.
        (
            "builtin",
            keras.distillation.LogitsDistillation(
                temperature=3.0, loss=keras.losses.KLDivergence()
            ),
        ),
    ):
        keras.utils.set_random_seed(11)
        distiller = kd.Distiller(testing.mlp(name="t"), testing.mlp(hidden=8, name="s"))
        distiller.compile(
            optimizer=keras.optimizers.SGD(0.0),
            # From logits: on JAX the probability form gives NaN on logits,
            # and the Distiller refuses a NaN loss even at alpha=0.
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            distillation_loss_fn=fn,
            alpha=0.0,
            temperature=3.0,
        )
        logged[name] = distiller.fit(x, y, batch_size=32, verbose=0).history["distillation_loss"][0]
    assert logged["keras_io"] == pytest.approx(logged["ours"], rel=1e-4)
    assert logged["builtin"] == pytest.approx(logged["ours"], rel=1e-4)


def test_teacher_saved_after_distillation_trains_again(tmp_path):
    teacher = testing.mlp(name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = testing.synthetic()
    teacher.fit(x, y, epochs=1, verbose=0)
    distiller = _compiled(teacher=teacher)
    distiller.fit(x, y, epochs=1, verbose=0)
    teacher.save(tmp_path / "teacher.keras")
    reloaded = keras.models.load_model(tmp_path / "teacher.keras")
    assert len(reloaded.trainable_weights) == len(teacher.weights)
    before = [w.copy() for w in reloaded.get_weights()]
    reloaded.fit(x, y, epochs=1, verbose=0)
    assert any(not np.array_equal(a, b) for a, b in zip(before, reloaded.get_weights()))
    summary = [v.path for v in distiller.non_trainable_weights]
    assert all(v.path in summary for v in teacher.weights)

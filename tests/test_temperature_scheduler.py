import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill import schedules
from tests import callback_testing
from tests import testing
from tests.testing import to_numpy as _np


def test_temperature_is_effective_inside_the_compiled_step():
    x, y = testing.synthetic(n=48)
    model = callback_testing.distiller(optimizer=keras.optimizers.SGD(0.0), jit_compile=True)
    schedule = schedules.Piecewise([1, 2], [8.0, 2.0, 0.5])
    history = model.fit(
        x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
        callbacks=[kd.callbacks.TemperatureScheduler(schedule)],
    )
    teacher_logits = model.teacher.predict(x, verbose=0)
    student_logits = model.student.predict(x, verbose=0)
    expected = [
        float(np.mean(_np(kd.losses.kd_loss(teacher_logits, student_logits, schedule(epoch)))))
        for epoch in range(3)
    ]
    np.testing.assert_allclose(history.history["distillation_loss"], expected, rtol=1e-5)
    assert history.history["temperature"] == [8.0, 2.0, 0.5]
    # The three temperatures give three different losses: the check can fail.
    assert len(set(np.round(expected, 6))) == 3


@pytest.mark.parametrize("alpha,matches", [(1.0, "student_loss"), (0.0, "distillation_loss")])
def test_alpha_is_effective_inside_the_train_step(alpha, matches):
    x, y = testing.synthetic(n=32)
    model = callback_testing.distiller(alpha=0.5)
    history = model.fit(
        x, y, epochs=2, batch_size=16, verbose=0,
        callbacks=[kd.callbacks.AlphaScheduler(alpha)],
    )
    np.testing.assert_allclose(history.history["loss"], history.history[matches], rtol=1e-6)
    assert history.history["alpha"] == [alpha, alpha]


def test_step_unit_follows_optimizer_iterations():
    x, y = testing.synthetic(n=64)
    model = callback_testing.distiller()
    schedule = schedules.Linear(0.0, 1.0, steps=10)
    seen = []

    class Record(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            seen.append(float(model.alpha))

    history = model.fit(
        x, y, epochs=2, batch_size=16, verbose=0,
        callbacks=[kd.callbacks.AlphaScheduler(schedule, unit="step"), Record()],
    )
    assert seen == pytest.approx([schedule(step) for step in range(8)])
    assert history.history["alpha"] == pytest.approx([schedule(3), schedule(7)])


def _fit_counting_traces(callbacks):
    """Returns the number of train_step traces seen at the end of each of 4 epochs."""
    x, y = testing.synthetic(n=64)
    model = callback_testing.distiller(jit_compile=True)
    traces = callback_testing.count_traces(model)
    per_epoch = []

    class Record(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            per_epoch.append(len(traces))

    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=callbacks + [Record()])
    return per_epoch


@pytest.fixture(scope="module")
def baseline_traces():
    return _fit_counting_traces([])


@pytest.mark.parametrize(
    "callbacks",
    [
        lambda: [kd.callbacks.TemperatureScheduler(schedules.Linear(6.0, 1.0, 3))],
        lambda: [
            kd.callbacks.TemperatureScheduler(schedules.Cosine(6.0, 1.0, 10), unit="step"),
            kd.callbacks.AlphaScheduler(schedules.Linear(0.0, 1.0, 10), unit="step"),
        ],
        lambda: [kd.callbacks.FineTuning(start_epoch=2, learning_rate=0.01, temperature=2.0)],
    ],
    ids=["temperature_per_epoch", "both_per_step", "fine_tuning_values"],
)
# Counts traces of the compiled step; Keras's torch trainer runs steps eagerly.
@pytest.mark.not_torch
def test_value_changes_never_retrace_under_jit_compile(callbacks, baseline_traces):
    # TF traces a fresh train function a fixed number of times on its first
    # call; schedules must not add any, on any epoch.
    assert baseline_traces == [baseline_traces[0]] * 4
    assert _fit_counting_traces(callbacks()) == baseline_traces


def test_rejects_a_model_that_is_not_a_distiller():
    model = testing.mlp()
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = testing.synthetic()
    with pytest.raises(TypeError, match="keras_distill.Distiller"):
        model.fit(x, y, verbose=0, callbacks=[kd.callbacks.TemperatureScheduler(2.0)])


def test_invalid_schedule_output_names_the_epoch():
    x, y = testing.synthetic()
    model = callback_testing.distiller()
    scheduler = kd.callbacks.TemperatureScheduler(lambda epoch: 2.0 - epoch)
    with pytest.raises(ValueError, match="at epoch 2.*temperature"):
        model.fit(x, y, epochs=3, verbose=0, callbacks=[scheduler])


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: kd.callbacks.TemperatureScheduler(2.0, unit="batch"), "`unit`"),
        (lambda: kd.callbacks.AlphaScheduler("linear"), "`schedule`"),
    ],
)
def test_bad_arguments(build, message):
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize("cls", [kd.callbacks.TemperatureScheduler, kd.callbacks.AlphaScheduler])
def test_callback_config_round_trip(cls):
    callback = cls(schedules.Exponential(4.0, 0.5, limit=1.0), unit="step", verbose=1)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert type(restored) is cls
    assert restored.get_config() == callback.get_config()
    assert restored.schedule(3) == 1.0

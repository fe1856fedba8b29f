import keras
import numpy as np
import pytest

import keras_distill as kd
from tests import callback_testing
from tests import testing

LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def test_phase_index_and_logs():
    x, y = testing.synthetic(n=32)
    model = callback_testing.distiller(alpha=0.2, temperature=3.0)
    scheduler = kd.callbacks.PhaseScheduler(
        [
            kd.Phase("warm", epochs=1, temperature=6.0),
            kd.Phase("distill", epochs=2, alpha=0.5, learning_rate=0.05),
            kd.Phase("fine_tune", alpha=1.0),
        ]
    )
    assert [scheduler.phase_index(e) for e in range(6)] == [0, 1, 1, 2, 2, 2]
    assert scheduler.phase_at(2).name == "distill"
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[scheduler]).history
    assert history["phase"] == [0, 1, 1, 2, 2]
    assert history["phase_name"] == ["warm", "distill", "distill", "fine_tune", "fine_tune"]
    assert history["temperature"] == [6.0] * 5
    assert history["alpha"] == pytest.approx([0.2, 0.5, 0.5, 1.0, 1.0])
    assert history["learning_rate"] == pytest.approx([0.1, 0.05, 0.05, 0.05, 0.05])


def test_fine_tuning_with_alpha_one_ignores_the_teacher():
    x, y = testing.synthetic(n=48)
    snapshots, finals = [], []
    for teacher_seed in (0, 7):
        model = callback_testing.distiller(alpha=0.1, teacher_seed=teacher_seed)
        snapshot = callback_testing.WeightSnapshots(model.student)
        model.fit(
            x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
            callbacks=[kd.callbacks.FineTuning(start_epoch=1, learning_rate=0.05), snapshot],
        )
        snapshots.append(snapshot)
        finals.append(model.student.get_weights())
    # Distilling from different teachers gives different students after epoch 0...
    assert snapshots[0].at[1]["hidden"][0].tolist() != snapshots[1].at[1]["hidden"][0].tolist()
    # ...and fine-tuning from there is exactly plain training on the labels.
    for snapshot, final in zip(snapshots, finals):
        student = callback_testing.distiller().student
        student.set_weights(
            [w for layer in ("hidden", "head") for w in snapshot.at[1][layer]]
        )
        student.compile(optimizer=keras.optimizers.SGD(0.05), loss=LOSS)
        student.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
        testing.assert_weights_close(final, student.get_weights(), atol=1e-6)


@pytest.fixture(scope="module")
def traces_per_build():
    """Traces of one fresh jit-compiled train function (TF traces it twice on first call)."""
    x, y = testing.synthetic(n=48)
    model = callback_testing.distiller(jit_compile=True)
    traces = callback_testing.count_traces(model)
    model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    return len(traces)


@pytest.mark.parametrize(
    "trainable,frozen,trained,jit_compile",
    [
        ({"hidden": False}, ["hidden"], ["head"], True),
        (["hidden"], ["head"], ["hidden"], False),
    ],
    ids=["dict_freezes_jit", "list_keeps_only"],
)
def test_trainable_switch_takes_effect_in_the_compiled_step(
    trainable, frozen, trained, jit_compile, traces_per_build
):
    x, y = testing.synthetic(n=48)
    model = callback_testing.distiller(
        optimizer=keras.optimizers.Adam(0.01), jit_compile=jit_compile
    )
    traces = callback_testing.count_traces(model)
    scheduler = kd.callbacks.PhaseScheduler(
        [kd.Phase("all", epochs=1), kd.Phase("partial", epochs=2, trainable=trainable),
         kd.Phase("all_again", trainable=True)]
    )
    snapshot = callback_testing.WeightSnapshots(model.student)
    model.fit(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[scheduler, snapshot])
    for layer in ("hidden", "head"):
        assert snapshot.changed(layer, 0, 1), layer
        assert snapshot.changed(layer, 3, "end"), layer
    for layer in frozen:
        assert not snapshot.changed(layer, 1, 3), layer
    for layer in trained:
        assert snapshot.changed(layer, 1, 3), layer
    # Two trainability changes after the first trace: two rebuilt train functions,
    # each traced once more; the value changes add no trace.
    assert scheduler.train_function_rebuilds == 2
    # (torch runs the step's Python every step, so only TF and JAX count traces.)
    if jit_compile and keras.backend.backend() != "torch":
        assert len(traces) == traces_per_build + 2


def test_unfreezing_a_layer_frozen_before_fit():
    x, y = testing.synthetic(n=32)
    model = callback_testing.distiller(optimizer=keras.optimizers.Adam(0.01))
    model.student.get_layer("hidden").trainable = False
    snapshot = callback_testing.WeightSnapshots(model.student)
    model.fit(
        x, y, epochs=2, batch_size=16, verbose=0,
        callbacks=[kd.callbacks.FineTuning(start_epoch=1, alpha=0.5, trainable=True), snapshot],
    )
    assert not snapshot.changed("hidden", 0, 1)
    assert snapshot.changed("hidden", 1, "end")
    assert len(model.optimizer.variables) == 2 + 2 * len(model.student.trainable_weights)


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_learning_rate_schedule_is_replaced_during_a_phase(policy):
    keras.mixed_precision.set_global_policy(policy)
    x, y = testing.synthetic(n=32)
    decay = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.5)
    model = callback_testing.distiller(optimizer=keras.optimizers.SGD(decay))
    scheduler = kd.callbacks.PhaseScheduler(
        [kd.Phase("decay", epochs=1), kd.Phase("frozen", epochs=1, learning_rate=0.0),
         kd.Phase("decay_again")]
    )
    snapshot = callback_testing.WeightSnapshots(model.student)
    history = model.fit(
        x, y, epochs=3, batch_size=16, verbose=0, callbacks=[scheduler, snapshot]
    ).history
    # Two steps per epoch: the schedule is read at iterations 2 and 6 after epochs 0 and 2.
    assert history["learning_rate"] == pytest.approx([0.1 * 0.5**2, 0.0, 0.1 * 0.5**6])
    assert snapshot.changed("head", 0, 1)
    assert not snapshot.changed("head", 1, 2)
    assert snapshot.changed("head", 2, "end")
    assert getattr(model.optimizer, "inner_optimizer", model.optimizer)._learning_rate is decay


def _resume_run(tmp_path, interrupt=None):
    """Fits for 5 epochs with phases and schedules; returns the History dict of each fit call."""
    x, y = testing.synthetic(n=48)

    def callbacks():
        return [
            keras.callbacks.BackupAndRestore(str(tmp_path / "backup")),
            kd.callbacks.TemperatureScheduler(kd.schedules.Linear(6.0, 1.0, steps=4)),
            kd.callbacks.PhaseScheduler(
                [kd.Phase("distill", epochs=2, alpha=0.2, learning_rate=0.05),
                 kd.Phase("head", epochs=2, alpha=0.6, learning_rate=0.02,
                          trainable={"hidden": False}),
                 kd.Phase("fine_tune", alpha=1.0, trainable=True)]
            ),
        ]

    histories = []
    keras.utils.set_random_seed(1234)
    model = callback_testing.distiller(optimizer=keras.optimizers.Adam(0.01))
    try:
        model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0,
                  callbacks=callbacks() + ([interrupt] if interrupt else []))
    except RuntimeError:
        histories.append(model.history.history)
        # A new process: a freshly built and compiled model, the same backup directory.
        model = callback_testing.distiller(optimizer=keras.optimizers.Adam(0.01))
        model.fit(x, y, epochs=5, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks())
    histories.append(model.history.history)
    return histories


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, epoch, batch=None):
        super().__init__()
        self.epoch, self.batch = epoch, batch

    def on_epoch_begin(self, epoch, logs=None):
        self.current = epoch
        if self.batch is None and epoch == self.epoch:
            raise RuntimeError("interrupted")

    def on_train_batch_end(self, batch, logs=None):
        if self.current == self.epoch and batch == self.batch:
            raise RuntimeError("interrupted")


@pytest.fixture(scope="module")
def uninterrupted_history(tmp_path_factory):
    (full,) = _resume_run(tmp_path_factory.mktemp("uninterrupted"))
    return full


@pytest.mark.parametrize(
    "epoch,batch", [(3, None), (2, 1)], ids=["between_epochs_mid_phase", "mid_epoch_phase_start"]
)
def test_resume_with_backup_and_restore_gives_the_same_history(
    tmp_path, uninterrupted_history, epoch, batch
):
    full = uninterrupted_history
    first, rest = _resume_run(tmp_path / "cut", _Interrupt(epoch, batch))
    assert len(first["loss"]) == epoch and len(rest["loss"]) == 5 - epoch
    assert full["phase"] == [0, 0, 1, 1, 2]
    # Names come with a completed fit (the interrupted one never ends).
    assert rest["phase_name"] == full["phase_name"][epoch:]
    worst = 0.0
    for key, values in full.items():
        if key == "phase_name":
            continue
        resumed = np.array(first[key] + rest[key], dtype="float64")
        worst = max(worst, float(np.max(np.abs(resumed - np.array(values, dtype="float64")))))
    print(f"max history difference after resume: {worst:.3g}")
    assert worst <= 1e-6


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"name": ""}, "name"),
        ({"epochs": 0}, "epochs"),
        ({"alpha": 1.5}, "alpha"),
        ({"temperature": 0.0}, "temperature"),
        ({"learning_rate": -1e-3}, "learning_rate"),
        ({"trainable": False}, "trainable"),
        ({"trainable": []}, "trainable"),
        ({"trainable": {"hidden": "no"}}, "trainable"),
    ],
)
def test_phase_rejects_bad_arguments(kwargs, argument):
    kwargs = {"name": "p", "epochs": 2, **kwargs}
    with pytest.raises(ValueError, match=f"`{argument}`"):
        kd.Phase(**kwargs)


def test_scheduler_rejects_bad_phases_and_unknown_layers():
    with pytest.raises(ValueError, match="only the last"):
        kd.callbacks.PhaseScheduler([kd.Phase("a"), kd.Phase("b", 2)])
    with pytest.raises(ValueError, match="`phases"):
        kd.callbacks.PhaseScheduler([])
    with pytest.raises(ValueError, match="`start_epoch`"):
        kd.callbacks.FineTuning(start_epoch=-1)
    x, y = testing.synthetic(n=16)
    model = callback_testing.distiller()
    with pytest.raises(ValueError, match="no layer named 'backbone'.*'head', 'hidden'"):
        model.fit(x, y, verbose=0, callbacks=[kd.callbacks.FineTuning(1, trainable=["backbone"])])


def test_optimizer_built_without_a_layer_a_phase_unfreezes():
    x, y = testing.synthetic(n=16)
    model = callback_testing.distiller()
    model.student.get_layer("hidden").trainable = False
    model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="not built with"):
        model.fit(x, y, verbose=0, callbacks=[kd.callbacks.FineTuning(1, trainable=True)])


@pytest.mark.parametrize(
    "callback",
    [
        kd.callbacks.PhaseScheduler(
            [kd.Phase("a", 3, temperature=5.0), kd.Phase("b", alpha=1.0, trainable=["head"])],
            verbose=1,
        ),
        kd.callbacks.FineTuning(4, learning_rate=1e-3, trainable={"hidden": False}),
    ],
    ids=["phase_scheduler", "fine_tuning"],
)
def test_config_round_trip(callback):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(callback))
    assert type(restored) is type(callback)
    assert restored.get_config() == callback.get_config()
    assert restored.phases == callback.phases


@pytest.mark.parametrize("policy", ["float32", "mixed_float16"])
def test_a_frozen_phase_trains_like_a_student_frozen_before_compile(policy):
    """Freezing by phase (optimizer built over every variable) = freezing before compile."""
    keras.mixed_precision.set_global_policy(policy)
    x, y = testing.synthetic(n=48)
    finals, start = [], None
    for by_phase in (True, False):
        model = callback_testing.distiller(optimizer=keras.optimizers.Adam(0.01))
        if start is None:
            start = model.student.get_weights(), model.teacher.get_weights()
        model.student.set_weights(start[0])
        model.teacher.set_weights(start[1])
        callbacks = []
        if by_phase:
            callbacks = [kd.callbacks.PhaseScheduler(
                [kd.Phase("head", trainable={"hidden": False})]
            )]
        else:
            model.student.get_layer("hidden").trainable = False
            model.compile(
                optimizer=keras.optimizers.Adam(0.01),
                student_loss_fn=LOSS, alpha=0.1, temperature=4.0, jit_compile=False,
            )
        model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0, callbacks=callbacks)
        finals.append(model.student.get_weights())
    # The phase run built Adam over both layers; the frozen layer's slots are skipped.
    testing.assert_weights_close(finals[0], finals[1], atol=1e-6)


def _three_layer_student():
    def dense(units, name, seed, activation="tanh"):
        return keras.layers.Dense(
            units, activation=activation, name=name,
            kernel_initializer=keras.initializers.GlorotUniform(seed),
        )

    return keras.Sequential(
        [keras.Input((8,)), dense(8, "a", 1), dense(8, "b", 2), dense(4, "head", 3, None)],
        name="student",
    )


@pytest.mark.parametrize("jit_compile", [
    pytest.param(True, marks=pytest.mark.slow),  # 10 s of XLA compiles; CI's slow leg runs it
    False,
], ids=["jit", "no_jit"])
def test_phases_freezing_same_shaped_layers_in_turn_match_one_fit_per_phase(jit_compile):
    # The frozen layers have equal shapes, so every phase's step takes state of
    # the same shapes: each must still update its own layers (on JAX, a reused
    # trace would apply one phase's gradients to another phase's layers).
    x, y = testing.synthetic(n=48)
    model = callback_testing.distiller(student=_three_layer_student(), jit_compile=jit_compile)
    callback_testing.count_traces(model)
    reference = callback_testing.distiller(
        student=_three_layer_student(), jit_compile=jit_compile
    )
    reference.student.set_weights(model.student.get_weights())
    reference.teacher.set_weights(model.teacher.get_weights())
    scheduler = kd.callbacks.PhaseScheduler([
        kd.Phase("a_frozen", 1, trainable={"a": False}),
        kd.Phase("b_frozen", 1, trainable={"a": True, "b": False}),
        kd.Phase("a_frozen_again", trainable={"a": False, "b": True}),
    ])
    model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[scheduler],
              validation_data=(x, y))
    assert scheduler.train_function_rebuilds == 3
    # SGD keeps no state, so the same epochs as three separately compiled fits.
    for frozen in ("a", "b", "a"):
        for name in ("a", "b"):
            reference.student.get_layer(name).trainable = name != frozen
        reference.compile(
            optimizer=keras.optimizers.SGD(0.1), student_loss_fn=LOSS,
            alpha=0.1, temperature=4.0, jit_compile=jit_compile,
        )
        reference.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    testing.assert_weights_close(model.student.get_weights(), reference.student.get_weights(),
                                 atol=1e-6)
    # Evaluation (built during the first phase's validation) runs on the final weights.
    assert model.evaluate(x, y, verbose=0)[0] == pytest.approx(
        reference.evaluate(x, y, verbose=0)[0], abs=1e-6
    )


@pytest.mark.parametrize("jit_compile", [True, False], ids=["jit", "no_jit"])
def test_freezing_a_layer_between_fits_needs_no_recompile(jit_compile):
    # Plain Keras keeps the step built for the old trainable set until `compile`
    # (on TensorFlow the frozen layer would go on training).
    x, y = testing.synthetic(n=48)
    model = callback_testing.distiller(
        optimizer=keras.optimizers.Adam(0.01), jit_compile=jit_compile
    )
    model.fit(x, y, epochs=1, batch_size=16, verbose=0)
    model.student.get_layer("hidden").trainable = False
    snapshot = callback_testing.WeightSnapshots(model.student)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[snapshot])
    assert not snapshot.changed("hidden", 0, "end")
    assert snapshot.changed("head", 0, "end")
    model.student.get_layer("hidden").trainable = True
    snapshot = callback_testing.WeightSnapshots(model.student)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0, callbacks=[snapshot])
    assert snapshot.changed("hidden", 0, "end")


def test_phases_with_feature_adapters_and_an_ema_optimizer():
    # The optimizer that the scheduler builds also holds the Distiller's feature
    # adapter; with `use_ema` the end of `fit` averages a frozen layer too.
    x, y = testing.synthetic(n=48)
    base = callback_testing.distiller()
    teacher_hidden = base.teacher.layers[0].name
    model = kd.Distiller(
        teacher=base.teacher, student=base.student,
        features=[kd.features.FeaturePair(teacher_hidden, "hidden")],
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.01, use_ema=True), student_loss_fn=LOSS,
        alpha=0.1, temperature=4.0, jit_compile=False,
    )
    (adapter,) = model.feature_adapters
    adapter_start = [np.array(w) for w in adapter.get_weights()]
    snapshot = callback_testing.WeightSnapshots(model.student)
    # `fit` ends in the frozen phase, where Keras's final EMA overwrite would
    # get fewer variables than the optimizer was built with.
    scheduler = kd.callbacks.PhaseScheduler([
        kd.Phase("all", 1), kd.Phase("head", trainable={"hidden": False}),
    ])
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0,
                        callbacks=[scheduler, snapshot]).history
    assert np.all(np.isfinite(history["feature_loss"]))
    assert snapshot.changed("hidden", 0, 1)
    assert snapshot.changed("head", 1, "end")
    # The final overwrite covered the frozen layer too: its weights are its averages.
    optimizer = model.optimizer
    for variable in model.student.get_layer("hidden").weights:
        average = optimizer._model_variables_moving_average[optimizer._get_variable_index(variable)]
        np.testing.assert_array_equal(testing.to_numpy(variable), testing.to_numpy(average))
    assert any(np.abs(a - b).max() > 0 for a, b in zip(adapter_start, adapter.get_weights()))
    assert len(model.optimizer._trainable_variables) == 4 + len(adapter.trainable_weights)

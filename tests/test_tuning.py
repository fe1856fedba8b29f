"""keras_distill.tuning: KerasTuner searches whose trials share one teacher pass."""

import sys

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill import tuning
from keras_distill.cache.teacher_cache import TeacherCache
from keras_distill.core import packed_inputs
from tests import testing

pytest.importorskip("keras_tuner")


@pytest.fixture(scope="module")
def digits():
    x, y = testing.digits(400)
    return x, y


@pytest.fixture(scope="module")
def teacher(digits):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(*digits, epochs=2, verbose=0)
    return model


def build_student(hp):
    return keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(10)]
    )


@pytest.fixture
def counts(monkeypatch):
    """Counts teacher passes over the data and online teacher calls inside training steps."""
    calls = {"compute": [], "online": 0, "fit": [], "trained_on": [], "validated_on": [],
             "histories": [], "starts": []}
    compute = TeacherCache.compute.__func__

    def counting_compute(cls, teacher, x, **kwargs):
        calls["compute"].append(kwargs.get("views"))
        return compute(cls, teacher, x, **kwargs)

    online = keras_distill.Distiller.teacher_logits

    def counting_online(self, x):
        calls["online"] += 1
        return online(self, x)

    monkeypatch.setattr(TeacherCache, "compute", classmethod(counting_compute))
    monkeypatch.setattr(keras_distill.Distiller, "teacher_logits", counting_online)
    distiller_fit = keras_distill.Distiller.fit

    def recording_distiller_fit(self, x, *args, **kwargs):
        calls["trained_on"].append(x)
        calls["validated_on"].append(kwargs.get("validation_data"))
        calls["starts"].append((self.student.get_weights(), self.optimizer.iterations.numpy()
                                if self.optimizer.built else 0, id(self)))
        calls["histories"].append(distiller_fit(self, x, *args, **kwargs))
        return calls["histories"][-1]

    monkeypatch.setattr(keras_distill.Distiller, "fit", recording_distiller_fit)
    hypermodel_class = tuning.DistillerHyperModel
    fit = hypermodel_class.fit

    def recording_fit(self, hp, model, x, y=None, **kwargs):
        calls["fit"].append((x, y, kwargs.get("validation_data")))
        return fit(self, hp, model, x, y, **kwargs)

    monkeypatch.setattr(hypermodel_class, "fit", recording_fit)
    return calls


def run(teacher, digits, tmp_path, **kwargs):
    kwargs.setdefault("max_trials", 3)
    kwargs.setdefault("epochs", 1)
    return tuning.search(teacher, build_student, *digits, directory=str(tmp_path), **kwargs)


@pytest.mark.slow
def test_the_teacher_runs_once_for_the_whole_search(teacher, digits, tmp_path, counts):
    result = run(teacher, digits, tmp_path, space=tuning.SearchSpace(losses=["kd", "dist"]))
    assert len(counts["fit"]) == 3 and len(result.trials) == 3
    assert counts["compute"] == [None]  # one pass over the data, for three trials
    assert counts["online"] == 0  # no trial ran the teacher
    assert all(packed_inputs.is_packed(x) for x in counts["trained_on"])
    assert all(row["fit_seconds"] > 0 for row in result.trials)


def test_online_teacher_runs_in_every_trial(teacher, digits, tmp_path, counts):
    run(teacher, digits, tmp_path, max_trials=2, cache_teacher=False)
    assert counts["compute"] == []
    assert counts["online"] >= 2  # traced at least once per trial


def test_consistent_teaching_trials_share_cached_views(teacher, digits, tmp_path, counts):
    jitter = keras_distill.augment.RandomShift(1, image_shape=(8, 8))
    space = tuning.SearchSpace(consistent_teaching=[True])
    result = run(teacher, digits, tmp_path, max_trials=2, augmentation=jitter, views=2, space=space)
    assert counts["compute"] == [2] and counts["online"] == 0
    for x in counts["trained_on"]:
        assert x[packed_inputs.VIEW_SEEDS_KEY].shape[1:] == (2,)
    assert result.build_distiller().augmentation is jitter


def test_validation_split_comes_from_the_training_data(teacher, digits, tmp_path, counts):
    x, y = digits
    run(teacher, digits, tmp_path, max_trials=1, validation_split=0.25)
    fit_x, fit_y, (val_x, val_y) = counts["fit"][0]
    assert len(fit_x) + len(val_x) == len(x) and len(val_x) == pytest.approx(100, abs=5)
    rows = {row.tobytes(): i for i, row in enumerate(x)}
    fit_rows = {rows[r.tobytes()] for r in fit_x}
    val_rows = {rows[r.tobytes()] for r in val_x}
    assert not fit_rows & val_rows and len(fit_rows | val_rows) == len(x)
    np.testing.assert_array_equal(val_y, y[sorted(val_rows)])
    assert set(np.unique(val_y)) == set(np.unique(y))  # stratified


@pytest.mark.slow
def test_cross_validation_scores_each_trial_on_every_sample_with_one_teacher_pass(
    teacher, digits, tmp_path, counts
):
    x, y = digits
    rows = {row.tobytes(): i for i, row in enumerate(x)}
    result = run(teacher, digits, tmp_path, max_trials=2, epochs=2, folds=4,
                 selection="one_standard_error")
    assert counts["compute"] == [None] and counts["online"] == 0  # 2 trials x 4 folds, one pass
    assert len(counts["fit"]) == 2 and all(val is None for _, _, val in counts["fit"])
    assert len(counts["trained_on"]) == 8
    logits = testing.to_numpy(teacher.predict(x, verbose=0))
    for trial in range(2):
        validated = []
        for fold in range(4):
            packed = counts["trained_on"][4 * trial + fold]
            val_x, val_y = counts["validated_on"][4 * trial + fold]
            fit_rows = [rows[r.tobytes()] for r in packed[packed_inputs.INPUTS_KEY]]
            val_rows = [rows[r.tobytes()] for r in val_x]
            assert not set(fit_rows) & set(val_rows) and len(fit_rows) + len(val_rows) == len(x)
            assert len(val_rows) == pytest.approx(100, abs=5)
            assert set(np.unique(val_y)) == set(np.unique(y))  # stratified
            np.testing.assert_array_equal(val_y, y[val_rows])
            # The fold's cached logits are the teacher's on the fold's samples.
            np.testing.assert_allclose(packed[packed_inputs.LOGITS_KEY], logits[fit_rows], atol=1e-5)
            validated += val_rows
        assert sorted(validated) == list(range(len(x)))  # every sample validated once
        # One model per trial, every fold from its initial weights and a fresh optimizer.
        starts = counts["starts"][4 * trial: 4 * trial + 4]
        assert len({model for _, _, model in starts}) == 1
        assert [iterations for _, iterations, _ in starts] == [0, 0, 0, 0]
        for weights, _, _ in starts[1:]:
            for first, again in zip(starts[0][0], weights):
                np.testing.assert_array_equal(again, first)
        trained = counts["histories"][4 * trial].model.student.get_weights()
        assert any(not np.array_equal(a, b) for a, b in zip(trained, starts[0][0]))
    # A trial's score: the best epoch of the folds' mean validation accuracy.
    by_trial = {}
    for trial in range(2):
        curves = [h.history["val_accuracy"] for h in counts["histories"][4 * trial: 4 * trial + 4]]
        by_trial[trial] = max(np.mean(curves, axis=0))
    assert sorted(row["score"] for row in result.trials) == pytest.approx(sorted(by_trial.values()))
    # The one-standard-error rule counts every sample of `y` as validated.
    defaults = min(result.trials, key=lambda row: int(row["trial"]))
    best = result.trials[0]
    expected = defaults if best["score"] - defaults["score"] <= np.sqrt(
        best["score"] * (1 - best["score"]) / len(y)) else best
    assert result.selected_trial == expected["trial"]


@pytest.mark.slow
def test_best_configuration_rebuilds_the_distiller(teacher, digits, tmp_path):
    result = run(teacher, digits, tmp_path, max_trials=2)
    best = result.best_hyperparameters
    assert result.trials[0]["score"] >= result.trials[-1]["score"]
    assert {k: result.trials[0][k] for k in best} == best
    arguments = result.best_arguments
    distiller = keras_distill.Distiller(teacher, build_student(None), **arguments["distiller"])
    distiller.compile(optimizer="adam", **arguments["compile"])
    np.testing.assert_allclose(testing.to_numpy(distiller.temperature), best["temperature"], rtol=1e-6)
    np.testing.assert_allclose(testing.to_numpy(distiller.alpha), best["alpha"], rtol=1e-6)
    expected = tuning.search_space.make_loss(best["loss"])
    assert type(distiller.distillation_loss_fn) is type(expected)
    assert getattr(expected, "standardize", None) == getattr(
        distiller.distillation_loss_fn, "standardize", None
    )
    rebuilt = result.build_distiller()
    rebuilt.fit(*digits, epochs=1, verbose=0)
    assert f"| {result.trials[0]['trial']} | COMPLETED |" in result.table()


@pytest.mark.slow  # trains for over 8 s; CI's slow leg runs it
def test_the_first_trial_is_the_distillers_defaults(teacher, digits, tmp_path):
    # The Distiller's temperature (3) is below this range: clipped to its low end.
    space = tuning.SearchSpace(temperature=(4.0, 8.0), losses=["dist", "kd"])
    defaults = {"temperature": 4.0, "alpha": 0.1, "loss": "kd"}

    def by_start(result):
        return [
            {k: row[k] for k in defaults}
            for row in sorted(result.trials, key=lambda row: int(row["trial"]))
        ]

    first, second = by_start(run(teacher, digits, tmp_path / "a", max_trials=2, space=space))
    assert first == pytest.approx(defaults) and second != pytest.approx(defaults)
    sampled = by_start(
        run(teacher, digits, tmp_path / "b", max_trials=2, space=space, defaults_first=False)
    )
    assert all(trial != pytest.approx(defaults) for trial in sampled)


def test_resume_from_the_project_folder_runs_no_new_trial(teacher, digits, tmp_path, counts):
    first = run(teacher, digits, tmp_path, max_trials=2)
    counts["fit"].clear()
    counts["compute"].clear()
    again = run(teacher, digits, tmp_path, max_trials=2)
    assert counts["fit"] == [] and counts["compute"] == []
    assert again.trials == first.trials


@pytest.mark.slow  # trains for over 8 s; CI's slow leg runs it
def test_trial_checkpoints_hold_the_student_alone_and_reload_after_resume(
    teacher, digits, tmp_path, monkeypatch
):
    import h5py

    x = digits[0][:50]
    trained = {}  # each trial's student predictions at the end of its fit (1 epoch: the best one)
    fit = tuning.DistillerHyperModel.fit

    def recording_fit(self, hp, model, *args, **kwargs):
        history = fit(self, hp, model, *args, **kwargs)
        trained[len(trained)] = model.student.predict(x, verbose=0)
        return history

    monkeypatch.setattr(tuning.DistillerHyperModel, "fit", recording_fit)
    first = run(teacher, digits, tmp_path, max_trials=2)
    best_id = first.trials[0]["trial"]
    checkpoint = first.tuner._get_checkpoint_fname(best_id)
    with h5py.File(checkpoint) as f:
        arrays = []
        f.visititems(lambda name, item: arrays.append(name) if isinstance(item, h5py.Dataset) else None)
    student = build_student(None)
    assert len(arrays) == len(student.weights) < len(student.weights) + len(teacher.weights)
    student.load_weights(checkpoint)  # a plain student reads a trial checkpoint
    best_trial = sorted(first.tuner.oracle.trials).index(best_id)
    np.testing.assert_allclose(student.predict(x, verbose=0), trained[best_trial], rtol=1e-6)

    monkeypatch.setattr(tuning.DistillerHyperModel, "fit", fit)
    again = run(teacher, digits, tmp_path, max_trials=2)  # resumes: no new trial
    assert again.trials == first.trials
    (best,) = again.tuner.get_best_models(1)
    assert isinstance(best, keras_distill.Distiller) and best.teacher is teacher
    np.testing.assert_allclose(best.predict(x, verbose=0), trained[best_trial], rtol=1e-6)
    np.testing.assert_allclose(
        testing.to_numpy(best.temperature), again.best_hyperparameters["temperature"], rtol=1e-6
    )


@pytest.mark.slow
def test_one_standard_error_keeps_the_defaults_unless_the_best_trial_is_clearly_better(
    teacher, digits, tmp_path
):
    # 3 trials, the defaults first; the best trial replaces them only if its validation accuracy
    # is more than sqrt(a (1 - a) / n) above theirs (n = 80 validation samples of 400).
    result = run(teacher, digits, tmp_path, max_trials=3, epochs=2, selection="one_standard_error")
    defaults = min(result.trials, key=lambda row: int(row["trial"]))  # the first trial
    assert defaults["loss"] == "kd" and defaults["alpha"] == pytest.approx(0.1)
    best = result.trials[0]
    gap = best["score"] - defaults["score"]
    standard_error = np.sqrt(best["score"] * (1 - best["score"]) / 80)
    expected = defaults if gap <= standard_error else best
    assert result.selected_trial == expected["trial"]
    assert result.best_hyperparameters == {k: expected[k] for k in result.best_hyperparameters}
    rebuilt = result.build_distiller()
    np.testing.assert_allclose(testing.to_numpy(rebuilt.alpha), expected["alpha"], rtol=1e-6)
    # The rule on made-up scores: within one standard error (0.05 at a = 0.75, n = 75) or not.
    rows = [dict(trial="b", score=0.75, alpha=0.5), dict(trial="d", score=0.71, alpha=0.1)]
    pick = tuning.tuning_result._one_standard_error
    assert pick(rows, {"alpha": 0.1}, validation_size=75)["trial"] == "d"
    assert pick(rows, {"alpha": 0.1}, validation_size=7500)["trial"] == "b"
    assert pick(rows, {"alpha": 0.3}, validation_size=75)["trial"] == "b"  # no defaults trial
    with pytest.raises(ValueError, match="accuracy in"):
        pick([dict(trial="b", score=1.7)], {}, validation_size=75)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"tuner": "grid"}, ValueError, "`tuner` must be one of"),
        ({"max_trials": 0}, ValueError, "`max_trials` must be a positive integer"),
        ({"validation_split": 1.0}, ValueError, "`validation_split`"),
        ({"validation_split": 0.0}, ValueError, "`validation_split` must be > 0"),
        ({"validation_data": ([1],)}, ValueError, "`validation_data` must be a pair"),
        ({"augmentation": keras.layers.RandomFlip()}, TypeError, "ViewAugmentation"),
        ({"space": {"alpha": 0.5}}, TypeError, "SearchSpace"),
        ({"selection": "last"}, ValueError, "`selection` must be one of"),
        ({"selection": "one_standard_error", "objective": "val_loss"}, ValueError, "accuracy"),
        ({"selection": "one_standard_error", "tuner": "hyperband"}, ValueError, "defaults trial"),
        ({"folds": 1}, ValueError, "`folds` must be an integer >= 2"),
        ({"folds": 3, "tuner": "hyperband"}, ValueError, "Hyperband"),
        ({"folds": 3, "validation_data": ([1], [1])}, ValueError, "folds of `\\(x, y\\)`"),
        ({"folds": 401}, ValueError, "at least 401 samples"),
    ],
)
def test_bad_search_arguments_raise(teacher, digits, tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        run(teacher, digits, tmp_path, **kwargs)


def test_a_cache_needs_explicit_validation_data(teacher, digits, tmp_path):
    cache = TeacherCache.compute(teacher, digits[0])
    with pytest.raises(ValueError, match="pass `validation_data`"):
        run(teacher, digits, tmp_path, cache=cache)


def test_bad_student_builder_raises(teacher, digits, tmp_path):
    with pytest.raises(TypeError, match="`build_student` must be a function"):
        tuning.search(teacher, build_student(None), *digits, directory=str(tmp_path))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"temperature": (-1.0, 2.0)}, "`temperature` must be a finite number > 0"),
        ({"temperature": (4.0, 2.0)}, "low < high"),
        ({"alpha": [0.1, 1.5]}, r"`alpha` \(the weight of the hard-label loss\)"),
        ({"losses": ["kd", "nope"]}, "`losses` must name"),
        ({"consistent_teaching": ["yes"]}, "`consistent_teaching` must be True, False"),
        ({"temperature": (1.0, 2.0, 3.0)}, "pass a list for choices"),
    ],
)
def test_bad_search_space_raises(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        tuning.SearchSpace(**kwargs)


def test_search_space_round_trips_its_config():
    space = tuning.SearchSpace(temperature=[2.0, 4.0], alpha=0.3, losses="ls")
    again = tuning.SearchSpace.from_config(space.get_config())
    assert again.get_config() == space.get_config()
    assert again.losses == ["ls"] and again.alpha == 0.3


def test_missing_keras_tuner_names_the_extra(teacher, digits, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "keras_tuner", None)
    monkeypatch.delitem(sys.modules, "keras_distill.tuning.distiller_hypermodel")
    with pytest.raises(ImportError, match=r'pip install "keras-distill\[tune\]"'):
        run(teacher, digits, tmp_path)

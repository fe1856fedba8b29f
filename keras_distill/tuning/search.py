"""`search`: one call from a teacher and a student builder to the best distillation settings."""

import numbers
import os
import time

from keras_distill.core import data_checks
from keras_distill.export.dependencies import import_optional
from keras_distill.tuning import validation_split as splits
from keras_distill.tuning.tuning_result import TuningResult

TUNERS = ("random", "bayesian", "hyperband")
SELECTIONS = ("best", "one_standard_error")


def search(
    teacher, build_student, x, y, space=None, tuner="random", max_trials=10, epochs=10,
    batch_size=32, validation_split=0.2, validation_data=None, objective="val_accuracy",
    directory="keras_distill_tuning", project_name="distiller", overwrite=False, seed=0,
    augmentation=None, views=4, features=None, student_loss_fn=None, optimizer="adam",
    metrics=("accuracy",), cache_teacher=True, cache=None, teacher_activation="auto",
    callbacks=None, verbose=0, defaults_first=True, selection="best", folds=None,
):
    """Searches a Distiller's settings with KerasTuner; the teacher runs once for all trials.

    The objective is measured on `validation_data`, or on `validation_split`
    of `(x, y)` held out before the search (stratified for class labels), or
    by cross-validation over `folds` folds of `(x, y)`: keep the test data out
    of it. The teacher's outputs are cached in the
    project folder, `directory/project_name`, with KerasTuner's own state; a
    later call with the same folder (and `overwrite=False`) resumes the
    search and runs only the trials that are left.

    Args:
        teacher: The trained teacher, a `keras.Model`.
        build_student: `build_student(hp)`, returning a new built student.
        x: Training inputs, NumPy arrays (or a nested structure of them).
        y: Training targets.
        space: A `SearchSpace`. Defaults to `None` (`SearchSpace()`).
        tuner: `"random"`, `"bayesian"` (Gaussian-process Bayesian
            optimisation) or `"hyperband"`. Defaults to `"random"`.
        max_trials: Trials to run (random and Bayesian search). Defaults to `10`.
        epochs: Epochs per trial (Hyperband: the most epochs of a trial).
            Defaults to `10`.
        batch_size: Defaults to `32`.
        validation_split: Share of `(x, y)` held out for the objective, in
            (0, 1). Defaults to `0.2`.
        validation_data: `(x_val, y_val)` instead of a split. Defaults to `None`.
        objective: The metric to optimise on the validation data, as
            KerasTuner takes it. Defaults to `"val_accuracy"`.
        directory: KerasTuner's folder. Defaults to `"keras_distill_tuning"`.
        project_name: The project's subfolder. Defaults to `"distiller"`.
        overwrite: Start again instead of resuming. Defaults to `False`.
        seed: Seed of the split, the tuner and the cached views. Defaults to `0`.
        augmentation: As in `DistillerHyperModel`.
        views: As in `DistillerHyperModel`.
        features: As in `DistillerHyperModel`.
        student_loss_fn: As in `DistillerHyperModel`.
        optimizer: As in `DistillerHyperModel`.
        metrics: As in `DistillerHyperModel`.
        cache_teacher: As in `DistillerHyperModel`.
        cache: As in `DistillerHyperModel`.
        teacher_activation: As in `DistillerHyperModel`.
        callbacks: Keras callbacks of every trial's `fit`. Defaults to `None`.
        verbose: KerasTuner's and `fit`'s verbosity. Defaults to `0`.
        defaults_first: Random and Bayesian search: the first trial is the
            `Distiller`'s defaults (KD, `temperature=3`, `alpha=0.1`, no
            consistent teaching; clipped into `space`), so the best trial is
            never worse than the untuned Distiller on the objective; it
            counts towards `max_trials`. Hyperband ignores it. Defaults to
            `True`.
        selection: Which trial's settings the result keeps: `"best"` (the
            best objective) or `"one_standard_error"` (the defaults trial
            unless the best trial beats it by more than one standard error of
            its accuracy on the validation samples, `sqrt(a (1 - a) / n)`: the
            one-standard-error rule of Hastie, Tibshirani and Friedman, The
            Elements of Statistical Learning, 7.10; on a small validation set
            a gain within the noise keeps the untuned Distiller). It needs an
            accuracy objective and `defaults_first` with a random or Bayesian
            search. Defaults to `"best"`.
        folds: Cross-validate every trial over `folds` folds of `(x, y)`
            (stratified for class labels) instead of one validation split:
            each trial trains its student `folds` times from the same initial
            state, each time validated on the fold it leaves out, and scores
            the mean of the folds' objectives, epoch by epoch. Every training
            sample is validated once, so the objective
            is less noisy on small datasets, for `folds` times the cost of a
            trial (the teacher still runs once). Random and Bayesian search
            only (Hyperband resumes a trial's one model); not with
            `validation_data`. Defaults to `None` (one split).

    Returns:
        A `keras_distill.tuning.TuningResult`.

    Example:

    ```python
    result = keras_distill.tuning.search(teacher, build_student, x_train, y_train,
                                         max_trials=3, epochs=2, directory="runs")
    distiller = result.build_distiller()
    ```
    """
    keras_tuner = import_optional("keras_tuner", "Hyper-parameter search (keras_distill.tuning)")
    from keras_distill.tuning.distiller_hypermodel import DistillerHyperModel

    if tuner not in TUNERS:
        raise ValueError(f"`tuner` must be one of {TUNERS}. Received: tuner={tuner!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"`selection` must be one of {SELECTIONS}. Received: selection={selection!r}")
    if selection == "one_standard_error":
        if not (isinstance(objective, str) and objective.endswith("accuracy")):
            raise ValueError(
                "`selection='one_standard_error'` reads the objective as an accuracy (a share of "
                f"the validation samples): pass an accuracy objective. Received: objective={objective!r}"
            )
        if not defaults_first or tuner == "hyperband":
            raise ValueError(
                "`selection='one_standard_error'` compares the best trial with the defaults "
                "trial: it needs `defaults_first=True` and `tuner='random'` or `'bayesian'`. "
                f"Received: defaults_first={defaults_first!r}, tuner={tuner!r}"
            )
    for name, value in (("max_trials", max_trials), ("epochs", epochs), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"`{name}` must be a positive integer. Received: {name}={value!r}")
    data_checks.check_samples(x, "x")
    if folds is not None:
        if tuner == "hyperband":
            raise ValueError(
                "`folds` retrains each trial's student from scratch once per fold; Hyperband "
                "resumes a trial's model in its later rounds: use `tuner='random'` or `'bayesian'` "
                f"with folds={folds!r}."
            )
        if validation_data is not None:
            raise ValueError(
                f"With `folds={folds!r}` the folds of `(x, y)` are the validation data: "
                "pass `validation_data=None`, or `folds=None` to validate on `validation_data`."
            )
        splits.folds(x, y, folds, seed)  # its errors now, before any trial
        x_val = y_val = None
    elif validation_data is None:
        if cache is not None:
            raise ValueError(
                "`cache` must hold the teacher's outputs on the inputs the trials fit on, "
                "which `validation_split` carves out of `x`: pass `validation_data` as well "
                "(then `x` is fitted whole), or leave `cache` out (it is computed once)."
            )
        fit_indices, val_indices = splits.carve(x, y, validation_split, seed)
        x_val, y_val = splits.take(x, val_indices), splits.take(y, val_indices)
        x, y = splits.take(x, fit_indices), splits.take(y, fit_indices)
    else:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            raise ValueError(
                "`validation_data` must be a pair `(x_val, y_val)`. Received: "
                f"{type(validation_data).__name__}."
            )
        x_val, y_val = validation_data
    hypermodel = DistillerHyperModel(
        teacher, build_student, space=space, augmentation=augmentation, views=views,
        features=features, student_loss_fn=student_loss_fn, optimizer=optimizer, metrics=metrics,
        cache_teacher=cache_teacher, cache_dir=os.path.join(directory, project_name),
        teacher_activation=teacher_activation, seed=seed, cache=cache, folds=folds,
    )
    common = dict(
        objective=objective, directory=directory, project_name=project_name,
        overwrite=overwrite, seed=seed,
    )
    if tuner == "hyperband":
        kt_tuner = keras_tuner.Hyperband(hypermodel, max_epochs=epochs, **common)
    elif tuner == "bayesian":
        kt_tuner = keras_tuner.BayesianOptimization(hypermodel, max_trials=max_trials, **common)
    else:
        kt_tuner = keras_tuner.RandomSearch(hypermodel, max_trials=max_trials, **common)
    if defaults_first and tuner != "hyperband":
        _start_from_defaults(kt_tuner.oracle)
    start = time.perf_counter()
    validation = {} if folds is not None else {"validation_data": (x_val, y_val)}
    kt_tuner.search(
        x, y, epochs=epochs, batch_size=batch_size, callbacks=list(callbacks or []),
        verbose=verbose, **validation,
    )
    kept = None
    if selection == "one_standard_error":
        # With folds every sample of `y` is validated once.
        validated = y if folds is not None else y_val
        kept = dict(defaults=dict(kt_tuner.oracle.hyperparameters.values),
                    validation_size=len(data_checks.leaves(validated)[0]))
    return TuningResult(kt_tuner, hypermodel, time.perf_counter() - start, keep_defaults=kept)


def _start_from_defaults(oracle):
    """Makes the oracle's first trial the space's defaults (the Distiller's own settings)."""
    sample = oracle.populate_space

    def populate_space(trial_id):
        if not oracle.trials:  # the first trial of a new project; a resumed one has trials
            return {"status": "RUNNING", "values": dict(oracle.hyperparameters.values)}
        return sample(trial_id)

    oracle.populate_space = populate_space

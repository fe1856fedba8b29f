"""DistillerHyperModel: a KerasTuner HyperModel whose trials share one teacher pass.

Imported on first use (`keras_distill.tuning.DistillerHyperModel`): it
subclasses `keras_tuner.HyperModel`, and keras_distill imports without
KerasTuner installed.
"""

import os
import time

import keras
import numpy as np

from keras_distill.augment.view_augmentation import ViewAugmentation
from keras_distill.cache import fingerprint as fingerprint_lib
from keras_distill.cache.teacher_cache import TeacherCache
from keras_distill.distiller import Distiller
from keras_distill.export.dependencies import import_optional
from keras_distill.features.feature_matching import as_pairs
from keras_distill.features.feature_pair import FeaturePair
from keras_distill.tuning import validation_split as splits
from keras_distill.tuning.search_space import SearchSpace
from keras_distill.tuning.search_space import make_loss
from keras_distill.tuning.trial_distiller import TrialDistiller

keras_tuner = import_optional("keras_tuner", "Hyper-parameter search (keras_distill.tuning)")

# The trial metric holding the wall time of a trial's `fit` (the teacher pass excluded).
FIT_SECONDS = "fit_seconds"


class DistillerHyperModel(keras_tuner.HyperModel):
    """Builds and fits one `Distiller` per trial; the teacher runs once for all of them.

    On the first trial the teacher labels the training inputs once (a
    `TeacherCache`; with `augmentation`, also `views` seeded views of every
    example for the trials with consistent teaching). Every trial then fits a
    fresh student on the cached logits, so it costs about a plain student fit.
    Pass it to any KerasTuner tuner, or use `keras_distill.tuning.search`.

    Feature distillation (`features`) needs the teacher's intermediate
    layers, which a `TeacherCache` does not hold: with `features` the teacher
    runs online in every trial.

    Args:
        teacher: The trained teacher, a `keras.Model`.
        build_student: A function `build_student(hp)` returning a new, built
            student `keras.Model` (it may declare hyper-parameters on `hp`).
        space: A `keras_distill.tuning.SearchSpace`. Defaults to `None`
            (`SearchSpace()`).
        augmentation: A `keras_distill.augment.ViewAugmentation` (e.g.
            `RandomShift`) for the trials with consistent teaching. Defaults
            to `None` (consistent teaching is not searched).
        views: Augmented views of each example that the teacher labels.
            Defaults to `4`.
        features: `FeaturePair`s whose weights are searched. Defaults to `None`.
        student_loss_fn: The hard-label loss. Defaults to `None`:
            `SparseCategoricalCrossentropy(from_logits=True)`.
        optimizer: An optimizer name, or a function returning a new optimizer
            for each trial. Defaults to `"adam"`.
        metrics: Metrics of the student. Defaults to `["accuracy"]`.
        cache_teacher: Share one teacher pass between trials. `False` runs the
            teacher online in every trial (to measure what the cache saves).
            Defaults to `True`.
        cache_dir: A folder where the teacher's outputs are saved (and found
            again when a search resumes). Defaults to `None` (in memory).
        teacher_activation: What the teacher outputs, as in `Distiller`.
            Defaults to `"auto"`.
        seed: Seed of the cached views. Defaults to `0`.
        cache: A `TeacherCache` of the teacher on the inputs the trials fit
            on, computed beforehand (plain, or views of `augmentation`).
            Defaults to `None` (computed on the first trial).
        folds: Cross-validate each trial: `fit` deals `(x, y)` into `folds`
            folds (stratified for class labels) and trains the trial's student
            once per fold on the others, validated on it, each time from the
            same initial weights and optimizer state (one trace per trial);
            the trial's metrics are the folds' means, epoch by epoch, so every
            sample counts towards the objective (pass no `validation_data`).
            The teacher still runs once: the folds slice one cache of `x`. The
            trial's checkpoint is the student of the fold whose epoch scored
            best, not a model of the trial: rebuild the result with
            `TuningResult.build_distiller`. Defaults to `None` (one fit on `x`,
            validated on `validation_data`).

    Example:

    ```python
    hypermodel = keras_distill.tuning.DistillerHyperModel(teacher, lambda hp: make_student())
    tuner = keras_tuner.RandomSearch(hypermodel, objective="val_accuracy", max_trials=2,
                                     directory="runs", project_name="kd")
    tuner.search(x_fit, y_fit, validation_data=(x_val, y_val), epochs=1, verbose=0)
    ```
    """

    def __init__(
        self, teacher, build_student, space=None, augmentation=None, views=4, features=None,
        student_loss_fn=None, optimizer="adam", metrics=("accuracy",), cache_teacher=True,
        cache_dir=None, teacher_activation="auto", seed=0, cache=None, folds=None,
    ):
        super().__init__(name="distiller_hypermodel")
        if not isinstance(teacher, keras.Model):
            raise TypeError(f"`teacher` must be a keras.Model. Received: teacher={teacher!r}")
        if not callable(build_student) or isinstance(build_student, keras.Model):
            raise TypeError(
                "`build_student` must be a function `build_student(hp)` that returns a new "
                f"student model for each trial. Received: build_student={build_student!r}"
            )
        space = SearchSpace() if space is None else space
        if not isinstance(space, SearchSpace):
            raise TypeError(
                f"`space` must be a keras_distill.tuning.SearchSpace. Received: space={space!r}"
            )
        if augmentation is not None and not isinstance(augmentation, ViewAugmentation):
            raise TypeError(
                "`augmentation` must be a keras_distill.augment.ViewAugmentation (e.g. "
                "RandomShift), whose views a TeacherCache can label ahead of the trials. "
                f"Received: augmentation={augmentation!r}"
            )
        if isinstance(views, bool) or not isinstance(views, int) or views < 1:
            raise ValueError(f"`views` must be a positive integer. Received: views={views!r}")
        splits.check_folds(folds)
        if not isinstance(cache_teacher, bool):
            raise TypeError(f"`cache_teacher` must be True or False. Received: {cache_teacher!r}")
        if not (isinstance(optimizer, str) or callable(optimizer)):
            raise TypeError(
                "`optimizer` must be an optimizer name or a function returning a new optimizer "
                f"(each trial trains its own). Received: optimizer={optimizer!r}"
            )
        self.teacher = teacher
        self.build_student = build_student
        self.space = space
        self.augmentation = augmentation
        self.views = views
        self.features = as_pairs(features) or []
        self.student_loss_fn = student_loss_fn
        self.optimizer = optimizer
        self.metrics = list(metrics) if metrics else None
        self.cache_teacher = cache_teacher and not self.features
        self.cache_dir = cache_dir
        self.teacher_activation = teacher_activation
        self.seed = seed
        self.folds = folds
        self.teacher_seconds = 0.0
        self._caches = {}
        if cache is not None:
            self._add_cache(cache)

    def build(self, hp):
        """A compiled trial `Distiller` with a new student and the settings drawn on `hp`.

        Its weight files hold the student alone: KerasTuner checkpoints each
        trial's best epoch with `save_weights` and reloads it with
        `load_weights` (`get_best_models`, Hyperband's next rounds), and the
        teacher, the same in every trial, is neither written nor read.
        """
        return self.build_distiller(self.space.declare(
            hp, self.augmentation is not None, len(self.features)
        ), self.build_student(hp), distiller_class=TrialDistiller)

    def build_distiller(self, values, student, distiller_class=Distiller):
        """A compiled `Distiller` of `student` for the settings `values` (see `arguments`)."""
        arguments = self.arguments(values)
        distiller = distiller_class(
            self.teacher, student, teacher_activation=self.teacher_activation,
            **arguments["distiller"],
        )
        optimizer = self.optimizer if isinstance(self.optimizer, str) else self.optimizer()
        distiller.compile(optimizer=optimizer, metrics=self.metrics, **arguments["compile"])
        return distiller

    def arguments(self, values):
        """The `Distiller(...)` and `compile(...)` arguments of the settings `values`.

        Args:
            values: A dict of the settings (a trial's hyper-parameter values).

        Returns:
            `{"distiller": {...}, "compile": {...}}`, keyword arguments that
            rebuild the trial's Distiller around a new student.
        """
        distiller = {}
        if values.get("consistent_teaching", False):
            distiller["augmentation"] = self.augmentation
        if self.features:
            distiller["features"] = [
                FeaturePair(
                    pair.teacher_layer, pair.student_layer, loss=pair.loss,
                    weight=pair.weight * values[f"feature_weight_scale_{i}"], adapter=pair.adapter,
                )
                for i, pair in enumerate(self.features)
            ]
        student_loss_fn = self.student_loss_fn or keras.losses.SparseCategoricalCrossentropy(
            from_logits=True
        )
        return {
            "distiller": distiller,
            "compile": {
                "student_loss_fn": student_loss_fn,
                "distillation_loss_fn": make_loss(values["loss"]),
                "alpha": values["alpha"],
                "temperature": values["temperature"],
            },
        }

    def fit(self, hp, model, x, y=None, **kwargs):
        """Fits the trial's Distiller on the shared teacher outputs of `x`.

        With `folds`, fits `model` once per fold, each time from its initial
        state, and averages the folds' metrics.

        Returns:
            The `History`, whose metrics include `fit_seconds` (the wall time
            of this `fit`; with `folds`, of all the folds' fits).
        """
        if self.folds is None:
            if self.cache_teacher:
                x = self.teacher_cache(x, views=model.augmentation is not None).inputs(x)
            return _timed_fit(model, x, y, **kwargs)
        if kwargs.get("validation_data") is not None or kwargs.get("validation_split"):
            raise ValueError(
                f"With `folds={self.folds}` each fold validates on the samples it holds out "
                "of `x`: pass no `validation_data` or `validation_split`."
            )
        cache = None
        if self.cache_teacher:
            cache = self.teacher_cache(x, views=model.augmentation is not None)
        initial = _InitialState(model)
        histories = []
        for fold, (fit_indices, val_indices) in enumerate(
            splits.folds(x, y, self.folds, self.seed)
        ):
            if fold:
                # The same trial again on other data: no new model, no new trace.
                initial.restore()
            fit_x = splits.take(x, fit_indices) if cache is None else cache.inputs(x, fit_indices)
            histories.append(_timed_fit(
                model, fit_x, splits.take(y, fit_indices),
                validation_data=(splits.take(x, val_indices), splits.take(y, val_indices)),
                **kwargs,
            ))
        return _mean_history(histories)

    def teacher_cache(self, x, views=False):
        """The teacher's outputs for `x` (plain, or `views` seeded views), computed once."""
        key = ("views" if views else "plain", fingerprint_lib.data_fingerprint(x))
        if key not in self._caches:
            path = None
            if self.cache_dir is not None:
                os.makedirs(self.cache_dir, exist_ok=True)
                path = os.path.join(self.cache_dir, f"teacher_{key[0]}.npz")
            start = time.perf_counter()
            self._caches[key] = TeacherCache.compute(
                self.teacher, x, path=path, teacher_activation=self.teacher_activation,
                views=self.views if views else None,
                augmentation=self.augmentation if views else None, seed=self.seed,
            )
            self.teacher_seconds += time.perf_counter() - start
        return self._caches[key]

    def _add_cache(self, cache):
        if not isinstance(cache, TeacherCache):
            raise TypeError(f"`cache` must be a keras_distill.TeacherCache. Received: cache={cache!r}")
        if cache.views:
            if self.augmentation is None:
                self.augmentation = cache.augmentation
            elif keras.saving.serialize_keras_object(self.augmentation) != (
                keras.saving.serialize_keras_object(cache.augmentation)
            ):
                raise ValueError(
                    "`cache` holds views of another augmentation than `augmentation`: pass "
                    f"the cache's ({cache.augmentation!r}) or leave `augmentation` out."
                )
        kind = "views" if cache.views else "plain"
        self._caches[(kind, cache.fingerprint.rsplit("-", 1)[-1])] = cache


class _InitialState:
    """A trial Distiller's state before its first fit, to start each fold from.

    The values of its variables (the student's weights, its own settings and
    seeds) and of its optimizer's (built here if it is not yet, as `fit`
    would), not of the frozen teacher's.
    """

    def __init__(self, model):
        optimizer = model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(model.trainable_variables)
        teacher = {id(variable) for variable in model.teacher.variables}
        self.variables = [v for v in model.variables if id(v) not in teacher]
        if optimizer is not None:
            self.variables += list(optimizer.variables)
        self.values = [keras.ops.convert_to_numpy(v.value) for v in self.variables]

    def restore(self):
        for variable, value in zip(self.variables, self.values):
            variable.assign(value)


def _timed_fit(model, x, y, **kwargs):
    """`model.fit(x, y, **kwargs)`, its `History` holding `fit_seconds` (its wall time)."""
    start = time.perf_counter()
    history = model.fit(x, y, **kwargs)
    seconds = time.perf_counter() - start
    history.history[FIT_SECONDS] = [seconds] * max(len(history.epoch), 1)
    return history


def _mean_history(histories):
    """One `History` of the folds' metrics averaged epoch by epoch (`fit_seconds`: summed)."""
    epochs = min(len(h.epoch) for h in histories)  # callbacks may stop folds early
    merged = keras.callbacks.History()
    merged.epoch = list(histories[0].epoch[:epochs])
    for name in histories[0].history:
        curves = np.array([h.history[name][:epochs] for h in histories], dtype="float64")
        values = curves.sum(axis=0) if name == FIT_SECONDS else curves.mean(axis=0)
        merged.history[name] = values.tolist()
    return merged

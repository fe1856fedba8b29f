"""TuningResult: the trials of a distillation search and the configuration that won."""

import math

_TRIAL_COLUMNS = ("trial", "status", "score", "fit_seconds")


class TuningResult:
    """The outcome of `keras_distill.tuning.search`.

    Args:
        tuner: The KerasTuner tuner that ran the search (its project folder
            holds every trial; a later `search` with the same folder resumes).
        hypermodel: The `DistillerHyperModel` of the search.
        wall_seconds: Wall time of the search call (teacher pass included).
        keep_defaults: `None`, or a dict of `defaults` (the defaults trial's
            settings) and `validation_size` (validation samples): keep the
            defaults trial unless the best trial's accuracy beats it by more
            than one standard error (`search(selection="one_standard_error")`).

    Attributes:
        trials: One dict per finished trial, best first: `trial`, `status`,
            `score` (the objective on the validation split), `fit_seconds`
            and the trial's settings.
        best_hyperparameters: The settings of the selected trial (the best
            one, or the defaults under the one-standard-error rule), a dict.
        selected_trial: The id of that trial.
        teacher_seconds: Wall time of the one teacher pass shared by the trials.

    Example:

    ```python
    print(result.table())
    distiller = result.build_distiller()  # a new student, the best settings
    ```
    """

    def __init__(self, tuner, hypermodel, wall_seconds, keep_defaults=None):
        self.tuner = tuner
        self.hypermodel = hypermodel
        self.wall_seconds = float(wall_seconds)
        self.teacher_seconds = hypermodel.teacher_seconds
        direction = tuner.oracle.objective.direction
        rows = []
        for trial in tuner.oracle.trials.values():
            if trial.score is None:
                continue
            fit_seconds = trial.metrics.get_last_value("fit_seconds") if trial.metrics.exists(
                "fit_seconds"
            ) else None
            rows.append({
                "trial": trial.trial_id, "status": str(trial.status), "score": float(trial.score),
                "fit_seconds": fit_seconds, **trial.hyperparameters.values,
            })
        if not rows:
            raise RuntimeError(
                f"No trial of the search in {tuner.project_dir!r} finished; see the tuner's "
                "log for the errors of the failed trials."
            )
        rows.sort(key=lambda row: row["score"], reverse=direction == "max")
        self.trials = rows
        selected = rows[0]
        if keep_defaults is not None:
            selected = _one_standard_error(rows, **keep_defaults)
        self.selected_trial = selected["trial"]
        self._best_hp = tuner.oracle.get_trial(self.selected_trial).hyperparameters
        self.best_hyperparameters = dict(self._best_hp.values)

    @property
    def best_arguments(self):
        """The `Distiller(...)` and `compile(...)` keyword arguments of the best trial.

        `keras_distill.Distiller(teacher, student, **args["distiller"])`, then
        `distiller.compile(optimizer=..., **args["compile"])`, rebuilds it.
        """
        return self.hypermodel.arguments(self.best_hyperparameters)

    def build_distiller(self, student=None):
        """A compiled `Distiller` with the best settings, on a new student by default.

        Args:
            student: The student. Defaults to `None`: `build_student(hp)`
                with the best trial's hyper-parameters.
        """
        if student is None:
            student = self.hypermodel.build_student(self._best_hp.copy())
        return self.hypermodel.build_distiller(self.best_hyperparameters, student)

    def table(self):
        """The trials as a Markdown table, best first."""
        settings = sorted({k for row in self.trials for k in row} - set(_TRIAL_COLUMNS))
        columns = list(_TRIAL_COLUMNS) + settings
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        for row in self.trials:
            lines.append("| " + " | ".join(_cell(row.get(c)) for c in columns) + " |")
        return "\n".join(lines)

    def __repr__(self):
        return (
            f"TuningResult(trials={len(self.trials)}, best_score={self.trials[0]['score']:.4f}, "
            f"best={self.best_hyperparameters})"
        )


def _one_standard_error(rows, defaults, validation_size):
    """The defaults trial's row if the best row's accuracy is within one standard error of it."""
    best = rows[0]
    accuracy = best["score"]
    if not 0.0 <= accuracy <= 1.0:
        raise ValueError(
            f"The one-standard-error rule reads the objective as an accuracy in [0, 1]; the best "
            f"trial scored {accuracy!r}."
        )
    for row in rows:
        if all(row.get(key) == value for key, value in defaults.items()):
            standard_error = math.sqrt(accuracy * (1.0 - accuracy) / validation_size)
            return row if accuracy - row["score"] <= standard_error else best
    return best  # the defaults trial has not finished (e.g. it failed)


def _cell(value):
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)

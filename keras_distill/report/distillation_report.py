"""DistillationReport: how much of the teacher a distilled student kept, and at what cost."""

import os

import keras
import numpy as np

from keras_distill.core.output_logits import probabilities_to_logits
from keras_distill.core.output_logits import resolve_output_activation
from keras_distill.report import latency
from keras_distill.report import metrics
from keras_distill.report import plots
from keras_distill.report import writer

EXPORT_LABELS = {
    ("saved_model", None): "student (SavedModel)",
    ("tflite", None): "student (TFLite float32)",
    ("tflite", "float16"): "student (TFLite float16)",
    ("tflite", "dynamic"): "student (TFLite dynamic-range)",
    ("tflite", "int8"): "student (TFLite int8)",
    ("onnx", None): "student (ONNX Runtime)",
}


def _model(model, argument):
    from keras_distill.distiller.distiller import Distiller

    if isinstance(model, Distiller):
        model = model.student if argument != "teacher" else model.teacher
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"`{argument}` must be a keras.Model (or a Distiller). Received: {model!r} of "
            f"type {type(model).__name__}."
        )
    return model


def _predict(model, x, batch_size):
    """The model's outputs on `x`, batch by batch, in inference mode.

    Direct calls instead of `predict`: `predict` builds a new `tf.function`
    per model, and TensorFlow warns about retracing after a few of them.
    """
    x = np.asarray(x)
    parts = [
        keras.ops.convert_to_numpy(model(x[start : start + batch_size], training=False))
        for start in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts, axis=0)


def _history(history, name):
    if isinstance(history, keras.callbacks.History):
        history = history.history
    if not isinstance(history, dict):
        raise TypeError(
            f"`histories[{name!r}]` must be a keras.callbacks.History or its `history` "
            f"dict. Received: {type(history).__name__}."
        )
    # Numbers become floats; names (`phase_name`, from `PhaseScheduler`) stay strings.
    return {
        key: [v if isinstance(v, str) else float(v) for v in values]
        for key, values in history.items()
    }


class DistillationReport:
    """Compares a teacher, a distilled student and (optionally) the student alone.

    On a labelled test set it measures, for each model, test accuracy, error
    count, expected calibration error, parameters and single-sample CPU
    latency (eager and as a `tf.function`); for the pair, the share of the
    teacher-student gap closed, top-1 agreement and mean KL(teacher ||
    student). Given the
    `ExportResult`s of the exported student, it adds each artifact's size,
    verification and latency in its runtime. `save` writes `report.md`,
    `report.json` and PNG plots (training curves, reliability diagram,
    confusion matrix of the student); without matplotlib the report is
    written without plots and says so.

    Where the student still falls short, class by class: per-class accuracy
    of the teacher, the student alone and the distilled student; per-class
    student-teacher disagreement; and the test samples the distilled student
    labels differently from the teacher, its most confident first (for image
    data, a picture of them: `image_shape` or images as `x_test`).

    Models ending in softmax are handled: their logits are recovered as in
    `Distiller`.

    Args:
        teacher: The teacher `keras.Model`.
        student: The distilled student `keras.Model` (or the `Distiller`).
        x_test: Test inputs.
        y_test: Integer (or one-hot) test labels.
        baseline: The same student architecture trained without the teacher,
            for the gap closed. Defaults to `None`.
        exports: `keras_distill.ExportResult`s of the distilled student.
            Defaults to `()`.
        histories: Training histories by run name (`keras.callbacks.History`
            or its `history` dict); epoch-wise `"phase"` and `"phase_name"`
            entries, as `PhaseScheduler` leaves them, shade and label the
            phases. Defaults to `None`.
        title: Report title. Defaults to `"Distillation report"`.
        settings: A dict of settings to record in the report. Defaults to `None`.
        num_bins: Confidence bins for ECE and the reliability diagram.
            Defaults to `15`.
        latency_samples: Single-sample calls timed per model. Defaults to `100`.
        batch_size: Batch size for the test-set predictions. Defaults to `256`.
        image_shape: `(height, width)` or `(height, width, channels)` of one
            image when `x_test` holds flattened images, for the picture of
            disagreements. Inputs of rank 3 or 4 are drawn without it.
            Defaults to `None`.

    Example:

    ```python
    report = keras_distill.report.DistillationReport(
        teacher, distiller.student, x_test, y_test, baseline=student_alone,
        exports=[keras_distill.export_tflite(distiller, "s.tflite")],
    )
    print(report.results["distillation"]["gap_closed"])
    report.save("report/")
    ```
    """

    def __init__(
        self,
        teacher,
        student,
        x_test,
        y_test,
        baseline=None,
        exports=(),
        histories=None,
        title="Distillation report",
        settings=None,
        num_bins=15,
        latency_samples=100,
        batch_size=256,
        image_shape=None,
    ):
        self.teacher = _model(teacher, "teacher")
        self.student = _model(student, "student")
        self.baseline = None if baseline is None else _model(baseline, "baseline")
        self.x_test = x_test
        self.image_shape = None if image_shape is None else tuple(image_shape)
        self.y_test = np.asarray(y_test)
        if len(self.y_test) != len(keras.tree.flatten(x_test)[0]):
            raise ValueError(
                f"`x_test` and `y_test` must hold the same number of samples. Received "
                f"{len(keras.tree.flatten(x_test)[0])} and {len(self.y_test)}."
            )
        from keras_distill.export.export_result import ExportResult

        self.exports = list(exports or ())
        for i, result in enumerate(self.exports):
            if not isinstance(result, ExportResult):
                raise TypeError(
                    f"`exports[{i}]` must be a keras_distill.ExportResult. Received: "
                    f"{type(result).__name__}."
                )
        self.histories = {
            name: _history(history, name) for name, history in (histories or {}).items()
        }
        self.title = title
        self.settings = dict(settings or {})
        metrics.reliability_bins(np.zeros(1), np.zeros((1, 2)), num_bins)
        self.num_bins = num_bins
        self.latency_samples = latency_samples
        self.batch_size = batch_size
        self._results = None
        self._logits = {}

    def logits(self, name):
        """Test-set logits of `"teacher"`, `"student"` or `"baseline"`, as NumPy."""
        if name not in self._logits:
            model = {"teacher": self.teacher, "student": self.student,
                     "baseline": self.baseline}[name]
            outputs = _predict(model, self.x_test, self.batch_size)
            activation = resolve_output_activation(model, "auto", name)
            self._logits[name] = keras.ops.convert_to_numpy(
                probabilities_to_logits(outputs, activation)
            )
        return self._logits[name]

    def _model_results(self, name, model):
        logits = self.logits(name)
        return {
            "accuracy": metrics.accuracy(self.y_test, logits),
            "errors": metrics.error_count(self.y_test, logits),
            "ece": metrics.expected_calibration_error(self.y_test, logits, self.num_bins),
            "parameters": int(model.count_params()),
            "latency_ms": latency.keras_latency_ms(model, self.x_test, self.latency_samples),
            "compiled_latency_ms": latency.keras_latency_ms(
                model, self.x_test, self.latency_samples, compiled=True
            ),
        }

    def _export_results(self, teacher):
        items = []
        for result in self.exports:
            item = {
                "label": EXPORT_LABELS.get(
                    (result.format, result.quantization),
                    f"student ({result.format} {result.quantization})",
                ),
                "format": result.format,
                "quantization": result.quantization,
                "path": result.path,
                "size_bytes": int(result.size_bytes),
                "verified": result.verified,
                "max_abs_diff": result.max_abs_diff,
                "agreement": result.agreement,
                "num_samples": result.num_samples,
                "latency_ms": latency.artifact_latency_ms(
                    result, self.student, self.x_test, self.latency_samples
                ),
            }
            item["speedup_vs_teacher"] = teacher["latency_ms"] / item["latency_ms"]
            item["speedup_vs_compiled_teacher"] = (
                teacher["compiled_latency_ms"] / item["latency_ms"]
            )
            items.append(item)
        return items

    def compute(self):
        """Computes every number of the report (once) and returns the results dict."""
        if self._results is not None:
            return self._results
        models = {"teacher": self._model_results("teacher", self.teacher)}
        if self.baseline is not None:
            models["student_alone"] = self._model_results("baseline", self.baseline)
        models["distilled_student"] = self._model_results("student", self.student)
        teacher_logits, student_logits = self.logits("teacher"), self.logits("student")
        distillation = {
            "gap_closed": None,
            "agreement": metrics.agreement(teacher_logits, student_logits),
            "mean_kl": metrics.mean_kl(teacher_logits, student_logits),
            "compression": models["teacher"]["parameters"]
            / models["distilled_student"]["parameters"],
        }
        if self.baseline is not None:
            distillation["gap_closed"] = metrics.gap_closed(
                models["teacher"]["errors"],
                models["student_alone"]["errors"],
                models["distilled_student"]["errors"],
            )
            distillation["student_alone_agreement"] = metrics.agreement(
                teacher_logits, self.logits("baseline")
            )
        per_class = self._per_class(teacher_logits, student_logits)
        exports = self._export_results(models["teacher"])
        sizes = {(e["format"], e["quantization"]): e["size_bytes"] for e in exports}
        ratio = None
        if ("tflite", "int8") in sizes and ("tflite", None) in sizes:
            ratio = sizes[("tflite", "int8")] / sizes[("tflite", None)]
        self._results = {
            "title": self.title,
            "num_test_samples": int(len(self.y_test)),
            "models": models,
            "distillation": distillation,
            "per_class": per_class,
            "disagreements": metrics.confident_disagreements(
                self.y_test, teacher_logits, student_logits
            ),
            "exports": exports,
            "int8_size_ratio": ratio,
            "latency_ms": {
                "teacher (Keras)": models["teacher"]["latency_ms"],
                "teacher (Keras, tf.function)": models["teacher"]["compiled_latency_ms"],
                "student (Keras)": models["distilled_student"]["latency_ms"],
                "student (Keras, tf.function)": models["distilled_student"]["compiled_latency_ms"],
                **{e["label"]: e["latency_ms"] for e in exports},
            },
            "num_bins": self.num_bins,
            "latency_samples": self.latency_samples,
            "settings": self.settings,
            "histories": self.histories,
            "plots": {},
            "plots_skipped": None,
        }
        return self._results

    def _per_class(self, teacher_logits, student_logits):
        num_classes = teacher_logits.shape[-1]
        accuracy = {"teacher": metrics.per_class_accuracy(self.y_test, teacher_logits)}
        if self.baseline is not None:
            accuracy["student_alone"] = metrics.per_class_accuracy(
                self.y_test, self.logits("baseline")
            )
        accuracy["distilled_student"] = metrics.per_class_accuracy(self.y_test, student_logits)
        counts, rates = metrics.per_class_disagreement(self.y_test, teacher_logits, student_logits)
        def as_list(values):
            return [None if np.isnan(v) else float(v) for v in values]

        return {
            "classes": list(range(num_classes)),
            "accuracy": {name: as_list(values) for name, values in accuracy.items()},
            "disagreements": [int(c) for c in counts],
            "disagreement_rate": as_list(rates),
        }

    def _images(self, indices):
        """The test inputs at `indices` as images, or `None` if they are not images."""
        flat = keras.tree.flatten(self.x_test)
        if len(flat) != 1:
            return None
        x = np.asarray(flat[0])[indices]
        if self.image_shape is not None:
            x = x.reshape((len(indices),) + self.image_shape)
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim == 3 or (x.ndim == 4 and x.shape[-1] in (3, 4)):
            return x
        return None

    @property
    def results(self):
        """The results dict (computed on first access)."""
        return self.compute()

    def _draw_plots(self, directory):
        plt = plots.import_pyplot()
        if plt is None:
            return {}, plots.MISSING_MATPLOTLIB
        files = plots.PLOT_FILES
        drawn = {}
        if self.histories:
            path = os.path.join(directory, files["training_curves"])
            plots.training_curves(plt, self.histories, path)
            drawn["training curves"] = files["training_curves"]
        names = {"teacher": "teacher", "baseline": "student alone", "student": "distilled student"}
        bins = {
            label: metrics.reliability_bins(self.y_test, self.logits(name), self.num_bins)
            for name, label in names.items()
            if name != "baseline" or self.baseline is not None
        }
        plots.reliability_diagram(plt, bins, os.path.join(directory, files["reliability"]))
        drawn["reliability diagram"] = files["reliability"]
        matrix = metrics.confusion_matrix(self.y_test, self.logits("student"))
        plots.confusion_plot(
            plt, matrix, "Distilled student: confusion matrix (test set)",
            os.path.join(directory, files["confusion"]),
        )
        drawn["confusion matrix"] = files["confusion"]
        items = self.compute()["disagreements"]
        images = self._images([item["index"] for item in items]) if items else None
        if images is not None:
            plots.disagreement_grid(
                plt, images, items, os.path.join(directory, files["disagreements"])
            )
            drawn["disagreements"] = files["disagreements"]
        return drawn, None

    def save(self, directory):
        """Writes `report.md`, `report.json` and the PNG plots into `directory`.

        Args:
            directory: The output folder; created if missing.

        Returns:
            A dict of the written paths: `markdown`, `json` and one per plot.
        """
        directory = os.path.abspath(os.fspath(directory))
        os.makedirs(directory, exist_ok=True)
        results = self.compute()
        results["plots"], results["plots_skipped"] = self._draw_plots(directory)
        paths = {"markdown": os.path.join(directory, "report.md"),
                 "json": os.path.join(directory, "report.json")}
        writer.write_text(paths["json"], writer.to_json(results))
        writer.write_text(paths["markdown"], writer.to_markdown(results))
        paths.update({name: os.path.join(directory, f) for name, f in results["plots"].items()})
        return paths

    def to_markdown(self):
        """The report as Markdown text."""
        return writer.to_markdown(self.compute())

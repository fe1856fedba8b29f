"""DistillationReport on small models: numbers, files, and the path without matplotlib."""

import json
import os
import sys

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.report import DistillationReport
from keras_distill.report import metrics
from tests import testing

# Reports time exported artifacts and tf.function latency: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    x, y = testing.digits(400)
    teacher = testing.mlp(64, 64, 10, activation="softmax", name="teacher")
    teacher.compile("adam", "sparse_categorical_crossentropy")
    teacher.fit(x[:300], y[:300], epochs=15, verbose=0)
    student = testing.mlp(64, 8, 10, name="student")
    student.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    student.fit(x[:300], y[:300], epochs=5, verbose=0)
    return teacher, student, x[300:], y[300:]


def test_numbers_match_the_metrics_on_recovered_logits(trained):
    teacher, student, x, y = trained
    report = DistillationReport(teacher, student, x, y, baseline=student, latency_samples=5)
    results = report.results
    # The softmax teacher's logits are recovered, so its probabilities are unchanged.
    np.testing.assert_allclose(
        metrics.softmax(report.logits("teacher")), teacher.predict(x, verbose=0), atol=1e-5
    )
    student_logits = student.predict(x, verbose=0)
    distilled = results["models"]["distilled_student"]
    assert distilled["errors"] == metrics.error_count(y, student_logits)
    assert distilled["parameters"] == student.count_params()
    assert distilled["ece"] == pytest.approx(metrics.expected_calibration_error(y, student_logits))
    assert results["distillation"]["agreement"] == pytest.approx(
        metrics.agreement(report.logits("teacher"), student_logits)
    )
    # The baseline is the student itself: nothing of the gap was closed.
    gap = results["distillation"]["gap_closed"]
    teacher_errors = results["models"]["teacher"]["errors"]
    assert gap == (None if teacher_errors >= distilled["errors"] else 0.0)
    assert results["distillation"]["compression"] == pytest.approx(
        teacher.count_params() / student.count_params()
    )


def test_save_with_exports_writes_markdown_json_and_plots(trained, tmp_path):
    teacher, student, x, y = trained
    tflite = keras_distill.export_tflite(student, str(tmp_path / "s.tflite"), sample_inputs=x)
    onnx = keras_distill.export_onnx(student, str(tmp_path / "s.onnx"), sample_inputs=x)
    history = {"loss": [2.0, 1.0, 0.5], "accuracy": [0.3, 0.6, 0.8], "phase": [0, 0, 1]}
    report = DistillationReport(
        teacher, student, x, y, exports=[tflite, onnx], histories={"distillation": history},
        settings={"temperature": 20.0}, latency_samples=5,
    )
    paths = report.save(tmp_path / "report")
    assert sorted(os.listdir(tmp_path / "report")) == [
        "confusion_matrix.png", "reliability_diagram.png", "report.json", "report.md",
        "training_curves.png",
    ]
    with open(paths["json"]) as f:
        results = json.load(f)
    assert [e["label"] for e in results["exports"]] == [
        "student (TFLite float32)", "student (ONNX Runtime)"
    ]
    assert results["exports"][0]["size_bytes"] == os.path.getsize(tflite.path)
    assert results["exports"][1]["speedup_vs_teacher"] == pytest.approx(
        results["latency_ms"]["teacher (Keras)"] / results["latency_ms"]["student (ONNX Runtime)"]
    )
    assert results["distillation"]["gap_closed"] is None  # no baseline given
    assert "student_alone" not in results["models"]
    markdown = open(paths["markdown"]).read()
    assert "- temperature: `20.0`" in markdown and "| student alone |" not in markdown
    assert "![reliability diagram](reliability_diagram.png)" in markdown


def test_without_matplotlib_the_report_is_written_and_says_so(trained, tmp_path, monkeypatch):
    teacher, student, x, y = trained
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # `import matplotlib` fails
    report = DistillationReport(teacher, student, x, y, latency_samples=5,
                                histories={"student": {"loss": [1.0, 0.5]}})
    paths = report.save(tmp_path)
    assert sorted(os.listdir(tmp_path)) == ["report.json", "report.md"]
    assert "keras-distill[plot]" in open(paths["markdown"]).read()
    with open(paths["json"]) as f:
        results = json.load(f)
    assert results["plots"] == {} and "matplotlib is not installed" in results["plots_skipped"]


def test_a_distiller_stands_for_its_student(trained):
    teacher, student, x, y = trained
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    report = DistillationReport(teacher, distiller, x, y)
    assert report.student is student


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        (dict(y_test=np.zeros(3)), ValueError, "same number of samples"),
        (dict(exports=["s.tflite"]), TypeError, r"`exports\[0\]` must be a keras_distill"),
        (dict(student="student.keras"), TypeError, "`student` must be a keras.Model"),
        (dict(histories={"run": [1.0]}), TypeError, r"`histories\['run'\]`"),
        (dict(num_bins=0), ValueError, "`num_bins`"),
    ],
)
def test_bad_arguments_are_named(trained, kwargs, error, message):
    teacher, student, x, y = trained
    arguments = dict(teacher=teacher, student=student, x_test=x, y_test=y)
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        DistillationReport(**arguments)


def test_public_names():
    assert keras_distill.DistillationReport is DistillationReport
    for name in ("agreement", "confusion_matrix", "expected_calibration_error", "gap_closed",
                 "mean_kl"):
        assert callable(getattr(keras_distill.report, name))


def test_parameter_ratio_says_fewer_or_more():
    from keras_distill.report.writer import parameter_ratio

    assert parameter_ratio(1.875) == "1.9x fewer parameters"
    assert parameter_ratio(1.0) == "1.0x fewer parameters"
    # A student larger than its teacher (e.g. the demo's CNN teacher).
    assert parameter_ratio(147_146 / 1_276_810) == "8.7x more parameters"


def test_per_class_results_and_disagreement_picture(trained, tmp_path):
    teacher, student, x, y = trained
    report = DistillationReport(
        teacher, student, x, y, baseline=student, latency_samples=3, image_shape=(8, 8)
    )
    results = report.results
    per_class = results["per_class"]
    assert per_class["classes"] == list(range(10))
    assert set(per_class["accuracy"]) == {"teacher", "student_alone", "distilled_student"}
    student_logits = student.predict(x, verbose=0)
    np.testing.assert_allclose(
        per_class["accuracy"]["distilled_student"], metrics.per_class_accuracy(y, student_logits)
    )
    disagreeing = np.argmax(report.logits("teacher"), -1) != np.argmax(student_logits, -1)
    assert sum(per_class["disagreements"]) == int(disagreeing.sum())
    items = results["disagreements"]
    assert 0 < len(items) <= 16 and all(disagreeing[i["index"]] for i in items)
    paths = report.save(tmp_path)
    assert os.path.getsize(paths["disagreements"]) > 0
    markdown = (tmp_path / "report.md").read_text()
    assert "## Per class" in markdown and "![disagreements](disagreements.png)" in markdown
    # Flat inputs without an image shape: no picture, the tables remain.
    plain = DistillationReport(teacher, student, x, y, latency_samples=3)
    assert "disagreements" not in plain.save(tmp_path / "plain")


def test_accuracy_panel_plots_any_accuracy_metric(trained, tmp_path, recwarn):
    # Regression: only a key named exactly `accuracy` was plotted, and
    # matplotlib warned "No artists with labels" for the empty panel.
    from keras_distill.report import plots

    teacher, student, x, y = trained
    history = {"loss": [1.0, 0.5], "sparse_categorical_accuracy": [0.5, 0.8],
               "val_sparse_categorical_accuracy": [0.4, 0.7]}
    assert plots.accuracy_keys(history) == ["sparse_categorical_accuracy"]
    plt = plots.import_pyplot()
    drawn = []
    original = plt.Axes.plot

    def record(axis, *args, label=None, **kwargs):
        drawn.append(label)
        return original(axis, *args, label=label, **kwargs)

    plt.Axes.plot = record
    try:
        DistillationReport(teacher, student, x, y, latency_samples=2,
                           histories={"run": history, "no metrics": {"loss": [1.0]}}
                           ).save(tmp_path)
    finally:
        plt.Axes.plot = original
    assert "sparse_categorical_accuracy" in drawn and "val_sparse_categorical_accuracy" in drawn
    assert not [w for w in recwarn if "No artists" in str(w.message)]


def test_training_curves_label_phases_by_name(trained, tmp_path):
    from keras_distill.report import plots

    teacher, student, x, y = trained
    history = {"loss": [1.0, 0.8, 0.5, 0.4], "phase": [0, 0, 1, 1],
               "phase_name": ["distill", "distill", "fine_tune", "fine_tune"]}
    plt = plots.import_pyplot()
    texts = []
    original = plt.Axes.text

    def record(axis, x_, y_, text, *args, **kwargs):
        texts.append(text)
        return original(axis, x_, y_, text, *args, **kwargs)

    plt.Axes.text = record
    try:
        report = DistillationReport(teacher, student, x, y, latency_samples=2,
                                    histories={"named": history,
                                               "unnamed": {"loss": [1.0, 0.5], "phase": [0, 1]}})
        report.save(tmp_path)
    finally:
        plt.Axes.text = original
    assert texts.count("distill") == 2 and texts.count("fine_tune") == 2  # both panels
    assert "phase 1" in texts  # a history without names keeps the index
    assert report.histories["named"]["phase_name"] == history["phase_name"]


@pytest.mark.parametrize("count", [4, 16])
def test_disagreement_picture_title_clears_the_panels(count):
    # Regression (issue 24): the suptitle was drawn over the first row's titles.
    from keras_distill.report import plots

    plt = plots.import_pyplot()
    if plt is None:
        pytest.skip("matplotlib is not installed")
    items = [
        {"label": 9, "teacher": 3, "student": 9, "student_confidence": 0.76}
    ] * count
    figure = plots.disagreement_figure(plt, np.zeros((count, 8, 8)), items)
    try:
        figure.canvas.draw()
        renderer = figure.canvas.get_renderer()
        title = figure._suptitle.get_window_extent(renderer)
        for axis in figure.axes:
            panel = axis.title.get_window_extent(renderer)
            assert title.y0 >= panel.y1, (title, panel)
    finally:
        plt.close(figure)

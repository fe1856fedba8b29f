"""`keras-distill demo` end to end on the offline digits, and its data handling."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras_distill_cli as cli
from keras_distill.demo import data
from keras_distill.demo.jitter import jittered_dataset
from keras_distill.demo.jitter import shift_images

# The demo exports and uses tf.data: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only

EXPECTED_FILES = (
    "report.md",
    "report.json",
    "training_curves.png",
    "reliability_diagram.png",
    "confusion_matrix.png",
    "student_int8.tflite",
    "student_float32.tflite",
    "student.onnx",
    "student_saved_model/saved_model.pb",
    "teacher.keras",
    "student.keras",
)


@pytest.fixture(scope="module")
def demo_process(tmp_path_factory):
    """The README's first command, as a user runs it, output captured."""
    out = tmp_path_factory.mktemp("demo")
    process = subprocess.run(
        [sys.executable, "-m", "keras_distill_cli", "demo", "--dataset", "digits", "--out",
         str(out)],
        capture_output=True, text=True, check=False,
    )
    return process, out


@pytest.fixture(scope="module")
def demo_run(demo_process):
    process, out = demo_process
    assert process.returncode == 0, process.stderr[-3000:]
    with open(out / "report.json") as f:
        results = json.load(f)
    return process.returncode, out, results


@pytest.mark.slow
def test_demo_distilled_student_beats_the_student_alone(demo_run):
    _, _, results = demo_run
    models = results["models"]
    assert models["distilled_student"]["errors"] < models["student_alone"]["errors"]
    assert results["distillation"]["gap_closed"] >= 0.5
    assert results["settings"]["teaching"] == "consistent"


@pytest.mark.slow
def test_demo_output_is_clean_and_log_friendly(demo_process):
    process, _ = demo_process
    output = process.stdout + process.stderr
    noises = ("retracing", "fully_quantize", "XNNPACK", "Starting new session", "\r",
              "oneDNN custom operations", "cpu_feature_guard", "Could not find cuda drivers")
    for noise in noises:
        assert noise not in output, noise
    lines = process.stdout.splitlines()
    assert "  epoch 300/300  loss" in "\n".join(lines)
    # About ten progress lines per phase, not one per epoch.
    assert sum(line.startswith("  epoch") for line in lines) <= 40
    assert "== Summary ==" in process.stdout
    # Regression (issue 24): training accuracy near 0.55 under MixUp was unexplained.
    from keras_distill.demo.pipeline import MIXUP_ACCURACY_NOTE

    assert MIXUP_ACCURACY_NOTE in process.stdout


@pytest.mark.slow
def test_demo_writes_report_plots_and_verified_exports(demo_run):
    status, out, results = demo_run
    assert status == 0
    for name in EXPECTED_FILES:
        assert os.path.exists(out / name), name
        assert os.path.getsize(out / name) > 0, name
    exports = {(e["format"], e["quantization"]): e for e in results["exports"]}
    assert set(exports) == {
        ("saved_model", None), ("tflite", None), ("tflite", "int8"), ("onnx", None)
    }
    for item in exports.values():
        assert item["verified"] and item["num_samples"] == 500
        assert item["agreement"] >= 0.99
        assert item["size_bytes"] == _size(item["path"])
    assert exports[("onnx", None)]["max_abs_diff"] < 1e-4
    assert results["int8_size_ratio"] == pytest.approx(
        exports[("tflite", "int8")]["size_bytes"] / exports[("tflite", None)]["size_bytes"]
    )
    # No staging leftovers next to the artifacts.
    assert not [name for name in os.listdir(out) if name.startswith(".")]


@pytest.mark.slow
def test_demo_report_contents(demo_run):
    _, out, results = demo_run
    models = results["models"]
    assert list(models) == ["teacher", "student_alone", "distilled_student"]
    for model in models.values():
        assert model["errors"] == round((1 - model["accuracy"]) * 500)
        assert 0 <= model["ece"] <= 1 and model["latency_ms"] > 0
    assert models["teacher"]["parameters"] > 10 * models["distilled_student"]["parameters"]
    assert models["distilled_student"]["accuracy"] > 0.9
    assert set(results["latency_ms"]) >= {
        "teacher (Keras)", "student (Keras)", "student (TFLite int8)", "student (ONNX Runtime)"
    }
    distillation = results["distillation"]
    assert 0.9 < distillation["agreement"] <= 1 and distillation["mean_kl"] >= 0
    assert list(results["histories"]) == ["teacher", "student alone", "distillation"]
    assert results["title"] == (
        "keras-distill demo: digits, preset quick, mlp teacher, consistent teaching, seed 0"
    )
    assert results["settings"]["teacher_model"] == "mlp"
    # Regression (issue 24): only what ran is listed, not the cached recipe's T=4.
    assert results["settings"]["consistent_temperature"] == 1.0
    for unused in ("temperature", "alpha", "distill_epochs", "teacher_filters"):
        assert unused not in results["settings"]
    assert len(results["histories"]["distillation"]["loss"]) == 300
    assert set(results["phase_seconds"]) == {
        "Train the teacher", "Train the student alone",
        "Distil the student (consistent teaching)", "Save and export the student",
        "Write the report",
    }
    markdown = (out / "report.md").read_text()
    for text in ("| distilled student |", "gap closed", "student (TFLite int8)",
                 "![confusion matrix](confusion_matrix.png)", "int8 TFLite size / float32"):
        assert text in markdown


@pytest.mark.slow
def test_cached_teaching_caches_then_fine_tunes(tmp_path, monkeypatch):
    from keras_distill.demo import pipeline
    from keras_distill.demo import presets

    short = presets.RECIPES[("digits", "quick")]
    import dataclasses

    monkeypatch.setitem(
        presets.RECIPES, ("digits", "quick"),
        dataclasses.replace(short, teacher_epochs=3, student_epochs=3, distill_epochs=2,
                            fine_tune_epochs=1),
    )
    results = pipeline.run(dataset="digits", out=str(tmp_path), verbose=0, teaching="cached")
    assert os.path.getsize(tmp_path / "teacher_cache.npz") > 0
    # FineTuning logged the phase of each distillation epoch: distil, then fine-tune.
    assert results["histories"]["distillation"]["phase"] == [0, 0, 1]
    assert "Cache the teacher's outputs" in results["phase_seconds"]
    assert results["settings"]["teaching"] == "cached"
    assert results["settings"]["temperature"] == short.temperature
    assert "consistent_epochs" not in results["settings"]


def test_full_mnist_recipe_trains_an_ensemble_on_deformed_views():
    from keras_distill.demo import presets

    full, quick = presets.recipe("mnist", "full"), presets.recipe("mnist", "quick")
    assert full.teacher_count == 2 and full.deformation and full.warmup_epochs == 1
    assert full.student_hidden == (800, 800)
    # The ensemble labels deformed views once; the student's epochs reuse them.
    assert full.teaching == "consistent" and full.consistent_views > 0
    assert presets.settings(full)["consistent_views"] == full.consistent_views
    # The quick preset keeps one small jitter-trained CNN; the paper's MLP keeps its recipe.
    assert quick.teacher_count == 1 and quick.deformation is None
    mlp = presets.recipe("mnist", "full", teacher="mlp")
    assert mlp.teacher_count == 1 and mlp.deformation is None and mlp.max_shift == 2
    settings = presets.settings(full)
    assert settings["deformation"] == full.deformation and "max_shift" not in settings


@pytest.mark.slow
def test_ensemble_of_deformation_trained_teachers_runs_end_to_end(tmp_path, monkeypatch):
    import dataclasses

    import keras

    from keras_distill import TeacherEnsemble
    from keras_distill.demo import data as data_lib
    from keras_distill.demo import models
    from keras_distill.demo import pipeline
    from keras_distill.demo import presets

    short = dataclasses.replace(
        presets.RECIPES[("digits", "quick")], teacher_epochs=2, student_epochs=1,
        consistent_epochs=3, warmup_epochs=1, teacher_count=2, consistent_views=2,
        consistent_mixup=False, deformation=dict(rotation=5.0, translation=1.0, elastic=0.5),
    )
    monkeypatch.setitem(presets.RECIPES, ("digits", "quick"), short)
    results = pipeline.run(dataset="digits", out=str(tmp_path), verbose=0)
    assert {"teacher_1", "teacher_2", "student alone", "distillation"} <= set(results["histories"])
    assert len(results["histories"]["distillation"]["loss"]) == 3
    assert results["settings"]["deformation"] == short.deformation
    assert results["settings"]["consistent_views"] == 2
    teacher = keras.models.load_model(tmp_path / "teacher.keras")
    assert isinstance(teacher, TeacherEnsemble) and len(teacher.teachers) == 2
    # The control: the student alone on the same views, for as many epochs.
    dataset = data_lib.load("digits")
    student = models.student(64, 10, short)
    history = pipeline.train_alone(student, dataset, short, verbose=0, augmented=True)
    assert len(history.history["loss"]) == short.consistent_epochs
    assert student.name == "student" and len(student.layers) == 3  # no augmentation inside


def test_cached_views_with_mixup_are_refused_by_name():
    import dataclasses

    from keras_distill.demo import presets

    with pytest.raises(ValueError, match="`consistent_views` .* `consistent_mixup=False`"):
        dataclasses.replace(presets.RECIPES[("digits", "quick")], consistent_views=2)


def test_unknown_teaching_is_refused():
    from keras_distill.demo import presets

    with pytest.raises(ValueError, match="`teaching` must be one of"):
        presets.recipe("digits", "quick", teaching="online")


def test_missing_data_file_names_the_flag(tmp_path, capsys):
    status = cli.main(["demo", "--data", str(tmp_path / "none.npz"), "--out", str(tmp_path)])
    assert status == 2
    assert "--data" in capsys.readouterr().err


def test_offline_mnist_download_names_the_flag(tmp_path, monkeypatch, capsys):
    import keras

    def offline():
        raise OSError("Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    assert cli.main(["demo", "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "--data PATH" in error and "name resolution" in error


def test_cnn_teacher_on_digits_is_refused_before_any_work(tmp_path, capsys):
    args = ["demo", "--dataset", "digits", "--teacher", "cnn", "--out", str(tmp_path)]
    status = cli.main(args)
    assert status == 2
    error = capsys.readouterr().err
    # The message names the flags the user typed, not Python keywords.
    assert "--teacher cnn needs 28x28 MNIST images" in error
    assert "use --teacher mlp with --dataset digits" in error
    assert not os.listdir(tmp_path)


def test_cnn_teacher_is_convolutional_and_the_student_is_unchanged():
    from keras_distill.demo import models
    from keras_distill.demo import presets

    mlp, cnn = presets.recipe("mnist", "full", teacher="mlp"), presets.recipe("mnist", "full")
    # The CNN is MNIST's default teacher; digits (8x8) keeps the MLP.
    assert (cnn.teacher_model, mlp.teacher_model) == ("cnn", "mlp")
    assert presets.recipe("digits", "quick").teacher_model == "mlp"
    assert cnn.student_hidden == mlp.student_hidden == (800, 800)
    assert (cnn.temperature, cnn.distill_epochs) == (mlp.temperature, mlp.distill_epochs)
    teacher = models.teacher(784, 10, cnn, image_shape=(28, 28))
    kinds = [type(layer).__name__ for layer in teacher.layers]
    assert kinds.count("Conv2D") == 2 and kinds.count("Dense") == 2
    logits = teacher(np.random.default_rng(0).random((3, 784), dtype="float32"))
    assert logits.shape == (3, 10)
    with pytest.raises(ValueError, match="`teacher` must be one of"):
        presets.recipe("mnist", "full", teacher="resnet")


def test_mnist_file_without_the_expected_arrays_is_rejected(tmp_path):
    path = str(tmp_path / "bad.npz")
    np.savez(path, x_train=np.zeros((2, 28, 28)))
    with pytest.raises(data.DataError, match=r"lacks the arrays \['y_train', 'x_test', 'y_test'\]"):
        data.load_mnist(path)


def test_shift_images_moves_pixels_and_fills_with_zeros():
    image = np.zeros((1, 16), "float32")
    image[0, 1 * 4 + 2] = 1.0  # row 1, column 2 of a 4x4 image
    shifted = shift_images(np.repeat(image, 3, 0), (4, 4), np.array([[1, -2], [0, 0], [-2, 1]]))
    assert shifted[0].reshape(4, 4)[2, 0] == 1.0 and shifted[0].sum() == 1.0
    np.testing.assert_array_equal(shifted[1], image[0])
    assert shifted[2].sum() == 0.0  # moved off the top edge
    far = shift_images(image, (4, 4), np.array([[0, 9]]))
    assert far.shape == (1, 16) and far.sum() == 0.0  # more than the image's width


def test_shift_images_matches_a_pixel_by_pixel_translation():
    rng = np.random.default_rng(0)
    images = rng.random((6, 5 * 7), dtype="float32")
    shifts = rng.integers(-3, 4, (6, 2))
    expected = np.zeros((6, 5, 7), "float32")
    for i, (dy, dx) in enumerate(shifts):
        for row in range(5):
            for col in range(7):
                if 0 <= row - dy < 5 and 0 <= col - dx < 7:
                    expected[i, row, col] = images[i].reshape(5, 7)[row - dy, col - dx]
    np.testing.assert_array_equal(shift_images(images, (5, 7), shifts), expected.reshape(6, 35))


def _epoch(dataset):
    batches = list(dataset.as_numpy_iterator())
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches])


def test_jittered_dataset_covers_every_sample_once_per_epoch_with_new_shifts():
    # Image i is 3x3 with the value i + 1 at its centre pixel.
    x = np.arange(1, 41, dtype="float32")[:, None] * np.eye(1, 9, 4, dtype="float32")
    dataset = jittered_dataset(x, np.arange(40), (3, 3), max_shift=1, batch_size=16, seed=0)
    assert dataset.cardinality() == 3
    first_x, first_y = _epoch(dataset)
    second_x, second_y = _epoch(dataset)
    for images, labels in ((first_x, first_y), (second_x, second_y)):
        assert sorted(labels) == list(range(40))
        # Each centre pixel moved by at most one pixel, never off the 3x3 image.
        np.testing.assert_array_equal(images.sum(axis=1), labels + 1.0)
    def positions(images, labels):
        return images[np.argsort(labels)].argmax(axis=1)

    # Every one of the 9 positions occurs; a new epoch draws new shifts and a new order.
    assert len(set(positions(first_x, first_y))) == 9
    assert not np.array_equal(positions(first_x, first_y), positions(second_x, second_y))
    assert not np.array_equal(first_y, second_y)
    # The same seed gives the same epochs.
    again_x, again_y = _epoch(
        jittered_dataset(x, np.arange(40), (3, 3), max_shift=1, batch_size=16, seed=0)
    )
    np.testing.assert_array_equal(again_x, first_x)
    np.testing.assert_array_equal(again_y, first_y)


def _size(path):
    if os.path.isfile(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(r, n)) for r, _, names in os.walk(path) for n in names)


def test_settings_list_only_what_the_teaching_uses():
    from keras_distill.demo import presets

    consistent = presets.settings(presets.recipe("digits", "quick"))
    assert consistent["consistent_epochs"] == 300 and consistent["consistent_alpha"] == 0.0
    assert not {"temperature", "alpha", "distill_epochs", "fine_tune_epochs"} & set(consistent)
    cached = presets.settings(presets.recipe("mnist", "full", teaching="cached"))
    assert cached["temperature"] == 20.0 and cached["teacher_filters"] == (32, 64)
    assert not {"consistent_epochs", "consistent_temperature"} & set(cached)

"""docs/teachers.md's worked cases run end to end: examples/sklearn_teacher.py, torch_teacher_mnist.py."""

import importlib.util
import os

import numpy as np
import pytest

# Both ship the student with `export_tflite`, a TensorFlow feature.
pytestmark = pytest.mark.tensorflow_only

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "examples")


def _example(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(EXAMPLES, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_students(results, out, file_name):
    for kind in ("alone", "distilled"):
        (row,) = results[kind]
        path = os.path.join(out, file_name.format(kind=kind))
        assert row["size"] == os.path.getsize(path) > 0
        assert 0.0 <= row["accuracy"] <= 1.0
        assert row["latency_ms"] > 0


@pytest.mark.slow
def test_sklearn_teacher_example(tmp_path):
    example = _example("sklearn_teacher")
    report = tmp_path / "report.md"
    results = example.main(
        ["--data", "wine", "--epochs", "1", "--seeds", "0", "--out", str(tmp_path),
         "--report", str(report)]
    )
    # Gradient boosting separates the three wine cultivars almost perfectly.
    assert results["teacher"]["accuracy"] >= 0.9
    assert results["teacher"]["size"] == os.path.getsize(tmp_path / "teacher.pkl")
    _check_students(results, tmp_path, "student_{kind}_seed0.tflite")
    text = report.read_text()
    assert "| teacher (gradient boosting) |" in text and "| distilled student |" in text


@pytest.mark.slow
def test_torch_teacher_example(tmp_path):
    example = _example("torch_teacher_mnist")
    results = example.main(
        ["--data", "digits", "--teacher-epochs", "2", "--epochs", "1", "--seeds", "0",
         "--out", str(tmp_path)]
    )
    teacher = results["teacher"]
    # The .onnx file reproduces the torch module, and the CNN learns digits in two epochs.
    assert teacher["onnx_vs_torch"] < 1e-4
    assert teacher["accuracy"] > 0.5
    assert teacher["size"] == os.path.getsize(tmp_path / "teacher.onnx")
    _check_students(results, tmp_path, "student_{kind}_seed0_int8.tflite")
    for row in results["alone"] + results["distilled"]:
        # The int8 file predicts like the float Keras student it came from.
        assert np.isclose(row["accuracy"], row["keras_accuracy"], atol=0.05)

"""The `export` dispatcher, Distiller inputs, optional dependencies, public names."""

import os
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

import keras_distill
from keras_distill import export
from tests import export_models

# Exporters: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only

PATHS = {"saved_model": "student", "tflite": "student.tflite", "onnx": "student.onnx"}


def test_public_names():
    for name in (
        "export",
        "ExportResult",
        "ExportVerificationError",
        "export_saved_model",
        "export_tflite",
        "export_onnx",
    ):
        assert hasattr(keras_distill, name)
    assert keras_distill.export.available_formats == ("saved_model", "tflite", "onnx")
    assert keras_distill.export.export is export.export


def test_bad_format_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"`format` must be one of .*Received: format='tflit'"):
        export.export(export_models.mlp(), tmp_path / "m", format="tflit")


def test_option_of_another_format_is_rejected(tmp_path):
    with pytest.raises(TypeError, match=r"'onnx' does not take the option\(s\) \['quantization'\]"):
        export.export(export_models.mlp(), tmp_path / "m.onnx", format="onnx", quantization="int8")
    assert os.listdir(tmp_path) == []


def test_non_model_is_rejected(tmp_path):
    with pytest.raises(TypeError, match="`model` must be a `keras_distill.Distiller`"):
        export.export(lambda x: x, tmp_path / "m")


def test_never_called_subclassed_model_is_rejected(tmp_path):
    model = export_models.SubclassedStudent()
    with pytest.raises(ValueError, match="has never been called"):
        export.export_onnx(model, tmp_path / "m.onnx")


@pytest.mark.parametrize("format", sorted(PATHS))
def test_distiller_exports_the_student_only(tmp_path, format):
    teacher = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(4096, activation="relu"), keras.layers.Dense(4)]
    )
    student = export_models.mlp()
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    path = tmp_path / PATHS[format]
    result = export.export(distiller, path, format=format)
    assert result.agreement == 1.0
    teacher_bytes = 4 * sum(int(np.prod(w.shape)) for w in teacher.weights)
    student_bytes = 4 * sum(int(np.prod(w.shape)) for w in student.weights)
    assert student_bytes < result.size_bytes < teacher_bytes / 4
    if format == "saved_model":
        loaded = tf.saved_model.load(str(path))
        exported = sorted(tuple(v.shape) for v in loaded.variables)
        assert exported == sorted(tuple(w.shape) for w in student.weights)


@pytest.mark.parametrize(
    "module, extra, call",
    [
        ("tf2onnx", "onnx", lambda m, p: export.export_onnx(m, p / "m.onnx")),
        ("onnxruntime", "onnx", lambda m, p: export.export_onnx(m, p / "m.onnx")),
        ("ai_edge_litert.interpreter", "litert", lambda m, p: export.export_tflite(m, p / "m.tflite")),
    ],
)
def test_missing_optional_dependency_names_the_extra(tmp_path, monkeypatch, module, extra, call):
    monkeypatch.setitem(sys.modules, module, None)
    message = f'pip install "keras-distill\\[{extra}\\]"'
    with pytest.raises(ImportError, match=message):
        call(export_models.mlp(), tmp_path)
    assert os.listdir(tmp_path) == []


def test_result_repr_is_readable(tmp_path):
    result = export.export(export_models.mlp(), tmp_path / "m.onnx", format="onnx")
    text = repr(result)
    assert text.startswith("ExportResult(format='onnx', quantization=None, path=")
    assert "agreement=100.00%" in text and "samples=64" in text and "KiB" in text
    unverified = export.export(
        export_models.mlp(), tmp_path / "n.onnx", format="onnx", verify=False
    )
    assert not unverified.verified and "verified=False" in repr(unverified)
    assert unverified.size_bytes == os.path.getsize(tmp_path / "n.onnx")

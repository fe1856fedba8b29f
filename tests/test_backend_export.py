"""A student trained on JAX or PyTorch exports on its own backend, verified in the format's runtime."""

import json
import os
import pathlib
import subprocess
import sys

import keras
import pytest

import keras_distill as kd
from keras_distill.errors import ExportConversionError
from tests import testing

ROOT = pathlib.Path(__file__).resolve().parents[1]
BACKEND = keras.backend.backend()


def _trained_distiller():
    x, y = testing.digits(256)
    teacher = testing.mlp(64, 32, 10, name="teacher")
    student = testing.mlp(64, 16, 10, activation="relu", name="student")
    distiller = kd.Distiller(teacher, student, seed=0)
    distiller.compile(optimizer="adam", alpha=0.2, temperature=2.0,
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    distiller.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return distiller, x


def test_trained_student_exports_onnx_on_its_backend(tmp_path):
    distiller, x = _trained_distiller()
    result = kd.export.export(distiller, tmp_path / "student.onnx", format="onnx",
                              sample_inputs=x[:100])
    assert result.verified and result.num_samples == 100
    assert result.max_abs_diff <= 1e-5 and result.agreement == 1.0
    assert os.path.isfile(result.path)
    # Published atomically: nothing but the file is left beside it.
    assert sorted(os.listdir(tmp_path)) == ["student.onnx"]
    import onnxruntime

    session = onnxruntime.InferenceSession(result.path, providers=["CPUExecutionProvider"])
    # The student's input, under its own name, with a dynamic batch.
    (only,) = session.get_inputs()
    assert isinstance(only.shape[0], str) and only.shape[1:] == [64]
    outputs = session.run(None, {only.name: x[:7]})[0]
    assert outputs.shape == (7, 10)


@pytest.mark.skipif(BACKEND != "torch", reason="litert-torch converts PyTorch models only")
def test_trained_student_exports_tflite_on_torch(tmp_path):
    distiller, x = _trained_distiller()
    result = kd.export.export(distiller, tmp_path / "student.tflite", format="tflite",
                              sample_inputs=x[:50])
    assert result.verified and result.max_abs_diff <= 1e-5 and result.agreement == 1.0
    # litert-torch traces static shapes: one sample per call.
    assert result.batch_size == 1
    with pytest.raises(ValueError, match="float32 models only; quantization='int8'"):
        kd.export.export(distiller, tmp_path / "q.tflite", format="tflite", quantization="int8",
                         representative_data=x[:50])
    assert not (tmp_path / "q.tflite").exists()


@pytest.mark.skipif(BACKEND == "tensorflow", reason="TensorFlow writes every format")
def test_formats_without_a_route_name_the_backend_to_use(tmp_path):
    model = testing.mlp(8, 4, 3)
    model(testing.synthetic(4)[0])
    unreachable = ["saved_model"] + (["tflite"] if BACKEND == "jax" else [])
    for fmt in unreachable:
        with pytest.raises(ExportConversionError, match=f"KERAS_BACKEND=tensorflow keras-distill "
                                                        f"export student.keras --format {fmt}"):
            kd.export.export(model, tmp_path / f"m.{fmt}", format=fmt)
        assert not (tmp_path / f"m.{fmt}").exists()


_EXPORT_CHILD = """
import json, sys
import tests.no_tensorflow_child as child
import numpy as np, keras_distill as kd
model = child._mlp("student", 16)
result = kd.export.export(model, sys.argv[1], format="onnx",
                          sample_inputs=np.ones((4, 8), "float32"))
print(json.dumps({"verified": result.verified, "imports": child.attempts}))
"""


@pytest.mark.slow
@pytest.mark.not_tensorflow
def test_onnx_export_never_imports_tensorflow(tmp_path):
    env = dict(os.environ, KERAS_BACKEND=BACKEND, PYTHONPATH=str(ROOT))
    done = subprocess.run(
        [sys.executable, "-c", _EXPORT_CHILD, str(tmp_path / "m.onnx")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["verified"]
    assert report["imports"] == [], "TensorFlow was imported from:\n" + "\n".join(report["imports"])

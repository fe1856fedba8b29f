"""`keras-distill export`: in-process through `main`, once as a real process."""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

import keras_distill
import keras_distill_cli as cli
from tests import export_models

# The CLI exports (SavedModel, TFLite, ONNX): TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.fixture
def saved_cnn(tmp_path):
    path = str(tmp_path / "cnn.keras")
    export_models.cnn().save(path)
    return path


def test_tflite_int8_from_the_command_line(tmp_path, saved_cnn, capsys):
    data = str(tmp_path / "rep.npy")
    np.save(data, export_models.inputs_for("cnn", n=40))
    out = str(tmp_path / "student.tflite")
    argv = ["export", saved_cnn, "--format", "tflite", "--quantize", "int8"]
    argv += ["--representative-data", data, "--out", out, "--min-agreement", "0"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "ExportResult(format='tflite', quantization='int8'" in printed
    assert os.path.getsize(out) > 0


def test_saved_distiller_exports_its_student(tmp_path, capsys):
    teacher = keras.Sequential(
        [keras.Input((8,)), keras.layers.Dense(2048, activation="relu"), keras.layers.Dense(4)]
    )
    distiller = keras_distill.Distiller(teacher=teacher, student=export_models.mlp())
    path = str(tmp_path / "distiller.keras")
    distiller.save(path)
    out = str(tmp_path / "student.onnx")
    assert cli.main(["export", path, "--format", "onnx", "--out", out]) == 0
    assert "agreement=100.00%" in capsys.readouterr().out
    assert os.path.getsize(out) < os.path.getsize(path) / 4


@pytest.mark.parametrize(
    "argv, message",
    [
        (["export", "missing.keras", "--out", "x"], "MODEL 'missing.keras' does not exist"),
        (["export", "{model}", "--format", "onnx", "--quantize", "int8", "--out", "x.onnx"],
         "--quantize: only for --format tflite"),
        (["export", "{model}", "--format", "tflite", "--representative-data", "no.npy",
          "--quantize", "int8", "--out", "x.tflite"], "--representative-data 'no.npy' does not exist"),
        (["export", "{model}", "--format", "tflite", "--quantize", "int8", "--out", "x.tflite"],
         "`representative_data` is required"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(tmp_path, saved_cnn, capsys, argv, message):
    argv = [a.replace("{model}", saved_cnn) for a in argv]
    argv[-1] = str(tmp_path / argv[-1])
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err
    assert os.listdir(tmp_path) == ["cnn.keras"]


def test_bad_format_exits_2(saved_cnn, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["export", saved_cnn, "--format", "coreml", "--out", "x"])
    assert info.value.code == 2
    assert "invalid choice: 'coreml'" in capsys.readouterr().err


def test_lambda_model_needs_unsafe(tmp_path, capsys):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Lambda(lambda x: x * 2.0)])
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    out = str(tmp_path / "m.onnx")
    assert cli.main(["export", path, "--format", "onnx", "--out", out]) == 2
    assert "--unsafe" in capsys.readouterr().err
    assert cli.main(["export", path, "--format", "onnx", "--out", out, "--unsafe"]) == 0


@pytest.mark.slow
def test_runs_in_a_subprocess_and_never_clobbers(tmp_path, saved_cnn, capsys):
    out = str(tmp_path / "student.onnx")
    argv = ["export", saved_cnn, "--format", "onnx", "--opset", "17", "--out", out]
    command = [sys.executable, "-m", "keras_distill_cli"] + argv
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "ExportResult(format='onnx'" in done.stdout
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    # The flag the user can type, not the Python keyword.
    assert "already exists" in error and "pass --overwrite to replace it" in error
    assert "overwrite=True" not in error


def _cli(argv, backend):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=root)
    command = [sys.executable, "-m", "keras_distill_cli"] + argv
    return subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=root)


@pytest.mark.slow
def test_export_under_jax_selects_tensorflow_with_a_note(tmp_path, saved_cnn):
    pytest.importorskip("jax")
    out = str(tmp_path / "student.tflite")
    done = _cli(["export", saved_cnn, "--format", "tflite", "--out", out], backend="jax")
    assert done.returncode == 0, done.stderr
    assert "ExportResult(format='tflite'" in done.stdout
    # One line of explanation, nothing else: no traceback, no native startup log.
    assert done.stderr.splitlines() == [
        "keras-distill export: exporting through TensorFlow (KERAS_BACKEND=jax does not export "
        "tflite; the .keras file loads on any backend)."
    ]


@pytest.mark.slow
def test_gru_export_that_succeeds_prints_no_native_errors(tmp_path):
    """The first, dynamic-batch try fails inside the converter; the batch of 1 converts."""
    from tests import export_layers

    model, x = export_layers.build("gru")
    path, data = str(tmp_path / "gru.keras"), str(tmp_path / "x.npy")
    model.save(path)
    np.save(data, x[:32])
    out = str(tmp_path / "gru.tflite")
    done = _cli(["export", path, "--format", "tflite", "--sample-data", data, "--out", out],
                backend="tensorflow")
    assert done.returncode == 0, done.stderr
    assert "batch_size=1" in done.stdout
    assert done.stderr == ""

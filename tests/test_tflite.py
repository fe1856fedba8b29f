"""TFLite export: the coverage matrix, quantization, int8 I/O, batch behaviour."""

import os

import numpy as np
import pytest
import tensorflow as tf
from ai_edge_litert.interpreter import Interpreter

from keras_distill import export
from keras_distill.export import tflite as tflite_lib
from tests import export_models

# TFLite export: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def cnn_exports(tmp_path_factory):
    """The trained matrix CNN exported once per quantization, verified on held-out digits."""
    model, x_train, x_test, _ = export_models.trained_cnn()
    directory = tmp_path_factory.mktemp("cnn")
    settings = {
        "float32": {},
        "float16": {"quantization": "float16", "min_agreement": 0.99},
        "dynamic": {"quantization": "dynamic"},
        "int8": {"quantization": "int8", "representative_data": x_train},
        "int8_io": {"quantization": "int8", "representative_data": x_train, "int8_io": True},
    }
    return len(x_test), {
        name: export.export_tflite(
            model, directory / f"{name}.tflite", sample_inputs=x_test, **options
        )
        for name, options in settings.items()
    }


@pytest.mark.parametrize("name", sorted(export_models.MODELS))
def test_matrix_float32_exports_and_verifies(tmp_path, name):
    model = export_models.MODELS[name]()
    x = export_models.inputs_for(name)
    result = export.export_tflite(model, tmp_path / f"{name}.tflite", sample_inputs=x)
    assert result.format == "tflite" and result.quantization is None
    assert result.max_abs_diff <= 1e-5
    assert result.agreement == 1.0
    assert result.size_bytes == os.path.getsize(tmp_path / f"{name}.tflite")


def _input_types(path):
    interpreter = Interpreter(model_path=str(path))
    return [d["dtype"] for d in interpreter.get_input_details()]


@pytest.mark.parametrize("name", ["int8", "int8_io"])
def test_int8_cnn_keeps_top1_agreement(cnn_exports, name):
    num_test, results = cnn_exports
    result = results[name]
    assert result.quantization == "int8" and result.num_samples == num_test
    assert result.agreement >= 0.99
    assert _input_types(result.path) == [np.int8 if name == "int8_io" else np.float32]


@pytest.mark.parametrize("name", ["float16", "dynamic", "int8", "int8_io"])
def test_quantization_shrinks_the_float32_file(cnn_exports, name):
    _, results = cnn_exports
    assert results[name].size_bytes < 0.7 * results["float32"].size_bytes
    assert 0 < results[name].max_abs_diff < 1.0
    assert results["float32"].max_abs_diff <= 1e-5


def test_int8_calibrates_from_a_dataset(tmp_path):
    model = export_models.cnn()
    x = export_models.inputs_for("cnn", n=40)
    dataset = tf.data.Dataset.from_tensor_slices((x, np.zeros(40))).batch(16)
    result = export.export_tflite(
        model,
        tmp_path / "m.tflite",
        quantization="int8",
        representative_data=dataset,
        min_agreement=0.0,
    )
    assert result.num_samples == 40 and result.max_abs_diff < 0.5


def test_int8_without_representative_data_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="`representative_data` is required"):
        export.export_tflite(export_models.mlp(), tmp_path / "m.tflite", quantization="int8")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "options, message",
    [
        ({"quantization": "int4"}, "`quantization` must be one of"),
        ({"int8_io": True}, "`int8_io=True` needs quantization='int8'"),
        ({"representative_data": np.zeros((4, 8))}, "only used with quantization='int8'"),
    ],
)
def test_bad_options_are_named(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        export.export_tflite(export_models.mlp(), tmp_path / "m.tflite", **options)


def test_batch_dimension_is_dynamic_and_resizable(tmp_path):
    model = export_models.cnn()
    path = tmp_path / "cnn.tflite"
    export.export_tflite(model, path)
    interpreter = Interpreter(model_path=str(path))
    details = interpreter.get_input_details()[0]
    assert list(details["shape"]) == [1, 8, 8, 1]
    assert list(details["shape_signature"]) == [-1, 8, 8, 1]
    x = export_models.inputs_for("cnn", n=5)
    interpreter.resize_tensor_input(details["index"], [5, 8, 8, 1])
    interpreter.allocate_tensors()
    interpreter.set_tensor(details["index"], x)
    interpreter.invoke()
    output = interpreter.get_tensor(interpreter.get_output_details()[0]["index"])
    np.testing.assert_allclose(output, model(x), atol=1e-5)
    runner = interpreter.get_signature_runner()
    (single,) = runner(**{runner.get_input_details().popitem()[0]: x[:1]}).values()
    np.testing.assert_allclose(single, model(x[:1]), atol=1e-5)


def test_converter_failure_keeps_the_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "m.tflite"
    target.write_bytes(b"previous artifact")

    def crash(*args, **kwargs):
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(tflite_lib, "convert_tflite", crash)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export.export_tflite(export_models.mlp(), target, overwrite=True)
    assert target.read_bytes() == b"previous artifact"
    assert os.listdir(tmp_path) == ["m.tflite"]

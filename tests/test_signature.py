"""Input signatures: names, dynamic batch, dict and subclassed inputs."""

import keras
import numpy as np
import pytest

from keras_distill import export
from keras_distill.export import signature
from tests import export_models

# Export signatures: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


def test_specs_keep_names_and_a_dynamic_batch():
    specs = signature.input_specs(export_models.two_input())
    assert [(s.name, tuple(s.shape)) for s in specs] == [
        ("image", (None, 8, 8, 1)),
        ("extra", (None, 3)),
    ]


def test_unnamed_inputs_get_stable_readable_names(tmp_path):
    # Regression: an unnamed keras.Input exported as "keras_tensor_3", a name
    # that depends on how many tensors the process created before.
    keras.Input((5,))  # shifts the counter behind generated names
    image, extra = keras.Input((8, 8, 1)), keras.Input((3,))
    assert image.name.startswith("keras_tensor")
    merged = keras.layers.Concatenate()([keras.layers.Flatten()(image), extra])
    model = keras.Model([image, extra], keras.layers.Dense(2)(merged))
    assert [s.name for s in signature.input_specs(model)] == ["input_0", "input_1"]
    sequential = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)])
    assert [s.name for s in signature.input_specs(sequential)] == ["input_0"]
    result = export.export(sequential, tmp_path / "m.onnx", format="onnx",
                           sample_inputs=np.zeros((4, 8), "float32"))
    assert result.num_samples == 4
    import onnx

    assert [i.name for i in onnx.load(str(tmp_path / "m.onnx")).graph.input] == ["input_0"]


def test_subclassed_model_uses_its_first_call():
    (spec,) = signature.input_specs(export_models.subclassed())
    assert tuple(spec.shape) == (None, 8) and spec.name == "input_0"


def test_dict_input_model_exports_with_dict_samples(tmp_path):
    a = keras.Input((3,), name="b_first")
    b = keras.Input((2,), name="a_second")
    merged = keras.layers.Concatenate()([a, b])
    model = keras.Model({"b_first": a, "a_second": b}, keras.layers.Dense(4)(merged))
    rng = np.random.default_rng(0)
    x = {"b_first": rng.random((10, 3), "float32"), "a_second": rng.random((10, 2), "float32")}
    for format, path in (("onnx", "m.onnx"), ("tflite", "m.tflite")):
        result = export.export(model, tmp_path / path, format=format, sample_inputs=x)
        assert result.max_abs_diff <= 1e-5 and result.num_samples == 10
    with pytest.raises(ValueError, match=r"dict with keys \['a_second', 'b_first'\]"):
        signature.flatten_inputs(model, [x["b_first"], x["a_second"]], "sample_inputs")


def test_unbuilt_sequential_is_rejected():
    with pytest.raises(ValueError, match="never been called"):
        signature.input_specs(keras.Sequential([keras.layers.Dense(2)]))


def test_single_input_accepts_array_or_one_item_list():
    model = export_models.mlp()
    x = export_models.inputs_for("mlp", n=3)
    for data in (x, [x]):
        (flat,) = signature.flatten_inputs(model, data, "sample_inputs")
        assert flat.shape == (3, 8)


def test_call_with_several_tensor_arguments_is_rejected():
    class TwoArguments(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, a, b):
            return self.dense(a + b)

    model = TwoArguments()
    model(np.zeros((1, 3), "float32"), np.zeros((1, 3), "float32"))
    with pytest.raises(ValueError, match="takes several tensor arguments"):
        signature.input_specs(model)

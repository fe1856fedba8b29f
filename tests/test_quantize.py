"""quantization_aware_distill and export_qat_tflite: int8 file, verified, sparsity kept."""

import keras
import numpy as np
import pytest
from ai_edge_litert.interpreter import Interpreter

import keras_distill as kd
from keras_distill.optimize import bridge
from keras_distill.optimize import qat_export
from keras_distill.optimize import quantize
from keras_distill.optimize.tfmot_import import import_tfmot
from tests import optimize_testing as ot

# tfmot: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def setup():
    keras.utils.set_random_seed(0)
    x, y = ot.data(512)
    teacher = ot.teacher(sharp=True)
    return x, y, teacher, ot.cache(teacher, x)


def _int8_kernels(path):
    """The 2-D int8 weight tensors of a `.tflite` file."""
    interpreter = Interpreter(model_path=str(path))
    kernels = []
    for detail in interpreter.get_tensor_details():
        if detail["dtype"] == np.int8 and len(detail["shape"]) == 2 and detail["shape"][0] > 1:
            try:
                kernels.append(interpreter.get_tensor(detail["index"]))
            except ValueError:
                continue  # an activation tensor: no data before inference
    return kernels


def test_qat_student_exports_to_verified_int8(setup, tmp_path):
    x, y, teacher, cache = setup
    student = ot.student()
    qat = kd.optimize.quantization_aware_distill(student, cache, (x, y), epochs=1, batch_size=32)
    _, tf_keras = import_tfmot("the QAT tests")
    assert isinstance(qat, tf_keras.Model)
    assert any(type(layer).__name__ == "QuantizeWrapperV2" for layer in qat.layers)
    # The fake-quantized student still follows the float student it started from.
    assert ot.agreement(qat, student, x) >= 0.9
    result = kd.optimize.export_qat_tflite(qat, tmp_path / "qat.tflite", sample_inputs=x[:256])
    assert result.verified and result.quantization == "int8"
    assert result.agreement >= 0.99 and result.num_samples == 256
    kernels = _int8_kernels(result.path)
    assert sorted(k.size for k in kernels) == sorted(
        w.size for w in student.get_weights() if w.ndim == 2
    )


def test_qat_student_exports_to_saved_model_and_onnx(setup, tmp_path):
    import onnx

    x, y, teacher, cache = setup
    qat = kd.optimize.quantization_aware_distill(ot.student(), cache, (x, y), epochs=1, batch_size=32)
    saved = kd.optimize.export_qat_saved_model(qat, tmp_path / "qat_sm", sample_inputs=x[:256])
    assert saved.verified and saved.agreement >= 0.99 and saved.max_abs_diff < 1e-4
    # ONNX Runtime runs the QDQ pairs as int8 kernels, rounding where TensorFlow's float
    # simulation does not: a few near-ties of this synthetic task flip.
    result = kd.optimize.export_qat_onnx(
        qat, tmp_path / "qat.onnx", sample_inputs=x[:256], min_agreement=0.97
    )
    assert result.verified and result.quantization == "int8" and result.agreement >= 0.97
    assert result.max_abs_diff < 0.1
    ops = {node.op_type for node in onnx.load(result.path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    with pytest.raises(TypeError, match="must be the QAT model"):
        kd.optimize.export_qat_onnx(ot.student(), tmp_path / "plain.onnx")


def test_pruned_then_qat_keeps_the_zeros(setup, tmp_path):
    x, y, _, cache = setup
    pruned = kd.optimize.prune_and_distill(
        ot.student(), cache, (x, y), target_sparsity=0.8, epochs=1, batch_size=64
    )
    assert quantize._is_pruned(pruned)
    qat = kd.optimize.quantization_aware_distill(pruned, cache, (x, y), epochs=1, batch_size=64)
    result = kd.optimize.export_qat_tflite(qat, tmp_path / "pruned_qat.tflite", sample_inputs=x)
    assert result.verified and result.agreement >= 0.99
    for kernel in _int8_kernels(result.path):
        assert np.mean(kernel == 0) >= 0.79


def test_dense_student_is_not_taken_for_pruned():
    assert not quantize._is_pruned(ot.student())


def test_batch_norm_is_quantizable_after_a_convolution_only():
    _, tf_keras = import_tfmot("the QAT tests")
    cnn = ot.cnn()
    quantize._check_quantizable(cnn, bridge.to_tf_keras(cnn, tf_keras, "test"))
    mlp = keras.Sequential(
        [
            keras.Input((ot.FEATURES,)),
            keras.layers.Dense(8, name="hidden"),
            keras.layers.BatchNormalization(name="dense_norm"),
            keras.layers.Dense(ot.CLASSES),
        ]
    )
    with pytest.raises(ValueError, match=r"'dense_norm' \(BatchNormalization\)"):
        quantize._check_quantizable(mlp, bridge.to_tf_keras(mlp, tf_keras, "test"))


@pytest.mark.parametrize(
    "kwargs, match",
    [({"preserve_sparsity": "yes"}, "preserve_sparsity"), ({"learning_rate": 0}, "learning_rate")],
    ids=["preserve_sparsity", "learning_rate"],
)
def test_bad_arguments_are_named(setup, kwargs, match):
    x, y, _, cache = setup
    with pytest.raises(ValueError, match=match):
        kd.optimize.quantization_aware_distill(ot.student(), cache, (x, y), **kwargs)


def test_export_qat_tflite_rejects_a_keras_3_model(tmp_path):
    with pytest.raises(TypeError, match="quantization_aware_distill"):
        kd.optimize.export_qat_tflite(ot.student(), tmp_path / "student.tflite")
    assert not (tmp_path / "student.tflite").exists()


def test_failed_verification_leaves_no_file(monkeypatch, tmp_path):
    tfmot, tf_keras = import_tfmot("the QAT tests")
    first, second = (
        tfmot.quantization.keras.quantize_model(bridge.to_tf_keras(ot.student(), tf_keras, "t"))
        for _ in range(2)
    )
    x, _ = ot.data(256)
    for model in (first, second):
        model(x, training=True)  # learns its activation ranges
    convert = qat_export._convert
    # The file of another model cannot reproduce `first`.
    monkeypatch.setattr(qat_export, "_convert", lambda model, specs: convert(second, specs))
    with pytest.raises(kd.ExportVerificationError, match="top-1 agreement"):
        kd.optimize.export_qat_tflite(first, tmp_path / "qat.tflite", sample_inputs=x)
    assert list(tmp_path.iterdir()) == []

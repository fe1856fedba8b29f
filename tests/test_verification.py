"""Verification: tolerances, failures leaving nothing behind, non-classifiers."""

import os

import keras
import numpy as np
import pytest

from keras_distill import export
from keras_distill.export import verification
from tests import export_models

# Export verification: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


def _perturb_reference(monkeypatch, amount):
    real = verification.keras_outputs

    def perturbed(model, flat_inputs):
        return [o + amount for o in real(model, flat_inputs)]

    monkeypatch.setattr(verification, "keras_outputs", perturbed)


@pytest.mark.parametrize("format, path", [("tflite", "m.tflite"), ("saved_model", "m")])
def test_impossible_tolerance_raises_and_writes_nothing(tmp_path, monkeypatch, format, path):
    _perturb_reference(monkeypatch, 1e-3)
    with pytest.raises(export.ExportVerificationError, match="differ by more than atol=1e-05") as info:
        export.export(export_models.mlp(), tmp_path / path, format=format)
    assert info.value.result.max_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert os.listdir(tmp_path) == []


def test_failed_verification_keeps_the_existing_file(tmp_path, monkeypatch):
    target = tmp_path / "m.onnx"
    target.write_bytes(b"previous artifact")
    _perturb_reference(monkeypatch, 1e-3)
    with pytest.raises(export.ExportVerificationError):
        export.export_onnx(export_models.mlp(), target, overwrite=True)
    assert target.read_bytes() == b"previous artifact"


def test_loosened_tolerance_passes(tmp_path, monkeypatch):
    _perturb_reference(monkeypatch, 1e-3)
    result = export.export_onnx(export_models.mlp(), tmp_path / "m.onnx", atol=2e-3)
    assert result.max_abs_diff == pytest.approx(1e-3, rel=1e-2)
    assert os.path.isfile(tmp_path / "m.onnx")


def test_agreement_below_minimum_raises(tmp_path, monkeypatch):
    real = verification.keras_outputs

    def swapped_classes(model, flat_inputs):
        return [o[..., ::-1] for o in real(model, flat_inputs)]

    monkeypatch.setattr(verification, "keras_outputs", swapped_classes)
    with pytest.raises(export.ExportVerificationError, match="top-1 agreement"):
        export.export_onnx(export_models.mlp(), tmp_path / "m.onnx", atol=1e9)


def test_regression_output_has_no_agreement(tmp_path):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
    result = export.export_onnx(model, tmp_path / "m.onnx")
    assert result.agreement is None and "agreement=n/a" in repr(result)
    assert result.max_abs_diff <= 1e-5


def test_agreement_out_of_range_is_named(tmp_path):
    with pytest.raises(ValueError, match="`min_agreement` must be in"):
        export.export_onnx(export_models.mlp(), tmp_path / "m.onnx", min_agreement=99)


def test_sample_inputs_of_wrong_shape_are_named(tmp_path):
    with pytest.raises(ValueError, match=r"`sample_inputs` must have shape \(batch,\) \+ \(8,\)"):
        export.export_onnx(export_models.mlp(), tmp_path / "m.onnx", sample_inputs=np.zeros((4, 3)))


def test_multi_input_sample_inputs_need_one_array_per_input(tmp_path):
    x = export_models.inputs_for("two_input")
    with pytest.raises(ValueError, match="`sample_inputs` must be a list of 2 items"):
        export.export_onnx(export_models.two_input(), tmp_path / "m.onnx", sample_inputs=x[0])

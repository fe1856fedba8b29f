"""ONNX export: the coverage matrix, dynamic batch, selectable opset."""

import numpy as np
import onnx
import onnxruntime
import pytest

from keras_distill import export
from tests import export_models

# Tf2onnx: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize("name", sorted(export_models.MODELS))
def test_matrix_exports_and_verifies(tmp_path, name):
    model = export_models.MODELS[name]()
    x = export_models.inputs_for(name)
    result = export.export_onnx(model, tmp_path / f"{name}.onnx", sample_inputs=x)
    assert result.format == "onnx" and result.verified
    assert result.max_abs_diff <= 1e-5
    assert result.agreement == 1.0


def test_batch_dimension_stays_dynamic(tmp_path):
    model = export_models.two_input()
    path = str(tmp_path / "m.onnx")
    export.export_onnx(model, path)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image", "extra"]
    assert all(isinstance(i.shape[0], str) for i in session.get_inputs())
    for batch in (1, 9):
        image, extra = export_models.inputs_for("two_input", n=batch)
        (output,) = session.run(None, {"image": image, "extra": extra})
        np.testing.assert_allclose(output, model([image, extra]), atol=1e-5)


@pytest.mark.parametrize("opset", [15, 18])
def test_opset_is_selectable(tmp_path, opset):
    path = tmp_path / "m.onnx"
    export.export_onnx(export_models.cnn(), path, opset=opset)
    opsets = {o.domain: o.version for o in onnx.load(str(path)).opset_import}
    assert opsets[""] == opset


def test_unsupported_opset_is_named(tmp_path):
    with pytest.raises(ValueError, match=r"`opset` must be one of \(15, 16, 17, 18\)"):
        export.export_onnx(export_models.mlp(), tmp_path / "m.onnx", opset=11)

"""SavedModel export: the coverage matrix, dynamic batch, atomic folders."""

import os

import numpy as np
import pytest
import tensorflow as tf

from keras_distill import export
from keras_distill.export import saved_model as saved_model_lib
from tests import export_models

# SavedModel export: TensorFlow by nature.
pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize("name", sorted(export_models.MODELS))
def test_matrix_exports_and_verifies(tmp_path, name):
    model = export_models.MODELS[name]()
    x = export_models.inputs_for(name)
    result = export.export_saved_model(model, tmp_path / name, sample_inputs=x)
    assert result.format == "saved_model" and result.verified
    assert result.max_abs_diff <= 1e-5
    assert result.agreement == 1.0
    assert result.num_samples == 32
    assert os.path.isfile(tmp_path / name / "saved_model.pb")
    assert result.size_bytes > 0


def test_batch_dimension_stays_dynamic(tmp_path):
    model = export_models.two_input()
    export.export_saved_model(model, tmp_path / "sm")
    loaded = tf.saved_model.load(str(tmp_path / "sm"))
    for batch in (1, 7):
        image, extra = export_models.inputs_for("two_input", n=batch)
        served = loaded.serve(image, extra).numpy()
        np.testing.assert_allclose(served, model([image, extra]), atol=1e-5)
    arguments = loaded.signatures["serving_default"].structured_input_signature[1]
    assert {spec.shape[0] for spec in arguments.values()} == {None}
    assert set(arguments) == {"image", "extra"}


def test_failed_write_leaves_no_folder(tmp_path, monkeypatch):
    def write_half_then_fail(model, specs, directory):
        os.makedirs(directory)
        with open(os.path.join(directory, "saved_model.pb"), "wb") as f:
            f.write(b"partial")
        raise RuntimeError("converter crashed")

    monkeypatch.setattr(saved_model_lib, "write_saved_model", write_half_then_fail)
    with pytest.raises(RuntimeError, match="converter crashed"):
        export.export_saved_model(export_models.mlp(), tmp_path / "sm")
    assert os.listdir(tmp_path) == []


def test_overwrite_replaces_an_existing_folder(tmp_path):
    target = tmp_path / "sm"
    target.mkdir()
    (target / "old.txt").write_text("previous artifact")
    with pytest.raises(FileExistsError, match="`path`"):
        export.export_saved_model(export_models.mlp(), target)
    assert (target / "old.txt").read_text() == "previous artifact"
    export.export_saved_model(export_models.mlp(), target, overwrite=True)
    assert sorted(os.listdir(target)) == ["assets", "fingerprint.pb", "saved_model.pb", "variables"]
    assert os.listdir(tmp_path) == ["sm"]

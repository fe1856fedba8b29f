"""Conversion matrix: layer kinds x formats, each verified or refused with a typed error."""

import pytest

import keras_distill
from keras_distill.errors import ExportConversionError
from tests import export_layers

pytestmark = pytest.mark.tensorflow_only


@pytest.mark.parametrize("kind", export_layers.KINDS)
def test_layer_exports_to_every_format_or_names_itself(tmp_path, kind):
    model, x = export_layers.build(kind)
    for fmt in export_layers.FORMATS:
        export = getattr(keras_distill, f"export_{fmt}")
        target = tmp_path / f"m.{fmt}"
        expected_failure = export_layers.NOT_CONVERTIBLE.get((kind, fmt))
        if expected_failure:
            with pytest.raises(ExportConversionError, match=expected_failure) as info:
                export(model, target, sample_inputs=x)
            assert expected_failure in info.value.layers[0]
            assert not target.exists()
            continue
        result = export(model, target, sample_inputs=x)
        # Self-contained: the artifact takes the model's inputs only and reproduces it.
        assert result.max_abs_diff <= 1e-5, (kind, fmt, result)
        assert result.num_samples == len(x[0] if isinstance(x, list) else x)


def test_recurrent_tflite_runs_one_sample_per_call(tmp_path):
    model, x = export_layers.build("lstm")
    result = keras_distill.export_tflite(model, tmp_path / "m.tflite", sample_inputs=x[:20])
    assert result.batch_size == 1 and "batch_size=1" in repr(result)
    saved = keras_distill.export_saved_model(model, tmp_path / "sm", sample_inputs=x[:20])
    assert saved.batch_size is None

"""int8 TFLite with float fallback for the layers that quantize badly."""

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.errors import ExportVerificationError
from tests.testing import digits

pytestmark = pytest.mark.tensorflow_only


@pytest.fixture(scope="module")
def layer_norm_cnn():
    x, y = digits()
    x = x.reshape(-1, 8, 8, 1)
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", name="conv1")(inputs)
    h = keras.layers.ReLU()(keras.layers.LayerNormalization(name="layer_norm1")(h))
    h = keras.layers.Conv2D(32, 3, padding="same", name="conv2")(h)
    h = keras.layers.ReLU()(keras.layers.LayerNormalization(name="layer_norm2")(h))
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x[:1400], y[:1400], epochs=15, batch_size=32, verbose=0)
    return model, x


def _export(model, x, path, **kwargs):
    return keras_distill.export_tflite(
        model, path, quantization="int8", representative_data=x[:300], sample_inputs=x[1400:],
        **kwargs,
    )


@pytest.mark.slow  # trains for over 8 s; CI's slow leg runs it
def test_auto_fallback_meets_the_agreement_that_full_int8_misses(tmp_path, layer_norm_cnn):
    model, x = layer_norm_cnn
    with pytest.raises(ExportVerificationError, match="95% CI") as info:
        _export(model, x, tmp_path / "full.tflite")
    assert '`fallback="auto"` keeps the layers that quantize worst in float' in str(info.value)
    full = info.value.result
    assert full.agreement < 0.99
    result = _export(model, x, tmp_path / "auto.tflite", fallback="auto")
    assert result.agreement >= 0.99
    assert result.float_layers and set(result.float_layers) <= {layer.name for layer in model.layers}
    # The kept layers are small: the file stays about as small as the fully int8 one.
    assert abs(result.fallback_cost_bytes) < 0.05 * result.size_bytes
    assert result.size_bytes < 1.05 * full.size_bytes
    assert "float_layers=" in repr(result)


def test_named_fallback_and_bad_arguments(tmp_path, layer_norm_cnn):
    model, x = layer_norm_cnn
    result = _export(model, x, tmp_path / "named.tflite", fallback=["layer_norm1"], min_agreement=0.0)
    assert result.float_layers == ["layer_norm1"]
    with pytest.raises(ValueError, match=r"no quantized layer named \['nope'\]"):
        _export(model, x, tmp_path / "bad.tflite", fallback=["nope"])
    with pytest.raises(ValueError, match="needs quantization='int8'"):
        keras_distill.export_tflite(model, tmp_path / "f.tflite", fallback="auto")
    with pytest.raises(ValueError, match="cannot be combined with `int8_io=True`"):
        _export(model, x, tmp_path / "io.tflite", fallback="auto", int8_io=True)
    with pytest.raises(ValueError, match="'auto' or a list of layer names"):
        _export(model, x, tmp_path / "s.tflite", fallback="layer_norm1")
    assert not list(tmp_path.glob("*.tflite"))[1:]  # only named.tflite was written
    np.testing.assert_equal(sorted(p.name for p in tmp_path.iterdir()), ["named.tflite"])


def test_auto_fallback_is_verified_on_samples_the_search_never_saw(tmp_path, layer_norm_cnn, monkeypatch):
    from keras_distill.export import int8_fallback

    searched = []
    evaluate = int8_fallback._evaluate

    def recording(content, specs, samples, expected):
        searched.append(samples[0])
        return evaluate(content, specs, samples, expected)

    monkeypatch.setattr(int8_fallback, "_evaluate", recording)
    model, x = layer_norm_cnn
    result = _export(model, x, tmp_path / "given.tflite", fallback="auto", min_agreement=0.0)
    samples = x[1400:]
    assert searched and all(np.array_equal(s, samples[0::2]) for s in searched)
    assert result.num_samples == len(samples[1::2])

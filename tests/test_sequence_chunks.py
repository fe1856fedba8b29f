"""Token losses in sequence chunks: the same values and gradients as over the whole sequence."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill import losses
from keras_distill.losses import sequence_chunks
from tests.test_divergences import _gradient
from tests.testing import to_numpy

LOSSES = [
    ("kd", lambda c: losses.KDLoss(sequence_chunks=c)),
    ("kd_spread_tail", lambda c: losses.KDLoss(top_k_tail=0.5, sequence_chunks=c)),
    ("reverse_kl", lambda c: losses.ReverseKL(sequence_chunks=c)),
    ("jsd", lambda c: losses.GeneralizedJSD(beta=0.3, sequence_chunks=c)),
    ("skew_kl", lambda c: losses.SkewKL(sequence_chunks=c)),
    ("tvd", lambda c: losses.TotalVariation(sequence_chunks=c)),
]


def _batch(seed=0, batch=3, length=7, vocabulary=40):
    rng = np.random.default_rng(seed)
    teacher = (rng.normal(size=(batch, length, vocabulary)) * 3).astype("float32")
    student = (rng.normal(size=(batch, length, vocabulary)) * 3).astype("float32")
    mask = (rng.random((batch, length)) > 0.3).astype("float32")
    return teacher, student, mask


@pytest.mark.parametrize("name,make", LOSSES)
@pytest.mark.parametrize("top_k", [None, 5])
@pytest.mark.parametrize("chunks", [3, 7])
def test_chunked_equals_whole_sequence(name, make, top_k, chunks):
    teacher, student, mask = _batch()
    if top_k is not None:
        teacher = {k: to_numpy(v) for k, v in losses.compress_top_k(teacher, top_k).items()}
    student = keras.Variable(student)
    results = []
    for setting in (None, chunks):  # 7 positions in 3 chunks: uneven pieces (3, 2, 2)
        loss = make(setting)
        value = loss(teacher, student, sample_weight=mask, temperature=2.0)
        gradient = _gradient(
            lambda loss=loss: loss(teacher, student, sample_weight=mask, temperature=2.0), student)
        results.append((float(to_numpy(value)), gradient))
    (whole, whole_gradient), (chunked, chunked_gradient) = results
    np.testing.assert_allclose(chunked, whole, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(chunked_gradient, whole_gradient, rtol=1e-6, atol=1e-7)
    assert np.abs(whole_gradient).max() > 0


def test_per_position_values_keep_their_places():
    teacher, student, _ = _batch(seed=1)
    whole = losses.KDLoss(reduction=None, sequence_chunks=None)(teacher, student)
    chunked = losses.KDLoss(reduction=None, sequence_chunks=4)(teacher, student)
    assert tuple(chunked.shape) == (3, 7)
    np.testing.assert_allclose(to_numpy(chunked), to_numpy(whole), rtol=1e-6)


def test_auto_chunks_only_large_sequence_logits():
    resolve = sequence_chunks.resolve_chunks
    # 8 x 256 x 32,000 float32 logits are 250 MiB: 32 chunks of 8 positions.
    assert resolve("auto", (8, 256, 32000)) == 32
    assert resolve("auto", (2, 7, 40)) == 1  # small: computed whole
    assert resolve("auto", (4096, 32000)) == 1  # no sequence axis
    assert resolve("auto", (None, 256, 32000)) == 1  # batch unknown when traced
    assert resolve(None, (8, 256, 32000)) == 1
    assert resolve(1000, (8, 256, 32000)) == 256


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, "many"])
def test_bad_sequence_chunks_named(bad):
    with pytest.raises(ValueError, match="sequence_chunks"):
        losses.KDLoss(sequence_chunks=bad)
    with pytest.raises(ValueError, match="sequence_chunks"):
        losses.ReverseKL(sequence_chunks=bad)


@pytest.mark.parametrize("cls", [losses.KDLoss, losses.ReverseKL, losses.GeneralizedJSD,
                                 losses.SkewKL, losses.SkewReverseKL, losses.TotalVariation])
def test_sequence_chunks_round_trips(cls):
    loss = cls(sequence_chunks=4)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert restored.sequence_chunks == 4 and restored.get_config() == loss.get_config()
    assert cls().sequence_chunks is None


def _token_model(name, seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,), dtype="int32")
    x = keras.layers.Embedding(30, 8, mask_zero=True)(inputs)
    return keras.Model(inputs, keras.layers.Dense(30)(x), name=name)


def test_distiller_step_same_with_chunks():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 30, (8, 6)).astype("int32")
    x[::2, -2:] = 0
    y = rng.integers(0, 30, (8, 6)).astype("int32")
    weights = []
    for setting in (None, 3):
        teacher, student = _token_model("teacher", 1), _token_model("student", 2)
        distiller = kd.Distiller(teacher, student)
        distiller.compile(optimizer=keras.optimizers.SGD(0.5), alpha=0.0, temperature=2.0,
                          distillation_loss_fn=losses.KDLoss(sequence_chunks=setting))
        distiller.fit(x, y, batch_size=8, epochs=2, verbose=0)
        weights.append(student.get_weights())
    for chunked, whole in zip(weights[1], weights[0]):
        np.testing.assert_allclose(chunked, whole, rtol=1e-5, atol=1e-6)
    assert any(not np.allclose(w, v) for w, v in zip(weights[0], _token_model("s", 2).get_weights()))

"""Token divergences against a float64 NumPy reference, under masks and mixed precision, and in fit."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill import losses
from tests.test_token_distillation import sequence_model
from tests.test_token_distillation import tokens

RTOL = 1e-5


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _kl(log_a, log_b):
    return (np.exp(log_a) * (log_a - log_b)).sum(-1)


def _mixture(log_a, log_b, weight):
    return np.logaddexp(log_a + np.log(weight), log_b + np.log1p(-weight))


def reference(name, teacher_logits, student_logits, temperature, beta=0.5, alpha=0.1):
    """The divergence per position in float64, times T²."""
    log_p = _log_softmax(np.asarray(teacher_logits, np.float64) / temperature)
    log_q = _log_softmax(np.asarray(student_logits, np.float64) / temperature)
    value = {
        "forward_kl": lambda: _kl(log_p, log_q),
        "reverse_kl": lambda: _kl(log_q, log_p),
        "jsd": lambda: beta * _kl(log_p, _mixture(log_p, log_q, beta))
        + (1 - beta) * _kl(log_q, _mixture(log_p, log_q, beta)),
        "skew_kl": lambda: _kl(log_p, _mixture(log_p, log_q, alpha)),
        "skew_reverse_kl": lambda: _kl(log_q, _mixture(log_q, log_p, alpha)),
        "tvd": lambda: 0.5 * np.abs(np.exp(log_p) - np.exp(log_q)).sum(-1),
    }[name]()
    return value * temperature**2


FUNCTIONS = {
    "forward_kl": losses.kd_loss,
    "reverse_kl": losses.reverse_kl,
    "jsd": losses.generalized_jsd,
    "skew_kl": losses.skew_kl,
    "skew_reverse_kl": losses.skew_reverse_kl,
    "tvd": losses.total_variation,
}
NAMES = tuple(FUNCTIONS)


def _logits(shape, scale, seed):
    rng = np.random.default_rng(seed)
    if scale == "huge":
        return rng.uniform(-1e4, 1e4, size=shape).astype("float32")
    return (rng.normal(size=shape) * scale).astype("float32")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "vocabulary,scale,temperature",
    [(32000, 3.0, 1.0), (32000, 3.0, 0.9), (257, 1.0, 4.0), (32000, "huge", 1.0),
     (1000, "huge", 2.0)],
)
def test_matches_the_float64_reference(name, vocabulary, scale, temperature):
    t = _logits((2, 3, vocabulary), scale, 0)
    s = _logits((2, 3, vocabulary), scale, 1)
    values = keras.ops.convert_to_numpy(FUNCTIONS[name](t, s, temperature=temperature))
    assert values.dtype == np.float32 and values.shape == (2, 3)
    np.testing.assert_allclose(values, reference(name, t, s, temperature), rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_float16_student_logits_under_mixed_precision(name):
    keras.mixed_precision.set_global_policy("mixed_float16")
    t = _logits((4, 5, 32000), 3.0, 2)
    s = _logits((4, 5, 32000), 3.0, 3).astype("float16")
    loss = losses.get(name)
    values = keras.ops.convert_to_numpy(
        loss(t, keras.ops.convert_to_tensor(s), temperature=2.0)
    )
    assert values.dtype == np.float32
    np.testing.assert_allclose(values, reference(name, t, s, 2.0).mean(), rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_per_token_weights_and_masks(name):
    t, s = _logits((3, 6, 50), 2.0, 4), _logits((3, 6, 50), 2.0, 5)
    rng = np.random.default_rng(6)
    weights = rng.uniform(0.0, 2.0, size=(3, 6)).astype("float32")
    weights[:, 4:] = 0.0  # padding
    value = float(losses.get(name)(t, s, sample_weight=weights, temperature=1.5))
    expected = (reference(name, t, s, 1.5) * weights).sum() / weights.size
    np.testing.assert_allclose(value, expected, rtol=RTOL)


def test_generalized_jsd_ends_are_forward_and_reverse_kl_exactly():
    t, s = _logits((4, 300), 2.0, 7), _logits((4, 300), 2.0, 8)
    forward = keras.ops.convert_to_numpy(losses.kd_loss(t, s, 1.7))
    reverse = keras.ops.convert_to_numpy(losses.reverse_kl(t, s, 1.7))
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(losses.generalized_jsd(t, s, beta=0.0, temperature=1.7)), forward
    )
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(losses.generalized_jsd(t, s, beta=1.0, temperature=1.7)), reverse
    )
    middle = keras.ops.convert_to_numpy(losses.generalized_jsd(t, s, beta=0.5, temperature=1.7))
    assert np.all(middle < np.minimum(forward, reverse))  # bounded by log 2 * T², unlike the ends
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(losses.skew_kl(t, s, 0.0, 1.7)), forward)


def test_gradients_stay_finite_for_huge_logits():
    t = keras.ops.convert_to_tensor(_logits((2, 4000), "huge", 9))
    s = keras.Variable(_logits((2, 4000), "huge", 10))
    for name in NAMES:
        loss = losses.get(name)
        gradient = _gradient(lambda loss=loss: loss(t, s, temperature=1.0), s)
        assert np.isfinite(gradient).all(), name
        # The mixtures and TVD saturate on disjoint distributions (bounded by design); KL does not.
        if name in ("forward_kl", "reverse_kl"):
            assert np.abs(gradient).max() > 0, name


def _gradient(fn, variable):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = fn()
        return tape.gradient(value, variable.value).numpy()
    if backend == "jax":
        import jax

        def stateless(value):
            with keras.StatelessScope(state_mapping=[(variable, value)]):
                return fn()

        return np.asarray(jax.grad(stateless)(variable.value))
    value = fn()
    value.backward()
    return variable.value.grad.cpu().numpy()


@pytest.mark.parametrize(
    "identifier,cls,config",
    [("reverse_kl", losses.ReverseKL, {}), ("jsd", losses.GeneralizedJSD, {"beta": 0.3}),
     ("generalized_jsd", losses.GeneralizedJSD, {}), ("skew_kl", losses.SkewKL, {"alpha": 0.2}),
     ("skew_reverse_kl", losses.SkewReverseKL, {"alpha": 0.05}),
     ("tvd", losses.TotalVariation, {}), ("total_variation", losses.TotalVariation, {}),
     ("forward_kl", losses.KDLoss, {})],
)
def test_registry_names_and_serialization(identifier, cls, config):
    assert type(losses.get(identifier)) is cls
    loss = cls(**config)
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert type(restored) is cls and restored.get_config() == loss.get_config()


@pytest.mark.parametrize(
    "make,argument",
    [(lambda: losses.GeneralizedJSD(beta=1.5), "beta"), (lambda: losses.SkewKL(alpha=1.0), "alpha"),
     (lambda: losses.SkewReverseKL(alpha=-0.1), "alpha"),
     (lambda: losses.skew_kl(np.zeros((1, 3)), np.zeros((1, 3)), alpha=True), "alpha")],
)
def test_bad_mixture_weights_are_named(make, argument):
    with pytest.raises(ValueError, match=f"`{argument}`"):
        make()


def _frozen_distiller(teacher, student, loss, learning_rate=0.0):
    distiller = kd.Distiller(teacher, student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate) if learning_rate else
        keras.optimizers.SGD(0.0),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=loss, alpha=0.0, temperature=2.0,
    )
    return distiller


@pytest.mark.parametrize("name", NAMES)
def test_distiller_averages_each_divergence_over_valid_tokens(name):
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(seed=11)
    logs = _frozen_distiller(teacher, student, name).fit(
        x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False
    ).history
    t = keras.ops.convert_to_numpy(teacher(x))
    s = keras.ops.convert_to_numpy(student(x))
    valid = x != 0
    expected = reference(name, t, s, 2.0)[valid].mean()
    np.testing.assert_allclose(logs["distillation_loss"][0], expected, rtol=RTOL)


@pytest.mark.parametrize("name", NAMES)
def test_distiller_trains_with_each_divergence(name):
    teacher, student = sequence_model(16, "t"), sequence_model(8, "s")
    x, y = tokens(n=64, seed=12)
    history = _frozen_distiller(teacher, student, name, learning_rate=0.02).fit(
        x, y, batch_size=16, epochs=6, verbose=0
    ).history["distillation_loss"]
    assert history[-1] < 0.7 * history[0], history

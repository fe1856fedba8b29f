"""Token-level distillation: (batch, time, vocab) outputs, padding masks, top-k caches per token."""

import keras
import numpy as np

import keras_distill

VOCAB, TIME = 12, 7


def sequence_model(width, name):
    inputs = keras.Input((TIME,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, width, mask_zero=True)(inputs)
    x = keras.layers.Dense(width, activation="tanh")(x)
    return keras.Model(inputs, keras.layers.Dense(VOCAB, name="logits")(x), name=name)


def tokens(n=16, seed=0):
    """Token ids 1..VOCAB-1, each sequence padded with 0 after a random length."""
    rng = np.random.default_rng(seed)
    x = rng.integers(1, VOCAB, size=(n, TIME)).astype("int32")
    lengths = rng.integers(2, TIME + 1, size=n)
    x[np.arange(TIME)[None, :] >= lengths[:, None]] = 0
    y = np.roll(x, -1, axis=1)
    return x, y


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def reference_kd(teacher_logits, student_logits, valid, temperature, weights=None):
    """Mean over valid tokens (optionally weighted) of T² KL(p_t || p_s)."""
    log_p = _log_softmax(teacher_logits / temperature)
    log_q = _log_softmax(student_logits / temperature)
    kl = (np.exp(log_p) * (log_p - log_q)).sum(-1) * temperature**2
    w = valid.astype(np.float64) * (valid.size / valid.sum())
    if weights is not None:
        w = w * weights
    return (kl * w).mean()


def _frozen_distiller(teacher, student, **compile_kwargs):
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.0),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return distiller


def test_per_token_kd_averages_over_valid_tokens_only():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens()
    distiller = _frozen_distiller(teacher, student, alpha=0.0, temperature=2.0)
    logs = distiller.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False).history
    t = np.asarray(keras.ops.convert_to_numpy(teacher(x)), np.float64)
    s = np.asarray(keras.ops.convert_to_numpy(student(x)), np.float64)
    expected = reference_kd(t, s, x != 0, 2.0)
    np.testing.assert_allclose(logs["distillation_loss"][0], expected, rtol=1e-5)
    # Control: counting padded tokens too gives a different value.
    assert abs(reference_kd(t, s, np.ones_like(x, bool), 2.0) - expected) > 0.03 * expected


def test_per_token_sample_weights_combine_with_the_mask():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(seed=1)
    w = np.random.default_rng(2).uniform(0.0, 2.0, size=x.shape).astype("float32")
    distiller = _frozen_distiller(teacher, student, alpha=0.0, temperature=1.0)
    logs = distiller.fit(
        x, y, sample_weight=w, batch_size=len(x), epochs=1, verbose=0, shuffle=False
    ).history
    t = np.asarray(keras.ops.convert_to_numpy(teacher(x)), np.float64)
    s = np.asarray(keras.ops.convert_to_numpy(student(x)), np.float64)
    expected = reference_kd(t, s, x != 0, 1.0, weights=w)
    np.testing.assert_allclose(logs["distillation_loss"][0], expected, rtol=1e-5)


def test_top_k_cache_per_token_is_smaller_and_exact_at_full_k():
    teacher, student = sequence_model(16, "t"), sequence_model(4, "s")
    x, y = tokens(n=32, seed=3)
    dense = keras_distill.TeacherCache.compute(teacher, x)
    top3 = keras_distill.TeacherCache.compute(teacher, x, top_k=3)
    full = keras_distill.TeacherCache.compute(teacher, x, top_k=VOCAB)
    assert dense.dense_logits().shape == (32, TIME, VOCAB)
    # Memory per token: k log-probabilities, k ids and one tail mass, whatever the vocabulary.
    assert top3.nbytes == 32 * TIME * (3 * 4 + 3 * 4 + 4)
    assert dense.nbytes == 32 * TIME * VOCAB * 4
    np.testing.assert_allclose(
        full.dense_logits(), _log_softmax(dense.dense_logits().astype(np.float64)), atol=1e-5
    )
    # The top-3 probabilities of every token are kept exactly.
    p = np.exp(_log_softmax(dense.dense_logits().astype(np.float64)))
    q = np.exp(_log_softmax(top3.dense_logits().astype(np.float64)))
    top = np.argsort(-p, axis=-1)[..., :3]
    np.testing.assert_allclose(
        np.take_along_axis(q, top, -1), np.take_along_axis(p, top, -1), rtol=1e-4
    )
    losses = {}
    for name, cache in (("online", None), ("full", full)):
        distiller = _frozen_distiller(teacher, student, alpha=0.0, temperature=2.0)
        inputs = x if cache is None else cache.inputs(x)
        history = distiller.fit(inputs, y, batch_size=32, epochs=1, verbose=0, shuffle=False)
        losses[name] = history.history["distillation_loss"][0]
    # The cache stores float32 log-probabilities, each rounded by ~1e-7 * |log p|: on this
    # tiny loss (5e-4) that is the difference left.
    np.testing.assert_allclose(losses["full"], losses["online"], rtol=1e-5, atol=1e-6)

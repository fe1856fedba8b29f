"""quantize_and_distill and fake quantization: the trained grid is the deployed grid, on every backend."""

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.optimize.fake_quantization import fake_quantization
from tests import optimize_testing as ot
from tests.testing import to_numpy

SCHEMES = [("int8", 128), ("int4", 128), ("int4", None), ("int4", 8)]


def _mixed_model(seed=0):
    """Dense and EinsumDense layers; 20 input rows so int4 groups of 8 need padding."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((3, 20))
    h = keras.layers.EinsumDense("abc,cde->abde", (3, 2, 6), bias_axes="de", activation="relu")(inputs)
    h = keras.layers.Reshape((3, 12))(h)
    h = keras.layers.EinsumDense("abc,cd->abd", (3, 16), bias_axes="d", activation="relu")(h)
    h = keras.layers.Flatten()(h)
    return keras.Model(inputs, keras.layers.Dense(5)(h))


@pytest.mark.parametrize("mode, block_size", SCHEMES)
def test_fake_quantized_forward_equals_native_quantization(mode, block_size):
    model = _mixed_model()
    x = np.random.default_rng(1).normal(size=(7, 3, 20)).astype("float32")
    float_out = to_numpy(model(x))
    with fake_quantization(model, mode, block_size) as layers:
        simulated = to_numpy(model(x))
    assert len(layers) == 3
    # The block restores every layer's own call.
    np.testing.assert_array_equal(to_numpy(model(x)), float_out)
    names = kd.optimize.quantize_weights(model, mode, block_size)
    assert sorted(names) == sorted(layer.name for layer in layers)
    assert all(model.get_layer(name).quantization_mode == mode for name in names)
    native = to_numpy(model(x))
    np.testing.assert_allclose(simulated, native, atol=1e-5)
    # Quantization did change the outputs, so the match above is not trivial.
    assert np.max(np.abs(native - float_out)) > 1e-3


def _embedding_model(kind, seed=0):
    """Token ids -> an embedding (24 entries per token, so int4 groups of 16 need padding)
    -> logits over the vocabulary through the table itself (tied), its own kernel, or a Dense."""
    keras.utils.set_random_seed(seed)
    tokens = keras.Input((5,), dtype="int32")
    unit = keras.initializers.RandomNormal(stddev=1.0)
    if kind == "embedding":
        h = keras.layers.Embedding(40, 24, embeddings_initializer=unit, name="table")(tokens)
        return keras.Model(tokens, keras.layers.Dense(40, name="head")(h))
    table = keras.layers.ReversibleEmbedding(
        40, 24, tie_weights=kind == "tied", embeddings_initializer=unit, name="table"
    )
    h = keras.layers.Dense(24, activation="tanh", name="mix")(table(tokens))
    return keras.Model(tokens, table(h, reverse=True))


@pytest.mark.parametrize("mode, block_size", [("int8", 128), ("int4", None), ("int4", 16)])
@pytest.mark.parametrize("kind", ["embedding", "tied", "untied"])
def test_fake_quantized_embeddings_equal_native_quantization(kind, mode, block_size):
    model = _embedding_model(kind)
    tokens = np.random.default_rng(1).integers(0, 40, (6, 5)).astype("int32")
    float_out = to_numpy(model(tokens))
    with fake_quantization(model, mode, block_size, embeddings=True) as layers:
        simulated = to_numpy(model(tokens))
    assert {layer.name for layer in layers} == {"table", "head" if kind == "embedding" else "mix"}
    np.testing.assert_array_equal(to_numpy(model(tokens)), float_out)
    names = kd.optimize.quantize_weights(model, mode, block_size, embeddings=True)
    assert model.get_layer("table").quantization_mode == mode and "table" in names
    native = to_numpy(model(tokens))
    scale = np.max(np.abs(float_out))
    np.testing.assert_allclose(simulated, native, atol=1e-5 * scale)
    assert np.max(np.abs(native - float_out)) > 1e-3 * scale


def test_embeddings_stay_float_unless_asked():
    model = _embedding_model("tied")
    assert kd.optimize.quantize_weights(model, "int4") == ["mix"]
    assert model.get_layer("table").quantization_mode is None
    with pytest.raises(ValueError, match="`embeddings=True` needs `mode` in"):
        kd.optimize.quantize_weights(_embedding_model("tied"), "float8", embeddings=True)
    with pytest.raises(ValueError, match="`embeddings` must be True or False"):
        kd.optimize.quantize_weights(_embedding_model("tied"), "int4", embeddings="yes")
    with pytest.raises(ValueError, match="no Dense, EinsumDense or Embedding layer"):
        kd.optimize.quantize_weights(_embedding_model("tied"), "int4", filters="nothing", embeddings=True)


def test_fake_quantization_passes_gradients_straight_through():
    model = _mixed_model()
    x = np.ones((2, 3, 20), "float32")
    with fake_quantization(model, "int4", None):
        if keras.config.backend() == "tensorflow":
            import tensorflow as tf

            with tf.GradientTape() as tape:
                loss = keras.ops.sum(model(x))
            grads = tape.gradient(loss, model.trainable_variables)
        elif keras.config.backend() == "jax":
            import jax

            values = [v.value for v in model.trainable_variables]

            def loss_fn(values):
                out, _ = model.stateless_call(values, [v.value for v in model.non_trainable_variables], x)
                return keras.ops.sum(out)

            grads = jax.grad(loss_fn)(values)
        else:
            loss = keras.ops.sum(model(x))
            loss.backward()
            grads = [v.value.grad for v in model.trainable_variables]
    assert all(g is not None and np.any(to_numpy(g) != 0) for g in grads)


def _distiller(teacher, student, learning_rate, alpha=0.1):
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=alpha,
        temperature=3.0,
    )
    return distiller


class _FloatWeights(keras.callbacks.Callback):
    def on_train_end(self, logs=None):
        self.weights = [np.array(w) for w in self.model.student.get_weights()]


@pytest.fixture(scope="module")
def trained():
    """A float student distilled from a sharp teacher: the start of QAD."""
    keras.utils.set_random_seed(0)
    x, y = ot.data(512)
    teacher = ot.teacher(sharp=True)
    student = ot.student(hidden=24)
    _distiller(teacher, student, 1e-2).fit(x, y, epochs=15, batch_size=64, verbose=0)
    return x, y, teacher, student.get_weights()


def _student(weights):
    student = ot.student(hidden=24)
    student.set_weights(weights)
    return student


def _logit_error(model, teacher, x):
    """The distillation loss the student minimises: T^2 KL at T = 3, against the teacher."""
    return float(np.mean(to_numpy(kd.losses.kd_loss(teacher(x), model(x), 3.0))))


@pytest.mark.parametrize("mode", ["int8", "int4"])
def test_quantized_student_is_the_trained_grid(trained, mode):
    x, y, teacher, weights = trained
    student = _student(weights)
    distiller = _distiller(teacher, student, 1e-3)
    recorder = _FloatWeights()
    kd.optimize.quantize_and_distill(
        distiller, x, y, mode=mode, block_size=None, epochs=2, batch_size=64, callbacks=[recorder], verbose=0
    )
    assert [layer.quantization_mode for layer in student.layers] == [mode, None, mode]
    # Training moved the float kernels, then the student was quantized from them.
    assert np.max(np.abs(recorder.weights[0] - weights[0])) > 1e-4
    fresh = _student(recorder.weights)
    kd.optimize.quantize_weights(fresh, mode, None)
    np.testing.assert_allclose(to_numpy(student(x)), to_numpy(fresh(x)), atol=1e-5)


def test_qad_trains_a_tied_embedding_on_its_grid():
    """QAD with `embeddings=True`: the tied table learns through its int4 round trip and
    the deployed student computes exactly what it trained as."""
    teacher = _embedding_model("untied", seed=1)
    student = _embedding_model("tied")
    tokens = np.random.default_rng(0).integers(0, 40, (64, 5)).astype("int32")
    labels = np.roll(tokens, 1, axis=1)
    start = [np.array(w) for w in student.get_weights()]
    distiller = _distiller(teacher, student, 1e-2)
    recorder = _FloatWeights()
    kd.optimize.quantize_and_distill(
        distiller, tokens, labels, mode="int4", block_size=16, embeddings=True,
        epochs=2, batch_size=16, callbacks=[recorder], verbose=0,
    )
    assert {layer.name: layer.quantization_mode for layer in student.layers[1:]} == {
        "table": "int4", "mix": "int4"
    }
    assert np.max(np.abs(recorder.weights[0] - start[0])) > 1e-4  # the table itself trained
    fresh = _embedding_model("tied")
    fresh.set_weights(recorder.weights)
    kd.optimize.quantize_weights(fresh, "int4", 16, embeddings=True)
    np.testing.assert_allclose(to_numpy(student(tokens)), to_numpy(fresh(tokens)), atol=1e-4)


def test_qad_beats_post_training_int4(trained):
    """A float student that matches its teacher exactly: int4 PTQ loses, QAD wins most of it back."""
    x, y, teacher, _ = trained
    float_student = keras.models.clone_model(teacher)
    float_student.set_weights(teacher.get_weights())
    ptq = keras.models.clone_model(teacher)
    ptq.set_weights(teacher.get_weights())
    kd.optimize.quantize_weights(ptq, "int4", None)
    student = keras.models.clone_model(teacher)
    student.set_weights(teacher.get_weights())
    distiller = _distiller(teacher, student, 3e-4, alpha=0.0)  # the labels are random
    kd.optimize.quantize_and_distill(
        distiller, x, y, mode="int4", block_size=None, epochs=8, batch_size=64, verbose=0
    )
    assert _logit_error(float_student, teacher, x) < 1e-6
    ptq_error = _logit_error(ptq, teacher, x)
    qad_error = _logit_error(student, teacher, x)
    assert ptq_error > 1e-2  # int4 rounding hurts this student
    assert qad_error < 0.7 * ptq_error, (ptq_error, qad_error)


def test_quantized_student_saves_and_loads(trained, tmp_path):
    x, y, teacher, weights = trained
    student = _student(weights)
    kd.optimize.quantize_and_distill(
        _distiller(teacher, student, 1e-3), x, y, mode="int4", epochs=1, verbose=0
    )
    student.save(tmp_path / "student.keras")
    loaded = keras.models.load_model(tmp_path / "student.keras")
    assert loaded.layers[0].quantization_mode == "int4"
    np.testing.assert_allclose(to_numpy(loaded(x[:32])), to_numpy(student(x[:32])), atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"mode": "int2"}, ValueError, "`mode` must be one of"),
        ({"mode": "int4", "block_size": 0}, ValueError, "`block_size` must be"),
        ({"mode": "int4", "block_size": 2.5}, ValueError, "`block_size` must be"),
        ({"filters": "no_such_layer"}, ValueError, "no Dense or EinsumDense layer"),
        ({"mode": "float8", "embeddings": True}, ValueError, "`embeddings=True` needs"),
    ],
)
def test_bad_arguments_fail_before_training(trained, kwargs, error, match):
    x, y, teacher, weights = trained
    student = _student(weights)
    distiller = _distiller(teacher, student, 1e-3)
    with pytest.raises(error, match=match):
        kd.optimize.quantize_and_distill(distiller, x, y, epochs=1, verbose=0, **kwargs)
    np.testing.assert_array_equal(student.get_weights()[0], weights[0])
    assert student.layers[0].quantization_mode is None


def test_rejects_other_objects_and_quantized_students(trained):
    x, y, teacher, weights = trained
    with pytest.raises(TypeError, match="`distiller` must be a compiled"):
        kd.optimize.quantize_and_distill(_student(weights), x, y)
    uncompiled = kd.Distiller(teacher=teacher, student=_student(weights))
    with pytest.raises(ValueError, match="must be compiled"):
        kd.optimize.quantize_and_distill(uncompiled, x, y)
    student = _student(weights)
    student.quantize("int8")
    with pytest.raises(ValueError, match="quantized: int8"):
        kd.optimize.quantize_and_distill(_distiller(teacher, student, 1e-3), x, y)


@pytest.mark.slow  # trains for over 8 s; CI's slow leg runs it
def test_keras_hub_gpt2_quantizes_attention_and_feed_forward():
    """keras-hub GPT-2: its EinsumDense and Dense layers train on the int4 grid; embeddings stay float."""
    pytest.importorskip("keras_hub")
    from tests import language_testing

    keras.utils.set_random_seed(0)
    teacher, student = language_testing.pair("gpt2")
    teacher.preprocessor = student.preprocessor = None
    tokens = np.random.default_rng(0).integers(1, 100, (8, language_testing.SEQUENCE_LENGTH)).astype("int32")
    x = {"token_ids": tokens, "padding_mask": np.ones_like(tokens, dtype="bool")}
    y = np.roll(tokens, -1, axis=1)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    start = [np.array(w) for w in student.get_weights()]
    recorder = _FloatWeights()
    kd.optimize.quantize_and_distill(
        distiller, x, y, mode="int4", epochs=2, batch_size=4, callbacks=[recorder], verbose=0
    )
    quantized = {layer.name for layer in student._flatten_layers() if layer.quantization_mode == "int4"}
    assert quantized == {
        "query",
        "key",
        "value",
        "attention_output",
        "feedforward_intermediate_dense",
        "feedforward_output_dense",
    }
    assert student.backbone.token_embedding.quantization_mode is None
    assert student.backbone.position_embedding.quantization_mode is None
    assert max(np.max(np.abs(a - b)) for a, b in zip(recorder.weights, start)) > 1e-4
    fresh = language_testing.gpt2_lm(language_testing.gpt2_tokenizer(), layers=1, width=16)
    fresh.preprocessor = None
    fresh.set_weights(recorder.weights)
    kd.optimize.quantize_weights(fresh, "int4")
    np.testing.assert_allclose(to_numpy(student(x)), to_numpy(fresh(x)), atol=1e-5)


def test_keras_hub_gpt2_token_embedding_quantizes_on_the_trained_grid():
    """keras-hub's ReversibleEmbedding subclass runs as Keras's: with `embeddings=True` the GPT-2
    token table (also its tied output projection) is simulated exactly as `quantize` stores it."""
    pytest.importorskip("keras_hub")
    from tests import language_testing

    keras.utils.set_random_seed(0)
    model = language_testing.gpt2_lm(language_testing.gpt2_tokenizer(), layers=1, width=16)
    model.preprocessor = None
    tokens = np.random.default_rng(0).integers(1, 100, (2, language_testing.SEQUENCE_LENGTH)).astype("int32")
    x = {"token_ids": tokens, "padding_mask": np.ones_like(tokens, dtype="bool")}
    float_out = to_numpy(model(x))
    with fake_quantization(model, "int4", None, embeddings=True) as layers:
        simulated = to_numpy(model(x))
    assert "token_embedding" in {layer.name for layer in layers}
    kd.optimize.quantize_weights(model, "int4", None, embeddings=True)
    assert model.backbone.token_embedding.quantization_mode == "int4"
    assert model.backbone.position_embedding.quantization_mode is None
    native = to_numpy(model(x))
    np.testing.assert_allclose(simulated, native, atol=1e-4)
    assert np.max(np.abs(native - float_out)) > 1e-3

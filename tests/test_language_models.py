"""keras-hub causal language models as teacher and student: text, masks, saving, LoRA, generation."""

import os
import pathlib
import subprocess
import sys

import keras
import keras_hub
import numpy as np
import pytest

import keras_distill
from tests import language_testing

ROOT = pathlib.Path(__file__).resolve().parents[1]
# Lines of 6 to 41 characters: some fill the 16 tokens, some are padded.
TEXTS = [line[: 6 + 5 * (i % 8)] for i, line in enumerate(language_testing.corpus()[:16])]


def _distiller(teacher, student, learning_rate=0.0, **compile_kwargs):
    distiller = keras_distill.Distiller(teacher, student)
    compile_kwargs.setdefault("alpha", 0.5)
    compile_kwargs.setdefault("temperature", 2.0)
    distiller.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        **compile_kwargs,
    )
    return distiller


def _numpy(tree):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), tree)


def _log_softmax(z):
    z = z - z.max(-1, keepdims=True)
    return z - np.log(np.exp(z).sum(-1, keepdims=True))


def _weights(model):
    return {v.path: np.array(keras.ops.convert_to_numpy(v.value)) for v in model.weights}


# GPT-2's compile takes over 20 s on JAX on a shared CPU; Gemma's runs in every quick run.
@pytest.mark.parametrize("family", [pytest.param("gpt2", marks=pytest.mark.slow), "gemma"])
def test_raw_text_goes_through_the_students_preprocessor(family):
    teacher, student = language_testing.pair(family)
    x, y, w = _numpy(student.preprocessor(TEXTS))
    assert 0 < w.sum() < w.size  # the batch has padding
    distiller = _distiller(teacher, student)  # learning rate 0: both fits see the same models
    on_text = distiller.fit(TEXTS, batch_size=len(TEXTS), shuffle=False, verbose=0).history
    on_ids = distiller.fit(
        x, y, sample_weight=w, batch_size=len(TEXTS), shuffle=False, verbose=0
    ).history
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(on_text[key], on_ids[key], rtol=1e-6)
    # The distillation term: T^2 KL(teacher || student) on the valid tokens only,
    # normalised as the hard-label loss is (Keras: over all positions).
    t = _log_softmax(_numpy(teacher(x)).astype(np.float64) / 2.0)
    s = _log_softmax(_numpy(student(x)).astype(np.float64) / 2.0)
    kl = (np.exp(t) * (t - s)).sum(-1) * 4.0
    np.testing.assert_allclose(on_text["distillation_loss"][0], (kl * w).mean(), rtol=1e-4)
    evaluated = distiller.evaluate(TEXTS, verbose=0, return_dict=True)
    np.testing.assert_allclose(evaluated["student_loss"], on_text["student_loss"][0], rtol=1e-5)


def test_padding_positions_carry_no_loss():
    teacher, student = language_testing.pair("gemma")
    x, y, w = _numpy(student.preprocessor(TEXTS))
    start = _weights(student)
    padded = ~w.astype(bool)
    rng = np.random.default_rng(0)
    other_x = dict(x, token_ids=np.where(
        padded, rng.integers(4, 100, size=y.shape), x["token_ids"]).astype("int32"))
    other_y = np.where(padded, rng.integers(4, 100, size=y.shape), y).astype("int32")

    def one_step(inputs, labels, weights):
        student.set_weights([start[v.path] for v in student.weights])
        distiller = _distiller(teacher, student, learning_rate=0.5)
        logs = distiller.fit(inputs, labels, sample_weight=weights,
                             batch_size=len(y), shuffle=False, verbose=0).history
        return logs, _weights(student)

    logs, after = one_step(x, y, w)
    other_logs, other_after = one_step(other_x, other_y, w)
    for key in ("loss", "distillation_loss"):
        np.testing.assert_allclose(other_logs[key], logs[key], rtol=1e-6)
    for path, value in after.items():
        np.testing.assert_allclose(other_after[path], value, rtol=1e-5, atol=1e-7)
    assert any(not np.array_equal(after[p], start[p]) for p in start)  # it trained
    # Control: without the mask, the changed padding changes the loss.
    unmasked = one_step(other_x, other_y, np.ones_like(w))[0]
    assert abs(unmasked["distillation_loss"][0] - logs["distillation_loss"][0]) > 1e-4


def test_a_different_vocabulary_is_refused_naming_both_sizes():
    teacher = language_testing.gemma_lm(language_testing.gemma_tokenizer())
    other = keras_hub.models.GemmaTokenizer(proto=language_testing.sentence_piece_proto(120))
    student = language_testing.gemma_lm(other)
    with pytest.raises(ValueError, match=r"160 tokens and the student over 120"):
        keras_distill.Distiller(teacher, student)


def test_a_different_tokenizer_of_the_same_size_is_refused():
    vocabulary, merges = language_testing.gpt2_tokenizer_assets()
    swapped = dict(vocabulary)
    swapped["a"], swapped["b"] = vocabulary["b"], vocabulary["a"]
    teacher = language_testing.gpt2_lm(language_testing.gpt2_tokenizer())
    student = language_testing.gpt2_lm(
        keras_hub.models.GPT2Tokenizer(vocabulary=swapped, merges=merges)
    )
    with pytest.raises(ValueError, match=f"differ from token id {min(vocabulary['a'], vocabulary['b'])}"):
        keras_distill.Distiller(teacher, student)


def test_text_needs_a_student_preprocessor():
    teacher, student = language_testing.pair("gemma")
    student.preprocessor = None
    with pytest.raises(ValueError, match="student has no preprocessor"):
        _distiller(teacher, student).fit(TEXTS, verbose=0)


@pytest.mark.slow
def test_keras_round_trip_continues_training_and_generates(tmp_path):
    teacher, student = language_testing.pair("gemma")
    distiller = _distiller(teacher, student, learning_rate=0.1)
    distiller.fit(TEXTS, batch_size=8, epochs=2, verbose=0)
    distiller.save(tmp_path / "distiller.keras")
    loaded = keras.models.load_model(tmp_path / "distiller.keras")
    x, _, _ = student.preprocessor(TEXTS)
    np.testing.assert_allclose(_numpy(loaded.student(x)), _numpy(student(x)), atol=1e-6)
    assert int(loaded.optimizer.iterations) == int(distiller.optimizer.iterations) == 4
    before = _weights(loaded.student)
    loaded.fit(TEXTS, batch_size=8, verbose=0)
    assert int(loaded.optimizer.iterations) == 6
    assert any(not np.array_equal(before[p], v) for p, v in _weights(loaded.student).items())
    generated = loaded.generate(["The parser"], max_length=8)
    assert isinstance(generated[0], str) and generated[0].startswith("The parser")


def test_generate_delegates_to_the_student():
    teacher, student = language_testing.pair("gemma")
    distiller = _distiller(teacher, student, learning_rate=0.5)
    distiller.fit(TEXTS, batch_size=8, verbose=0)
    student.compile(sampler="greedy")
    prompt = ["The parser", "Encoding"]
    assert distiller.generate(prompt, max_length=10) == student.generate(prompt, max_length=10)


def test_generate_needs_a_generating_student():
    inputs = keras.Input((4,))
    teacher = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    student = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(TypeError, match="student that generates text"):
        keras_distill.Distiller(teacher, student).generate("text")


def _lora_factors(model):
    return [v for v in model.weights if v.path.endswith(("lora_kernel_a", "lora_kernel_b"))]


def test_plain_enable_lora_still_trains_gpt2_biases():
    # Why `lora_student` exists: keras-hub freezes the adapted kernels, not their biases.
    teacher, student = language_testing.pair("gpt2")
    student.backbone.enable_lora(2)
    trainable = {v.path for v in student.trainable_weights}
    assert {v.path for v in _lora_factors(student)} < trainable
    assert any(path.endswith("bias") for path in trainable)


def test_lora_student_trains_only_the_lora_factors():
    teacher, student = language_testing.pair("gpt2")
    keras_distill.language.lora_student(student, rank=2)
    factors = {v.path for v in _lora_factors(student)}
    assert factors and {v.path for v in student.trainable_weights} == factors
    before = _weights(student)
    distiller = _distiller(teacher, student, learning_rate=0.5)
    distiller.fit(TEXTS, batch_size=8, epochs=2, verbose=0)
    after = _weights(student)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    assert changed and changed <= factors
    assert any(p.endswith("lora_kernel_b") for p in changed)


@pytest.mark.slow  # trains for over 8 s; CI's slow leg runs it
def test_lora_student_survives_a_keras_round_trip(tmp_path):
    teacher, student = language_testing.pair("gpt2")
    keras_distill.language.lora_student(student, rank=2)
    distiller = _distiller(teacher, student, learning_rate=0.5)
    distiller.fit(TEXTS, batch_size=8, verbose=0)
    distiller.save(tmp_path / "lora.keras")
    loaded = keras.models.load_model(tmp_path / "lora.keras")
    x, _, _ = student.preprocessor(TEXTS)
    # Keras writes the kernels merged with their adapters: the same function.
    np.testing.assert_allclose(_numpy(loaded.student(x)), _numpy(student(x)), atol=1e-5)
    factors = {v.path for v in _lora_factors(loaded.student)}
    assert factors and {v.path for v in loaded.student.trainable_weights} == factors
    before = _weights(loaded.student)
    loaded.fit(TEXTS, batch_size=8, verbose=0)
    after = _weights(loaded.student)
    changed = {p for p in before if not np.array_equal(before[p], after[p])}
    # The adapters train again (new A factors drawn over the merged kernel); nothing else moves.
    assert changed and changed <= factors


def test_lora_student_checks_its_arguments():
    inputs = keras.Input((4,))
    with pytest.raises(TypeError, match="keras_hub.models.CausalLM"):
        keras_distill.language.lora_student(keras.Model(inputs, inputs), rank=2)
    _, student = language_testing.pair("gemma")
    with pytest.raises(ValueError, match="rank"):
        keras_distill.language.lora_student(student, rank=0)


@pytest.mark.slow
def test_import_keras_distill_does_not_import_keras_hub():
    code = "import sys, keras_distill; assert 'keras_hub' not in sys.modules, 'imported'"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]

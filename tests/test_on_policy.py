"""On-policy distillation (GKD) of keras-hub causal language models."""

import os

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.language import OnPolicyDistiller
from tests import language_testing

TEXTS = [line[: 6 + 5 * (i % 8)] for i, line in enumerate(language_testing.corpus()[:16])]


def _numpy(tree):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), tree)


def _compiled(distiller, learning_rate=0.1):
    distiller.compile(
        optimizer=keras.optimizers.SGD(learning_rate),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn="jsd",
        alpha=0.3,
        temperature=1.0,
    )
    return distiller


def _weights(model):
    return [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.weights]


def test_lambda_zero_is_token_distillation_exactly():
    teacher, student = language_testing.pair("gemma")
    start = _weights(student)
    plain = _compiled(keras_distill.Distiller(teacher, student))
    plain_logs = plain.fit(TEXTS, batch_size=8, shuffle=False, verbose=0).history
    plain_after = _weights(student)
    student.set_weights(start)
    on_policy = _compiled(OnPolicyDistiller(teacher, student, on_policy_fraction=0.0))
    logs = on_policy.fit(TEXTS, batch_size=8, shuffle=False, verbose=0).history
    for key in ("loss", "student_loss", "distillation_loss"):
        np.testing.assert_allclose(logs[key], plain_logs[key], rtol=1e-6)
    for value, expected in zip(_weights(student), plain_after):
        np.testing.assert_allclose(value, expected, rtol=1e-6, atol=1e-7)
    assert any(not np.array_equal(a, b) for a, b in zip(plain_after, start))  # it trained
    assert logs["on_policy_batches"] == [0]


def _on_policy_batch(prompt_length=3, max_new_tokens=6):
    teacher, student = language_testing.pair("gemma")
    distiller = _compiled(OnPolicyDistiller(
        teacher, student, on_policy_fraction=1.0, prompt_length=prompt_length,
        max_new_tokens=max_new_tokens, sampler="greedy",
    ))
    x, _, w = _numpy(student.preprocessor(TEXTS[:8]))
    return distiller, x, w, distiller.samples.batch(x, None, w)


def test_lambda_one_samples_the_students_continuation_after_the_prompt():
    distiller, x, w, (new_x, new_y, new_w) = _on_policy_batch(prompt_length=3, max_new_tokens=6)
    ids, mask = new_x["token_ids"], new_x["padding_mask"].astype(bool)
    np.testing.assert_array_equal(ids[:, :3], x["token_ids"][:, :3])  # the prompts stay
    assert not mask[:, 9:].any()  # at most 6 new tokens
    np.testing.assert_array_equal(new_y[:, :-1], ids[:, 1:])  # next-token labels
    # Weights: exactly the positions that predict a generated token.
    expected = np.zeros_like(mask)
    expected[:, 2:-1] = mask[:, 3:]
    np.testing.assert_array_equal(new_w.astype(bool), expected)
    assert expected.sum() > 0
    # Greedy: the student's own most likely next token at every generated position.
    logits = _numpy(distiller.student(new_x))
    predicted = logits.argmax(-1)
    np.testing.assert_array_equal(predicted[expected], new_y[expected])


def test_lambda_one_loss_ignores_the_teacher_at_prompt_and_padding():
    distiller, _, _, (new_x, new_y, new_w) = _on_policy_batch()
    student_outputs = distiller.student(new_x)
    teacher_logits = distiller.teacher_logits(new_x)
    masked = ~new_w.astype(bool)
    noise = np.random.default_rng(0).normal(0, 5, teacher_logits.shape).astype("float32")

    def distillation_loss(logits):
        return float(distiller.compute_distillation_loss(
            new_y, student_outputs, logits, sample_weight=new_w)[2])

    base = distillation_loss(teacher_logits)
    at_prompt = np.where(masked[..., None], noise, _numpy(teacher_logits))
    np.testing.assert_allclose(distillation_loss(at_prompt), base, rtol=1e-6)
    at_generated = np.where(masked[..., None], _numpy(teacher_logits), noise)
    assert abs(distillation_loss(at_generated) - base) > 1e-3


def test_fit_logs_the_generation_cost_per_epoch():
    teacher, student = language_testing.pair("gemma")
    distiller = _compiled(OnPolicyDistiller(
        teacher, student, on_policy_fraction=1.0, max_new_tokens=4, seed=1
    ))
    logs = distiller.fit(TEXTS, batch_size=8, epochs=2, verbose=0).history
    assert logs["on_policy_batches"] == [2, 2]
    assert all(seconds > 0 for seconds in logs["generation_seconds"])
    assert np.isfinite(logs["distillation_loss"]).all()


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"on_policy_fraction": 1.5}, "on_policy_fraction"),
        ({"prompt_length": 0}, "prompt_length"),
        ({"max_new_tokens": 2.5}, "max_new_tokens"),
        ({"sampling_temperature": 0.0}, "sampling_temperature"),
        ({"sampler": "beam"}, "sampler"),
    ],
)
def test_sampling_settings_are_checked(settings, message):
    teacher, student = language_testing.pair("gemma")
    with pytest.raises(ValueError, match=message):
        OnPolicyDistiller(teacher, student, **settings)


def test_the_student_must_generate():
    teacher, _ = language_testing.pair("gemma")
    student = keras.Sequential([keras.Input((16,)), keras.layers.Dense(160)])
    with pytest.raises(TypeError, match="CausalLM"):
        OnPolicyDistiller(teacher, student)


def test_config_keeps_the_sampling_settings():
    teacher, student = language_testing.pair("gemma")
    distiller = OnPolicyDistiller(
        teacher, student, on_policy_fraction=0.25, prompt_length=2, max_new_tokens=5,
        sampler={"class_name": "top_k", "config": {"k": 7}}, sampling_temperature=0.7,
    )
    restored = OnPolicyDistiller.from_config(distiller.get_config())
    for name in ("on_policy_fraction", "prompt_length", "max_new_tokens", "sampler",
                 "sampling_temperature"):
        assert getattr(restored, name) == getattr(distiller, name)
    assert restored.samples.sampler.k == 7
    assert restored.samples.sampler.temperature == 0.7


# Generation, a rebuild and a fit: about 40 s on JAX on a shared CPU.
@pytest.mark.slow
def test_teacher_sequences_resume_and_refuse_another_teacher(tmp_path):
    from keras_distill.errors import StaleCacheError
    from keras_distill.language import TeacherSequences

    teacher, student = language_testing.pair("gemma")
    prompts = [text[:8] for text in TEXTS[:6]]
    folder = tmp_path / "sequences"
    sequences = TeacherSequences.build(teacher, prompts, folder, shard_size=4, batch_size=3,
                                       max_length=12)
    texts = sequences.texts()
    teacher.compile(sampler="greedy")
    assert texts == list(teacher.generate(prompts, max_length=12))  # greedy: the teacher's own
    assert all(text.startswith(prompt) for text, prompt in zip(texts, prompts))
    # An interrupted build resumes: only the missing shard is generated again.
    os.remove(folder / "shard-00001.npz")
    calls = []
    generate = teacher.generate
    teacher.generate = lambda *args, **kwargs: calls.append(args) or generate(*args, **kwargs)
    with pytest.raises(FileNotFoundError, match="1 of 2 shards are missing"):
        TeacherSequences.open(folder)
    TeacherSequences.build(teacher, prompts, folder, shard_size=4, batch_size=3, max_length=12)
    assert [len(args[0]) for args in calls] == [2]
    assert TeacherSequences.open(folder, teacher=teacher).texts() == texts
    with pytest.raises(StaleCacheError, match="another teacher"):
        TeacherSequences.open(folder, teacher=student)
    with pytest.raises(StaleCacheError, match="teacher"):
        TeacherSequences.build(student, prompts, folder, shard_size=4, max_length=12)
    # Sequence-level KD: the student learns the teacher's sequences.
    distiller = _compiled(keras_distill.Distiller(teacher, student))
    logs = distiller.fit(texts, batch_size=3, verbose=0).history
    assert np.isfinite(logs["loss"]).all()

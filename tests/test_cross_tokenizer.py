"""ULD (a teacher LM with another tokenizer): the loss, the text alignment, the aligned teacher."""

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.core.argument_validation import check_compatible_shapes
from keras_distill.core.token_masks import UNALIGNED_LOGIT
from keras_distill.errors import InvalidDataError
from keras_distill.teachers import align_positions
from keras_distill.teachers import token_ends
from keras_distill.teachers import token_pieces

keras_hub = pytest.importorskip("keras_hub")
from tests import language_testing  # noqa: E402


class Characters:
    """A character tokenizer in plain Python (ASCII)."""

    def vocabulary_size(self):
        return 128

    def tokenize(self, text):
        return [ord(c) for c in text]

    def detokenize(self, ids):
        return "".join(chr(i) for i in ids)


def _softmax(z):
    z = z - z.max(-1, keepdims=True)
    return np.exp(z) / np.exp(z).sum(-1, keepdims=True)


def _uld_reference(teacher, student, temperature=1.0):
    p = -np.sort(-_softmax(teacher.astype(np.float64) / temperature), -1)
    q = -np.sort(-_softmax(student.astype(np.float64) / temperature), -1)
    size = max(p.shape[-1], q.shape[-1])
    p = np.pad(p, [(0, 0)] * (p.ndim - 1) + [(0, size - p.shape[-1])])
    q = np.pad(q, [(0, 0)] * (q.ndim - 1) + [(0, size - q.shape[-1])])
    return np.abs(p - q).sum(-1)


@pytest.mark.parametrize("teacher_size,student_size,temperature", [(7, 11, 1.0), (13, 5, 2.0), (9, 9, 0.5)])
def test_uld_loss_matches_numpy_reference(teacher_size, student_size, temperature):
    rng = np.random.default_rng(0)
    teacher = rng.normal(size=(3, 4, teacher_size)).astype("float32") * 2
    student = rng.normal(size=(3, 4, student_size)).astype("float32") * 2
    values = keras.ops.convert_to_numpy(keras_distill.losses.uld_loss(teacher, student, temperature))
    np.testing.assert_allclose(values, _uld_reference(teacher, student, temperature), atol=1e-6)


def test_uld_loss_is_zero_under_a_permutation_and_pads_the_shorter_vocabulary():
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 6)).astype("float32")
    permuted = logits[:, rng.permutation(6)]
    zero = keras.ops.convert_to_numpy(keras_distill.losses.uld_loss(logits, permuted))
    np.testing.assert_allclose(zero, 0.0, atol=1e-6)
    # A student with 2 more ids of (near) zero probability: the teacher's zero padding matches them.
    padded = np.concatenate([permuted, np.full((2, 2), -1e4, "float32")], -1)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras_distill.losses.uld_loss(logits, padded)),
                               0.0, atol=1e-6)
    # One-hot teacher of 2 ids against a uniform student of 4: |1 - 1/4| + 3 * 1/4.
    one_hot = np.array([[0.0, -1e4]], "float32")
    value = keras_distill.losses.uld_loss(one_hot, np.zeros((1, 4), "float32"))
    np.testing.assert_allclose(keras.ops.convert_to_numpy(value), [1.5], atol=1e-6)


def test_unaligned_rows_and_top_k_cache():
    rng = np.random.default_rng(2)
    teacher = rng.normal(size=(2, 3, 10)).astype("float32")
    student = rng.normal(size=(2, 3, 6)).astype("float32")
    teacher[0, 1] = UNALIGNED_LOGIT
    values = keras.ops.convert_to_numpy(keras_distill.losses.uld_loss(teacher, student))
    assert values[0, 1] == 0.0 and np.all(values[1] > 0)
    # A float16 sharded cache stores the mark clipped to -65504: still no teacher there.
    clipped = np.clip(teacher, -65504, 65504).astype("float16")
    from_float16 = keras.ops.convert_to_numpy(keras_distill.losses.uld_loss(clipped, student))
    assert from_float16[0, 1] == 0.0 and np.all(from_float16[1] > 0)
    # k = the teacher's vocabulary: no tail, exactly the dense loss (the teacher zero-padded).
    teacher[0, 1] = 0.0
    full = keras_distill.losses.compress_top_k(teacher, 10)
    for temperature in (1.0, 2.0):
        dense = keras_distill.losses.uld_loss(teacher, student, temperature)
        top_k = keras_distill.losses.uld_top_k_loss(full, student, temperature)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(top_k), keras.ops.convert_to_numpy(dense),
                                   atol=1e-6)
    # k = 3: the 3 sorted probabilities, then |tail - the student's remaining mass|.
    cached = keras_distill.losses.compress_top_k(teacher, 3)
    cached = {key: keras.ops.convert_to_numpy(value) for key, value in cached.items()}
    p = np.exp(cached["log_probs"].astype(np.float64))
    q = -np.sort(-_softmax(student.astype(np.float64)), -1)
    expected = np.abs(p - q[..., :3]).sum(-1) + np.abs(cached["tail_mass"] - q[..., 3:].sum(-1))
    values = keras_distill.losses.uld_top_k_loss(cached, student)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(values), expected, atol=1e-6)


def test_a_top_k_cache_keeps_positions_without_a_teacher_out_of_every_loss():
    rng = np.random.default_rng(3)
    teacher = rng.normal(size=(2, 3, 10)).astype("float32")
    student = rng.normal(size=(2, 3, 10)).astype("float32")
    teacher[1, 2] = UNALIGNED_LOGIT
    cached = {key: keras.ops.convert_to_numpy(value)
              for key, value in keras_distill.losses.compress_top_k(teacher, 4).items()}
    # The mark survives the cache (not a uniform teacher), also clipped to float16's range.
    assert np.all(cached["log_probs"][1, 2] == np.float32(UNALIGNED_LOGIT)) and cached["tail_mass"][1, 2] == 0
    clipped = dict(cached, log_probs=np.clip(cached["log_probs"], -65504, 65504).astype("float16"))
    losses = {
        "uld": lambda c: keras_distill.losses.uld_top_k_loss(c, student, 2.0),
        "bucket": lambda c: keras_distill.losses.top_k_kl(c, student, 2.0),
        "spread": lambda c: keras_distill.losses.top_k_kl(c, student, 2.0, tail="spread"),
    }
    aligned = np.ones((2, 3), bool)
    aligned[1, 2] = False
    for name, loss in losses.items():
        for fields in (cached, clipped):
            values = keras.ops.convert_to_numpy(loss(fields))
            assert values[1, 2] == 0.0 and np.all(values[aligned] > 0.0), name
    # Elsewhere the values are those of the cache without the unaligned row.
    teacher[1, 2] = 0.0
    unmarked = keras_distill.losses.compress_top_k(teacher, 4)
    for name, loss in losses.items():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(loss(cached))[aligned],
                                   keras.ops.convert_to_numpy(loss(unmarked))[aligned], atol=1e-6,
                                   err_msg=name)


def test_uld_from_a_file_of_the_teachers_log_probabilities_matches_the_teacher_model(tmp_path):
    # A served teacher known only by a file of its per-token log-probabilities over its own
    # tokens (here every id: k = its vocabulary) teaches the student what the model does.
    tokenizer, init, char_lm, aligned, (x, y, w) = _uld_setup()
    teacher_ids, teacher_mask, _ = aligned.align(x["token_ids"], x["padding_mask"])
    log_probs = keras.ops.convert_to_numpy(keras.ops.log_softmax(
        char_lm({"token_ids": teacher_ids, "padding_mask": teacher_mask}), axis=-1))
    top_ids = np.argsort(-log_probs, axis=-1)
    path = tmp_path / "teacher_logprobs.npz"
    np.savez(path, token_ids=teacher_ids, top_ids=top_ids,
             top_logprobs=np.take_along_axis(log_probs, top_ids, -1))
    served = keras_distill.teachers.TokenLogprobTeacher(path, vocabulary_size=128, sequence_length=96)
    from_file = keras_distill.teachers.AlignedTeacher(
        served, tokenizer, Characters(), sequence_length=language_testing.SEQUENCE_LENGTH,
        teacher_sequence_length=96, teacher_start_id=0,
    )
    with pytest.raises(ValueError, match="teacher_sequence_length"):
        keras_distill.teachers.AlignedTeacher(
            served, tokenizer, Characters(), sequence_length=language_testing.SEQUENCE_LENGTH,
            teacher_sequence_length=64)
    model_outputs, file_outputs = aligned.predict(x, verbose=0), from_file.predict(x, verbose=0)
    valid = x["padding_mask"].astype(bool)
    np.testing.assert_allclose(_softmax(file_outputs[valid]), _softmax(model_outputs[valid]), atol=1e-6)
    assert np.all(file_outputs[~valid] == np.float32(UNALIGNED_LOGIT))
    students = [
        _uld_distilled(teacher, tokenizer, init, keras_distill.TeacherCache.compute(teacher, x).inputs(x),
                       y, w)[0]
        for teacher in (aligned, from_file)
    ]
    for model_taught, file_taught in zip(*students):
        np.testing.assert_allclose(file_taught, model_taught, atol=1e-5)
    assert any(not np.allclose(a, b) for a, b in zip(init, students[1]))


def test_uld_loss_serializes_and_is_found_by_name():
    loss = keras_distill.losses.ULDLoss(reduction="sum")
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(restored, keras_distill.losses.ULDLoss) and restored.reduction == "sum"
    assert isinstance(keras_distill.losses.get("uld"), keras_distill.losses.ULDLoss)


def test_align_positions_by_text():
    # "The cat sat": words (student) against characters (teacher), both after a start token at 0.
    words = [0, 3, 7, 11]
    characters = list(range(12))  # the start token, then one end per character
    np.testing.assert_array_equal(align_positions(words, characters), [0, 3, 7, 11])
    # Characters against words: only the ends of words have a counterpart.
    np.testing.assert_array_equal(
        align_positions(characters, words), [0, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 3])
    np.testing.assert_array_equal(
        align_positions(characters[:6], words, match="previous"), [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(align_positions([3, -1], [1, 3, 3, -1]), [2, -1])  # last one; padding
    with pytest.raises(ValueError, match="match"):
        align_positions(words, characters, match="nearest")
    with pytest.raises(ValueError, match="teacher_ends"):
        align_positions(words, [3, 1])


def test_token_ends_of_a_byte_pair_tokenizer_spell_the_text():
    tokenizer = language_testing.gpt2_tokenizer()
    pieces = token_pieces(tokenizer)
    text = "The parser reads the command line."
    ids = keras.ops.convert_to_numpy(tokenizer(text))
    ends, spelled = token_ends(pieces, ids)
    assert spelled == text.encode() and ends[-1] == len(text) and len(ids) < len(text)
    assert pieces[tokenizer.end_token_id] == b""  # special tokens hold no text


def _aligned(student_lm, teacher_tokenizer=None, **kwargs):
    backbone = keras_hub.models.GPT2Backbone(
        vocabulary_size=128, num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=16,
        max_sequence_length=96, dropout=0.0,
    )
    char_lm = keras_hub.models.GPT2CausalLM(backbone, preprocessor=None)
    return char_lm, keras_distill.teachers.AlignedTeacher(
        char_lm, student_lm.preprocessor.tokenizer, teacher_tokenizer or Characters(),
        sequence_length=language_testing.SEQUENCE_LENGTH, teacher_sequence_length=96, teacher_start_id=0,
        **kwargs,
    )


def _uld_setup():
    """The student's tokenizer and initial weights, the character teacher (model and
    `AlignedTeacher`) and eight preprocessed texts `(x, y, sample_weight)`, from seed 0."""
    tokenizer = language_testing.gpt2_tokenizer()
    keras.utils.set_random_seed(0)
    init = language_testing.gpt2_lm(tokenizer).get_weights()
    char_lm, aligned = _aligned(language_testing.gpt2_lm(tokenizer))
    x, y, w = language_testing.gpt2_lm(tokenizer).preprocessor(language_testing.corpus()[:8])
    x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
    return tokenizer, init, char_lm, aligned, (x, y, w)


def _uld_distilled(teacher, tokenizer, init, inputs, y, sample_weight):
    """One epoch of ULD distillation of a student started from `init`, in order:
    the student's weights and the `fit` history."""
    student = language_testing.gpt2_lm(tokenizer)
    student.set_weights(init)
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.5), alpha=0.5, temperature=1.0,
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras_distill.losses.ULDLoss(),
    )
    history = distiller.fit(inputs, y, sample_weight=sample_weight, batch_size=4, epochs=1, verbose=0,
                            shuffle=False)
    return student.get_weights(), history


def test_aligned_teacher_reads_the_teacher_where_the_text_ends():
    student = language_testing.gpt2_lm(language_testing.gpt2_tokenizer())
    char_lm, aligned = _aligned(student)
    x, _, _ = student.preprocessor(language_testing.corpus()[:3])
    x = {key: keras.ops.convert_to_numpy(value) for key, value in x.items()}
    teacher_ids, teacher_mask, positions = aligned.align(x["token_ids"], x["padding_mask"])
    text = language_testing.corpus()[0]
    assert teacher_ids[0, 0] == 0 and "".join(map(chr, teacher_ids[0, 1:teacher_mask[0].sum()])) in text
    pieces = token_pieces(student.preprocessor.tokenizer)
    ends, _ = token_ends(pieces, x["token_ids"][0], x["padding_mask"][0])
    valid = x["padding_mask"][0]
    assert np.all(positions[0][valid] >= 0) and np.all(positions[0][~valid] == -1)
    np.testing.assert_array_equal(positions[0][valid], ends[valid])  # byte end e = character position e
    outputs = aligned.predict(x, verbose=0)
    teacher_logits = keras.ops.convert_to_numpy(
        char_lm({"token_ids": teacher_ids, "padding_mask": teacher_mask}))
    np.testing.assert_allclose(outputs[0, 5], teacher_logits[0, positions[0, 5]], atol=1e-6)
    assert np.all(outputs[~x["padding_mask"]] == np.float32(UNALIGNED_LOGIT))


def test_aligned_teacher_refuses_a_tokenizer_that_does_not_spell_the_text():
    class Lowercase(Characters):
        def tokenize(self, text):
            return super().tokenize(text.lower())

    student = language_testing.gpt2_lm(language_testing.gpt2_tokenizer())
    _, aligned = _aligned(student, teacher_tokenizer=Lowercase())
    x, _, _ = student.preprocessor(["The Parser"])
    with pytest.raises(InvalidDataError, match="spell"):
        aligned.run({key: keras.ops.convert_to_numpy(value) for key, value in x.items()})
    with pytest.raises(ValueError, match="teacher_sequence_length"):
        keras_distill.teachers.AlignedTeacher(
            student, student.preprocessor.tokenizer, Characters(), sequence_length=4,
            teacher_sequence_length=0)


def test_uld_distillation_online_and_cached_give_the_same_student():
    tokenizer, init, _, aligned, (x, y, w) = _uld_setup()
    cache = keras_distill.TeacherCache.compute(aligned, x)
    students = []
    for inputs in (x, cache.inputs(x)):
        weights, history = _uld_distilled(aligned, tokenizer, init, inputs, y, w)
        assert 0.0 < history.history["distillation_loss"][0] < 2.0
        students.append(weights)
    with pytest.raises(ValueError, match="ULDLoss"):
        # What a divergence over token ids says of the teacher's other vocabulary.
        check_compatible_shapes((None, 16, 128), (None, 16, tokenizer.vocabulary_size()))
    for online, cached in zip(*students):
        np.testing.assert_allclose(online, cached, atol=1e-6)
    assert any(not np.allclose(a, b) for a, b in zip(init, students[0]))


def test_a_divergence_over_token_ids_with_an_aligned_teacher_names_uld():
    # The teacher's vocabulary (128 characters) is not the student's: a divergence over
    # token ids cannot compare them, and `fit` says which loss can.
    tokenizer = language_testing.gpt2_tokenizer()
    student = language_testing.gpt2_lm(tokenizer)
    _, aligned = _aligned(student)
    x, y, w = student.preprocessor(language_testing.corpus()[:4])
    distiller = keras_distill.Distiller(aligned, student)
    distiller.compile(
        optimizer="sgd", student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    with pytest.raises(ValueError, match=r"\(4, 16, 128\).*ULDLoss"):
        distiller.fit(x, y, sample_weight=w, batch_size=4, epochs=1, verbose=0)

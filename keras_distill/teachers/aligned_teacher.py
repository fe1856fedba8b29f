"""A language-model teacher with its own tokenizer, read at the student's positions."""

import keras
import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import InvalidDataError
from keras_distill.core.token_masks import UNALIGNED_LOGIT
from keras_distill.lm_hooks.causal_lm import is_causal_lm
from keras_distill.teachers import text_alignment
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.source_digest import arrays_digest
from keras_distill.teachers.source_digest import object_digest


@register
class AlignedTeacher(ForeignTeacher):
    """A teacher LM tokenised differently from the student, aligned to the student's tokens by text.

    For each batch of the student's token ids it spells the text back from
    the student's tokenizer, tokenises it with the teacher's, runs the
    teacher once on its own tokens and returns, at each student position,
    the teacher's logits at the position that predicts after the same text
    (`keras_distill.teachers.align_positions`). Positions without one are
    rows of `keras_distill.core.token_masks.UNALIGNED_LOGIT`, which
    `ULDLoss` leaves out. The outputs span the teacher's vocabulary, so only
    a loss that compares no token ids can read them: `ULDLoss`. Online in
    `fit`, or once through `TeacherCache.compute` (dense, or `top_k=k`: a
    top-k cache keeps the unaligned rows marked, and `ULDLoss` leaves them
    out there too).

    Args:
        teacher: The teacher, a model on its own token ids: a keras-hub
            `CausalLM` (fed `token_ids` and `padding_mask`), or a model on
            an int array of ids such as a `TokenLogprobTeacher` over the
            teacher's tokens (a file of its per-token log-probabilities).
        student_tokenizer: The student's tokenizer (keras-hub, or an object
            with `vocabulary_size()`, `detokenize(ids)`; see `token_pieces`).
        teacher_tokenizer: The teacher's, with `tokenize(text)` as well.
        sequence_length: Length of the student's token ids.
        teacher_sequence_length: Length of the teacher's token ids; text
            beyond it has no teacher counterpart.
        teacher_start_id: Id put before the teacher's tokens (its start
            token), or `None`. Defaults to `None`.
        match: `"exact"` or `"previous"` (see `align_positions`). Defaults
            to `"exact"`.
        padding_mask: Whether the student's inputs are keras-hub dicts of
            `token_ids` and `padding_mask` (else an int array of ids, every
            position valid). Defaults to `True`.
        name: Defaults to `"aligned_teacher"`.

    Raises:
        InvalidDataError: (when called) the teacher's tokens do not spell the
            text back.

    Example:

    ```python
    teacher = keras_distill.teachers.AlignedTeacher(
        char_lm, student_tokenizer=bpe, teacher_tokenizer=characters,
        sequence_length=64, teacher_sequence_length=256, teacher_start_id=0,
    )
    ```

    Reference:
        Boizard, El Haddad, Hudelot and Colombo, "Towards Cross-Tokenizer
        Distillation: the Universal Logit Distillation Loss for LLMs", 2024.
    """

    def __init__(self, teacher, student_tokenizer, teacher_tokenizer, sequence_length,
                 teacher_sequence_length, teacher_start_id=None, match="exact", padding_mask=True,
                 name="aligned_teacher"):
        if match not in text_alignment.MATCHES:
            raise ValueError(f"`match` must be one of {text_alignment.MATCHES}. Received: match={match!r}")
        for argument, value in (("sequence_length", sequence_length),
                                ("teacher_sequence_length", teacher_sequence_length)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"`{argument}` must be an int >= 1. Received: {argument}={value!r}")
        if not callable(getattr(teacher_tokenizer, "tokenize", None)):
            raise TypeError(
                "`teacher_tokenizer` must have `tokenize(text) -> ids` (a keras-hub tokenizer "
                f"or an object of your own). Received: {type(teacher_tokenizer).__name__}"
            )
        student_pieces = text_alignment.token_pieces(student_tokenizer)
        teacher_pieces = text_alignment.token_pieces(teacher_tokenizer)
        # The wrapped model stays out of Keras's tracking (a teacher adapter has no weights).
        run_teacher = _teacher_runner(teacher)
        vocabulary = _teacher_vocabulary(teacher, run_teacher, teacher_sequence_length)
        fingerprint = "aligned:" + object_digest(
            (_teacher_digest(teacher), student_pieces, teacher_pieces, sequence_length,
             teacher_sequence_length, teacher_start_id, match)
        )
        input_shape = ({"token_ids": (sequence_length,), "padding_mask": (sequence_length,)}
                       if padding_mask else (sequence_length,))
        super().__init__(input_shape, output_shape=(sequence_length, vocabulary),
                         source_fingerprint=fingerprint, input_dtype="int32", name=name)
        self._run_teacher = run_teacher
        self._student_pieces, self._teacher_pieces = student_pieces, teacher_pieces
        self._tokenize = teacher_tokenizer.tokenize
        self.teacher_sequence_length = teacher_sequence_length
        self.teacher_start_id = teacher_start_id
        self.match = match

    def align(self, token_ids, padding_mask=None):
        """`(teacher ids, teacher padding mask, positions)` for a batch of the student's ids.

        `positions[b, t]` is the teacher position aligned with student
        position `t` of row `b`, or -1.
        """
        token_ids = np.asarray(token_ids)
        masks = np.ones(token_ids.shape, bool) if padding_mask is None else np.asarray(padding_mask, bool)
        length = self.teacher_sequence_length
        teacher_ids = np.zeros((len(token_ids), length), "int32")
        teacher_mask = np.zeros((len(token_ids), length), bool)
        positions = np.full(token_ids.shape, -1, "int64")
        for row, (ids, mask) in enumerate(zip(token_ids, masks)):
            student_ends, text = text_alignment.token_ends(self._student_pieces, ids, mask)
            if not mask.any():
                continue
            own = _numpy(self._tokenize(text.decode("utf-8", "ignore")))
            own = [int(i) for i in np.asarray(own).reshape(-1)]
            teacher_ends, spelled = text_alignment.token_ends(self._teacher_pieces, own)
            if self.teacher_start_id is not None:
                # The start token holds no text, whatever its id detokenizes to.
                own, teacher_ends = [int(self.teacher_start_id)] + own, np.concatenate([[0], teacher_ends])
            own, teacher_ends = own[:length], teacher_ends[:length]
            if not text.startswith(spelled) and not spelled.startswith(text):
                raise InvalidDataError(
                    f"The teacher's tokens of sample {row} spell {spelled[:60]!r}..., not the "
                    f"student's text {text[:60]!r}...: the teacher tokenizer's pieces (each id "
                    "detokenized alone) must concatenate to the text it tokenised."
                )
            teacher_ids[row, :len(own)], teacher_mask[row, :len(own)] = own, True
            positions[row] = text_alignment.align_positions(student_ends, teacher_ends, self.match)
        return teacher_ids, teacher_mask, positions

    def run(self, inputs):
        if isinstance(inputs, dict):
            token_ids, padding_mask = inputs["token_ids"], inputs["padding_mask"]
        else:
            token_ids, padding_mask = inputs, None
        teacher_ids, teacher_mask, positions = self.align(token_ids, padding_mask)
        logits = self._run_teacher(teacher_ids, teacher_mask)
        gathered = np.take_along_axis(logits, np.maximum(positions, 0)[..., None], axis=1)
        return np.where((positions >= 0)[..., None], gathered, np.float32(UNALIGNED_LOGIT))


def _teacher_runner(teacher):
    if not isinstance(teacher, keras.Model):
        raise TypeError(f"`teacher` must be a keras.Model. Received: {type(teacher).__name__}")
    if is_causal_lm(teacher):
        def run(ids, mask):
            outputs = teacher({"token_ids": ids, "padding_mask": mask}, training=False)
            return keras.ops.convert_to_numpy(outputs).astype("float32")
    else:
        def run(ids, mask):
            return keras.ops.convert_to_numpy(teacher(ids, training=False)).astype("float32")
    return run


def _teacher_vocabulary(teacher, run_teacher, length):
    """The teacher's vocabulary size: a foreign teacher declares it; a model is probed."""
    declared = getattr(teacher, "source_output_shape", None)
    if declared is None:
        # A model runs on any ids; a file of outputs (`TokenLogprobTeacher`) only on its own.
        return run_teacher(np.zeros((1, length), "int32"), np.ones((1, length), bool)).shape[-1]
    if len(declared) != 2 or declared[0] != length:
        raise ValueError(
            f"`teacher_sequence_length` ({length}) must be the length of the teacher's inputs, "
            f"whose logits have shape {declared} per sample (length, vocabulary)."
        )
    return declared[-1]


def _teacher_digest(teacher):
    own = getattr(teacher, "source_fingerprint", "")
    return own + arrays_digest(
        (v.path, keras.ops.convert_to_numpy(v)) for v in teacher.weights
    )


def _numpy(values):
    return values.numpy() if hasattr(values, "numpy") else keras.ops.convert_to_numpy(values)

"""A language-model teacher read from per-token top-k log-probabilities saved by another framework."""

import json

import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import InvalidDataError
from keras_distill.core.token_masks import UNALIGNED_LOGIT
from keras_distill.teachers.foreign_teacher import ForeignTeacher
from keras_distill.teachers.runtime_file import check_path
from keras_distill.teachers.source_digest import file_digest

_WHAT = "file of per-token log-probabilities (.jsonl like vLLM's prompt_logprobs, or .npz)"
# Smallest normal float32: log() of it is -87.3, finite.
_FLOOR = float(np.finfo(np.float32).tiny)


@register
class TokenLogprobTeacher(ForeignTeacher):
    """Per-token top-k log-probabilities from a served LLM, as a causal-LM teacher.

    Each sequence is matched by its token ids (trailing `pad_id`s dropped):
    the file must hold the sequences the student sees, tokenized the same way.
    Position `t`'s logits are the teacher's distribution of token `t + 1`:
    the top-k tokens get their log-probabilities, the rest of the vocabulary
    shares the remaining probability mass evenly. Positions the file does not
    cover (the last one, padding) have no teacher: rows of
    `keras_distill.core.token_masks.UNALIGNED_LOGIT`, which `ULDLoss` and the
    top-k losses leave out (a dense divergence over token ids sees a uniform
    teacher there; give those positions no weight in `sample_weight`).

    Two formats:
    - `.jsonl`, one sequence per line, as vLLM's `prompt_logprobs` output:
      `{"prompt_token_ids": [...], "prompt_logprobs": [null, {"<id>":
      {"logprob": -0.1, ...}, ...}, ...]}` (entry `i` scores token `i`).
    - `.npz` with `token_ids` (sequences, length; padded with `pad_id`),
      `top_ids` and `top_logprobs` (sequences, length, k), position `t`
      already scoring token `t + 1`.

    Args:
        path: The file.
        vocabulary_size: The student's vocabulary size.
        sequence_length: Length of the token-id inputs.
        pad_id: Padding id of the inputs. Defaults to `0`.
        name: Defaults to `"token_logprob_teacher"`.

    Raises:
        FileNotFoundError: Nothing is at `path`.
        CorruptFileError: The file is not in either format.
        InvalidDataError: (when called) a sequence is not in the file.

    Example:

    ```python
    teacher = keras_distill.teachers.TokenLogprobTeacher(
        "prompt_logprobs.jsonl", vocabulary_size=32000, sequence_length=128
    )
    ```
    """

    def __init__(self, path, vocabulary_size, sequence_length, pad_id=0, name="token_logprob_teacher"):
        path = check_path(path, _WHAT)
        try:
            table = _read_npz(path, pad_id) if path.endswith(".npz") else _read_jsonl(path)
        except (ValueError, KeyError, TypeError, OSError) as error:
            raise CorruptFileError(
                path, _WHAT, f"{type(error).__name__}: {error}", "See docs/teachers.md for the formats."
            ) from None
        super().__init__(
            (sequence_length,), output_shape=(sequence_length, vocabulary_size),
            source_fingerprint=f"token_logprobs:{file_digest(path)}:{pad_id}", input_dtype="int32",
            name=name,
        )
        self.source_path = path
        self.vocabulary_size = int(vocabulary_size)
        self.pad_id = int(pad_id)
        self._table = table

    def run(self, inputs):
        batch, length = inputs.shape
        logits = np.full((batch, length, self.vocabulary_size), UNALIGNED_LOGIT, "float32")
        for row, ids in enumerate(inputs):
            key = _key(ids, self.pad_id)
            if key not in self._table:
                raise InvalidDataError(
                    f"The token sequence of sample {row} (first ids {list(key[:8])}) is not in "
                    f"{self.source_path!r}. The file must hold every sequence the teacher sees."
                )
            top_ids, top_logprobs = self._table[key]
            positions = min(len(top_ids), length)
            for t in range(positions):
                valid = top_ids[t] >= 0
                ids_t, logprobs_t = top_ids[t][valid], top_logprobs[t][valid]
                if not len(ids_t):
                    continue
                tail = max(1.0 - float(np.exp(logprobs_t).sum()), _FLOOR)
                rest = max(self.vocabulary_size - len(ids_t), 1)
                logits[row, t] = np.log(tail / rest)
                logits[row, t, ids_t] = logprobs_t
        return logits


def _key(ids, pad_id):
    ids = [int(i) for i in ids]
    while ids and ids[-1] == pad_id:
        ids.pop()
    return tuple(ids)


def _read_npz(path, pad_id):
    with np.load(path, allow_pickle=False) as data:
        token_ids, top_ids, top_logprobs = data["token_ids"], data["top_ids"], data["top_logprobs"]
    if top_ids.shape != top_logprobs.shape or top_ids.shape[:2] != token_ids.shape:
        raise ValueError(
            f"token_ids {token_ids.shape}, top_ids {top_ids.shape} and top_logprobs "
            f"{top_logprobs.shape} do not match"
        )
    return {
        _key(ids, pad_id): (top_ids[i].astype("int64"), top_logprobs[i].astype("float32"))
        for i, ids in enumerate(token_ids)
    }


def _read_jsonl(path):
    table = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            record = json.loads(line)
            ids = record["prompt_token_ids"]
            entries = record["prompt_logprobs"][1:]
            k = max((len(e) for e in entries if e), default=1)
            top_ids = np.full((len(entries), k), -1, "int64")
            top_logprobs = np.zeros((len(entries), k), "float32")
            for t, entry in enumerate(entries):
                for j, (token, value) in enumerate((entry or {}).items()):
                    top_ids[t, j] = int(token)
                    top_logprobs[t, j] = value["logprob"] if isinstance(value, dict) else value
            table[tuple(int(i) for i in ids)] = (top_ids, top_logprobs)
    return table

"""Positions of two tokenizations of one text, matched by where their tokens end.

A causal language model's output at token `t` predicts what follows the text
up to the end of token `t`. Two models with different tokenizers predict
after the same text where a token of each ends at the same offset, so the
student's position `t` is matched to the teacher's token that ends where the
student's token ends. Offsets count UTF-8 bytes of the text; special tokens
(start, end) hold no text: they end where the text before them ends.
"""

import sys

import numpy as np

MATCHES = ("exact", "previous")


def token_pieces(tokenizer):
    """The UTF-8 bytes each token id stands for (`b""` for special tokens).

    Args:
        tokenizer: A keras-hub tokenizer, or any object with
            `vocabulary_size()` and `detokenize(ids) -> str` (and optionally
            `special_token_ids`), such as a character tokenizer in plain Python.

    Returns:
        A list of `bytes`, one per id.

    Example:

    ```python
    pieces = keras_distill.teachers.token_pieces(tokenizer)  # pieces[id] == b" the", ...
    ```
    """
    size = int(tokenizer.vocabulary_size())
    special = set(int(i) for i in (getattr(tokenizer, "special_token_ids", None) or ()))
    keras_hub = sys.modules.get("keras_hub")
    if keras_hub is not None and isinstance(tokenizer, keras_hub.tokenizers.Tokenizer):
        # One call for the whole vocabulary; byte-level pieces stay raw bytes.
        decoded = tokenizer.detokenize(np.arange(size, dtype="int32")[:, None])
        decoded = [d if isinstance(d, bytes) else str(d).encode() for d in _strings(decoded)]
    else:
        decoded = [_as_bytes(tokenizer.detokenize([i])) for i in range(size)]
    return [b"" if i in special else piece for i, piece in enumerate(decoded)]


def token_ends(pieces, ids, valid=None):
    """Where each token ends in the text they spell (UTF-8 byte offset), -1 where not `valid`.

    Args:
        pieces: The bytes of each id (`token_pieces`).
        ids: A sequence of token ids.
        valid: Booleans, one per id (a padding mask), or `None` (all valid).

    Returns:
        `(ends, text)`: an int64 array of end offsets and the `bytes` the
        valid ids spell.

    Example:

    ```python
    ends, text = keras_distill.teachers.token_ends(pieces, [0, 464, 3797])  # ends [0, 3, 7]
    ```
    """
    ids = np.asarray(ids).reshape(-1)
    valid = np.ones(ids.shape, bool) if valid is None else np.asarray(valid, bool).reshape(-1)
    chunks = [pieces[int(i)] if keep else b"" for i, keep in zip(ids, valid)]
    ends = np.cumsum([len(chunk) for chunk in chunks], dtype="int64")
    return np.where(valid, ends, -1), b"".join(chunks)


def align_positions(student_ends, teacher_ends, match="exact"):
    """For each student position, the teacher position that predicts after the same text.

    Args:
        student_ends: End offset of each student token (-1: padding).
        teacher_ends: End offset of each teacher token (-1: padding),
            non-decreasing over the valid tokens.
        match: `"exact"`: the last teacher token ending exactly where the
            student's token ends, else none; `"previous"`: the last teacher
            token ending there or before. Defaults to `"exact"`.

    Returns:
        An int64 array, one teacher position per student position, -1
        where none matches (padding, or no teacher token ends there).

    Example:

    ```python
    # "The cat": words ["The", " cat"] against characters.
    keras_distill.teachers.align_positions([3, 7], [1, 2, 3, 4, 5, 6, 7])  # [2, 6]
    ```
    """
    if match not in MATCHES:
        raise ValueError(f"`match` must be one of {MATCHES}. Received: match={match!r}")
    student_ends = np.asarray(student_ends, "int64").reshape(-1)
    teacher_ends = np.asarray(teacher_ends, "int64").reshape(-1)
    positions = np.flatnonzero(teacher_ends >= 0)
    ends = teacher_ends[positions]
    if np.any(np.diff(ends) < 0):
        raise ValueError(
            f"`teacher_ends` must not decrease over the valid tokens. Received: {ends.tolist()}"
        )
    if not len(ends):
        return np.full(student_ends.shape, -1, "int64")
    found = np.searchsorted(ends, student_ends, side="right") - 1
    found_or_first = np.maximum(found, 0)
    ok = (student_ends >= 0) & (found >= 0)
    if match == "exact":
        ok &= ends[found_or_first] == student_ends
    return np.where(ok, positions[found_or_first], -1)


def _strings(values):
    if hasattr(values, "numpy"):
        values = values.numpy()
    return list(np.asarray(values, dtype=object).reshape(-1))


def _as_bytes(value):
    if hasattr(value, "numpy"):
        value = value.numpy()
    if isinstance(value, np.ndarray):
        value = value.reshape(-1)[0] if value.size else b""
    return value if isinstance(value, bytes) else str(value).encode("utf-8")

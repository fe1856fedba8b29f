"""Per-position distillation losses over sequence chunks, each chunk rematerialised.

A token divergence over `(batch, sequence, vocabulary)` logits builds several
float32 tensors of that size (tempered logits, log-softmax, probabilities,
their products) and autodiff keeps most of them for the backward pass: at a
vocabulary of 32,000 each is 250 MiB for 8 x 256 tokens, and they, not the
models, set the step's peak memory. Split along the sequence axis, with each
chunk under `keras.ops.remat`, only the chunk's inputs are kept; the
backward pass recomputes one chunk's intermediates at a time, so they exist
per chunk only. Each position's value is computed by the same ops as
without chunks (reductions run over the last axis only).

The split is `keras.ops.split`, whose gradient is a concatenation: the
student's gradient is assembled once, not padded to full size per chunk.
"""

import math

import keras
from keras import ops

# The largest float32 logits slice one chunk may span: 8 MiB keeps every
# chunk's intermediates small next to the full logits while the chunks stay
# few (32 chunks of 8 positions at batch 8, vocabulary 32,000).
CHUNK_BYTES = 8 * 2**20


def check_sequence_chunks(sequence_chunks):
    """Returns `sequence_chunks` checked: `"auto"`, `None` or an int >= 1."""
    if sequence_chunks in ("auto", None):
        return sequence_chunks
    if isinstance(sequence_chunks, bool) or not isinstance(sequence_chunks, int) or (
            sequence_chunks < 1):
        raise ValueError(
            "`sequence_chunks` (how many pieces of the sequence axis the divergence is computed "
            "in) must be 'auto', None or an int >= 1. Received: "
            f"sequence_chunks={sequence_chunks!r}"
        )
    return sequence_chunks


def resolve_chunks(sequence_chunks, shape):
    """How many sequence chunks to use for outputs of `shape` (1: no chunking).

    Only outputs with a sequence axis (`(batch, sequence, ..., classes)`, a
    static sequence length) are chunked. `"auto"` chunks where the float32
    logits exceed `CHUNK_BYTES`, so that each chunk spans about that much;
    an int is capped at the sequence length.
    """
    if sequence_chunks is None or len(shape) < 3 or shape[1] is None:
        return 1
    length = shape[1]
    if sequence_chunks == "auto":
        if any(size is None for size in shape):
            return 1
        return min(length, math.ceil(math.prod(shape) * 4 / CHUNK_BYTES))
    return min(length, sequence_chunks)


def _split(tensor, chunks):
    """`tensor` in `chunks` pieces along axis 1, the first ones one position longer if uneven."""
    length = tensor.shape[1]
    size, extra = divmod(length, chunks)
    bounds = [i * size + min(i, extra) for i in range(1, chunks)]
    return ops.split(tensor, bounds if extra else chunks, axis=1)


def map_sequence_chunks(fn, teacher_outputs, student_outputs, chunks):
    """`fn(teacher, student)` per sequence chunk, concatenated along axis 1.

    Args:
        fn: A per-position function of teacher outputs (a tensor or a dict
            of tensors, such as a top-k cache batch) and student outputs,
            returning `(batch, positions, ...)` values.
        teacher_outputs: Tensor or dict of tensors, each `(batch, sequence, ...)`.
        student_outputs: Student outputs, `(batch, sequence, ..., classes)`.
        chunks: Number of chunks (from `resolve_chunks`); 1 calls `fn` as it is.

    Returns:
        `fn`'s values for the whole sequence, `(batch, sequence, ...)`.
    """
    if chunks <= 1:
        return fn(teacher_outputs, student_outputs)
    teacher_pieces = _pieces(teacher_outputs, chunks)
    names = sorted(teacher_outputs) if isinstance(teacher_outputs, dict) else None

    # The pieces travel as positional tensors, the form every backend's remat takes.
    def chunk_fn(*tensors):
        teacher = tensors[0] if names is None else dict(zip(names, tensors[:-1]))
        return fn(teacher, tensors[-1])

    chunk_fn = keras.remat(chunk_fn)
    values = []
    for teacher_piece, student_piece in zip(teacher_pieces, _split(student_outputs, chunks)):
        teacher_tensors = [teacher_piece] if names is None else [teacher_piece[n] for n in names]
        values.append(chunk_fn(*teacher_tensors, student_piece))
    return ops.concatenate(values, axis=1)


def _pieces(outputs, chunks):
    """`outputs` (a tensor or a dict of tensors) as a list of `chunks` sequence pieces."""
    if not isinstance(outputs, dict):
        return _split(outputs, chunks)
    split = {name: _split(value, chunks) for name, value in outputs.items()}
    return [{name: pieces[i] for name, pieces in split.items()} for i in range(chunks)]

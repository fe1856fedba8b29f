"""keras-hub causal language models as teacher and student: one vocabulary, generation.

keras-hub is optional: nothing here imports it. A model is a keras-hub
`CausalLM` only if keras-hub was imported to build it, so the checks look the
module up in `sys.modules` and leave plain Keras models alone.
"""

import sys


def is_causal_lm(model):
    """Whether `model` is a `keras_hub.models.CausalLM` (without importing keras-hub)."""
    keras_hub = sys.modules.get("keras_hub")
    return keras_hub is not None and isinstance(model, keras_hub.models.CausalLM)


def vocabulary_size(model):
    """The size of a `CausalLM`'s output vocabulary (its backbone's), or `None`."""
    backbone = getattr(model, "backbone", None)
    return getattr(backbone, "vocabulary_size", None)


def check_pair(teacher, student):
    """Raises unless two keras-hub `CausalLM`s predict over the same tokens.

    Token-level distillation compares the teacher's and the student's
    distributions over the same token ids, so both must use one tokenizer:
    equal vocabulary sizes and, when both carry a tokenizer, the same
    vocabulary in the same order.

    Args:
        teacher: The teacher model.
        student: The student model.

    Raises:
        ValueError: The vocabularies differ (the message names both sizes).
    """
    if not (is_causal_lm(teacher) and is_causal_lm(student)):
        return
    teacher_size, student_size = vocabulary_size(teacher), vocabulary_size(student)
    if teacher_size != student_size:
        raise ValueError(
            "`teacher` and `student` must share one tokenizer: the teacher predicts "
            f"over {teacher_size} tokens and the student over {student_size}. Build "
            "the student with the teacher's tokenizer (the same `vocabulary_size` "
            "for its backbone)."
        )
    teacher_tokens, student_tokens = _vocabulary(teacher), _vocabulary(student)
    if teacher_tokens is None or student_tokens is None or teacher_tokens == student_tokens:
        return
    first = next(
        (i for i, (t, s) in enumerate(zip(teacher_tokens, student_tokens)) if t != s),
        min(len(teacher_tokens), len(student_tokens)),
    )
    raise ValueError(
        "`teacher` and `student` must share one tokenizer: both predict over "
        f"{teacher_size} tokens, but their tokenizers differ from token id {first} "
        f"on ({_token(teacher_tokens, first)!r} for the teacher, "
        f"{_token(student_tokens, first)!r} for the student)."
    )


def _vocabulary(model):
    """The tokenizer's tokens in id order, or `None` (no tokenizer or not loaded yet)."""
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    by_token = getattr(tokenizer, "vocabulary", None)
    if isinstance(by_token, dict):
        # Byte-pair tokenizers hold `{token: id}`, in no particular order.
        tokens = [None] * (max(by_token.values(), default=-1) + 1)
        for token, index in by_token.items():
            tokens[index] = token
        return tokens
    get_vocabulary = getattr(tokenizer, "get_vocabulary", None)
    if get_vocabulary is None:
        return None
    try:
        return list(get_vocabulary())
    except ValueError:
        # A tokenizer being loaded from a `.keras` file gets its vocabulary
        # after the models are built; the sizes were compared above.
        return None


def _token(tokens, index):
    return tokens[index] if index < len(tokens) else None


def shared_preprocessing(teacher, student):
    """What the two models share: `"preprocessor"`, `"tokenizer"` or `None`.

    Keras writes a layer shared by two models once, so a `.keras` file of a
    Distiller whose teacher and student share a tokenizer holds its vocabulary
    once; `share_again` rebuilds the sharing before the file's assets load.
    """
    if not (is_causal_lm(teacher) and is_causal_lm(student)):
        return None
    teacher_preprocessor, student_preprocessor = teacher.preprocessor, student.preprocessor
    if teacher_preprocessor is None or student_preprocessor is None:
        return None
    if teacher_preprocessor is student_preprocessor:
        return "preprocessor"
    tokenizer = getattr(student_preprocessor, "tokenizer", None)
    if tokenizer is not None and getattr(teacher_preprocessor, "tokenizer", None) is tokenizer:
        return "tokenizer"
    return None


def share_again(teacher, student, shared):
    """Makes freshly deserialized models share what `shared_preprocessing` found."""
    if shared == "preprocessor":
        teacher.preprocessor = student.preprocessor
    elif shared == "tokenizer":
        teacher.preprocessor.tokenizer = student.preprocessor.tokenizer


def detach_own_optimizers(*models):
    """Drops the optimizers keras-hub tasks compile themselves with when built.

    The Distiller saves its teacher and student without their own optimizers
    (its own trains the student); a loaded keras-hub task would otherwise carry
    a fresh one that the file has no state for. Generation needs no optimizer.
    """
    for model in models:
        if is_causal_lm(model):
            model.optimizer = None


def generate(student, *args, **kwargs):
    """The student's `generate(...)`, for a keras-hub `CausalLM` student.

    Raises:
        TypeError: The student has no `generate` method.
    """
    if not callable(getattr(student, "generate", None)):
        raise TypeError(
            "`generate` needs a student that generates text, such as a "
            f"`keras_hub.models.CausalLM`. Received a {type(student).__name__}."
        )
    return student.generate(*args, **kwargs)

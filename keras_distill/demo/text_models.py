"""The text demo's recipe, tokenizer and keras-hub language models, built from scratch.

keras-hub is an optional extra: `require_keras_hub` imports it or raises an
`ImportError` that names the install command. Teacher and student are
Gemma-architecture `GemmaCausalLM`s built from small configs (no download)
and share one `GemmaTokenizer` trained on the corpus.
"""

import dataclasses

import keras

PRESETS = ("quick", "full")
DATASETS = ("text",)
INSTALL = 'pip install "keras-distill[hub]"'


@dataclasses.dataclass(frozen=True)
class TextRecipe:
    """What the text demo trains and for how long.

    Attributes:
        vocabulary_size: Tokens of the SentencePiece tokenizer.
        sequence_length: Tokens per training sequence (start and end included).
        max_characters: Longest piece of text, in characters.
        max_train: Training pieces kept (`None`: all).
        teacher_layers, teacher_width: The teacher's decoder blocks and width.
        teacher_dropout: Dropout in the teacher.
        student_layers, student_width: The student's decoder blocks and width.
        teacher_epochs: Epochs of the teacher.
        student_epochs: Epochs of the student alone and of distillation.
        batch_size: Sequences per batch.
        learning_rate: Peak AdamW learning rate (cosine-decayed to 0).
        alpha: Weight of the next-token loss while distilling (the rest is
            the forward KL to the teacher's distribution, at T=1).
        prompt_words: Words of a held-out piece that prompt the samples.
        num_samples: Prompts whose continuations the report shows.
    """

    vocabulary_size: int = 512
    sequence_length: int = 40
    max_characters: int = 110
    max_train: int = None
    teacher_layers: int = 2
    teacher_width: int = 128
    teacher_dropout: float = 0.1
    student_layers: int = 1
    student_width: int = 32
    teacher_epochs: int = 6
    student_epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 3e-3
    alpha: float = 0.5
    prompt_words: int = 4
    num_samples: int = 5


RECIPES = {
    "quick": TextRecipe(),
    "full": TextRecipe(teacher_width=192, teacher_epochs=15, student_epochs=15),
}


def recipe(preset):
    """The `TextRecipe` of `preset` (`"quick"` or `"full"`)."""
    if preset not in RECIPES:
        raise ValueError(f"`preset` must be one of {PRESETS}. Received: {preset!r}.")
    return RECIPES[preset]


def require_keras_hub():
    """Imports keras-hub, or raises an `ImportError` that says how to install it."""
    try:
        import keras_hub
    except ImportError as error:
        raise ImportError(
            "The text demo trains keras-hub language models, and keras-hub is not "
            f"installed: run `{INSTALL}`."
        ) from error
    return keras_hub


def tokenizer(proto):
    """A keras-hub `GemmaTokenizer` from a serialized SentencePiece model."""
    return require_keras_hub().models.GemmaTokenizer(proto=proto)


def language_model(tokenizer, layers, width, sequence_length, dropout=0.0, name=None):
    """A `GemmaCausalLM` of `layers` decoder blocks of `width` units, with a preprocessor."""
    keras_hub = require_keras_hub()
    heads = 4 if width >= 64 else 2
    backbone = keras_hub.models.GemmaBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=layers, num_query_heads=heads,
        num_key_value_heads=1, hidden_dim=width, intermediate_dim=4 * width,
        head_dim=width // heads, dropout=dropout,
    )
    preprocessor = keras_hub.models.GemmaCausalLMPreprocessor(
        tokenizer, sequence_length=sequence_length
    )
    return keras_hub.models.GemmaCausalLM(backbone, preprocessor=preprocessor, name=name)


def teacher(tokenizer, recipe):
    return language_model(tokenizer, recipe.teacher_layers, recipe.teacher_width,
                          recipe.sequence_length, recipe.teacher_dropout, name="teacher")


def student(tokenizer, recipe, name="student"):
    return language_model(tokenizer, recipe.student_layers, recipe.student_width,
                          recipe.sequence_length, name=name)


def optimizer(learning_rate, total_steps):
    """AdamW with the learning rate cosine-decayed to 0 over `total_steps`."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
    return keras.optimizers.AdamW(schedule, weight_decay=0.01)


def next_token_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def settings(recipe):
    """The recipe as a dict, for the report."""
    return dataclasses.asdict(recipe)

"""What the Distiller asks of the language package, at its few points of contact.

The Distiller calls these at construction, in `fit`/`evaluate`, in
`get_config`/`from_config` and in `generate`; each is a no-op for models that
are not keras-hub `CausalLM`s, so plain Keras models never touch keras-hub.
"""

from keras_distill.lm_hooks import causal_lm
from keras_distill.lm_hooks import lora
from keras_distill.lm_hooks import text_inputs

_LORA_KEY = "student_lora"
_SHARED_KEY = "shared_preprocessing"


def check_models(teacher, student):
    """Raises unless keras-hub teacher and student share one vocabulary."""
    causal_lm.check_pair(teacher, student)


def fit_arguments(distiller, args, kwargs):
    """`fit`'s arguments with text preprocessed by the student; LoRA factors alive."""
    lora.revive(distiller.student)
    return text_inputs.fit_arguments(distiller.student, args, kwargs)


def evaluate_arguments(distiller, args, kwargs):
    """`evaluate`'s arguments with text preprocessed by the student."""
    return text_inputs.evaluate_arguments(distiller.student, args, kwargs)


def config(teacher, student):
    """Entries of the Distiller's config: the student's LoRA, shared tokenizers."""
    entries = {
        _LORA_KEY: lora.lora_config(student),
        _SHARED_KEY: causal_lm.shared_preprocessing(teacher, student),
    }
    return {key: value for key, value in entries.items() if value}


def restore(config):
    """Pops the language entries from a Distiller config, applies them to its models.

    `config` holds the deserialized teacher and student, whose weights and
    assets are not loaded yet.
    """
    teacher, student = config["teacher"], config["student"]
    causal_lm.detach_own_optimizers(teacher, student)
    causal_lm.share_again(teacher, student, config.pop(_SHARED_KEY, None))
    lora.restore_lora(student, config.pop(_LORA_KEY, None))
    return config


def generate(distiller, *args, **kwargs):
    """The student's generation."""
    return causal_lm.generate(distiller.student, *args, **kwargs)

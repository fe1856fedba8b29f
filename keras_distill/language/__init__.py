"""keras-hub language models: raw text through the student's preprocessor, LoRA students,
sequence-level and on-policy distillation.

Needs `pip install "keras-distill[hub]"`; keras-hub is imported by the user who
builds the models, never by `import keras_distill`.
"""

from keras_distill.language.on_policy import OnPolicyDistiller
from keras_distill.language.teacher_sequences import TeacherSequences
from keras_distill.lm_hooks.lora import lora_student

__all__ = [
    "lora_student",
    "OnPolicyDistiller",
    "TeacherSequences",
]

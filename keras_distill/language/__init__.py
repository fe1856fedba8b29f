"""keras-hub language models: raw text through the student's preprocessor, LoRA students.

Needs `pip install "keras-distill[hub]"`; keras-hub is imported by the user who
builds the models, never by `import keras_distill`.
"""

from keras_distill.language.lora import lora_student
from keras_distill.language.on_policy import OnPolicyDistiller

__all__ = [
    "lora_student",
    "OnPolicyDistiller",
]

"""The Distiller's hooks for keras-hub causal language models.

Raw text through the student's preprocessor, vocabulary checks, padding
masks and LoRA students. Nothing here imports keras-hub or any other part of
the package: the Distiller stands on these hooks, and `keras_distill.language`
(on-policy distillation, teacher sequences) stands on the Distiller.
"""

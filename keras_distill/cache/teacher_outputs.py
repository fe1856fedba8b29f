"""The compiled forward pass that fills a `TeacherCache`."""

import keras

from keras_distill.api_export import register
from keras_distill.losses.top_k import compress_top_k


@register
class TeacherOutputs(keras.Model):
    """The forward pass of `TeacherCache.compute`: teacher logits, or their top-k fields.

    Internal: `TeacherCache.compute` runs it through `predict`, which batches
    and compiles it.

    Args:
        logits_fn: A `TeacherLogits` of the teacher.
        top_k: Number of ids to keep per position (their log-probabilities and
            the tail mass, `keras_distill.losses.compress_top_k`), or `None` for
            dense logits.
    """

    def __init__(self, logits_fn, top_k):
        super().__init__(name="teacher_outputs")
        self._logits_fn = logits_fn
        self._top_k = top_k
        self.num_classes = None
        self.built = True

    def call(self, x):
        logits = self._logits_fn(x)
        self.num_classes = logits.shape[-1]
        if self._top_k is None:
            return logits
        if self._top_k > logits.shape[-1]:
            raise ValueError(
                f"`top_k` must be at most the number of classes ({logits.shape[-1]}). "
                f"Received: top_k={self._top_k}"
            )
        return compress_top_k(logits, self._top_k)

"""A teacher from any Python function on NumPy arrays, with a declared output spec."""

from keras_distill.api_export import register
from keras_distill.teachers.foreign_teacher import ForeignTeacher


@register
class FunctionTeacher(ForeignTeacher):
    """Any function `fn(inputs) -> logits` on NumPy arrays, as a teacher.

    The function is checked on a probe batch when the teacher is built: its
    outputs must be float and of `(batch,) + output_shape`. The caches
    fingerprint it by `version` alone (the function's code is not hashed):
    change `version` whenever the function gives other outputs.

    Args:
        fn: Takes a batch of inputs (a NumPy array, or a list/dict of them
            as `input_shape` declares) and returns float logits.
        input_shape: Shape of one input sample, without the batch.
        output_shape: Shape of one sample's logits, without the batch.
        version: The function's version, e.g. `"2026-05-01"` or a model
            hash; part of every cache's fingerprint.
        input_dtype: Dtype the inputs are cast to. Defaults to `"float32"`.
        name: Defaults to `"function_teacher"`.

    Example:

    ```python
    weights = np.random.default_rng(0).normal(size=(784, 10)).astype("float32")
    teacher = keras_distill.teachers.FunctionTeacher(
        lambda x: x @ weights, input_shape=(784,), output_shape=(10,), version="random-linear-v1"
    )
    cache = keras_distill.TeacherCache.compute(teacher, x_train)
    ```
    """

    def __init__(self, fn, input_shape, output_shape, version, input_dtype="float32",
                 name="function_teacher"):
        if not callable(fn):
            raise TypeError(f"`fn` must be callable. Received: fn={fn!r}")
        if not isinstance(version, str) or not version:
            raise ValueError(
                "`version` must be a non-empty string naming this version of the function "
                f"(caches are fingerprinted by it). Received: version={version!r}"
            )
        super().__init__(
            input_shape, output_shape=output_shape, source_fingerprint=f"function:{version}",
            input_dtype=input_dtype, name=name,
        )
        self.fn = fn
        self.version = version
        self.check_outputs()

    def run(self, inputs):
        return self.fn(inputs)

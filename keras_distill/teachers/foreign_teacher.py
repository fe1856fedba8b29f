"""The base of every teacher that runs outside Keras: a frozen, weightless `keras.Model`."""

import keras
import numpy as np

from keras_distill.api_export import register
from keras_distill.core.errors import InvalidDataError
from keras_distill.teachers import host_call

# Samples of the probe batch that checks an adapter's outputs when it is built.
_PROBE_BATCH = 2


@register
class ForeignTeacher(keras.Model):
    """A teacher computed by NumPy code on the host: another runtime, a file, a function.

    The Distiller, `TeacherCache.compute` and `ShardedTeacherCache.build`
    take it like any Keras teacher. Its outputs are logits (float32); it has
    no weights, so the caches fingerprint it by `source_fingerprint` (the
    file's hash, the estimator's state, the function's declared version).
    Online in `fit` it runs as a host call inside the compiled step:
    `tf.numpy_function` on TensorFlow (without XLA), `jax.pure_callback` on
    JAX, eagerly on torch. Under a `keras.distribution` (JAX) or a TPU
    strategy, where a host call cannot run on every device, it raises and
    points to the teacher caches.

    Subclasses implement `run(inputs)` on NumPy arrays.

    Args:
        input_shape: Shape of one sample (no batch), or a list/dict of them.
            Entries may be `None` where the source accepts any size.
        input_dtype: Dtype the inputs are cast to before `run` (one for
            all inputs). Defaults to `"float32"`.
        output_shape: Shape of one sample's logits (no batch), or `None` to
            take it from a probe run.
        source_fingerprint: What the caches hash in place of weights.
        name: The model's name.

    Example:

    ```python
    teacher = keras_distill.teachers.FunctionTeacher(
        lambda x: x @ np.ones((784, 10), "float32"), input_shape=(784,), output_shape=(10,), version="1"
    )
    teacher.predict(x_train[:4], verbose=0).shape  # (4, 10)
    ```
    """

    # Outputs are logits: no final activation to undo.
    distillation_output_activation = None

    def __init__(self, input_shape, output_shape=None, source_fingerprint="", input_dtype="float32",
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.trainable = False
        # XLA cannot compile `tf.numpy_function`; Keras then uses a plain tf.function.
        self.supports_jit = keras.backend.backend() != "tensorflow"
        self.source_input_shape = _shapes(input_shape)
        self.source_input_dtype = keras.backend.standardize_dtype(input_dtype)
        self.source_fingerprint = str(source_fingerprint)
        self.source_output_shape = None if output_shape is None else tuple(output_shape)
        self.built = True

    def run(self, inputs):
        """The logits for a batch of NumPy `inputs`, as an array of shape `(batch,) + output_shape`."""
        raise NotImplementedError

    def check_outputs(self):
        """Runs a probe batch and checks the logits' shape and dtype; sets `source_output_shape`.

        Raises:
            InvalidDataError: The outputs are not a float array of the
                declared shape, or not finite.
        """
        if any(d is None for s in self._flat_shapes() for d in s):
            if self.source_output_shape is None:
                raise ValueError(
                    f"{type(self).__name__}: the input shape {self.source_input_shape} has unknown "
                    "sizes, so the output shape cannot be probed. Pass `output_shape=`."
                )
            return
        probe = self._structure(lambda shape: np.zeros((_PROBE_BATCH,) + shape, self.source_input_dtype))
        outputs = np.asarray(self.run(probe))
        expected = self.source_output_shape
        if not np.issubdtype(outputs.dtype, np.floating):
            raise InvalidDataError(
                f"{type(self).__name__} ({self.name!r}) returned {outputs.dtype} outputs; a teacher "
                "must return float logits."
            )
        if outputs.shape[:1] != (_PROBE_BATCH,) or (
            expected is not None and outputs.shape[1:] != expected
        ):
            raise InvalidDataError(
                f"{type(self).__name__} ({self.name!r}) returned outputs of shape {outputs.shape} "
                f"for a batch of {_PROBE_BATCH}; expected {(_PROBE_BATCH,) + (expected or ('...',))}. "
                "Check `input_shape` and `output_shape`."
            )
        self.source_output_shape = tuple(outputs.shape[1:])

    def _flat_shapes(self):
        shapes = self.source_input_shape
        if _is_shape(shapes):
            return [shapes]
        return list(shapes.values()) if isinstance(shapes, dict) else list(shapes)

    def _structure(self, fn):
        shapes = self.source_input_shape
        if _is_shape(shapes):
            return fn(shapes)
        if isinstance(shapes, dict):
            return {key: fn(shape) for key, shape in shapes.items()}
        return [fn(shape) for shape in shapes]

    def _run_checked(self, inputs):
        inputs = keras.tree.map_structure(lambda a: np.asarray(a, self.source_input_dtype), inputs)
        return np.asarray(self.run(inputs), dtype="float32")

    def call(self, inputs, training=False):
        _check_online()
        return host_call.call_on_host(
            self._run_checked, inputs, (None,) + self.source_output_shape
        )

    def compute_output_spec(self, inputs, training=False):
        batch = keras.tree.flatten(inputs)[0].shape[0]
        return keras.KerasTensor((batch,) + self.source_output_shape, dtype="float32")

    def compute_output_shape(self, input_shape):
        batch = keras.tree.flatten(input_shape)[0] if not _is_shape(input_shape) else input_shape[0]
        return (batch,) + self.source_output_shape

    def get_config(self):
        raise NotImplementedError(
            f"{type(self).__name__} ({self.name!r}) wraps an object outside Keras and is not "
            "saved with the model. Save the student (`distiller.student.save(...)`) and "
            "rebuild the teacher from its source."
        )


def _shapes(input_shape):
    if _is_shape(input_shape):
        return tuple(input_shape)
    if isinstance(input_shape, dict) and all(_is_shape(s) for s in input_shape.values()):
        return {key: tuple(shape) for key, shape in input_shape.items()}
    if isinstance(input_shape, (list, tuple)) and input_shape and all(_is_shape(s) for s in input_shape):
        return [tuple(shape) for shape in input_shape]
    raise ValueError(
        "`input_shape` must be the shape of one sample (a tuple of ints or None, without "
        f"the batch), or a list/dict of them. Received: input_shape={input_shape!r}"
    )


def _is_shape(value):
    return isinstance(value, (tuple, list)) and all(d is None or isinstance(d, int) for d in value)


def _check_online():
    backend = keras.backend.backend()
    reason = None
    if backend == "jax" and keras.distribution.distribution() is not None:
        reason = "a keras.distribution spreads the step over devices"
    elif backend == "tensorflow":
        import tensorflow as tf

        strategy = tf.distribute.get_strategy() if tf.distribute.has_strategy() else None
        if strategy is not None and "TPU" in type(strategy).__name__:
            reason = f"the {type(strategy).__name__} runs the step on TPU cores"
    if reason is not None:
        raise RuntimeError(
            "A teacher from another runtime runs as a host call, which cannot run online "
            f"here: {reason}. Compute its logits once before training, with "
            "keras_distill.TeacherCache.compute(teacher, x) (or ShardedTeacherCache.build), "
            "and fit on `cache.inputs(x)` (see docs/teachers.md)."
        )

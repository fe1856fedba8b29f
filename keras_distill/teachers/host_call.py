"""Calling NumPy code from inside a compiled Keras step, on every backend.

A teacher from another runtime (ONNX Runtime, LiteRT, PyTorch, scikit-learn)
runs on the host on NumPy arrays. Keras compiles `fit`'s and `predict`'s
steps on TensorFlow (`tf.function`) and JAX (`jax.jit`); both offer a host
call that the compiled step runs as an opaque operation with a declared
output shape: `tf.numpy_function` and `jax.pure_callback`. Torch runs eagerly
and calls the function directly. XLA cannot compile `tf.numpy_function`, so
a model holding such a teacher declares `supports_jit = False` on
TensorFlow and Keras falls back to a plain `tf.function`.
"""

import keras
import numpy as np


def _to_numpy(tree):
    return keras.tree.map_structure(lambda t: np.asarray(keras.ops.convert_to_numpy(t)), tree)


def call_on_host(fn, inputs, output_shape):
    """Runs `fn(numpy_inputs) -> float32 array` on the host, inside or outside a compiled step.

    Args:
        fn: Takes `inputs` as NumPy arrays (same structure) and returns a
            float32 array of `output_shape`.
        inputs: A tensor, or a list/dict of tensors, of the current backend.
        output_shape: The output's shape; its first entry (the batch) may be
            `None`, when it is taken from the first input.

    Returns:
        A float32 tensor of the current backend.
    """
    flat = keras.tree.flatten(inputs)
    batch = output_shape[0]
    if batch is None:
        batch = flat[0].shape[0]
    shape = (batch,) + tuple(output_shape[1:])
    backend = keras.backend.backend()

    def host(*arrays):
        structured = keras.tree.pack_sequence_as(inputs, [np.asarray(a) for a in arrays])
        return np.asarray(fn(structured), dtype="float32")

    if backend == "tensorflow":
        import tensorflow as tf

        outputs = tf.numpy_function(host, flat, tf.float32, stateful=False)
        outputs.set_shape(shape)
        return outputs
    if backend == "jax":
        import jax

        return jax.pure_callback(host, jax.ShapeDtypeStruct(shape, np.float32), *flat)
    return keras.ops.convert_to_tensor(host(*_to_numpy(flat)), dtype="float32")

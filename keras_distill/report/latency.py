"""Single-sample CPU latency of Keras models and exported artifacts.

Both are timed the same way (one sample per call, warm-up calls first, the
median of the timed calls), so the ratios between them are meaningful on a
loaded machine, where the mean is dominated by a few preempted calls.
"""

import statistics
import time

import keras
import numpy as np

# Untimed calls first: the first calls trace functions and allocate buffers.
WARMUP_CALLS = 5


def _median_ms(run, samples):
    for sample in samples[:WARMUP_CALLS]:
        run(sample)
    times = []
    for sample in samples:
        start = time.perf_counter()
        run(sample)
        times.append(time.perf_counter() - start)
    return 1000.0 * statistics.median(times)


def _check_num_samples(num_samples):
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(
            f"`num_samples` must be a positive integer. Received: num_samples={num_samples!r}."
        )


def keras_latency_ms(model, x, num_samples=100, compiled=False):
    """Median time of `model(sample, training=False)` on single samples, in ms.

    With `compiled=False` this is the direct Keras call (eager on
    TensorFlow), how a Keras model answers one request without an exporter;
    `predict` adds more overhead per call. With `compiled=True` the call is
    traced once into a `tf.function`, which removes the per-layer Python
    overhead: the fairest Keras baseline for an exported artifact. On JAX the
    compiled call is a `jax.jit` of the model's stateless call; on torch the
    call stays eager.

    Args:
        model: A `keras.Model`.
        x: Inputs (one array); its first `num_samples` rows are timed.
        num_samples: How many single-sample calls to time. Defaults to `100`.
        compiled: Whether to time a `tf.function` of the call. Defaults to
            `False`.

    Returns:
        Milliseconds per sample, a float.
    """
    _check_num_samples(num_samples)
    x = np.asarray(x)
    samples = [x[i : i + 1] for i in range(min(num_samples, len(x)))]

    def call(sample):
        return model(sample, training=False)

    if compiled:
        call = _compiled_call(model, call)
    return _median_ms(call, samples)


def _compiled_call(model, call):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(call)
    if backend == "jax":
        import jax

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        @jax.jit
        def run(sample):
            return model.stateless_call(trainable, non_trainable, sample, training=False)[0]

        return lambda sample: run(sample).block_until_ready()
    return call


def artifact_latency_ms(result, model, x, num_samples=100):
    """Median single-sample time of an exported artifact in its runtime, in ms.

    Args:
        result: The `keras_distill.ExportResult` of the artifact; it is run
            with the same runtime as its verification (TensorFlow, the
            LiteRT interpreter or ONNX Runtime, on the CPU).
        model: The Keras model it was exported from (for its input specs).
        x: Inputs structured like the model's inputs.
        num_samples: How many single-sample calls to time. Defaults to `100`.

    Returns:
        Milliseconds per sample, a float.
    """
    from keras_distill.export import runtimes
    from keras_distill.export import sample_data
    from keras_distill.export import signature

    _check_num_samples(num_samples)
    specs = signature.input_specs(model)
    arrays = sample_data.flat_samples(model, specs, x, "x", limit=num_samples)
    run = runtimes.open_runner(result.format, result.path, specs)
    return _median_ms(run, list(sample_data.single_samples(arrays)))

"""Checking an exported artifact against the Keras model it came from."""

import time

import keras
import numpy as np

from keras_distill.core import atomic_files as atomic
from keras_distill.core.errors import CorruptFileError
from keras_distill.core.errors import ExportConversionError
from keras_distill.core.errors import KerasDistillError
from keras_distill.export import runtimes
from keras_distill.export import sample_data
from keras_distill.export import signature
from keras_distill.export.export_result import ExportResult
from keras_distill.export.export_result import wilson_interval

# Default `(atol, rtol, min_agreement)` per quantization. Float artifacts must
# match Keras element-wise; quantized ones are judged on top-1 agreement.
DEFAULT_TOLERANCES = {
    None: (1e-5, 1e-5, 1.0),
    "float16": (None, None, 0.999),
    "dynamic": (None, None, 0.99),
    "int8": (None, None, 0.99),
}
# Where int8 misses on top-1 agreement, a few layers kept in float usually fix it.
_FALLBACK_HINT = (
    '`fallback="auto"` keeps the layers that quantize worst in float until `min_agreement` '
    "is met (a few kilobytes). "
)
# Samples timed one at a time for `ExportResult.latency_ms`.
LATENCY_SAMPLES = 20


class ExportVerificationError(KerasDistillError):
    """An exported artifact does not reproduce the Keras model within tolerance.

    The artifact is not left at the target path. `error.result` holds the
    `ExportResult` with the measured differences.

    Args:
        message: Which tolerance was missed, by how much, over how many samples.
        result: The measured `ExportResult`.

    Example:

    ```python
    try:
        keras_distill.export_tflite(student, "s.tflite", quantization="int8", representative_data=x)
    except keras_distill.ExportVerificationError as error:
        print(error.result.agreement, error.result.agreement_interval)
    ```
    """

    def __init__(self, message, result=None):
        super().__init__(message)
        self.result = result


def keras_outputs(model, flat_inputs):
    """The Keras model's outputs on `flat_inputs`, flattened, as numpy arrays."""
    outputs = model(signature.pack_inputs(model, flat_inputs), training=False)
    return [keras.ops.convert_to_numpy(t) for t in keras.tree.flatten(outputs)]


def _agreement(actual, expected):
    """`(rate, matches, total)` of the classifier output agreeing least, or `None`."""
    counts = [
        (int(np.sum(np.argmax(a, axis=-1) == np.argmax(e, axis=-1))), int(np.prod(e.shape[:-1])))
        for a, e in zip(actual, expected)
        if e.ndim >= 2 and e.shape[-1] > 1
    ]
    if not counts:
        return None
    matches, total = min(counts, key=lambda c: c[0] / c[1])
    return matches / total, matches, total


def _latency_ms(run, arrays):
    samples = list(sample_data.single_samples([a[:LATENCY_SAMPLES] for a in arrays]))
    run(samples[0])
    start = time.perf_counter()
    for sample in samples:
        run(sample)
    return 1000 * (time.perf_counter() - start) / len(samples)


def _tolerance(quantization, atol, rtol, min_agreement):
    default_atol, default_rtol, default_agreement = DEFAULT_TOLERANCES[quantization]
    atol = default_atol if atol is None else atol
    rtol = default_rtol if rtol is None and atol is not None else rtol
    min_agreement = default_agreement if min_agreement is None else min_agreement
    if min_agreement is not None and not 0.0 <= min_agreement <= 1.0:
        raise ValueError(
            f"`min_agreement` must be in [0, 1]. Received: min_agreement={min_agreement}."
        )
    return atol, rtol or 0.0, min_agreement


def _scale(expected):
    """Each sample's largest output magnitude, shaped to broadcast over its outputs.

    Float32 kernels that sum in another order differ by a few ulps of the
    sums' magnitude, not of each element: an output near zero next to large
    ones differs by more than `rtol` times itself.
    """
    if expected.ndim < 2:
        return np.abs(expected)
    flat = np.abs(expected).reshape(len(expected), -1).max(axis=1)
    return flat.reshape((-1,) + (1,) * (expected.ndim - 1))


def _failures(actual, expected, agreement, atol, rtol, min_agreement):
    failures = []
    if atol is not None:
        within = all(
            np.all(np.abs(a - e) <= atol + rtol * _scale(e))
            for a, e in zip(actual, expected)
        )
        if not within:
            failures.append(
                f"outputs differ by more than atol={atol:g} + rtol={rtol:g} x the sample's "
                "largest output"
            )
    if agreement is not None and agreement[0] < min_agreement:
        rate, matches, total = agreement
        low, high = wilson_interval(matches, total)
        failures.append(
            f"top-1 agreement {100 * rate:.2f}% ({matches} of {total}; 95% CI "
            f"{100 * low:.2f}-{100 * high:.2f}%) < min_agreement {100 * min_agreement:.2f}%"
        )
    return failures


def choose_samples(model, specs, sample_inputs=None, fallback=None):
    """The flat arrays to verify on: `sample_inputs`, else `fallback`'s first
    `DEFAULT_NUM_SAMPLES`, else random inputs drawn from `specs`."""
    if sample_inputs is not None:
        return sample_data.flat_samples(
            model, specs, sample_inputs, "sample_inputs", limit=sample_data.MAX_VERIFY_SAMPLES
        )
    if fallback is not None:
        return [a[: sample_data.MAX_VERIFY_SAMPLES] for a in fallback]
    return sample_data.random_samples(specs)


def report(
    model,
    specs,
    staged,
    path,
    format,
    quantization=None,
    verify=True,
    samples=None,
    atol=None,
    rtol=None,
    min_agreement=None,
    batch_size=None,
    float_layers=None,
    fallback_cost_bytes=None,
):
    """Describes the artifact at `staged`; runs it and compares with `model`.

    Args:
        model: The exported `keras.Model`.
        specs: The specs the artifact was exported with (`signature.input_specs`).
        staged: Where the artifact is now (before it is renamed to `path`).
        path: The artifact's final path, for the result.
        format: A key of `runtimes.RUNNERS`.
        quantization: The TFLite quantization, for the default tolerances.
        verify: Whether to run and compare the artifact. Defaults to `True`.
        samples: Flat input arrays to compare on (`choose_samples`).
        atol: Largest allowed absolute difference per output element, or
            `None` to skip the element-wise check. Defaults to `1e-5` for
            float artifacts, `None` for quantized ones.
        rtol: Allowed difference relative to each sample's largest Keras
            output magnitude. Defaults to `1e-5` when `atol` is set.
        min_agreement: Smallest allowed top-1 agreement for classifier
            outputs. Defaults to `1.0` (float), `0.999` (float16) or `0.99`
            (dynamic, int8).

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: When the artifact misses a tolerance.
    """
    atol, rtol, min_agreement = _tolerance(quantization, atol, rtol, min_agreement)
    result = ExportResult(
        path=path,
        format=format,
        quantization=quantization,
        size_bytes=atomic.artifact_size(staged),
        batch_size=batch_size,
        float_layers=float_layers,
        fallback_cost_bytes=fallback_cost_bytes,
    )
    if not verify:
        return result
    try:
        run = runtimes.open_runner(format, staged, specs)
    except CorruptFileError as error:
        raise ExportConversionError(
            f"The {format} converter produced a file its runtime rejects: {error}. Nothing was "
            f"written to {path!r}."
        ) from None
    actual = [np.asarray(a, "float64") for a in run(samples)]
    expected = [np.asarray(e, "float64") for e in keras_outputs(model, samples)]
    result.num_samples = len(samples[0])
    shapes = ([a.shape for a in actual], [e.shape for e in expected])
    if shapes[0] != shapes[1]:
        raise ExportVerificationError(
            f"The {format} artifact returns outputs of shapes {shapes[0]}, but the "
            f"Keras model returns {shapes[1]}.",
            result,
        )
    diffs = np.concatenate([np.abs(a - e).ravel() for a, e in zip(actual, expected)])
    result.max_abs_diff = float(diffs.max())
    result.mean_abs_diff = float(diffs.mean())
    agreement = _agreement(actual, expected)
    if agreement is not None:
        result.agreement = agreement[0]
        result.agreement_interval = wilson_interval(agreement[1], agreement[2])
    result.latency_ms = _latency_ms(run, samples)
    failures = _failures(actual, expected, agreement, atol, rtol, min_agreement)
    if failures:
        raise ExportVerificationError(
            f"The {format} artifact ({quantization or 'float32'}) does not reproduce "
            f"the Keras model: {'; '.join(failures)} (max_abs_diff="
            f"{result.max_abs_diff:.3g} over {result.num_samples} samples"
            + (f"; layers kept in float: {float_layers}" if float_layers else "")
            + "). Nothing "
            f"was written to {path!r}. "
            + (_FALLBACK_HINT if quantization == "int8" and float_layers is None else "")
            + "Loosen `atol`/`rtol`/`min_agreement`, or pass `verify=False` to keep the "
            "artifact unchecked.",
            result,
        )
    return result

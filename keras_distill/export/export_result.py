"""What an export wrote, and how closely it reproduces the Keras model."""

import dataclasses


def _size(num_bytes):
    if num_bytes < 1024:
        return f"{num_bytes} B"
    if num_bytes < 1024**2:
        return f"{num_bytes / 1024:.1f} KiB"
    return f"{num_bytes / 1024**2:.1f} MiB"


def _interval(interval):
    if interval is None:
        return ""
    return f" (95% CI {100 * interval[0]:.2f}-{100 * interval[1]:.2f}%)"


def wilson_interval(successes, n, z=1.959964):
    """95% Wilson score interval of a proportion `successes / n`."""
    if n == 0:
        return None
    p = successes / n
    denominator = 1 + z * z / n
    center = (p + z * z / (2 * n)) / denominator
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / denominator
    return (max(0.0, center - half), min(1.0, center + half))


@dataclasses.dataclass
class ExportResult:
    """The artifact an exporter wrote and its verification against Keras.

    Returned by every exporter; not built by hand.

    Verification runs the artifact in its own runtime (TensorFlow, the LiteRT
    interpreter or ONNX Runtime) on sample inputs and compares its outputs
    with the Keras model's. The metric fields are `None` when verification
    was turned off (`verify=False`); `agreement` is also `None` when no output
    is a classifier (last dimension 1).

    Attributes:
        path: Absolute path of the artifact.
        format: `"saved_model"`, `"tflite"` or `"onnx"`.
        quantization: `None`, `"float16"`, `"dynamic"` or `"int8"`.
        size_bytes: Size of the artifact (all files of a SavedModel folder).
        max_abs_diff: Largest absolute output difference from Keras.
        mean_abs_diff: Mean absolute output difference from Keras.
        agreement: Fraction of samples whose top-1 class matches Keras.
        latency_ms: Mean single-sample inference time in the runtime, in
            milliseconds.
        num_samples: How many samples were compared.
        agreement_interval: 95% Wilson confidence interval `(low, high)` of
            the top-1 agreement over `num_samples`: how sure the measured
            agreement is (64 samples cannot tell 95% from 98%).
        float_layers: With `fallback=`, the layers kept in float in an int8
            model (`[]` when full int8 met the target); `None` otherwise.
        fallback_cost_bytes: What keeping `float_layers` in float adds to
            the size of the fully int8 model.
        batch_size: `None` for a dynamic batch dimension; `1` when the
            artifact takes one sample per call (TFLite models with recurrent
            layers, whose loops need a static shape).

    Args:
        path: See Attributes.
        format: See Attributes.
        quantization: See Attributes.
        size_bytes: See Attributes.
        max_abs_diff: See Attributes.
        mean_abs_diff: See Attributes.
        agreement: See Attributes.
        latency_ms: See Attributes.
        num_samples: See Attributes.
        agreement_interval: See Attributes.
        batch_size: See Attributes.
        float_layers: See Attributes.
        fallback_cost_bytes: See Attributes.

    Example:

    ```python
    result = keras_distill.export_onnx(student, "student.onnx", sample_inputs=x_val)
    assert result.verified and result.max_abs_diff < 1e-5
    print(result.size_bytes, result.latency_ms)
    ```
    """

    path: str
    format: str
    quantization: str = None
    size_bytes: int = 0
    max_abs_diff: float = None
    mean_abs_diff: float = None
    agreement: float = None
    latency_ms: float = None
    num_samples: int = 0
    agreement_interval: tuple = None
    batch_size: int = None
    float_layers: list = None
    fallback_cost_bytes: int = None

    @property
    def verified(self):
        """Whether the artifact was run and compared with Keras."""
        return self.max_abs_diff is not None

    def __repr__(self):
        fields = [
            f"format={self.format!r}",
            f"quantization={self.quantization!r}",
            f"path={self.path!r}",
            f"size={_size(self.size_bytes)}",
        ]
        if not self.verified:
            fields.append("verified=False")
        else:
            fields += [
                f"max_abs_diff={self.max_abs_diff:.3g}",
                f"mean_abs_diff={self.mean_abs_diff:.3g}",
                "agreement="
                + ("n/a" if self.agreement is None else f"{100 * self.agreement:.2f}%"
                   + _interval(self.agreement_interval)),
                f"latency={self.latency_ms:.3f} ms",
                f"samples={self.num_samples}",
            ]
        if self.float_layers is not None:
            fields.append(
                f"float_layers={self.float_layers}, fallback_cost={_size(self.fallback_cost_bytes)}"
            )
        if self.batch_size is not None:
            fields.append(f"batch_size={self.batch_size}")
        return f"ExportResult({', '.join(fields)})"

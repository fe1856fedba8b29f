"""The one outline every exporter follows: resolve, describe, stage, write, verify, publish."""

from keras_distill.core import atomic_files as atomic
from keras_distill.export import signature
from keras_distill.export import verification


def export_verified(
    model,
    path,
    format,
    write,
    *,
    overwrite,
    verify,
    sample_inputs,
    atol,
    rtol,
    min_agreement,
    quantization=None,
    calibrate=None,
):
    """Exports `model` (a Distiller's student) to `path` through `write`, verified before it lands.

    Args:
        model: A `keras.Model` or a `Distiller` (its student is exported).
        path: The target file or folder.
        format: `"saved_model"`, `"tflite"` or `"onnx"`, for the result.
        write: `write(student, specs, staged, samples, calibration)` writes
            the artifact at the staged path and returns a dict of extra
            `verification.report` arguments (or `None`); its `"samples"`
            replace the ones to verify on (samples `write` did not tune on).
        overwrite, verify, sample_inputs, atol, rtol, min_agreement: As in
            the exporters.
        quantization: The TFLite quantization, for the result. Defaults to
            `None`.
        calibrate: `calibrate(student, specs)` returns flat calibration
            samples (TFLite int8), also offered to verification. Defaults to
            `None`.

    The exporter checks the backend and its own options first.

    Returns:
        The `ExportResult`. The artifact appears at `path` only when it is
        complete and verified (or `verify=False`).
    """
    path = atomic.check_target(path, overwrite)
    student = signature.resolve_model(model)
    specs = signature.input_specs(student)
    calibration = calibrate(student, specs) if calibrate is not None else None
    samples = verification.choose_samples(student, specs, sample_inputs, calibration)
    with atomic.staged_path(path, overwrite) as staged:
        extras = write(student, specs, staged, samples, calibration) or {}
        samples = extras.pop("samples", samples)
        return verification.report(
            student, specs, staged, path, format, quantization=quantization, verify=verify,
            samples=samples, atol=atol, rtol=rtol, min_agreement=min_agreement, **extras,
        )

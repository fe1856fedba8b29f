"""Converting a quantization-aware (QAT) student to an int8 TFLite file.

A QAT model is a `tf_keras` model whose fake-quantization ops already hold
the int8 ranges, so the converter needs no calibration data. The file is
written and verified with the exporters' own pieces (atomic staging, LiteRT
verification, `ExportResult`); only the conversion differs from
`keras_distill.export.export_tflite`.
"""

import warnings

from keras_distill.core import atomic_files as atomic
from keras_distill.core.native_output import quiet_native_output
from keras_distill.export import signature
from keras_distill.export import verification
from keras_distill.export.dependencies import import_optional


def _check_qat_model(model):
    layers = getattr(model, "layers", None) or []
    if not any(type(layer).__name__ == "QuantizeWrapperV2" for layer in layers):
        raise TypeError(
            "`model` must be the QAT model returned by "
            "`keras_distill.optimize.quantization_aware_distill`. Received: "
            f"{type(model).__name__}; export Keras 3 models with "
            "`keras_distill.export_tflite(model, path, quantization='int8', "
            "representative_data=...)`."
        )


def _convert(model, specs):
    import tensorflow as tf

    serve = signature.serving_function(model, specs).get_concrete_function()
    converter = tf.lite.TFLiteConverter.from_concrete_functions([serve], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    with warnings.catch_warnings(), quiet_native_output():
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        return converter.convert()


def export_qat_tflite(
    model,
    path,
    overwrite=False,
    verify=True,
    sample_inputs=None,
    min_agreement=None,
):
    """Exports a QAT student as an int8 `.tflite` file and checks it in LiteRT.

    Weights and activations are int8 with the ranges learned during QAT;
    inputs and outputs stay float32. Verification runs the file in the
    LiteRT interpreter and compares its top-1 predictions with the QAT
    model's own outputs (the float simulation of the int8 model).

    Args:
        model: What `keras_distill.optimize.quantization_aware_distill`
            returned.
        path: The `.tflite` file to write.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to run the file and compare it with `model`.
            Defaults to `True`.
        sample_inputs: Inputs to verify on. Defaults to `None` (64 random
            inputs; pass real ones, random inputs are not what the ranges
            were learned on).
        min_agreement: Smallest allowed top-1 agreement with `model`.
            Defaults to `0.99`.

    Returns:
        An `ExportResult` with `quantization="int8"`.

    Raises:
        ExportVerificationError: When the file misses `min_agreement`; no
            file is left at `path` then.
        FileExistsError: When `path` exists and `overwrite` is `False`.

    Example:

    ```python
    qat = keras_distill.optimize.quantization_aware_distill(student, cache, (x, y))
    result = keras_distill.optimize.export_qat_tflite(
        qat, "student_int8.tflite", sample_inputs=x_test[:500]
    )
    ```
    """
    _check_qat_model(model)
    if verify:
        import_optional("ai_edge_litert.interpreter", "Verifying a TFLite export")
    path = atomic.check_target(path, overwrite)
    specs = signature.input_specs(model)
    samples = verification.choose_samples(model, specs, sample_inputs)
    with atomic.staged_path(path, overwrite) as staged:
        flatbuffer = _convert(model, specs)
        with open(staged, "wb") as f:
            f.write(flatbuffer)
        return verification.report(
            model,
            specs,
            staged,
            path,
            "tflite",
            quantization="int8",
            verify=verify,
            samples=samples,
            min_agreement=min_agreement,
        )

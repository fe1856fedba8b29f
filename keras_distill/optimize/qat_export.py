"""Exporting a quantization-aware (QAT) student: int8 TFLite, SavedModel, ONNX.

A QAT model is a `tf_keras` model whose fake-quantization ops already hold
the int8 ranges, so the converter needs no calibration data. Files are
written and verified with the exporters' own pieces (atomic staging,
verification in each runtime, `ExportResult`); only the conversion differs
from `keras_distill.export`. The SavedModel keeps the fake-quantization ops
(the float simulation of the int8 model, servable by TensorFlow Serving); the
ONNX file carries them as QuantizeLinear/DequantizeLinear pairs, which ONNX
Runtime runs as int8 kernels.
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


def _write_saved_model(model, specs, directory):
    import tensorflow as tf

    module = tf.Module()
    module.model = model
    module.serve = signature.serving_function(model, specs)
    tf.saved_model.save(
        module, directory, signatures={"serving_default": module.serve.get_concrete_function()}
    )


def _write_onnx(model, specs, path, opset):
    tf2onnx = import_optional("tf2onnx", "ONNX export")
    from keras_distill.export.onnx import _name_inputs_like_keras

    with quiet_native_output():
        graph_def, inputs, outputs = signature.frozen_graph(model, specs)
        tf2onnx.convert.from_graph_def(
            graph_def, input_names=inputs, output_names=outputs, opset=opset, output_path=path
        )
    _name_inputs_like_keras(path)


def _export_qat(model, path, format, overwrite, verify, sample_inputs, min_agreement, opset=17):
    _check_qat_model(model)
    path = atomic.check_target(path, overwrite)
    specs = signature.input_specs(model)
    samples = verification.choose_samples(model, specs, sample_inputs)
    with atomic.staged_path(path, overwrite) as staged:
        if format == "saved_model":
            _write_saved_model(model, specs, staged)
        else:
            if verify:
                import_optional("onnxruntime", "Verifying an ONNX export")
            _write_onnx(model, specs, staged, opset)
        return verification.report(
            model, specs, staged, path, format, quantization="int8", verify=verify,
            samples=samples, min_agreement=min_agreement,
        )


def export_qat_saved_model(
    model, path, overwrite=False, verify=True, sample_inputs=None, min_agreement=None
):
    """Exports a QAT student as a SavedModel (fake-quantized) and checks it in TensorFlow.

    Args:
        model: What `keras_distill.optimize.quantization_aware_distill`
            returned.
        path: The SavedModel folder to write.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to load the SavedModel and compare its top-1
            predictions with `model`'s. Defaults to `True`.
        sample_inputs: Inputs to verify on. Defaults to `None` (64 random
            inputs; pass real ones).
        min_agreement: Smallest allowed top-1 agreement. Defaults to `0.99`.

    Returns:
        An `ExportResult` with `quantization="int8"`.

    Example:

    ```python
    result = keras_distill.optimize.export_qat_saved_model(qat, "student_qat", sample_inputs=x_test)
    ```
    """
    return _export_qat(model, path, "saved_model", overwrite, verify, sample_inputs, min_agreement)


def export_qat_onnx(
    model, path, opset=17, overwrite=False, verify=True, sample_inputs=None, min_agreement=None
):
    """Exports a QAT student as an ONNX model with QuantizeLinear/DequantizeLinear pairs.

    ONNX Runtime executes the pairs as int8 kernels, which round slightly
    differently from the QAT model's float simulation: expect agreement a
    little below the TFLite file's on inputs near a decision boundary.

    Args:
        model: What `keras_distill.optimize.quantization_aware_distill`
            returned.
        path: The `.onnx` file to write.
        opset: The ONNX opset, 15-18. Defaults to `17`.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to run the file with ONNX Runtime and compare its
            top-1 predictions with `model`'s. Defaults to `True`.
        sample_inputs: Inputs to verify on. Defaults to `None` (64 random
            inputs; pass real ones).
        min_agreement: Smallest allowed top-1 agreement. Defaults to `0.99`.

    Returns:
        An `ExportResult` with `quantization="int8"`.

    Example:

    ```python
    result = keras_distill.optimize.export_qat_onnx(qat, "student_qat.onnx", sample_inputs=x_test)
    ```
    """
    from keras_distill.export.onnx import OPSETS

    if opset not in OPSETS:
        raise ValueError(f"`opset` must be one of {OPSETS}. Received: opset={opset!r}.")
    return _export_qat(
        model, path, "onnx", overwrite, verify, sample_inputs, min_agreement, opset=opset
    )

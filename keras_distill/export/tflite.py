"""Exporting a student as a TFLite (LiteRT) flatbuffer, optionally quantized."""

import tempfile

import keras

from keras_distill.core.native_output import quiet_native_output
from keras_distill.export import conversion_errors
from keras_distill.export import converter as converter_lib
from keras_distill.export import int8_fallback
from keras_distill.export import keras_exporters
from keras_distill.export import outline
from keras_distill.export import sample_data
from keras_distill.export import saved_model
from keras_distill.export import signature
from keras_distill.export import verification
from keras_distill.export.dependencies import import_optional

QUANTIZATIONS = (None, "float16", "dynamic", "int8")


def _check_fallback(fallback, quantization, int8_io):
    if fallback is None:
        return
    if quantization != "int8":
        raise ValueError(
            "`fallback` keeps layers of an int8 model in float; it needs "
            f"quantization='int8'. Received: quantization={quantization!r}."
        )
    if int8_io:
        raise ValueError("`fallback` cannot be combined with `int8_io=True`.")
    if fallback != "auto" and (
        isinstance(fallback, str)
        or not isinstance(fallback, (list, tuple))
        or not all(isinstance(name, str) for name in fallback)
    ):
        raise ValueError(
            "`fallback` must be 'auto' or a list of layer names. Received: "
            f"fallback={fallback!r}."
        )


def _check_options(quantization, representative_data, int8_io):
    if quantization not in QUANTIZATIONS:
        raise ValueError(
            f"`quantization` must be one of {QUANTIZATIONS}. "
            f"Received: quantization={quantization!r}."
        )
    if quantization == "int8" and representative_data is None:
        raise ValueError(
            "`representative_data` is required for quantization='int8': pass ~100-500 "
            "typical inputs (an array, a list/dict of arrays, or a tf.data.Dataset) "
            "so the converter can calibrate the int8 ranges."
        )
    if quantization != "int8" and representative_data is not None:
        raise ValueError(
            "`representative_data` is only used with quantization='int8'. "
            f"Received: quantization={quantization!r}."
        )
    if int8_io and quantization != "int8":
        raise ValueError(
            "`int8_io=True` needs quantization='int8'. "
            f"Received: quantization={quantization!r}."
        )


def convert_tflite(
    model,
    specs,
    quantization=None,
    calibration=None,
    int8_io=False,
    allow_select_tf_ops=False,
):
    """Converts `model` to TFLite bytes through a temporary SavedModel.

    Args:
        model: The `keras.Model` to convert.
        specs: Its `tf.TensorSpec`s (`signature.input_specs`).
        quantization: One of `QUANTIZATIONS`.
        calibration: Flat input arrays for int8 calibration.
        int8_io: Whether int8 models take and return int8 tensors.
        allow_select_tf_ops: Whether TensorFlow ops may back builtins.

    Returns:
        The flatbuffer, as `bytes`.
    """
    with tempfile.TemporaryDirectory(prefix="keras_distill_tflite_") as directory:
        saved_model.write_saved_model(model, specs, directory)
        converter = converter_lib.make_converter(
            directory, specs, quantization, calibration, int8_io, allow_select_tf_ops
        )
        with converter_lib.quiet_conversion():
            return converter.convert()


def _convert(model, specs, quantization, calibration, int8_io, allow_select_tf_ops):
    """`(flatbuffer, batch_size)`: a dynamic batch, else (recurrent loops) a batch of 1."""
    # The first try's native errors ("failed to legalize operation
    # 'tf.TensorListReserve'") stay captured when the batch of 1 converts;
    # they come out only if the export fails.
    with quiet_native_output():
        return _convert_or_retry(
            model, specs, quantization, calibration, int8_io, allow_select_tf_ops
        )


def _convert_or_retry(model, specs, quantization, calibration, int8_io, allow_select_tf_ops):
    import tensorflow as tf

    try:
        return convert_tflite(
            model, specs, quantization, calibration, int8_io, allow_select_tf_ops
        ), None
    except Exception as error:  # noqa: BLE001 - the converter raises its own ConverterError
        if type(error).__name__ != "ConverterError":
            raise
        if "TensorList" not in str(error) or allow_select_tf_ops:
            raise conversion_errors.tflite_error(error, model) from None
    # Loops over a dynamic batch (GRU, LSTM) need static shapes in TFLite.
    fixed = [tf.TensorSpec((1,) + tuple(s.shape[1:]), s.dtype, s.name) for s in specs]
    try:
        return convert_tflite(
            model, fixed, quantization, calibration, int8_io, allow_select_tf_ops
        ), 1
    except Exception as error:  # noqa: BLE001
        if type(error).__name__ != "ConverterError":
            raise
        raise conversion_errors.tflite_error(error, model) from None


def export_tflite(
    model,
    path,
    quantization=None,
    representative_data=None,
    int8_io=False,
    allow_select_tf_ops=False,
    overwrite=False,
    verify=True,
    sample_inputs=None,
    atol=None,
    rtol=None,
    min_agreement=None,
    fallback=None,
):
    """Exports a student as a `.tflite` file and checks it in the LiteRT runtime.

    The model is converted from a SavedModel of its inference function, with
    TFLite builtin ops only unless `allow_select_tf_ops=True`. The batch
    dimension stays dynamic: input tensors have shape `[1, ...]` and
    `shape_signature` `[-1, ...]`; a signature runner resizes them to each
    call's batch, and with the plain interpreter API call
    `resize_tensor_input` then `allocate_tensors` for another batch size.
    Models with recurrent layers (GRU, LSTM), whose loops TFLite needs with
    static shapes, are exported with a batch of 1 (`result.batch_size == 1`:
    one sample per call). Ops the builtins lack raise an
    `ExportConversionError` naming the op, the layer and the fix.

    On PyTorch, Keras's LiteRT exporter converts the student with
    litert-torch (float32 only; static shapes, so `result.batch_size == 1`).
    JAX has no TFLite converter that does not go through TensorFlow: there
    the export raises an `ExportConversionError` naming the route (save the
    student, export it from TensorFlow or PyTorch).

    Args:
        model: A `keras_distill.Distiller` (its student is exported, never
            its teacher) or a built `keras.Model`.
        path: The `.tflite` file to write.
        quantization: `None` (float32), `"float16"` (float16 weights),
            `"dynamic"` (int8 weights, float activations) or `"int8"` (int8
            weights and activations, calibrated on `representative_data`).
            Defaults to `None`.
        representative_data: Calibration inputs for `"int8"`: arrays
            structured like the model inputs, or a `tf.data.Dataset` of `x`
            or `(x, y)`. Verification runs on its first 64 samples unless
            `sample_inputs` is given.
        int8_io: With `"int8"`, make the input and output tensors int8 too
            (for microcontrollers); verification quantizes the inputs and
            dequantizes the outputs with the tensors' scale and zero point.
            Defaults to `False`.
        allow_select_tf_ops: Allow TensorFlow ops the builtins lack (the
            runtime then needs the Flex delegate). Defaults to `False`.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to run the file with the LiteRT interpreter and
            compare it with the Keras model. Defaults to `True`.
        sample_inputs: Inputs to verify on, structured like the model inputs.
            Defaults to `None` (the calibration data, or 64 random samples).
        atol: Allowed absolute output difference. Defaults to `1e-5` for
            float32, `None` (not checked) when quantized.
        rtol: Allowed output difference relative to each sample's largest
            output magnitude. Defaults to `1e-5` with `atol`.
        min_agreement: Smallest allowed top-1 agreement. Defaults to `1.0`
            (float32), `0.999` (float16) or `0.99` (dynamic, int8).
        fallback: With `"int8"`, layers to keep in float: `"auto"` finds
            the layers whose quantization hurts most (the TFLite quantization
            debugger's per-layer error) and keeps them in float, one more at
            a time, until the top-1 agreement on the verification samples
            reaches `min_agreement`; a list of layer names keeps those.
            `result.float_layers` and `result.fallback_cost_bytes` say what
            stayed float and what it cost. Defaults to `None` (all int8).

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: When the file misses a tolerance; no file
            is left at `path` then.
        FileExistsError: When `path` exists and `overwrite` is `False`.

    Example:

    ```python
    result = keras_distill.export.export_tflite(
        distiller, "student.tflite", quantization="int8", representative_data=x_train[:200]
    )
    ```
    """
    signature.require_backend(
        "tflite", ("tensorflow", "torch"),
        " (JAX reaches TFLite only through jax2tf and TensorFlow's converter)",
    )
    _check_options(quantization, representative_data, int8_io)
    _check_fallback(fallback, quantization, int8_io)
    if verify:
        import_optional("ai_edge_litert.interpreter", "Verifying a TFLite export")
    if keras.backend.backend() == "torch":
        return _export_with_litert_torch(
            model, path, quantization, allow_select_tf_ops, overwrite, verify, sample_inputs,
            atol, rtol, min_agreement,
        )

    def calibrate(student, specs):
        if representative_data is None:
            return None
        return sample_data.flat_samples(student, specs, representative_data, "representative_data")

    def write(student, specs, staged, samples, calibration):
        if fallback is None:
            flatbuffer, batch_size = _convert(
                student, specs, quantization, calibration, int8_io, allow_select_tf_ops
            )
            extras = {"batch_size": batch_size}
        else:
            target = verification.DEFAULT_TOLERANCES["int8"][2] if min_agreement is None \
                else min_agreement
            search, held_out = int8_fallback.search_split(samples)
            expected = verification.keras_outputs(student, search)
            flatbuffer, float_layers, int8_size = int8_fallback.convert_with_fallback(
                student, specs, calibration, search, expected, target, fallback
            )
            extras = {"float_layers": float_layers, "samples": held_out,
                      "fallback_cost_bytes": len(flatbuffer) - int8_size}
        with open(staged, "wb") as f:
            f.write(flatbuffer)
        return extras

    return outline.export_verified(
        model, path, "tflite", write, overwrite=overwrite, verify=verify,
        sample_inputs=sample_inputs, atol=atol, rtol=rtol, min_agreement=min_agreement,
        quantization=quantization, calibrate=calibrate,
    )


def _export_with_litert_torch(
    model, path, quantization, allow_select_tf_ops, overwrite, verify, sample_inputs, atol,
    rtol, min_agreement,
):
    """`export_tflite` on PyTorch: float32 through Keras's LiteRT exporter."""
    if quantization is not None or allow_select_tf_ops:
        option = "allow_select_tf_ops=True" if allow_select_tf_ops else \
            f"quantization={quantization!r}"
        raise ValueError(
            f"On the PyTorch backend, TFLite export (litert-torch) writes float32 models only; "
            f"{option} needs TensorFlow's converter. Save the student and export it with "
            "`KERAS_BACKEND=tensorflow keras-distill export student.keras --format tflite`."
        )

    def write(student, specs, staged, samples, calibration):
        return {"batch_size": keras_exporters.write_tflite(student, specs, staged)}

    return outline.export_verified(
        model, path, "tflite", write, overwrite=overwrite, verify=verify,
        sample_inputs=sample_inputs, atol=atol, rtol=rtol, min_agreement=min_agreement,
    )

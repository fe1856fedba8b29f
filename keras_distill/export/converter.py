"""The TFLite converter for a SavedModel, shared by the TFLite export and the int8 fallback search."""

import contextlib
import warnings

from keras_distill.core.native_output import quiet_native_output
from keras_distill.export import sample_data


def make_converter(
    directory, specs, quantization=None, calibration=None, int8_io=False,
    allow_select_tf_ops=False, allow_float_ops=False,
):
    """A configured `TFLiteConverter` for the SavedModel in `directory`.

    Args:
        directory: A SavedModel written by `saved_model.write_saved_model`.
        specs: Its `tf.TensorSpec`s.
        quantization: `None`, `"float16"`, `"dynamic"` or `"int8"`.
        calibration: Flat input arrays for int8 calibration.
        int8_io: Whether int8 models take and return int8 tensors.
        allow_select_tf_ops: Whether TensorFlow ops may back builtins.
        allow_float_ops: With int8, allow float builtins too (layers kept in
            float by a fallback).
    """
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_saved_model(directory)
    int8_only = quantization == "int8" and not allow_float_ops
    builtins = tf.lite.OpsSet.TFLITE_BUILTINS_INT8 if int8_only else tf.lite.OpsSet.TFLITE_BUILTINS
    converter.target_spec.supported_ops = [builtins] + (
        [tf.lite.OpsSet.SELECT_TF_OPS] if allow_select_tf_ops else []
    )
    if quantization is not None:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantization == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantization == "int8":
        names = [spec.name for spec in specs]
        converter.representative_dataset = lambda: (
            dict(zip(names, sample)) for sample in sample_data.single_samples(calibration)
        )
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter


@contextlib.contextmanager
def quiet_conversion():
    """Silences the converter's native logs and the int8 calibrator's deprecation warning."""
    with warnings.catch_warnings(), quiet_native_output():
        # The int8 calibrator runs TensorFlow's own deprecated interpreter;
        # its deprecation warning is not the caller's to act on.
        warnings.filterwarnings("ignore", message=".*tf.lite.Interpreter is deprecated")
        yield

"""Exporting a student as an ONNX model: tf2onnx on TensorFlow, Keras's exporter on JAX and PyTorch."""

import keras

from keras_distill.core.native_output import quiet_native_output
from keras_distill.export import conversion_errors
from keras_distill.export import keras_exporters
from keras_distill.export import outline
from keras_distill.export import signature
from keras_distill.export.dependencies import import_optional

OPSETS = (15, 16, 17, 18)
DEFAULT_OPSET = 17
# jax2onnx writes ops of recent opsets (ReduceMean with an `axes` input,
# opset 18+) whatever opset it is asked for; ONNX Runtime rejects those
# files below opset 21.
JAX_OPSETS = (21, 22, 23)
JAX_DEFAULT_OPSET = 23


def export_onnx(
    model,
    path,
    opset=None,
    overwrite=False,
    verify=True,
    sample_inputs=None,
    atol=None,
    rtol=None,
    min_agreement=None,
):
    """Exports a student as an `.onnx` file and checks it in ONNX Runtime.

    On TensorFlow, tf2onnx converts the student's inference function
    (`training=False`), traced with one named input per model input and a
    dynamic batch dimension, after every captured value is frozen to a
    constant: the file takes only the model's inputs, also for layers whose
    state Keras keeps outside variables (an adapted `Normalization`).
    (`from_keras` does not support Keras 3 models.) On JAX (jax2onnx) and
    PyTorch (`torch.onnx`), Keras's own ONNX exporter writes the file, with
    the same input names and a dynamic batch dimension, without TensorFlow.

    Args:
        model: A `keras_distill.Distiller` (its student is exported, never
            its teacher) or a built `keras.Model`.
        path: The `.onnx` file to write.
        opset: The ONNX opset: one of `OPSETS` (15-18) on TensorFlow and
            PyTorch, of `JAX_OPSETS` (21-23) on JAX. Defaults to `None`:
            `17`, or `23` on JAX.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to run the file with ONNX Runtime and compare it with
            the Keras model. Defaults to `True`.
        sample_inputs: Inputs to verify on, structured like the model inputs.
            Defaults to `None` (64 random samples).
        atol: Allowed absolute output difference. Defaults to `1e-5`.
        rtol: Allowed output difference relative to each sample's largest
            output magnitude. Defaults to `1e-5`.
        min_agreement: Smallest allowed top-1 agreement. Defaults to `1.0`.

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: When the file misses a tolerance; no file
            is left at `path` then.
        FileExistsError: When `path` exists and `overwrite` is `False`.
        ExportConversionError: When the converter cannot convert a layer.
        ImportError: When the converter (tf2onnx; jax2onnx on JAX) or
            onnxruntime is missing.

    Example:

    ```python
    result = keras_distill.export.export_onnx(distiller, "student.onnx", opset=17)
    ```
    """
    signature.require_backend("onnx", ("tensorflow", "jax", "torch"))
    opsets, default = (JAX_OPSETS, JAX_DEFAULT_OPSET) if keras.backend.backend() == "jax" \
        else (OPSETS, DEFAULT_OPSET)
    opset = default if opset is None else opset
    if opset not in opsets:
        raise ValueError(
            f"`opset` must be one of {opsets} on the {keras.backend.backend()} backend. "
            f"Received: opset={opset!r}."
        )
    if verify:
        import_optional("onnxruntime", "Verifying an ONNX export")
    if keras.backend.backend() != "tensorflow":
        return outline.export_verified(
            model, path, "onnx",
            lambda student, specs, staged, samples, calibration: keras_exporters.write_onnx(
                student, specs, staged, opset
            ),
            overwrite=overwrite, verify=verify, sample_inputs=sample_inputs, atol=atol,
            rtol=rtol, min_agreement=min_agreement,
        )
    tf2onnx = import_optional("tf2onnx", "ONNX export")

    def write(student, specs, staged, samples, calibration):
        # Grappler, run by tf2onnx, logs its sessions from C++.
        with quiet_native_output():
            graph_def, inputs, outputs = signature.frozen_graph(student, specs)
            tf2onnx.convert.from_graph_def(
                graph_def,
                input_names=inputs,
                output_names=outputs,
                opset=opset,
                output_path=staged,
            )
        _name_inputs_like_keras(staged)
        _check_supported(staged, student)

    return outline.export_verified(
        model, path, "onnx", write, overwrite=overwrite, verify=verify,
        sample_inputs=sample_inputs, atol=atol, rtol=rtol, min_agreement=min_agreement,
    )


def _name_inputs_like_keras(path):
    """Renames graph inputs `image:0` to `image`, the model's own input names."""
    import onnx

    proto = onnx.load(path)
    renames = {i.name: i.name[: -len(":0")] for i in proto.graph.input if i.name.endswith(":0")}
    if not renames:
        return
    for value in proto.graph.input:
        value.name = renames.get(value.name, value.name)
    for node in proto.graph.node:
        for index, name in enumerate(node.input):
            if name in renames:
                node.input[index] = renames[name]
    onnx.save(proto, path)


def _check_supported(path, model):
    """Raises `ExportConversionError` when TensorFlow ops were left unconverted."""
    import onnx

    error = conversion_errors.onnx_unsupported(onnx.load(path), model)
    if error is not None:
        raise error

"""Exporting a student as a TensorFlow SavedModel."""

from keras_distill.export import outline
from keras_distill.export import signature


def write_saved_model(model, specs, directory):
    """Writes `model`'s inference function to `directory` with Keras export.

    The SavedModel holds the `serve` endpoint (also its `serving_default`
    signature): one named positional tensor per model input, as in `specs`.
    """
    import keras

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint("serve", signature.serving_function(model, specs))
    archive.write_out(directory, verbose=False)


def export_saved_model(
    model,
    path,
    overwrite=False,
    verify=True,
    sample_inputs=None,
    atol=None,
    rtol=None,
    min_agreement=None,
):
    """Exports a student as a SavedModel folder and checks it against Keras.

    The SavedModel serves the model in inference mode (`training=False`) with
    a dynamic batch dimension. Load it with `tf.saved_model.load(path)` and
    call `.serve(x)` (one positional tensor per model input), or serve it with
    TF Serving through its `serving_default` signature.

    Args:
        model: A `keras_distill.Distiller` (its student is exported, never
            its teacher) or a built `keras.Model`.
        path: The folder to create.
        overwrite: Whether to replace an existing `path`. Defaults to `False`.
        verify: Whether to load the SavedModel with TensorFlow and compare it
            with the Keras model. Defaults to `True`.
        sample_inputs: Inputs to verify on, structured like the model inputs.
            Defaults to `None` (64 random samples).
        atol: Allowed absolute output difference. Defaults to `1e-5`.
        rtol: Allowed output difference relative to each sample's largest
            output magnitude. Defaults to `1e-5`.
        min_agreement: Smallest allowed top-1 agreement. Defaults to `1.0`.

    Returns:
        An `ExportResult`.

    Raises:
        ExportVerificationError: When the SavedModel misses a tolerance; no
            folder is left at `path` then.
        FileExistsError: When `path` exists and `overwrite` is `False`.

    Example:

    ```python
    result = keras_distill.export.export_saved_model(distiller, "student")
    print(result)  # ExportResult(format='saved_model', ..., agreement=100.00%, ...)
    ```
    """
    signature.require_backend(
        "saved_model", ("tensorflow",), " (a SavedModel holds TensorFlow graphs)"
    )
    return outline.export_verified(
        model, path, "saved_model",
        lambda student, specs, staged, samples, calibration: write_saved_model(
            student, specs, staged
        ),
        overwrite=overwrite, verify=verify, sample_inputs=sample_inputs, atol=atol, rtol=rtol,
        min_agreement=min_agreement,
    )

"""Quantization-aware distillation (int8), with tfmot's QAT wrappers."""

from keras_distill.optimize import bridge
from keras_distill.optimize import kd_training
from keras_distill.optimize.sparsity import kernel_sparsity
from keras_distill.optimize.tfmot_import import import_tfmot

PRESERVE_SPARSITY = ("auto", True, False)
# With preserve_sparsity="auto", a student whose kernels are on average at
# least this sparse is taken to be pruned (dense training leaves almost no
# exact zeros).
PRUNED_SPARSITY = 0.3


def _check_quantizable(student, model):
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry,
    )

    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    # tfmot folds a BatchNormalization into the convolution feeding it.
    folded = bridge.batch_norm_after_convolution(student)
    unsupported = [
        student.get_layer(layer.name)
        for layer in model.layers
        if type(layer).__name__ != "InputLayer"
        and layer.name not in folded
        and not registry.supports(layer)
    ]
    if unsupported:
        raise ValueError(
            "tfmot's int8 quantization-aware training cannot handle these layers of "
            f"`student`: {bridge.describe(unsupported)}. (A BatchNormalization is "
            "supported only right after a Conv2D/DepthwiseConv2D.)"
        )


def _is_pruned(student):
    fractions = list(kernel_sparsity(student).values())
    return bool(fractions) and sum(fractions) / len(fractions) >= PRUNED_SPARSITY


def quantization_aware_distill(
    student,
    teacher_or_cache,
    data,
    epochs=1,
    batch_size=128,
    learning_rate=1e-4,
    alpha=None,
    temperature=kd_training.DEFAULT_TEMPERATURE,
    preserve_sparsity="auto",
    verbose=0,
):
    """Distils `student` while it learns int8 weights and activations (QAT).

    The Keras 3 student is rebuilt as a `tf_keras` model, given tfmot's
    fake-quantization ops (`quantize_model`, default 8-bit scheme) and trained
    on the `Distiller`'s loss against the teacher's cached logits, so the
    student learns to compensate for int8 rounding while following the
    teacher. For a pruned student (from `prune_and_distill`), tfmot's
    pruning-preserving scheme keeps its zeros during QAT.

    Args:
        student: A Sequential or Functional Keras 3 model that outputs
            logits, made of layer types in
            `keras_distill.optimize.bridge.BRIDGED_LAYERS` that tfmot can
            quantize.
        teacher_or_cache: A `keras_distill.TeacherCache` computed on `x`, or
            the teacher (`keras.Model` or `Distiller`), run once over `x`.
        data: The inputs `x`, or `(x, y)` with integer labels. NumPy arrays.
        epochs: Training epochs. Defaults to `1`.
        batch_size: Batch size. Defaults to `128`.
        learning_rate: Adam learning rate; QAT fine-tunes, so keep it small.
            Defaults to `1e-4`.
        alpha: Weight of the hard-label loss; the distillation loss gets
            `1 - alpha`. Defaults to `None`: `0.1` with labels, `0` without.
        temperature: Softening temperature. Defaults to `3.0`.
        preserve_sparsity: Whether to keep zero weights at zero
            (`Default8BitPrunePreserveQuantizeScheme`). `"auto"` does so when
            the student's kernels are on average at least 30% zeros.
            Defaults to `"auto"`.
        verbose: `fit` verbosity. Defaults to `0`.

    Returns:
        The trained QAT model: a `tf_keras.Model` with fake-quantization ops
        (it runs in float, like the int8 model will). Convert it with
        `keras_distill.optimize.export_qat_tflite`.

    Raises:
        ValueError: Listing every layer that cannot be quantized, before any
            training.

    Example:

    ```python
    qat = keras_distill.optimize.quantization_aware_distill(
        student, cache, (x_train, y_train), epochs=1
    )
    keras_distill.optimize.export_qat_tflite(qat, "student_int8.tflite")
    ```

    Reference:
        Jacob et al., "Quantization and Training of Neural Networks for
        Efficient Integer-Arithmetic-Only Inference", CVPR 2018.
    """
    purpose = "quantization_aware_distill"
    kd_training.check_options(epochs, batch_size, learning_rate, temperature)
    if preserve_sparsity not in PRESERVE_SPARSITY:
        raise ValueError(
            f"`preserve_sparsity` must be one of {PRESERVE_SPARSITY}. Received: "
            f"preserve_sparsity={preserve_sparsity!r}."
        )
    tfmot, tf_keras = import_tfmot(purpose)
    model = bridge.to_tf_keras(student, tf_keras, purpose)
    _check_quantizable(student, model)
    prepared = kd_training.prepare(student, teacher_or_cache, data, alpha, purpose)
    if preserve_sparsity == "auto":
        preserve_sparsity = _is_pruned(student)
    quantization = tfmot.quantization.keras
    if preserve_sparsity:
        qat = quantization.quantize_apply(
            quantization.quantize_annotate_model(model),
            tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme(),
        )
    else:
        qat = quantization.quantize_model(model)
    options = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "verbose": verbose,
    }
    kd_training.fit(qat, tf_keras, prepared, temperature, options)
    return qat

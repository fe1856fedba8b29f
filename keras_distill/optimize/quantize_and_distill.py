"""Quantization-aware distillation with Keras's native quantization, on every backend."""

from keras_distill.distiller.distiller import Distiller
from keras_distill.optimize import fake_quantization as fq


def _reset_functions(distiller):
    # The traced step of a fit inside (or outside) the fake-quantization block
    # must not be reused on the other side of it.
    for model in (distiller, distiller.student):
        model.train_function = None
        model.test_function = None
        model.predict_function = None


def quantize_and_distill(
    distiller,
    x=None,
    y=None,
    mode="int4",
    block_size=fq.DEFAULT_BLOCK_SIZE,
    filters=None,
    embeddings=False,
    **fit_kwargs,
):
    """Distils the `Distiller`'s student while it learns its quantized weights (QAD).

    For `"int8"` and `"int4"`, the student's `Dense` and `EinsumDense` layers
    run with fake-quantized kernels (the quantize-dequantize round trip of
    `keras.Model.quantize`, straight-through gradients; int8 also rounds each
    input row, as Keras's int8 layers do) while `distiller.fit(x, y,
    **fit_kwargs)` trains them against the float teacher; then the student
    is quantized natively (`quantize_weights`), in place. Its integer
    kernels are the grid points it trained on: its outputs equal what the
    student computed during training, to float rounding. For `"float8"`, the
    layers are quantized first and train natively (Keras's float8 training,
    delayed scaling).

    Works on TensorFlow, JAX and PyTorch, with anything `Distiller.fit`
    accepts (teacher caches, datasets, token models). Compile the distiller
    first, with a small learning rate: QAD fine-tunes a trained student.

    Args:
        distiller: A compiled `keras_distill.Distiller` whose student has
            float `Dense`/`EinsumDense` kernels (no LoRA).
        x: Passed to `distiller.fit`.
        y: Passed to `distiller.fit`.
        mode: `"int8"`, `"int4"` or `"float8"`. Defaults to `"int4"`.
        block_size: int4 only: input rows per scale (grouped, asymmetric
            with a zero point), or `None`/`-1` for one scale per output
            channel. Defaults to `128`, Keras's own default.
        filters: Which `Dense`/`EinsumDense` layers to quantize: a regex on
            layer names, a list of them, or a callable `layer -> bool`, as in
            `keras.Model.quantize`. Defaults to `None` (all of them; other
            layers stay float).
        embeddings: int8 and int4 only: whether the student's `Embedding`
            and `ReversibleEmbedding` tables are quantized too (and so a
            tied output projection, as in keras-hub's language models), on
            the grid `keras.Model.quantize` gives them. Defaults to `False`.
        **fit_kwargs: Passed to `distiller.fit` (`epochs`, `batch_size`,
            `validation_data`, `callbacks`, ...). Validation inside `fit`
            sees the fake-quantized student.

    Returns:
        The `History` of `distiller.fit`. `distiller.student` is now
        quantized.

    Raises:
        TypeError: If `distiller` is not a `Distiller`.
        ValueError: For a bad `mode`, `block_size` or `embeddings`, an uncompiled
            distiller, or a student with no float `Dense`/`EinsumDense` layer
            to quantize; all before any training.

    Example:

    ```python
    steps = 3 * -(-len(x_train) // 128)  # epochs * batches per epoch
    schedule = keras.optimizers.schedules.CosineDecay(3e-4, decay_steps=steps)
    distiller.compile(optimizer=keras.optimizers.Adam(schedule), alpha=0.1, temperature=3.0)
    keras_distill.optimize.quantize_and_distill(
        distiller, x_train, y_train, mode="int4", epochs=3, batch_size=128
    )
    distiller.student.save("student_int4.keras")
    ```

    Reference:
        Jacob et al., "Quantization and Training of Neural Networks for
        Efficient Integer-Arithmetic-Only Inference", CVPR 2018 (fake
        quantization); Bengio et al., "Estimating or Propagating Gradients
        Through Stochastic Neurons", 2013 (straight-through estimator).
    """
    if not isinstance(distiller, Distiller):
        raise TypeError(
            f"`distiller` must be a compiled `keras_distill.Distiller`. Received: {type(distiller).__name__}."
        )
    fq.check_mode(mode)
    fq.check_block_size(block_size)
    fq.check_embeddings(embeddings, mode)
    if not distiller.compiled:
        raise ValueError(
            "`distiller` must be compiled before quantize_and_distill (use a small "
            "learning rate, e.g. Adam(1e-4): QAD fine-tunes a trained student)."
        )
    student = distiller.student
    fq.quantizable_layers(student, filters, embeddings)
    _reset_functions(distiller)
    if mode == "float8":
        fq.quantize_weights(student, mode, filters=filters)
        _reset_functions(distiller)
        return distiller.fit(x, y, **fit_kwargs)
    try:
        with fq.fake_quantization(student, mode, block_size, filters, embeddings):
            history = distiller.fit(x, y, **fit_kwargs)
    finally:
        _reset_functions(distiller)
    fq.quantize_weights(student, mode, block_size, filters, embeddings)
    return history

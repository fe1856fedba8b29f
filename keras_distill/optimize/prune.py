"""Magnitude pruning during distillation, with tfmot's pruning wrappers."""

import math
import numbers

import keras

from keras_distill.optimize import bridge
from keras_distill.optimize import kd_training
from keras_distill.optimize.tfmot_import import import_tfmot

SCHEDULES = ("polynomial", "constant")
# The polynomial ramp ends after this share of the training steps; the rest
# fine-tunes the surviving weights at the final sparsity.
RAMP_FRACTION = 0.7
# Mask updates per ramp (or per training run for "constant").
MASK_UPDATES = 10


def _pruning_schedule(tfmot, schedule, target_sparsity, total_steps):
    sparsity = tfmot.sparsity.keras
    if isinstance(schedule, sparsity.PruningSchedule):
        return schedule
    if schedule not in SCHEDULES:
        raise ValueError(
            f"`schedule` must be one of {SCHEDULES} or a "
            "`tfmot.sparsity.keras.PruningSchedule`. Received: "
            f"schedule={schedule!r}."
        )
    if schedule == "constant":
        frequency = max(1, total_steps // MASK_UPDATES)
        return sparsity.ConstantSparsity(target_sparsity, begin_step=0, frequency=frequency)
    ramp = int(RAMP_FRACTION * (total_steps - 1))
    frequency = max(1, ramp // MASK_UPDATES)
    # The last mask update must fall on `end_step`, or the final sparsity is
    # never applied.
    end_step = frequency * (ramp // frequency)
    if end_step < 1:
        raise ValueError(
            f"schedule='polynomial' needs at least 3 training steps; {total_steps} "
            "were planned. Train for more `epochs`, use a smaller `batch_size`, or "
            "pass schedule='constant'."
        )
    return sparsity.PolynomialDecay(
        initial_sparsity=0.0,
        final_sparsity=target_sparsity,
        begin_step=0,
        end_step=end_step,
        frequency=frequency,
    )


def _check_prunable(model, student):
    from tensorflow_model_optimization.python.core.sparsity.keras.prune_registry import PruneRegistry

    unsupported = [
        student.get_layer(layer.name)
        for layer in model.layers
        if type(layer).__name__ != "InputLayer" and not PruneRegistry.supports(layer)
    ]
    if unsupported:
        raise ValueError(
            "tfmot cannot prune these layers of `student`: "
            f"{bridge.describe(unsupported)}."
        )


def _num_samples(x):
    return len(keras.tree.flatten(x)[0])


def prune_and_distill(
    student,
    teacher_or_cache,
    data,
    target_sparsity=0.8,
    schedule="polynomial",
    epochs=2,
    batch_size=128,
    learning_rate=1e-3,
    alpha=None,
    temperature=kd_training.DEFAULT_TEMPERATURE,
    block_size=(1, 1),
    verbose=0,
):
    """Distils `student` while pruning its kernels to `target_sparsity`.

    The Keras 3 student is rebuilt as a `tf_keras` model (tfmot 0.8 wraps only
    Keras 2 layers), wrapped with `prune_low_magnitude` and trained on the
    `Distiller`'s loss against the teacher's cached logits, with tfmot's
    `UpdatePruningStep` callback. The wrappers are then stripped and the
    pruned weights copied into a clone of `student`. Kernels of `Dense`,
    `Conv2D` and the like are pruned; biases, normalization and depthwise
    kernels are not.

    Args:
        student: A Sequential or Functional Keras 3 model that outputs
            logits, made of layer types in
            `keras_distill.optimize.bridge.BRIDGED_LAYERS`.
        teacher_or_cache: A `keras_distill.TeacherCache` computed on `x`, or
            the teacher (`keras.Model` or `Distiller`), run once over `x`.
        data: The inputs `x`, or `(x, y)` with integer labels. NumPy arrays.
        target_sparsity: Fraction of each prunable kernel set to zero, in
            (0, 1). Defaults to `0.8`.
        schedule: `"polynomial"` (sparsity grows from 0 to the target over
            the first 70% of the steps, then stays), `"constant"` (the target
            from the first step), or a `tfmot.sparsity.keras.PruningSchedule`
            (its own sparsity then applies, not `target_sparsity`).
            Defaults to `"polynomial"`.
        epochs: Training epochs. Defaults to `2`.
        batch_size: Batch size. Defaults to `128`.
        learning_rate: Adam learning rate. Defaults to `1e-3`.
        alpha: Weight of the hard-label loss; the distillation loss gets
            `1 - alpha`. Defaults to `None`: `0.1` with labels, `0` without.
        temperature: Softening temperature. Defaults to `3.0`.
        block_size: Prune blocks of this `(rows, columns)` shape together, as
            in tfmot. Defaults to `(1, 1)`.
        verbose: `fit` verbosity. Defaults to `0`.

    Returns:
        A new Keras 3 model (a clone of `student`) with pruned weights;
        `student` is unchanged. Export it with
        `keras_distill.export.export_tflite`.

    Raises:
        ValueError: Listing every layer that cannot be pruned, before any
            training.

    Example:

    ```python
    cache = keras_distill.TeacherCache.compute(teacher, x_train)
    pruned = keras_distill.optimize.prune_and_distill(
        student, cache, (x_train, y_train), target_sparsity=0.8, epochs=2
    )
    keras_distill.export_tflite(pruned, "pruned.tflite")
    ```

    Reference:
        Zhu and Gupta, "To prune, or not to prune: exploring the efficacy of
        pruning for model compression", 2017 (the polynomial schedule).
    """
    purpose = "prune_and_distill"
    if not isinstance(target_sparsity, numbers.Real) or not 0.0 < target_sparsity < 1.0:
        raise ValueError(
            "`target_sparsity` must be in (0, 1). Received: "
            f"target_sparsity={target_sparsity!r}."
        )
    kd_training.check_options(epochs, batch_size, learning_rate, temperature)
    tfmot, tf_keras = import_tfmot(purpose)
    model = bridge.to_tf_keras(student, tf_keras, purpose)
    _check_prunable(model, student)
    prepared = kd_training.prepare(student, teacher_or_cache, data, alpha, purpose)
    total_steps = epochs * math.ceil(_num_samples(prepared[0]) / batch_size)
    pruning_schedule = _pruning_schedule(tfmot, schedule, target_sparsity, total_steps)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(
        model, pruning_schedule=pruning_schedule, block_size=block_size
    )
    options = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "verbose": verbose,
    }
    kd_training.fit(
        pruned,
        tf_keras,
        prepared,
        temperature,
        options,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
    )
    return bridge.to_keras(tfmot.sparsity.keras.strip_pruning(pruned), student)

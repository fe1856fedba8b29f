"""The Distiller: a `keras.Model` that trains a student from a frozen teacher."""

import warnings

import keras
from keras import ops

from keras_distill import losses as losses_lib
from keras_distill.api_export import register
from keras_distill.losses.adapters import FunctionLoss
from keras_distill.distiller import validation
from keras_distill.distiller.output_logits import TeacherLogits
from keras_distill.distiller.output_logits import probabilities_to_logits
from keras_distill.distiller.output_logits import resolve_output_activation
from keras_distill.cache import augmentation
from keras_distill.cache import packed_inputs

_BATCH_MEAN_REDUCTIONS = ("sum_over_batch_size", "mean")


@register
class Distiller(keras.Model):
    """Trains a student to match a frozen teacher and the labels, with `fit`.

    On every training step the teacher runs once, in inference mode and
    outside the gradient tape; the student runs once. The loss is

    `alpha * student_loss_fn(y, student(x))
     + (1 - alpha) * distillation_loss_fn(teacher_logits, student_logits, T)
     + student regularization losses`.

    `alpha` and the temperature `T` live in non-trainable `keras.Variable`s
    (`distiller.alpha`, `distiller.temperature`), so callbacks can change them
    between steps, even under `jit_compile=True`, without retracing. All
    distillation math runs in float32, also under mixed precision.

    `evaluate` and `predict` report the student alone (no teacher forward
    pass): `evaluate` returns `loss` (hard-label loss plus the student's
    regularization losses), `student_loss` and the compiled metrics.

    Teachers or students whose last layer applies softmax or sigmoid are
    handled: the teacher's logits are recovered exactly from a final
    `Softmax`/`Activation` layer or `Dense(activation=...)`, otherwise from
    probabilities clipped away from 0 and 1 (never NaN or inf).

    Args:
        teacher: A built `keras.Model`. It is frozen (`trainable=False`).
        student: A built `keras.Model` whose output has the teacher's shape.
        teacher_activation: What the teacher outputs: `"auto"` (inspect its
            last layer), `None`/`"linear"` (logits, or regression values),
            `"softmax"` or `"sigmoid"` (probabilities). Defaults to `"auto"`.
        student_activation: Same, for the student. Defaults to `"auto"`.
        name: Defaults to `"distiller"`.

    Example:

    ```python
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=keras_distill.losses.KDLoss(),
        alpha=0.1,
        temperature=4.0,
    )
    distiller.fit(x_train, y_train, epochs=5)
    student = distiller.student
    ```

    Reference:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015.
    """

    def __init__(
        self,
        teacher,
        student,
        teacher_activation="auto",
        student_activation="auto",
        name="distiller",
        **kwargs,
    ):
        validation.check_model(teacher, "teacher")
        validation.check_model(student, "student")
        if teacher is student:
            raise ValueError("`teacher` and `student` must be different models.")
        if getattr(teacher, "outputs", None) and getattr(student, "outputs", None):
            validation.check_compatible_shapes(
                teacher.outputs[0].shape, student.outputs[0].shape
            )
        super().__init__(name=name, **kwargs)
        self.teacher = teacher
        self.student = student
        self.teacher.trainable = False
        self.teacher_activation = teacher_activation
        self.student_activation = student_activation
        self._teacher_output_activation = resolve_output_activation(
            teacher, teacher_activation, "teacher_activation"
        )
        self._student_output_activation = resolve_output_activation(
            student, student_activation, "student_activation"
        )
        self._teacher_logits = TeacherLogits(teacher, self._teacher_output_activation)
        self._alpha = keras.Variable(
            0.1, dtype="float32", trainable=False, name="alpha"
        )
        self._temperature = keras.Variable(
            1.0, dtype="float32", trainable=False, name="temperature"
        )
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        self.student_loss_fn = None
        self.distillation_loss_fn = None
        self._distiller_compile_config = None
        self.built = True

    @property
    def alpha(self):
        """The weight of the hard-label loss, a non-trainable `keras.Variable`."""
        return self._alpha

    @alpha.setter
    def alpha(self, value):
        self._alpha.assign(validation.check_alpha(value))

    @property
    def temperature(self):
        """The distillation temperature, a non-trainable `keras.Variable`."""
        return self._temperature

    @temperature.setter
    def temperature(self, value):
        self._temperature.assign(validation.check_temperature(value))

    def compile(
        self,
        optimizer="adam",
        metrics=None,
        student_loss_fn=None,
        distillation_loss_fn=None,
        alpha=0.1,
        temperature=3.0,
        loss=None,
        **kwargs,
    ):
        """Configures the distiller for training.

        Args:
            optimizer: Optimizer for the student. Defaults to `"adam"`.
            metrics: Metrics computed on the student's predictions.
            student_loss_fn: Hard-label loss (a Keras loss, name or function).
                Required when `alpha > 0`.
            distillation_loss_fn: Teacher-student loss: a `keras_distill`
                loss or name (`"kd_loss"`, `"soft_target_cross_entropy"`,
                `"logit_mse"`), a Keras loss applied keras.io-style to
                softened probabilities, or a `keras.distillation`
                `DistillationLoss`. Defaults to `KDLoss()`.
            alpha: Weight of the hard-label loss, in [0, 1]; the distillation
                loss gets `1 - alpha`. Defaults to `0.1`.
            temperature: Softening temperature, > 0. Defaults to `3.0`.
            loss: Alias of `student_loss_fn`, as in `keras.distillation`.
            **kwargs: Passed to `keras.Model.compile` (`jit_compile`,
                `steps_per_execution`, `weighted_metrics`, ...).
        """
        if loss is not None and student_loss_fn is not None:
            raise ValueError(
                "Pass the hard-label loss as `student_loss_fn` or as `loss`, not both."
            )
        if student_loss_fn is None:
            student_loss_fn = loss
        alpha = validation.check_alpha(alpha)
        temperature = validation.check_temperature(temperature)
        if student_loss_fn is None and alpha > 0:
            raise ValueError(
                "`student_loss_fn` is required when `alpha` > 0 (received "
                f"alpha={alpha}); pass a Keras loss such as "
                "keras.losses.SparseCategoricalCrossentropy(from_logits=True), or "
                "alpha=0 to train on the teacher alone."
            )
        self.student_loss_fn = _student_loss(student_loss_fn)
        self.distillation_loss_fn = losses_lib.get(distillation_loss_fn)
        self._warn_on_logits_mismatch()
        super().compile(optimizer=optimizer, metrics=metrics, loss=None, **kwargs)
        self._alpha.assign(alpha)
        self._temperature.assign(temperature)
        self._distiller_compile_config = keras.saving.serialize_keras_object(
            dict(
                optimizer=optimizer,
                metrics=metrics,
                student_loss_fn=student_loss_fn,
                distillation_loss_fn=distillation_loss_fn,
                alpha=alpha,
                temperature=temperature,
                **kwargs,
            )
        )

    def _warn_on_logits_mismatch(self):
        from_logits = getattr(self.student_loss_fn, "from_logits", None)
        if from_logits is None:
            from_logits = getattr(self.student_loss_fn, "_fn_kwargs", {}).get("from_logits")
        activation = self._student_output_activation
        if from_logits and activation in ("softmax", "sigmoid"):
            warnings.warn(
                f"The student ends in {activation} but `student_loss_fn` has "
                "from_logits=True: the hard-label loss will treat probabilities as "
                "logits. Use from_logits=False, or remove the student's final "
                "activation.",
                stacklevel=3,
            )

    def call(self, inputs, training=None):
        inputs, _ = packed_inputs.unpack(inputs)
        return self.student(inputs, training=training)

    def teacher_logits(self, x):
        """The frozen teacher's logits for `x`, float32, without gradient."""
        return self._teacher_logits(x)

    def _inputs_and_teacher_logits(self, x):
        """Splits `x` from a `TeacherCache` into student inputs and cached logits.

        Plain inputs run the teacher; packed ones skip it entirely.
        """
        inputs, cached = packed_inputs.unpack(x)
        if cached is None:
            return x, self.teacher_logits(x)
        augmentation.warn_if_augmented(self.student)
        return inputs, packed_inputs.cached_teacher_logits(cached, self.teacher, self.student)

    def student_logits(self, y_pred):
        """Float32 logits from the student's outputs (differentiable)."""
        return probabilities_to_logits(y_pred, self._student_output_activation)

    def compute_distillation_loss(self, y, y_pred, teacher_logits, sample_weight=None):
        """Returns `(total_loss, student_loss, distillation_loss)` for one batch.

        Backend-agnostic: everything here is `keras.ops`. Under
        `tf.distribute`, each value is this replica's share of the global-batch
        mean (the shares sum to the single-device value).
        """
        validation.check_compatible_shapes(teacher_logits.shape, y_pred.shape)
        alpha = ops.cast(self._alpha, "float32")
        correction = _global_batch_correction(y_pred)
        student_loss = self._student_loss(y, y_pred, sample_weight, correction)
        distillation_loss = self.distillation_loss_fn(
            teacher_logits,
            self.student_logits(y_pred),
            sample_weight=sample_weight,
            temperature=self._temperature,
            activation=self._teacher_output_activation or self._student_output_activation,
        )
        distillation_loss = ops.cast(distillation_loss, "float32") * correction
        total = alpha * student_loss + (1.0 - alpha) * distillation_loss
        total = total + self._regularization_loss()
        return total, student_loss, distillation_loss

    def _student_loss(self, y, y_pred, sample_weight, correction):
        """The hard-label loss as this replica's share of the global-batch mean."""
        if self.student_loss_fn is None:
            return ops.zeros((), "float32")
        validation.check_labels(y, y_pred)
        loss = ops.cast(self.student_loss_fn(y, y_pred, sample_weight), "float32")
        if getattr(self.student_loss_fn, "reduction", None) in _BATCH_MEAN_REDUCTIONS:
            loss = loss * correction
        return loss

    def _regularization_loss(self):
        extra = self.student.losses
        if not extra:
            return ops.zeros((), "float32")
        total = ops.sum([ops.cast(ops.sum(value), "float32") for value in extra])
        return losses_lib.distillation_loss.scale_for_distribution(total)

    def train_step(self, data):
        import tensorflow as tf

        self._check_compiled()
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, teacher_logits = self._inputs_and_teacher_logits(x)
        with tf.GradientTape() as tape:
            y_pred = self.student(x, training=True)
            loss, student_loss, distillation_loss = self.compute_distillation_loss(
                y, y_pred, teacher_logits, sample_weight
            )
            scaled_loss = self.optimizer.scale_loss(loss)
        trainable_weights = self.trainable_weights
        gradients = tape.gradient(scaled_loss, trainable_weights)
        self.optimizer.apply_gradients(zip(gradients, trainable_weights))
        return self._update_metrics(
            x, y, y_pred, sample_weight, loss, student_loss, distillation_loss
        )

    def test_step(self, data):
        self._check_compiled()
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x, _ = packed_inputs.unpack(x)
        y_pred = self.student(x, training=False)
        student_loss = self._student_loss(
            y, y_pred, sample_weight, _global_batch_correction(y_pred)
        )
        loss = student_loss + self._regularization_loss()
        logs = self._update_metrics(x, y, y_pred, sample_weight, loss, student_loss, None)
        logs.pop(self.distillation_loss_tracker.name, None)
        return logs

    def _update_metrics(self, x, y, y_pred, sample_weight, loss, student_loss, distillation_loss):
        batch_size = ops.shape(keras.tree.flatten(x)[0])[0]
        unscale = _unscale_for_distribution
        self._loss_tracker.update_state(unscale(loss), sample_weight=batch_size)
        self.student_loss_tracker.update_state(unscale(student_loss), sample_weight=batch_size)
        if distillation_loss is not None:
            self.distillation_loss_tracker.update_state(
                unscale(distillation_loss), sample_weight=batch_size
            )
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def _check_compiled(self):
        if self.distillation_loss_fn is None:
            raise ValueError(
                "The Distiller is not compiled: call `distiller.compile(optimizer=..., "
                "student_loss_fn=..., distillation_loss_fn=..., alpha=..., "
                "temperature=...)` before `fit` or `evaluate`."
            )

    def get_config(self):
        config = super().get_config()
        config.update(
            teacher=keras.saving.serialize_keras_object(self.teacher),
            student=keras.saving.serialize_keras_object(self.student),
            teacher_activation=self.teacher_activation,
            student_activation=self.student_activation,
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["teacher"] = keras.saving.deserialize_keras_object(config["teacher"])
        config["student"] = keras.saving.deserialize_keras_object(config["student"])
        return cls(**config)

    def get_compile_config(self):
        return self._distiller_compile_config or {}

    def compile_from_config(self, config):
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)


def _student_loss(identifier):
    if identifier is None or isinstance(identifier, keras.losses.Loss):
        return identifier
    if isinstance(identifier, (str, dict)):
        try:
            fn = keras.losses.get(identifier)
        except (ValueError, TypeError):
            fn = None
        if fn is None:
            raise ValueError(
                f"`student_loss_fn`: unknown loss {identifier!r}. Expected a Keras "
                "loss name such as 'sparse_categorical_crossentropy', a "
                "keras.losses.Loss or a function (y_true, y_pred) -> per-sample loss."
            )
        identifier = fn
        if isinstance(fn, keras.losses.Loss):
            return fn
    if callable(identifier):
        return FunctionLoss(identifier)
    raise ValueError(
        "`student_loss_fn` must be a Keras loss, a loss name or a function. "
        f"Received: {identifier!r} of type {type(identifier).__name__}."
    )


def _num_replicas():
    import tensorflow as tf

    return tf.distribute.get_strategy().num_replicas_in_sync


def _global_batch_correction(batch_tensor):
    """Turns a Keras-style per-replica loss share into a global-batch share.

    Keras losses divide by the replica's batch and then by the replica count,
    which equals the global mean only when every replica holds the same number
    of samples. Multiplying by `local * replicas / global` divides by the
    global batch instead, so an uneven last batch is weighted correctly.
    """
    import tensorflow as tf

    replicas = _num_replicas()
    if replicas == 1:
        return 1.0
    local = ops.cast(ops.shape(batch_tensor)[0], "float32")
    context = tf.distribute.get_replica_context()
    if context is None:
        return 1.0
    global_batch = context.all_reduce(tf.distribute.ReduceOp.SUM, local)
    return local * float(replicas) / global_batch


def _unscale_for_distribution(value):
    replicas = _num_replicas()
    return value * float(replicas) if replicas > 1 else value

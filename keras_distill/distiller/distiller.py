"""The Distiller: a `keras.Model` that trains a student from a frozen teacher."""

import keras

from keras_distill import losses as losses_lib
from keras_distill.api_export import register
from keras_distill.core import argument_validation as validation
from keras_distill.core import distribution
from keras_distill.core import packed_inputs
from keras_distill.core.output_logits import TeacherLogits
from keras_distill.core.output_logits import probabilities_to_logits
from keras_distill.core.output_logits import resolve_output_activation
from keras_distill.distiller import batch_views
from keras_distill.distiller import data_guard
from keras_distill.distiller import fit_checks
from keras_distill.distiller import frozen_variables
from keras_distill.distiller import loss_assembly
from keras_distill.distiller import metric_logs
from keras_distill.distiller import model_checks
from keras_distill.distiller import multi_worker
from keras_distill.distiller import saving
from keras_distill.distiller import student_loss as student_loss_lib
from keras_distill.features.feature_matching import FeatureMatcher
from keras_distill.features.feature_matching import as_pairs
from keras_distill.lm_hooks import hooks as language


@register
class Distiller(frozen_variables.FrozenTeacherVariables, keras.Model):
    """Trains a student to match a frozen teacher and the labels, with `fit`.

    On every training step the teacher runs once, in inference mode and
    outside the gradient; the student runs once, on the same (optionally
    augmented and mixed) batch. The loss is

    `alpha * student_loss_fn(y, student(x))
     + (1 - alpha) * distillation_loss_fn(teacher_logits, student_logits, T)
     + student regularization losses`.

    `alpha` and the temperature `T` live in non-trainable `keras.Variable`s
    (`distiller.alpha`, `distiller.temperature`), so callbacks can change them
    between steps, even under `jit_compile=True`, without retracing. All
    distillation math runs in float32, also under mixed precision.

    The step is built on Keras's own hooks (`call`, `compute_loss`,
    `compute_metrics`): `train_step` hands the backend's stock step the
    distillation loss, so loss scaling, distribution and metrics work as for
    any Keras model, and the distillation path uses `keras.ops` only.

    Consistent teaching (Beyer et al. 2022): with `augmentation` and/or `mix`
    the batch is augmented once per step and the teacher labels the very view
    the student sees, random ops included. This turns a small training set
    into new information on every epoch; it needs the online teacher (cached
    logits belong to un-augmented inputs).

    `evaluate` and `predict` report the student alone (no teacher forward
    pass): `evaluate` returns `loss` (hard-label loss plus the student's
    regularization losses), `student_loss` and the compiled metrics.

    Teachers or students whose last layer applies softmax or sigmoid are
    handled: the teacher's logits are recovered exactly from a final
    `Softmax`/`Activation` layer or `Dense(activation=...)`, otherwise from
    probabilities clipped away from 0 and 1 (never NaN or inf).

    Args:
        teacher: A built `keras.Model`. It never trains: its variables are
            the Distiller's non-trainable state, and it runs with
            `training=False`. Its own `trainable` flags are left as they are.
        student: A built `keras.Model` whose output has the teacher's shape.
        teacher_activation: What the teacher outputs: `"auto"` (inspect its
            last layer), `None`/`"linear"` (logits, or regression values),
            `"softmax"` or `"sigmoid"` (probabilities). Defaults to `"auto"`.
        student_activation: Same, for the student. Defaults to `"auto"`.
        augmentation: Optional callable applied to each training batch before
            both teacher and student see it, e.g. a `keras.Sequential` of
            `keras.layers.RandomTranslation`, `RandomFlip`, ... (random ops
            draw new values every step; not applied in `evaluate`/`predict`).
            Defaults to `None`.
        mix: Optional batch mixing applied after `augmentation`:
            `keras_distill.augment.MixUp()` or `CutMix()`. The teacher labels
            the mixed inputs; the hard-label loss mixes the two labels with
            the same shares. Defaults to `None`.
        seed: Seed of the mixing's random draws. Defaults to `None`.
        features: Optional list of `keras_distill.features.FeaturePair`
            (or `keras.distillation.FeatureDistillation`): intermediate
            layers the student matches, each with a loss and a weight added
            to the loss above. Student features come out of the same forward
            pass as its outputs; adapters created for differing shapes train
            with the student and are never part of it (`distiller.student`
            saves and exports without them). Needs the online teacher.
            Defaults to `None`.
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

    References:
        Hinton, Vinyals and Dean, "Distilling the Knowledge in a Neural
        Network", 2015.
        Beyer, Zhai, Royer, Markeeva, Anil and Kolesnikov, "Knowledge
        distillation: A good teacher is patient and consistent", CVPR 2022.
    """

    def __init__(
        self,
        teacher,
        student,
        teacher_activation="auto",
        student_activation="auto",
        augmentation=None,
        mix=None,
        seed=None,
        features=None,
        name="distiller",
        **kwargs,
    ):
        model_checks.check_arguments(teacher, student, augmentation, mix)
        super().__init__(name=name, **kwargs)
        self.teacher = teacher
        self.student = student
        self.augmentation = augmentation
        self.mix = mix
        self.seed = seed
        self._seed_generator = keras.random.SeedGenerator(seed, name="mix_seed")
        self._in_train_step = False
        self.teacher_activation = teacher_activation
        self.student_activation = student_activation
        self._teacher_output_activation = resolve_output_activation(
            teacher, teacher_activation, "teacher_activation"
        )
        self._student_output_activation = resolve_output_activation(
            student, student_activation, "student_activation"
        )
        model_checks.warn_if_probabilities(
            teacher, teacher_activation, self._teacher_output_activation
        )
        self._teacher_logits = TeacherLogits(teacher, self._teacher_output_activation)
        self._alpha = keras.Variable(
            0.1, dtype="float32", trainable=False, name="alpha"
        )
        self._temperature = keras.Variable(
            1.0, dtype="float32", trainable=False, name="temperature"
        )
        pairs = as_pairs(features)
        self._features = FeatureMatcher(teacher, student, pairs) if pairs else None
        # Tracked here, so they train with the student and save with the Distiller.
        self.feature_adapters = (
            [a for a in self._features.adapters if a is not None] if pairs else []
        )
        self.student_loss_tracker = keras.metrics.Mean(name="student_loss")
        self.distillation_loss_tracker = keras.metrics.Mean(name="distillation_loss")
        if pairs:
            self.feature_loss_tracker = keras.metrics.Mean(name="feature_loss")
        self.non_finite_tracker = data_guard.NonFiniteCount()
        self.student_loss_fn = None
        self.distillation_loss_fn = None
        self._distiller_compile_config = None
        self.built = True

    @property
    def features(self):
        """The `FeaturePair`s the student matches (an empty list without features)."""
        return self._features.resolved_pairs() if self._features is not None else []

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
        alpha=validation.DEFAULT_ALPHA,
        temperature=validation.DEFAULT_TEMPERATURE,
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
        student_loss_fn = student_loss_lib.either(student_loss_fn, loss)
        alpha = validation.check_alpha(alpha)
        temperature = validation.check_temperature(temperature)
        student_loss_lib.check_given(student_loss_fn, alpha)
        self.student_loss_fn = student_loss_lib.resolve(student_loss_fn)
        self.distillation_loss_fn = losses_lib.get(distillation_loss_fn)
        student_loss_lib.warn_on_logits_mismatch(
            self.student_loss_fn, self._student_output_activation
        )
        super().compile(optimizer=optimizer, metrics=metrics, loss=None, **kwargs)
        self._alpha.assign(alpha)
        self._temperature.assign(temperature)
        self._distiller_compile_config = saving.compile_settings(
            optimizer=optimizer,
            metrics=metrics,
            student_loss_fn=student_loss_fn,
            distillation_loss_fn=distillation_loss_fn,
            alpha=alpha,
            temperature=temperature,
            **kwargs,
        )

    def call(self, inputs, training=None):
        """The student's outputs; inside `fit`'s step, also the teacher's logits.

        Outside a training step (`predict`, `evaluate`, a direct call) this is
        the student alone. Within `train_step` the batch is augmented and
        mixed once, the teacher labels it, and the student runs on it; the
        result is a dict that `compute_loss` and `compute_metrics` read.
        """
        seeds = packed_inputs.view_seeds(inputs)
        inputs, cached = packed_inputs.unpack(inputs)
        if not (training and self._in_train_step):
            return self.student(inputs, training=training)
        return batch_views.training_outputs(self, inputs, cached, seeds)

    def teacher_logits(self, x):
        """The frozen teacher's logits for `x`, float32, without gradient."""
        return self._teacher_logits(x)

    def student_logits(self, y_pred):
        """Float32 logits from the student's outputs (differentiable)."""
        return probabilities_to_logits(y_pred, self._student_output_activation)

    def fit(self, *args, **kwargs):
        """Keras's `fit`, after each `DistillerCallback`'s `before_fit` and the data checks.

        Arguments are those of `keras.Model.fit`. Callbacks that change the
        trainable layers build the optimizer there, before Keras does.

        Raises:
            InvalidDataError: Empty `x`, NaN or inf in NumPy `x` or `y`
                (before training), or in a batch's inputs, the teacher's
                logits or the loss (at the end of the epoch of the first such
                batch; training stops at that batch).
            StaleCacheError: `x` carries a teacher cache of another teacher.
            ValueError: `temperature` or `alpha` out of range.
        """
        fit_checks.run_before_fit(self, args, kwargs)
        self._drop_stale_train_function()
        self._drop_steps_without_metrics("train_function", "test_function")
        # Text goes through a keras-hub student's preprocessor, as in `CausalLM.fit`.
        args, kwargs = language.fit_arguments(self, args, kwargs)
        args, kwargs = fit_checks.checked_fit_arguments(self, args, kwargs)
        with frozen_variables.finalize_over_built(self):
            return super().fit(*args, **kwargs)

    def evaluate(self, *args, **kwargs):
        """Keras's `evaluate`, on text through a keras-hub student's preprocessor."""
        self._drop_steps_without_metrics("test_function")
        args, kwargs = language.evaluate_arguments(self, args, kwargs)
        return super().evaluate(*args, **kwargs)

    def _drop_steps_without_metrics(self, *steps):
        """Forgets steps traced without labels, whose compiled metrics were never built.

        A step traced on label-free data leaves the metrics given to
        `compile` unbuilt; on TensorFlow, building them in a later trace of
        the same step (data with labels) would create variables in a
        `tf.function`'s second trace.
        """
        if self._compile_metrics is not None and not self._compile_metrics.built:
            for step in steps:
                setattr(self, step, None)

    def generate(self, *args, **kwargs):
        """The student's `generate` (a keras-hub `CausalLM` student), e.g. after `fit`."""
        return language.generate(self, *args, **kwargs)

    def train_step(self, *args, **kwargs):
        """Runs the backend's own training step on the distillation loss.

        The arguments are those of the backend's `train_step` (`data` on
        TensorFlow and torch, `state, data` on JAX). `call` and
        `compute_loss` supply the teacher, the augmentation and the loss.
        """
        self._check_compiled()
        self._in_train_step = True
        try:
            with frozen_variables.subset_apply(self, args):
                logs = super().train_step(*args, **kwargs)
            return multi_worker.reducible_logs(self, logs)
        finally:
            self._in_train_step = False

    def make_train_function(self, force=False):
        if self.train_function is None or force:
            self._note_train_function_build()
        with frozen_variables.fresh_trace(self, "train_step"):
            return super().make_train_function(force=force)

    def make_test_function(self, force=False):
        with frozen_variables.fresh_trace(self, "test_step"):
            return super().make_test_function(force=force)

    def make_predict_function(self, force=False):
        with frozen_variables.fresh_trace(self, "predict_step"):
            return super().make_predict_function(force=force)

    def test_step(self, *args, **kwargs):
        self._check_compiled()
        return multi_worker.reducible_logs(self, super().test_step(*args, **kwargs))

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # TensorFlow's trainer builds the model before `fit`; under a multi-worker
        # strategy Keras's own build needs a workaround (see multi_worker.py).
        return multi_worker.symbolic_build(
            self, super()._maybe_symbolic_build, iterator=iterator, data_batch=data_batch
        )

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The distillation loss in a training step; the student's loss otherwise.

        In a training step (`y_pred` is what `call` returned there) this is
        `alpha * hard-label loss + (1 - alpha) * distillation loss` plus the
        student's regularization losses, and it updates the `student_loss` and
        `distillation_loss` metrics. Elsewhere (`evaluate`) it is the
        hard-label loss plus regularization.
        """
        return loss_assembly.total_loss(self, x, y, y_pred, sample_weight)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """The compiled metrics, on the student's outputs.

        Without labels (`fit(x)` on the teacher's outputs alone), the metrics
        given to `compile` have nothing to compare with: they are left out of
        the logs, with one warning, instead of failing inside the step.
        """
        if y is None and self._compile_metrics is not None:
            metric_logs.warn_metrics_without_labels()
            logs = metric_logs.metrics_result(self, skip_compiled=True)
        else:
            logs = super().compute_metrics(
                x, y, loss_assembly.student_outputs(y_pred), sample_weight
            )
        return loss_assembly.reported_losses(self, logs, y_pred)

    def get_metrics_result(self):
        """The metrics' values; compiled metrics never updated (no labels) are left out."""
        compile_metrics = self._compile_metrics
        return metric_logs.metrics_result(
            self, skip_compiled=compile_metrics is not None and not compile_metrics.built
        )

    def compute_distillation_loss(
        self, y, y_pred, teacher_logits, sample_weight=None, shares=None, partners=None
    ):
        """Returns `(total_loss, student_loss, distillation_loss)` for one batch.

        Backend-agnostic: everything here is `keras.ops`. Under
        `tf.distribute`, each value is this replica's share of the global-batch
        mean (the shares sum to the single-device value).

        Args:
            y: Labels (ignored when `alpha` is 0 and no loss needs them).
            y_pred: The student's outputs.
            teacher_logits: Float32 teacher logits for the same inputs, or
                a batch of a top-k cache (a dict of `indices`, `log_probs`
                and `tail_mass`).
            sample_weight: Optional per-sample weights.
            shares: With batch mixing, the per-sample share of sample `i` in
                mixed input `i`; the hard-label loss mixes `y` and
                `y[partners]` with these shares.
            partners: With batch mixing, the partner index of each sample.
        """
        correction = distribution.global_batch_correction(y_pred)
        return loss_assembly.distillation_terms(
            self, y, y_pred, teacher_logits, sample_weight, correction, shares, partners
        )

    def _check_compiled(self):
        if self.distillation_loss_fn is None:
            raise ValueError(
                "The Distiller is not compiled: call `distiller.compile(optimizer=..., "
                "student_loss_fn=..., distillation_loss_fn=..., alpha=..., "
                "temperature=...)` before `fit` or `evaluate`."
            )

    def save(self, filepath, overwrite=True, **kwargs):
        """Saves the Distiller (`.keras`) atomically, without the sub-models' own optimizers.

        The file is written beside `filepath` and renamed into place: a crash
        mid-save leaves the previous file. A teacher or student compiled on
        its own carries an optimizer whose state the Distiller never uses
        (its own optimizer trains the student); it is left out of the file
        and stays on the models.
        """
        optimizer = getattr(self, "optimizer", None)
        if optimizer is not None and not optimizer.built:
            # Saved built, so loading compiles to the same optimizer variables
            # (no "Skipping variable loading for optimizer" warning).
            optimizer.build(self.trainable_variables)
        with saving.without_submodel_optimizers(self.teacher, self.student):
            saving.save_atomically(super().save, filepath, overwrite, kwargs)

    def save_weights(self, filepath, overwrite=True, **kwargs):
        """Saves the Distiller's weights atomically, without the sub-models' own optimizers."""
        with saving.without_submodel_optimizers(self.teacher, self.student):
            saving.save_atomically(super().save_weights, filepath, overwrite, kwargs)

    def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None,
               **kwargs):
        """Exports the student with Keras's `Model.export`: the teacher never ships.

        Arguments are those of `keras.Model.export`. For exports checked
        against Keras, written atomically and with int8 options, use
        `keras_distill.export.export(distiller.student, path, format=...)`.
        """
        return self.student.export(
            filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
        )

    def get_config(self):
        return saving.distiller_config(self, super().get_config())

    @classmethod
    def from_config(cls, config):
        return cls(**saving.constructor_arguments(config))

    def get_compile_config(self):
        return saving.compile_config(self._distiller_compile_config)

    def compile_from_config(self, config):
        config = saving.portable_compile_config(config)
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.optimizer is not None:
            self.optimizer.build(self.trainable_variables)

"""The end-to-end demo: teacher, student alone, distillation, export, report.

One implementation behind `keras-distill demo` and `examples/mnist_hinton.py`.
"""

import math
import os
import time

import keras

from keras_distill.augment import MixUp
from keras_distill.augment import RandomDeformation
from keras_distill.augment import RandomViews
from keras_distill.cache import TeacherCache
from keras_distill.callbacks import FineTuning
from keras_distill.demo import data as data_lib
from keras_distill.demo import models
from keras_distill.demo import presets
from keras_distill.demo import progress
from keras_distill.demo import summary
from keras_distill.demo.jitter import jittered_dataset
from keras_distill.distiller import Distiller
from keras_distill.ensemble import TeacherEnsemble
from keras_distill.export import export_onnx
from keras_distill.export import export_saved_model
from keras_distill.export import export_tflite
from keras_distill.losses import KDLoss
from keras_distill.report import DistillationReport

# Largest output difference allowed for float32 artifacts, absolute and relative.
FLOAT_ATOL = 1e-4
PHASES = (
    "Train the teacher",
    "Train the student alone",
    "Cache the teacher's outputs",
    "Distil and fine-tune the student",
    "Save and export the student",
    "Write the report",
)
# Under MixUp the training metrics score each blend against one of its two
# labels, whose share is drawn from U(0, 1): about half the time the other
# image dominates, whatever the student has learnt.
MIXUP_ACCURACY_NOTE = (
    "  (accuracy is measured on mixed-up training images against one of their two "
    "labels, so it stays near 0.5-0.6; val_accuracy is on the plain test images)"
)
# Consistent teaching runs the teacher online on every augmented batch: no cache.
CONSISTENT_PHASES = (
    "Train the teacher",
    "Train the student alone",
    "Distil the student (consistent teaching)",
    "Save and export the student",
    "Write the report",
)


class _Phases:
    """Prints one header line per phase and records each phase's wall time."""

    def __init__(self, verbose, names=PHASES):
        self.verbose = verbose
        self.names = names
        self.seconds = {}
        self._name = None
        self._start = None

    def start(self, name):
        self._stop()
        self._name, self._start = name, time.perf_counter()
        if self.verbose:
            number = self.names.index(name) + 1
            print(f"\n== [{number}/{len(self.names)}] {name} ==", flush=True)

    def _stop(self):
        if self._name is not None:
            self.seconds[self._name] = round(time.perf_counter() - self._start, 1)
            self._name = None

    def finish(self):
        self._stop()
        return self.seconds


def save_model(model, path):
    """Saves `model` as a `.keras` file beside `path`, then renames it into place."""
    staged = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.partial.keras")
    try:
        model.save(staged)
        os.replace(staged, path)
    finally:
        if os.path.exists(staged):
            os.unlink(staged)


def steps(num_samples, batch_size, epochs):
    """Optimizer steps of `epochs` epochs over `num_samples` samples."""
    return math.ceil(num_samples / batch_size) * epochs


def augmentation(dataset, recipe):
    """The augmentation of the recipe, for the teachers and consistent teaching:
    a `RandomDeformation` when the recipe has one, else random shifts of up to
    `recipe.max_shift` pixels (a Keras layer, on flattened images); `None`
    without either."""
    height, width = dataset.image_shape
    if recipe.deformation:
        return RandomDeformation(**recipe.deformation, image_shape=(height, width))
    if not recipe.max_shift:
        return None
    return keras.Sequential(
        [
            keras.layers.Reshape((height, width, 1)),
            keras.layers.RandomTranslation(
                recipe.max_shift / height, recipe.max_shift / width,
                fill_mode="constant", interpolation="nearest",
            ),
            keras.layers.Reshape((height * width,)),
        ],
        name="jitter",
    )


def _fit_teacher(teacher, dataset, recipe, seed, verbose):
    """Trains one teacher on jittered or deformed training images; returns its History."""
    epochs = recipe.teacher_epochs
    options = dict(
        optimizer=models.optimizer(
            recipe.learning_rate, steps(len(dataset.x_train), recipe.batch_size, epochs)
        ),
        loss=models.classifier_loss(),
        metrics=["accuracy"],
        # XLA on CPU draws dropout masks about 4x slower than TensorFlow's
        # kernels (103 vs 26 ms per step of this teacher on 2 cores).
        jit_compile=False,
    )
    fit_options = dict(
        epochs=epochs, validation_data=(dataset.x_test, dataset.y_test),
        **progress.fit_arguments(verbose, epochs),
    )
    if recipe.deformation:
        # The deformation runs inside the training step, as in consistent teaching.
        trainer = keras.Sequential(
            [keras.Input((dataset.x_train.shape[1],)),
             RandomViews(augmentation(dataset, recipe), seed=seed), teacher],
            name="teacher_training",
        )
        trainer.compile(**options)
        return trainer.fit(
            dataset.x_train, dataset.y_train, batch_size=recipe.batch_size, **fit_options
        )
    teacher.compile(**options)
    jittered = jittered_dataset(
        dataset.x_train, dataset.y_train, dataset.image_shape, recipe.max_shift,
        recipe.batch_size, seed=seed,
    )
    return teacher.fit(jittered, shuffle=False, **fit_options)


def train_teacher(dataset, recipe, seed, verbose):
    """Trains the teacher (or `recipe.teacher_count` teachers, averaged by a
    `TeacherEnsemble`); returns it and its histories by name."""
    teachers, histories = [], {}
    for index in range(recipe.teacher_count):
        name = "teacher" if recipe.teacher_count == 1 else f"teacher_{index + 1}"
        teacher = models.teacher(
            dataset.x_train.shape[1], dataset.num_classes, recipe, dataset.image_shape,
            name=name,
        )
        if verbose and recipe.teacher_count > 1:
            print(f"-- {name} of {recipe.teacher_count}", flush=True)
        histories[name] = _fit_teacher(teacher, dataset, recipe, seed * 1000 + index, verbose)
        teachers.append(teacher)
    if len(teachers) == 1:
        return teachers[0], histories
    return TeacherEnsemble(teachers, name="teacher"), histories


def train_alone(student, dataset, recipe, verbose, augmented=False, seed=0):
    """Trains `student` on the labels alone (the baseline); returns its History.

    `augmented=True` trains it instead on the augmentation and for the epochs,
    batch size and warm-up of consistent teaching: the control that separates
    what distillation gives from what the augmentation gives.
    """
    model, epochs, batch_size, warmup = student, recipe.student_epochs, recipe.batch_size, 0
    views = augmentation(dataset, recipe) if augmented else None
    if augmented:
        epochs, batch_size = recipe.consistent_epochs, recipe.consistent_batch_size
        warmup = recipe.warmup_epochs
    if views is not None:
        if isinstance(views, RandomDeformation):
            views = RandomViews(views, seed=seed)
        model = keras.Sequential(
            [keras.Input((dataset.x_train.shape[1],)), views, student], name="student_training"
        )
    model.compile(
        optimizer=models.optimizer(
            recipe.learning_rate, steps(len(dataset.x_train), batch_size, epochs),
            warmup_steps=steps(len(dataset.x_train), batch_size, warmup),
        ),
        loss=models.classifier_loss(),
        metrics=["accuracy"],
    )
    return model.fit(
        dataset.x_train, dataset.y_train, batch_size=batch_size,
        epochs=epochs, validation_data=(dataset.x_test, dataset.y_test),
        **progress.fit_arguments(verbose, epochs),
    )


def _compile_kd(distiller, dataset, recipe, batch_size, epochs, alpha, temperature,
                warmup_epochs=0):
    """KD with Adam, the learning rate warmed up over `warmup_epochs`, then
    cosine-decayed to 0 at the end of `epochs`."""
    distiller.compile(
        optimizer=models.optimizer(
            recipe.learning_rate, steps(len(dataset.x_train), batch_size, epochs),
            warmup_steps=steps(len(dataset.x_train), batch_size, warmup_epochs),
        ),
        metrics=["accuracy"],
        student_loss_fn=models.classifier_loss(),
        distillation_loss_fn=KDLoss(),
        alpha=alpha,
        temperature=temperature,
    )


def distil(teacher, student, cache, dataset, recipe, verbose):
    """Distils `student` from `cache` (the teacher's logits on `dataset.x_train`),
    then fine-tunes it; returns the `Distiller` and its History."""
    distiller = Distiller(teacher=teacher, student=student)
    _compile_kd(distiller, dataset, recipe, recipe.batch_size, recipe.distill_epochs,
                recipe.alpha, recipe.temperature)
    fine_tuning = FineTuning(
        start_epoch=recipe.distill_epochs,
        alpha=recipe.fine_tune_alpha,
        learning_rate=recipe.fine_tune_learning_rate,
        verbose=1 if verbose else 0,
    )
    epochs = recipe.distill_epochs + recipe.fine_tune_epochs
    history = distiller.fit(
        cache.inputs(dataset.x_train), dataset.y_train, batch_size=recipe.batch_size,
        epochs=epochs, validation_data=(dataset.x_test, dataset.y_test),
        **progress.fit_arguments(verbose, epochs, [fine_tuning]),
    )
    return distiller, history


def distil_consistently(teacher, student, dataset, recipe, seed, verbose):
    """Distils `student` with the teacher labelling every batch exactly as the
    student sees it, jittered or deformed and (per the recipe) mixed up (Beyer
    et al. 2022): online, or from `recipe.consistent_views` deformed views of
    every image labelled once (a `TeacherCache` whose views are kept and
    served by `view_dataset`, one per image and epoch). Returns the
    `Distiller` and its History."""
    views = augmentation(dataset, recipe)
    fit_data = dict(x=dataset.x_train, y=dataset.y_train,
                    batch_size=recipe.consistent_batch_size)
    if recipe.consistent_views:
        cache = TeacherCache.compute(
            teacher, dataset.x_train, views=recipe.consistent_views, augmentation=views,
            seed=seed, batch_size=1000, keep_views=True,
        )
        # The views are made: the Distiller neither augments nor runs the teacher.
        fit_data = dict(x=cache.view_dataset(
            dataset.x_train, dataset.y_train, batch_size=recipe.consistent_batch_size, seed=seed,
        ))
        views = None
    distiller = Distiller(
        teacher=teacher, student=student, augmentation=views,
        mix=MixUp() if recipe.consistent_mixup else None, seed=seed,
    )
    _compile_kd(distiller, dataset, recipe, recipe.consistent_batch_size,
                recipe.consistent_epochs, recipe.consistent_alpha, recipe.consistent_temperature,
                warmup_epochs=recipe.warmup_epochs)
    if verbose and recipe.consistent_mixup:
        print(MIXUP_ACCURACY_NOTE, flush=True)
    history = distiller.fit(
        **fit_data, epochs=recipe.consistent_epochs,
        validation_data=(dataset.x_test, dataset.y_test),
        **progress.fit_arguments(verbose, recipe.consistent_epochs),
    )
    return distiller, history


def export_student(student, dataset, recipe, out):
    """Exports `student` to SavedModel, TFLite float32 and int8, and ONNX, verified
    on the whole test set; returns the `ExportResult`s."""
    calibration = dataset.x_train[: recipe.calibration_samples]
    samples = dataset.x_test
    options = dict(overwrite=True, sample_inputs=samples)
    # Float artifacts must match Keras element-wise on the whole test set; the
    # bound covers float32 reassociation in 800-wide dot products.
    exact = dict(atol=FLOAT_ATOL, rtol=FLOAT_ATOL, **options)
    return [
        export_saved_model(student, os.path.join(out, "student_saved_model"), **exact),
        export_tflite(student, os.path.join(out, "student_float32.tflite"), **exact),
        export_tflite(
            student, os.path.join(out, "student_int8.tflite"), quantization="int8",
            representative_data=calibration, **options,
        ),
        export_onnx(student, os.path.join(out, "student.onnx"), **exact),
    ]


def run(dataset="mnist", data=None, preset="quick", out="keras_distill_demo", seed=0,
        verbose=1, teacher=None, teaching=None):
    """Runs the whole demo and writes everything under `out`.

    Args:
        dataset: `"mnist"` or `"digits"` (offline). Defaults to `"mnist"`.
        data: Path of an `mnist.npz`; `None` uses `keras.datasets.mnist`.
            Defaults to `None`.
        preset: `"quick"` or `"full"` (the Hinton et al. reproduction).
            Defaults to `"quick"`.
        out: Output folder. Defaults to `"keras_distill_demo"`.
        seed: Seed of weights, shuffling and jitter. Defaults to `0`.
        verbose: 0 silent, 1 a line every tenth of the epochs, 2 one line
            per epoch. Defaults to `1`.
        teacher: `"mlp"` (the paper's 784-1200-1200-10) or `"cnn"` (a small
            convolutional teacher, MNIST only; not in the paper). `None` uses
            `"cnn"` on MNIST and `"mlp"` on digits. Defaults to `None`.
        teaching: `"consistent"` (the online teacher labels every jittered,
            mixed-up batch, Beyer et al. 2022) or `"cached"` (the student
            learns cached logits of the un-augmented images, then fine-tunes,
            as Hinton et al.). `None` uses the preset's. Defaults to `None`.

    Returns:
        The `DistillationReport`'s results dict, with the written paths
        under `"files"`.

    Raises:
        keras_distill.demo.DataError: When the data cannot be loaded.
    """
    recipe = presets.recipe(dataset, preset, teacher, teaching)
    started = time.perf_counter()
    keras.utils.set_random_seed(seed)
    loaded = data_lib.load(dataset, data)
    os.makedirs(out, exist_ok=True)
    consistent = recipe.teaching == "consistent"
    names = CONSISTENT_PHASES if consistent else PHASES
    phases = _Phases(verbose, names)

    phases.start(names[0])
    teacher, teacher_histories = train_teacher(loaded, recipe, seed, verbose)

    phases.start(names[1])
    num_inputs, num_classes = loaded.x_train.shape[1], loaded.num_classes
    student = models.student(num_inputs, num_classes, recipe, name="student")
    alone = models.student(num_inputs, num_classes, recipe, name="student_alone")
    alone.set_weights(student.get_weights())
    alone_history = train_alone(alone, loaded, recipe, verbose)

    if consistent:
        phases.start(names[2])
        distiller, distill_history = distil_consistently(
            teacher, student, loaded, recipe, seed, verbose
        )
    else:
        phases.start(names[2])
        cache = TeacherCache.compute(
            teacher, loaded.x_train, path=os.path.join(out, "teacher_cache.npz"),
            verbose=0,
        )
        phases.start(names[3])
        distiller, distill_history = distil(teacher, student, cache, loaded, recipe, verbose)

    phases.start(names[-2])
    save_model(teacher, os.path.join(out, "teacher.keras"))
    save_model(distiller.student, os.path.join(out, "student.keras"))
    exports = export_student(distiller.student, loaded, recipe, out)
    if verbose:
        for result in exports:
            print(result)

    phases.start(names[-1])
    settings = {
        "dataset": loaded.name,
        "data": loaded.source,
        "preset": preset,
        "seed": seed,
        **presets.settings(recipe),
    }
    report = DistillationReport(
        teacher, distiller.student, loaded.x_test, loaded.y_test, baseline=alone,
        image_shape=loaded.image_shape,
        exports=exports,
        histories={
            **teacher_histories,
            "student alone": alone_history,
            "distillation": distill_history,
        },
        title=(
            f"keras-distill demo: {loaded.name}, preset {preset}, "
            f"{recipe.teacher_model} teacher, {recipe.teaching} teaching, seed {seed}"
        ),
        settings=settings,
    )
    results = report.compute()
    results["phase_seconds"] = phases.finish()
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    results["files"] = report.save(out)
    if verbose:
        print(summary.table(results))
    return results

"""Distillation methods side by side: benchmarks/results/methods.md.

For each seed: one teacher (the demo's recipe), then the same student
initialisation trained alone and with each method, all on the demo's data
split; test errors, and seconds per epoch of each method's training.

    python benchmarks/methods.py --dataset digits --seeds 0 1 2
    python benchmarks/methods.py --dataset mnist --data mnist.npz --teacher cnn --seeds 0 1 2

Methods:
    alone         the student on the labels alone
    alone_long    the same, as many epochs as consistent teaching (control:
                  is it just the longer schedule?)
    kd            Hinton KD from cached logits of the un-augmented inputs
    kd_long       the same, as many epochs as consistent teaching (control)
    kd_std        KD with logit standardization (Sun et al. 2024), cached
    dkd           decoupled KD (Zhao et al. 2022), cached
    dist          DIST (Huang et al. 2022), cached
    consistent    online KD, teacher and student see the same augmented batch:
                  mixup on digits, +-2 px jitter on MNIST (the demo's recipe);
                  Beyer et al. 2022
    views         consistent KD from a TeacherCache of 8 jittered views per
                  example (RandomShift, 1 px on digits, 2 px on MNIST): the
                  teacher never runs in the step; the cache build is timed
                  separately

Seconds per epoch are measured in the same process, one method after the
other (this machine is noisy: compare within a run).
"""

import argparse
import json
import os
import statistics
import time

import command_line
import keras
import numpy as np

import keras_distill as kd
from keras_distill.demo import data as data_lib
from keras_distill.demo import models
from keras_distill.demo import pipeline
from keras_distill.demo import presets

METHODS = ("alone", "alone_long", "kd", "kd_long", "kd_std", "dkd", "dist", "consistent", "views")
VIEWS = 8


def _loss(method):
    return {
        "kd": kd.losses.KDLoss(),
        "kd_long": kd.losses.KDLoss(),
        "kd_std": kd.losses.KDLoss(standardize=True),
        "dkd": kd.losses.DKDLoss(alpha=1.0, beta=8.0),
        "dist": kd.losses.DISTLoss(),
        "consistent": kd.losses.KDLoss(),
        "views": kd.losses.KDLoss(),
    }[method]


def _settings(method, recipe, epochs, consistent_epochs=None):
    """(alpha, temperature, batch size, epochs) of each method."""
    if method == "kd_long":
        return (recipe.alpha, recipe.temperature, recipe.batch_size,
                consistent_epochs or recipe.consistent_epochs)
    if method in ("consistent", "views"):
        return (recipe.consistent_alpha, recipe.consistent_temperature,
                recipe.consistent_batch_size, consistent_epochs or recipe.consistent_epochs)
    if method == "kd_std":
        return recipe.alpha, 2.0, recipe.batch_size, epochs
    if method == "dkd":
        return 0.5, 4.0, recipe.batch_size, epochs
    if method == "dist":
        return 0.5, 1.0, recipe.batch_size, epochs
    return recipe.alpha, recipe.temperature, recipe.batch_size, epochs


def train(method, teacher, init_weights, dataset, recipe, cache, epochs, seed,
          consistent_epochs=None):
    keras.utils.set_random_seed(seed)
    student = models.student(dataset.x_train.shape[1], dataset.num_classes, recipe)
    student.set_weights(init_weights)
    start = time.perf_counter()
    if method in ("alone", "alone_long"):
        ran = epochs if method == "alone" else consistent_epochs or recipe.consistent_epochs
        steps = pipeline.steps(len(dataset.x_train), recipe.batch_size, ran)
        student.compile(models.optimizer(recipe.learning_rate, steps), models.classifier_loss(),
                        metrics=["accuracy"])
        student.fit(dataset.x_train, dataset.y_train, batch_size=recipe.batch_size,
                    epochs=ran, verbose=0)
    else:
        alpha, temperature, batch_size, ran = _settings(method, recipe, epochs, consistent_epochs)
        consistent = method == "consistent"
        if method == "views":
            augmentation = _view_augmentation(dataset, recipe)
            build = time.perf_counter()
            cache = kd.TeacherCache.compute(
                teacher, dataset.x_train, views=VIEWS, augmentation=augmentation, seed=seed
            )
            cache_seconds = time.perf_counter() - build
            start = time.perf_counter()
        elif consistent:
            augmentation = pipeline.augmentation(dataset, recipe)
        else:
            augmentation = None
        distiller = kd.Distiller(
            teacher, student, seed=seed, augmentation=augmentation,
            mix=kd.augment.MixUp() if consistent and recipe.consistent_mixup else None,
        )
        steps = pipeline.steps(len(dataset.x_train), batch_size, ran)
        distiller.compile(
            optimizer=models.optimizer(recipe.learning_rate, steps),
            student_loss_fn=models.classifier_loss(), distillation_loss_fn=_loss(method),
            alpha=alpha, temperature=temperature, metrics=["accuracy"],
        )
        x = dataset.x_train if consistent else cache.inputs(dataset.x_train)
        distiller.fit(x, dataset.y_train, batch_size=batch_size, epochs=ran, verbose=0)
    seconds = time.perf_counter() - start
    predictions = np.argmax(student.predict(dataset.x_test, verbose=0, batch_size=1000), -1)
    errors = int((predictions != dataset.y_test).sum())
    result = {"errors": errors, "seconds_per_epoch": seconds / ran, "epochs": ran}
    if method == "views":
        result["cache_seconds"] = cache_seconds
    return result


def _view_augmentation(dataset, recipe):
    return kd.augment.RandomShift(max(1, recipe.max_shift), image_shape=dataset.image_shape)


def run_seed(args, seed):
    recipe = presets.recipe(
        args.dataset, "full" if args.dataset == "mnist" else "quick", teacher=args.teacher
    )
    dataset = data_lib.load(args.dataset, args.data)
    keras.utils.set_random_seed(seed)
    teacher, _ = pipeline.train_teacher(dataset, recipe, seed, verbose=0)
    teacher_errors = int(
        (np.argmax(teacher.predict(dataset.x_test, verbose=0, batch_size=1000), -1)
         != dataset.y_test).sum()
    )
    cache = kd.TeacherCache.compute(teacher, dataset.x_train, verbose=0)
    keras.utils.set_random_seed(seed)
    init = models.student(dataset.x_train.shape[1], dataset.num_classes, recipe).get_weights()
    results = {"teacher": {"errors": teacher_errors}}
    epochs = args.epochs or recipe.student_epochs
    for method in args.methods:
        results[method] = train(method, teacher, init, dataset, recipe, cache, epochs, seed,
                                args.consistent_epochs)
        print(f"seed {seed} {method}: {results[method]}", flush=True)
    return results


def _stats(values, fmt=".1f"):
    return f"{statistics.mean(values):{fmt}} ({min(values):{fmt}} to {max(values):{fmt}})"


def table(all_results, methods, test_size):
    seeds = sorted(all_results)
    lines = [
        "| method | test errors / {}, mean (min to max) | per seed | beats alone | "
        "share of the gap closed | s / epoch | epochs |".format(test_size),
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    teacher = [all_results[s]["teacher"]["errors"] for s in seeds]
    lines.append(f"| teacher | {_stats(teacher)} | {', '.join(map(str, teacher))} | | | | |")
    alone = {s: all_results[s]["alone"]["errors"] for s in seeds} if "alone" in methods else {}
    for method in methods:
        errors = [all_results[s][method]["errors"] for s in seeds]
        beats = gap = ""
        if method != "alone" and alone:
            beats = f"{sum(all_results[s][method]['errors'] < alone[s] for s in seeds)}/{len(seeds)}"
            closed = [
                100 * (alone[s] - all_results[s][method]["errors"])
                / max(alone[s] - all_results[s]["teacher"]["errors"], 1)
                for s in seeds
            ]
            gap = f"{round(statistics.mean(closed))}%"
        per_epoch = statistics.mean(all_results[s][method]["seconds_per_epoch"] for s in seeds)
        lines.append(
            f"| {method} | {_stats(errors)} | {', '.join(map(str, errors))} | {beats} | {gap} "
            f"| {per_epoch:.2f} | {all_results[seeds[0]][method]['epochs']} |"
        )
    if "views" in methods:
        build = statistics.mean(all_results[s]["views"]["cache_seconds"] for s in seeds)
        lines += ["", f"Building the {VIEWS}-view cache took {build:.1f} s (mean over seeds)."]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=presets.DATASETS, default="digits")
    parser.add_argument("--data", help="mnist.npz for --dataset mnist")
    parser.add_argument("--teacher", choices=presets.TEACHERS, default="mlp",
                        help="the demo's teacher (cnn: MNIST only)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs of the student alone and of each cached method "
                        "; default: the preset's student epochs")
    parser.add_argument("--consistent-epochs", type=int, default=None,
                        help="epochs of consistent distillation; default: the preset's")
    parser.add_argument("--out", default=None, help="write the table and raw results here (.md)")
    args = parser.parse_args(argv)
    test_size = len(data_lib.load(args.dataset, args.data).y_test)
    all_results = {}
    for seed in args.seeds:
        all_results[seed] = run_seed(args, seed)
        # Written after every seed: a long run that stops keeps what it measured.
        text = table(all_results, args.methods, test_size)
        if args.out:
            _write(args.out, text, all_results)
    print(text)


def _write(path, text, all_results):
    with open(path, "w") as f:
        f.write(f"Command: `{command_line.command('benchmarks/methods.py')}`\n\n")
        f.write(f"Machine: {os.cpu_count()} CPU cores; Keras backend "
                f"{keras.backend.backend()}. Seeds measured: {sorted(all_results)}.\n\n")
        f.write(text + "\n\n```json\n" + json.dumps(all_results, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()

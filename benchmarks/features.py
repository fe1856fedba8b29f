"""Feature distillation methods side by side: benchmarks/results/features.md.

For each seed: the teachers, then the same student initialisation trained
alone and with each method on the same data; test errors and seconds per
epoch (relative to KD, measured in the same process one after the other).

    python benchmarks/features.py --dataset digits --seeds 0 1 2
    python benchmarks/features.py --dataset mnist --data mnist.npz --seeds 0 1 2

Pairs:
    digits  the demo's MLP pair (64-256-256-10 teacher with dropout, 64-32-32-10
            student); features are the last hidden layers (vectors: attention
            transfer does not apply)
    mnist   a CNN teacher (conv 32 - pool - conv 64 - pool - dense 256) and a
            thin CNN student (conv 4 - pool - conv 8 - pool - dense 32)

Methods (every one trains online, on the un-augmented training set):
    alone        the student on the labels alone
    kd           Hinton KD, T=4, alpha=0.1
    fitnets      hard labels + hint loss on the second conv (or last hidden)
                 layer, through an adapter (1x1 conv / Dense)
    at           hard labels + attention transfer on the second conv layer
                 (weight 1000, the paper's)
    sp           hard labels + similarity-preserving on the embedding (3000)
    rkd          hard labels + RKD distance (25) and angle (50) on the embedding
    kd_best      KD + the feature method with the fewest mean errors in this run
    ensemble     KD from a TeacherEnsemble of the teacher and a second teacher
                 of another architecture (an 800-800 MLP on MNIST; a one-layer
                 512-unit MLP on digits), equal weights, T=4
"""

import argparse
import dataclasses
import json
import os
import statistics
import time

import command_line
import keras
import numpy as np

import keras_distill as kd
from keras_distill.demo import data as data_lib
from keras_distill.demo import models as demo_models
from keras_distill.demo import pipeline
from keras_distill.demo import presets
from keras_distill.features import FeaturePair

FEATURE_METHODS = ("fitnets", "at", "sp", "rkd")
METHODS = ("alone", "kd") + FEATURE_METHODS + ("kd_best", "ensemble")
KD_ALPHA, KD_TEMPERATURE = 0.1, 4.0


def _mnist_teacher():
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(256, activation="relu", name="embedding"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, name="logits"),
        ],
        name="cnn_teacher",
    )


def _mnist_second_teacher():
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(800, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(800, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, name="logits"),
        ],
        name="mlp_teacher",
    )


def _mnist_student():
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv1"),
            keras.layers.MaxPooling2D(name="pool1"),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2"),
            keras.layers.MaxPooling2D(name="pool2"),
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", name="embedding"),
            keras.layers.Dense(10, name="logits"),
        ],
        name="thin_cnn_student",
    )


def _second_dense(student):
    return [layer for layer in student.layers if isinstance(layer, keras.layers.Dense)][1]


def _fit_alone(model, dataset, epochs, batch_size, learning_rate):
    steps = pipeline.steps(len(dataset.x_train), batch_size, epochs)
    model.compile(demo_models.optimizer(learning_rate, steps), demo_models.classifier_loss(),
                  metrics=["accuracy"])
    model.fit(dataset.x_train, dataset.y_train, batch_size=batch_size, epochs=epochs, verbose=0)
    return model


class Setup:
    """The teachers, the student builder and the training settings of one dataset."""

    def __init__(self, dataset_name, dataset, seed):
        self.dataset = dataset
        keras.utils.set_random_seed(seed)
        if dataset_name == "mnist":
            self.teacher = _fit_alone(_mnist_teacher(), dataset, 6, 128, 1e-3)
            self.second = _fit_alone(_mnist_second_teacher(), dataset, 10, 128, 1e-3)
            self.make_student = _mnist_student
            self.epochs, self.batch_size, self.learning_rate = 5, 128, 2e-3
            self.conv = ("conv2", "conv2")
            self.embedding = ("embedding", "embedding")
        else:
            recipe = presets.recipe("digits", "quick")
            self.teacher, _ = pipeline.train_teacher(dataset, recipe, seed, verbose=0)
            narrow = dataclasses.replace(recipe, teacher_hidden=(512,))
            keras.utils.set_random_seed(seed + 1000)
            self.second, _ = pipeline.train_teacher(dataset, narrow, seed + 1000, verbose=0)
            self.make_student = lambda: demo_models.student(
                dataset.x_train.shape[1], dataset.num_classes, recipe
            )
            self.epochs, self.batch_size, self.learning_rate = 60, 32, recipe.learning_rate
            # Last hidden layers: the teacher's second Dense, the student's second Dense.
            dense_t = [layer for layer in self.teacher.layers if isinstance(layer, keras.layers.Dense)]
            self.conv = None
            self.embedding = (dense_t[-2], _second_dense)
        keras.utils.set_random_seed(seed)
        self.init = self.make_student().get_weights()

    def errors(self, model):
        predictions = np.argmax(model.predict(self.dataset.x_test, verbose=0, batch_size=1000), -1)
        return int((predictions != self.dataset.y_test).sum())

    def pairs(self, method, student):
        loss = {"fitnets": "hint", "at": "attention_transfer", "sp": "similarity_preserving",
                "rkd": "rkd"}[method]
        layers = self.conv if method in ("fitnets", "at") and self.conv else self.embedding
        teacher_layer, student_layer = layers
        if callable(student_layer):
            student_layer = student_layer(student)
        return [FeaturePair(teacher_layer, student_layer, loss=loss)]


def train(setup, method, seed, best=None):
    keras.utils.set_random_seed(seed)
    student = setup.make_student()
    student.set_weights(setup.init)
    steps = pipeline.steps(len(setup.dataset.x_train), setup.batch_size, setup.epochs)
    start = time.perf_counter()
    if method == "alone":
        _fit_alone(student, setup.dataset, setup.epochs, setup.batch_size, setup.learning_rate)
    else:
        teacher, features, alpha = setup.teacher, None, KD_ALPHA
        if method in FEATURE_METHODS:
            features, alpha = setup.pairs(method, student), 1.0
        elif method == "kd_best":
            features = setup.pairs(best, student)
        elif method == "ensemble":
            teacher = kd.TeacherEnsemble([setup.teacher, setup.second])
        distiller = kd.Distiller(teacher, student, features=features)
        distiller.compile(
            optimizer=demo_models.optimizer(setup.learning_rate, steps),
            student_loss_fn=demo_models.classifier_loss(), distillation_loss_fn="kd",
            alpha=alpha, temperature=KD_TEMPERATURE, metrics=["accuracy"],
        )
        distiller.fit(setup.dataset.x_train, setup.dataset.y_train,
                      batch_size=setup.batch_size, epochs=setup.epochs, verbose=0)
    seconds = time.perf_counter() - start
    return {"errors": setup.errors(student), "seconds_per_epoch": seconds / setup.epochs,
            "epochs": setup.epochs}


def _stats(values):
    return f"{statistics.mean(values):.1f} ({min(values)} to {max(values)})"


def table(results, methods, test_size):
    seeds = sorted(results)
    lines = [
        f"| method | test errors / {test_size}, mean (min to max) | per seed | beats alone | "
        "s / epoch | cost vs KD |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for name in ("teacher", "second_teacher"):
        errors = [results[s][name]["errors"] for s in seeds]
        lines.append(f"| {name.replace('_', ' ')} | {_stats(errors)} | "
                     f"{', '.join(map(str, errors))} | | | |")
    kd_cost = statistics.mean(results[s]["kd"]["seconds_per_epoch"] for s in seeds) \
        if "kd" in methods else None
    for method in methods:
        if method not in results[seeds[0]]:
            continue
        errors = [results[s][method]["errors"] for s in seeds]
        label = method
        if method == "kd_best":
            label = f"kd + {results[seeds[0]][method]['feature']}"
        beats = ""
        if method != "alone":
            wins = sum(results[s][method]["errors"] < results[s]["alone"]["errors"] for s in seeds)
            beats = f"{wins}/{len(seeds)}"
        cost = statistics.mean(results[s][method]["seconds_per_epoch"] for s in seeds)
        ratio = f"{cost / kd_cost:.2f}x" if kd_cost else ""
        lines.append(f"| {label} | {_stats(errors)} | {', '.join(map(str, errors))} | {beats} "
                     f"| {cost:.2f} | {ratio} |")
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("digits", "mnist"), default="digits")
    parser.add_argument("--data", help="mnist.npz for --dataset mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", choices=METHODS, default=list(METHODS))
    parser.add_argument("--out", default=None, help="write the table and raw results here (.md)")
    args = parser.parse_args(argv)
    dataset = data_lib.load(args.dataset, args.data)
    methods = [m for m in args.methods if not (args.dataset == "digits" and m == "at")]
    results = {}
    # Feature methods first, all seeds, so "kd_best" picks from every seed's result.
    first = [m for m in methods if m != "kd_best"]
    setups = {}
    for seed in args.seeds:
        setups[seed] = setup = Setup(args.dataset, dataset, seed)
        results[seed] = {"teacher": {"errors": setup.errors(setup.teacher)},
                         "second_teacher": {"errors": setup.errors(setup.second)}}
        for method in first:
            results[seed][method] = train(setup, method, seed)
            print(f"seed {seed} {method}: {results[seed][method]}", flush=True)
        _write(args, table(results, methods, len(dataset.y_test)), results)
    if "kd_best" in methods:
        tried = [m for m in FEATURE_METHODS if m in first]
        best = min(tried, key=lambda m: statistics.mean(results[s][m]["errors"] for s in args.seeds))
        for seed in args.seeds:
            results[seed]["kd_best"] = dict(train(setups[seed], "kd_best", seed, best), feature=best)
            print(f"seed {seed} kd + {best}: {results[seed]['kd_best']}", flush=True)
    text = table(results, methods, len(dataset.y_test))
    _write(args, text, results)
    print(text)


def _write(args, text, results):
    if not args.out:
        return
    with open(args.out, "w") as f:
        f.write(f"Command: `{command_line.command('benchmarks/features.py')}`\n\n")
        f.write(f"Machine: {os.cpu_count()} CPU cores; Keras backend "
                f"{keras.backend.backend()}. Seeds measured: {sorted(results)}.\n\n")
        f.write(text + "\n\n```json\n" + json.dumps(results, indent=1) + "\n```\n")


if __name__ == "__main__":
    main()

"""Quickstart: distil a small MLP from a larger one on scikit-learn's digits.

Runs offline in about a minute on 2 CPU cores:

    python examples/quickstart.py            # one seed
    python examples/quickstart.py --seeds 5 --report benchmarks/results/digits.md

For each seed it trains a teacher (64-256-256-10, dropout, softmax output),
the student alone (64-32-10, 35x fewer parameters) and the same student distilled from the teacher
(T=4, alpha=0.1), on half of the digits, and reports test accuracy on the
other half.
"""

import argparse
import pathlib
import statistics
import time

import keras
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import keras_distill as kd


def make_teacher():
    return keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(10, activation="softmax"),
        ],
        name="teacher",
    )


def make_student():
    return keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(32, activation="relu"), keras.layers.Dense(10)],
        name="student",
    )


def run(seed, epochs):
    keras.utils.set_random_seed(seed)
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=0.5, random_state=seed, stratify=y
    )
    teacher = make_teacher()
    teacher.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)

    initial_student = make_student()
    alone = keras.models.clone_model(initial_student)
    alone.set_weights(initial_student.get_weights())
    alone.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    alone.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)

    distiller = kd.Distiller(teacher=teacher, student=initial_student)
    distiller.compile(
        optimizer="adam",
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=kd.losses.KDLoss(),
        alpha=0.1,
        temperature=4.0,
    )
    distiller.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=0)
    return {
        "teacher": teacher.evaluate(x_test, y_test, verbose=0)[1],
        "student alone": alone.evaluate(x_test, y_test, verbose=0)[1],
        "distilled student": distiller.evaluate(x_test, y_test, return_dict=True, verbose=0)[
            "accuracy"
        ],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=1, help="number of seeds (0, 1, ...)")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--report", type=pathlib.Path, help="write a markdown table here")
    args = parser.parse_args()

    start = time.time()
    runs = []
    for seed in range(args.seeds):
        result = run(seed, args.epochs)
        runs.append(result)
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.4f}" for k, v in result.items()))
    lines = [
        f"Digits (898 train / 899 test), {args.epochs} epochs, {args.seeds} seed(s), "
        f"{time.time() - start:.0f} s",
        "",
        "| model | params | test accuracy, mean | min | max |",
        "|---|---|---|---|---|",
    ]
    params = {
        "teacher": make_teacher().count_params(),
        "student alone": make_student().count_params(),
        "distilled student": make_student().count_params(),
    }
    for name in runs[0]:
        values = [r[name] for r in runs]
        lines.append(
            f"| {name} | {params[name]:,} | {statistics.mean(values):.4f} | "
            f"{min(values):.4f} | {max(values):.4f} |"
        )
    table = "\n".join(lines)
    print()
    print(table)
    if args.report:
        command = f"python examples/quickstart.py --seeds {args.seeds} --epochs {args.epochs}"
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(f"# Digits: student alone vs distilled\n\nCommand: `{command}`\n\n{table}\n")


if __name__ == "__main__":
    main()

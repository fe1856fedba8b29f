"""A scikit-learn gradient-boosting teacher distilled into a small Keras MLP that ships as TFLite.

    python examples/sklearn_teacher.py --data digits --seeds 0 1 2 \
        --out runs/sklearn_teacher --report runs/sklearn_teacher/report.md

The teacher is a `HistGradientBoostingClassifier` fitted on a tabular task
bundled with scikit-learn (`--data digits`, `breast_cancer` or `wine`: no
download). `keras_distill.teachers.EstimatorTeacher` makes it a teacher; it
runs online in `fit` as a host call, on MixUp batches
(`keras_distill.augment.MixUp`): the trees label every mixed input, so each
epoch gives the student new points between the training samples, which is
what a tree ensemble teaches best (Bucilua et al. 2006 label synthetic points
the same way). The student is an MLP with a `Normalization` layer, so its
TFLite file takes the raw features. Reported, on the held-out split: the
teacher, the student alone (hard labels) and the distilled student, each
student over `--seeds`, with the TFLite file's accuracy, size and
single-sample latency.

Reference:
    Bucilua, Caruana and Niculescu-Mizil, "Model Compression", KDD 2006.
"""

import argparse
import os
import pickle
import statistics
import sys
import time

import keras
import numpy as np
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

import keras_distill as kd
from keras_distill.core import atomic_files

DATASETS = {
    "breast_cancer": datasets.load_breast_cancer,
    "wine": datasets.load_wine,
    "digits": datasets.load_digits,
}
# Single-sample latency: median of this many calls.
LATENCY_CALLS = 200


def load(name):
    """The bundled dataset `name`, split 70/30 (stratified, fixed split)."""
    x, y = DATASETS[name](return_X_y=True)
    x_train, x_test, y_train, y_test = train_test_split(
        x.astype("float32"), y.astype("int32"), test_size=0.3, stratify=y, random_state=0
    )
    return x_train, y_train, x_test, y_test


def latency_ms(predict, x):
    """Median time of `predict` on one sample, over `LATENCY_CALLS` samples of `x`."""
    times = []
    for i in range(LATENCY_CALLS):
        sample = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        predict(sample)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def mlp(x_train, num_classes, hidden):
    normalization = keras.layers.Normalization()
    normalization.adapt(x_train)
    return keras.Sequential(
        [
            keras.Input((x_train.shape[1],)),
            normalization,
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(num_classes),
        ]
    )


def train_alone(student, x_train, y_train, args):
    student.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    student.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    return student


def distil(teacher, student, x_train, y_train, args, seed):
    distiller = kd.Distiller(teacher, student, mix=kd.augment.MixUp(), seed=seed)
    distiller.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=args.alpha,
        temperature=args.temperature,
    )
    distiller.fit(x_train, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    return student


def ship(student, path, x_train, x_test, y_test):
    """Exports `student` to TFLite and scores the file in LiteRT on the test split."""
    kd.export_tflite(student, path, overwrite=True, sample_inputs=x_test)
    shipped = kd.teachers.TFLiteTeacher(path)
    return {
        "accuracy": float(np.mean(shipped.run(x_test).argmax(-1) == y_test)),
        "size": os.path.getsize(path),
        "latency_ms": latency_ms(shipped.run, x_test),
    }


def run(args):
    """Fits the teacher, then each student per seed; returns the measurements."""
    x_train, y_train, x_test, y_test = load(args.data)
    num_classes = int(y_train.max()) + 1
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    forest = HistGradientBoostingClassifier(random_state=0).fit(x_train, y_train)
    teacher_path = os.path.join(args.out, "teacher.pkl")
    atomic_files.write_file(teacher_path, lambda staged: _pickle(forest, staged))
    results = {
        "teacher": {
            "accuracy": float(np.mean(forest.predict(x_test) == y_test)),
            "size": os.path.getsize(teacher_path),
            "latency_ms": latency_ms(forest.predict_proba, x_test),
        },
        "alone": [],
        "distilled": [],
        "sizes": {"train": len(x_train), "test": len(x_test), "features": x_train.shape[1]},
    }
    teacher = kd.teachers.EstimatorTeacher(forest)
    for seed in args.seeds:
        for kind in ("alone", "distilled"):
            keras.utils.set_random_seed(seed)
            student = mlp(x_train, num_classes, args.hidden)
            if kind == "alone":
                train_alone(student, x_train, y_train, args)
            else:
                distil(teacher, student, x_train, y_train, args, seed)
            path = os.path.join(args.out, f"student_{kind}_seed{seed}.tflite")
            results[kind].append(ship(student, path, x_train, x_test, y_test))
    results["seconds"] = time.perf_counter() - started
    return results


def _pickle(estimator, path):
    with open(path, "wb") as f:
        pickle.dump(estimator, f)


def _write_text(text, path):
    with open(path, "w") as f:
        f.write(text)


def _spread(values, scale=1.0, digits=2):
    values = [scale * v for v in values]
    mean = statistics.mean(values)
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(args, results):
    teacher = results["teacher"]
    sizes = results["sizes"]
    lines = [
        f"Data: scikit-learn's bundled `{args.data}` ({sizes['features']} features), a fixed "
        f"stratified 70/30 split: {sizes['train']} training and {sizes['test']} test samples. "
        "Teacher: `HistGradientBoostingClassifier(random_state=0)`. Students: MLP "
        f"Normalization-{args.hidden}-{args.hidden}-classes (ReLU), Adam {args.learning_rate}, "
        f"batch {args.batch_size}, {args.epochs} epochs; alone on the hard labels; distilled "
        "online from `EstimatorTeacher` (host call) on MixUp batches, alpha "
        f"{args.alpha}, T {args.temperature}. Student accuracy is the float32 `.tflite` "
        f"file's in LiteRT; mean (min-max) over seeds {' '.join(map(str, args.seeds))}. "
        f"Latency: median of {LATENCY_CALLS} single-sample calls on the shared, loaded CPU "
        "(compare rows with each other only). Teacher size: the pickled estimator.",
        "",
        "| model | test accuracy (%) | file | size (bytes) | latency, batch 1 (ms) |",
        "|---|---:|---|---:|---:|",
        f"| teacher (gradient boosting) | {100 * teacher['accuracy']:.2f} | `.pkl` | "
        f"{teacher['size']:,} | {teacher['latency_ms']:.3f} |",
    ]
    for kind, name in (("alone", "student alone"), ("distilled", "distilled student")):
        rows = results[kind]
        lines.append(
            f"| {name} | {_spread([r['accuracy'] for r in rows], 100)} | `.tflite` float32 | "
            f"{rows[0]['size']:,} | {_spread([r['latency_ms'] for r in rows], digits=3)} |"
        )
    gains = [
        100 * (d["accuracy"] - a["accuracy"])
        for a, d in zip(results["alone"], results["distilled"])
    ]
    lines += [
        "",
        "Distilled minus alone, per seed (pt): " + ", ".join(f"{g:+.2f}" for g in gains)
        + f". Wall time {results['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=sorted(DATASETS), default="digits",
                        help="a tabular dataset bundled with scikit-learn")
    parser.add_argument("--out", default="runs/sklearn_teacher", help="folder for the files")
    parser.add_argument("--report", help="write the results (Markdown) here")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--temperature", type=float, default=2.0)
    args = parser.parse_args(argv)
    results = run(args)
    text = report(args, results)
    print(text)
    if args.report:
        atomic_files.write_file(args.report, lambda staged: _write_text(text, staged))
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)

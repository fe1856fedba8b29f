"""Compressing a distilled MNIST student: pruning and int8 QAT, both while distilling.

    python examples/compress_mnist.py --data /path/to/mnist.npz --out /tmp/compress \
        --report benchmarks/results/compression.md

Starting point: a 784-1200-1200-10 teacher trained briefly, its logits cached
once (`TeacherCache`), and a 784-800-800-10 student distilled from the cache.
From that dense student it builds, each exported to TFLite and verified in
LiteRT:

* dense float32;
* pruned to 80% sparse kernels while distilling (`prune_and_distill`);
* post-training int8 quantization of the dense student (PTQ);
* int8 quantization-aware distillation of the dense student (QAT);
* the pruned student, then QAT that keeps its zeros (pruned + QAT).

Each file is scored on the 10,000 test images in LiteRT: accuracy, size,
gzip size and single-sample latency.
"""

import argparse
import gzip
import os
import platform
import statistics
import sys
import time

import keras
import numpy as np

import keras_distill as kd
from keras_distill.export import runtimes
from keras_distill.export import signature

# Single-sample latency: median of this many interpreter calls.
LATENCY_CALLS = 500


def load_mnist(path):
    with np.load(path) as data:
        x_train, y_train = data["x_train"], data["y_train"]
        x_test, y_test = data["x_test"], data["y_test"]
    flatten = lambda x: (x.reshape(len(x), -1) / 255.0).astype("float32")  # noqa: E731
    return flatten(x_train), y_train.astype("int32"), flatten(x_test), y_test.astype("int32")


def mlp(hidden, dropout, name):
    layers = [keras.Input((784,))]
    for units in hidden:
        layers.append(keras.layers.Dense(units, activation="relu"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout))
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers, name=name)


def tflite_scores(path, model, x_test, y_test):
    run = runtimes.tflite_runner(path, signature.input_specs(model))
    logits = np.concatenate([run([x_test[i : i + 1000]])[0] for i in range(0, len(x_test), 1000)])
    times = []
    for i in range(LATENCY_CALLS):
        sample = [x_test[i : i + 1]]
        start = time.perf_counter()
        run(sample)
        times.append(time.perf_counter() - start)
    with open(path, "rb") as f:
        content = f.read()
    return {
        "accuracy": float(np.mean(np.argmax(logits, -1) == y_test)),
        "size": len(content),
        "gzip": len(gzip.compress(content, compresslevel=9)),
        "latency_ms": 1000 * statistics.median(times),
    }


def distil(teacher, cache, student, epochs, x_train, y_train):
    """Distils `student` from the cached teacher logits with the `Distiller`."""
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.1,
        temperature=3.0,
    )
    distiller.fit(cache.inputs(x_train), y_train, epochs=epochs, batch_size=128, verbose=2)
    return student


def starting_point(x_train, y_train, x_test, y_test, args):
    """Trains the teacher, caches its logits and distils the dense student."""
    teacher = mlp((1200, 1200), 0.3, "teacher")
    teacher.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    teacher.fit(x_train, y_train, epochs=args.teacher_epochs, batch_size=128, verbose=2)
    teacher_accuracy = teacher.evaluate(x_test, y_test, verbose=0)[1]
    cache = kd.TeacherCache.compute(teacher, x_train)
    student = distil(
        teacher, cache, mlp((800, 800), 0.0, "student"), args.student_epochs, x_train, y_train
    )
    return teacher, teacher_accuracy, cache, student


def compress(args):
    x_train, y_train, x_test, y_test = load_mnist(args.data)
    os.makedirs(args.out, exist_ok=True)
    path = lambda name: os.path.join(args.out, f"{name}.tflite")  # noqa: E731
    started = time.perf_counter()
    teacher, teacher_accuracy, cache, student = starting_point(
        x_train, y_train, x_test, y_test, args
    )
    seconds = {"starting point": time.perf_counter() - started}
    check = {"sample_inputs": x_test[:1000]}
    data = (x_train, y_train)
    rows = {}

    kd.export_tflite(student, path("dense"), overwrite=True, **check)
    rows["dense float32"] = tflite_scores(path("dense"), student, x_test, y_test)
    kd.export_tflite(
        student,
        path("ptq_int8"),
        quantization="int8",
        representative_data=x_train[:500],
        overwrite=True,
        **check,
    )
    rows["PTQ int8"] = tflite_scores(path("ptq_int8"), student, x_test, y_test)

    # Control: the same extra distillation epochs as pruning, without pruning.
    control = keras.models.clone_model(student)
    control.set_weights(student.get_weights())
    distil(teacher, cache, control, args.prune_epochs, x_train, y_train)
    kd.export_tflite(control, path("dense_control"), overwrite=True, **check)
    rows[f"dense float32, +{args.prune_epochs} epochs (control)"] = tflite_scores(
        path("dense_control"), control, x_test, y_test
    )

    started = time.perf_counter()
    pruned = kd.optimize.prune_and_distill(
        student, cache, data, target_sparsity=0.8, epochs=args.prune_epochs, verbose=2
    )
    seconds["prune_and_distill"] = time.perf_counter() - started
    sparsity = kd.optimize.kernel_sparsity(pruned)
    kd.export_tflite(pruned, path("pruned"), overwrite=True, **check)
    rows["pruned 80%"] = tflite_scores(path("pruned"), pruned, x_test, y_test)

    started = time.perf_counter()
    qat = kd.optimize.quantization_aware_distill(
        student, cache, data, epochs=args.qat_epochs, verbose=2
    )
    seconds["QAT"] = time.perf_counter() - started
    kd.optimize.export_qat_tflite(qat, path("qat_int8"), overwrite=True, **check)
    rows["QAT int8"] = tflite_scores(path("qat_int8"), qat, x_test, y_test)

    started = time.perf_counter()
    pruned_qat = kd.optimize.quantization_aware_distill(
        pruned, cache, data, epochs=args.qat_epochs, verbose=2
    )
    seconds["pruned QAT"] = time.perf_counter() - started
    kd.optimize.export_qat_tflite(pruned_qat, path("pruned_qat_int8"), overwrite=True, **check)
    rows["pruned 80% + QAT int8"] = tflite_scores(
        path("pruned_qat_int8"), pruned_qat, x_test, y_test
    )
    return teacher_accuracy, sparsity, rows, seconds


def targets(rows):
    """The issue's targets, each with what was measured and whether it was met."""
    dense, ptq = rows["dense float32"], rows["PTQ int8"]
    pruned, qat = rows["pruned 80%"], rows["QAT int8"]
    drop = 100 * (dense["accuracy"] - pruned["accuracy"])
    ratio = pruned["gzip"] / dense["gzip"]
    gap = 100 * abs(qat["accuracy"] - dense["accuracy"])
    versus_ptq = 100 * (qat["accuracy"] - ptq["accuracy"])
    verdict = lambda ok: "met" if ok else "MISSED"  # noqa: E731
    return [
        f"80% sparsity loses <= 0.2 pt vs dense: loses {drop:+.2f} pt ({verdict(drop <= 0.2)}).",
        f"gzip TFLite <= 0.3x dense: {ratio:.3f}x ({verdict(ratio <= 0.3)}).",
        f"QAT int8 within 0.1 pt of the float student: {gap:.2f} pt ({verdict(gap <= 0.1)}).",
        f"QAT int8 not below PTQ int8: {versus_ptq:+.2f} pt ({verdict(versus_ptq >= 0)}).",
        "One run, one seed: 0.01 pt is one test image, so gaps of a few hundredths are "
        "within run-to-run noise.",
    ]


def report(args, teacher_accuracy, sparsity, rows, seconds):
    dense = rows["dense float32"]
    lines = [
        "# Compression of a distilled MNIST student: pruning and int8 QAT while distilling",
        "",
        "Command: `python examples/compress_mnist.py --data PATH/mnist.npz "
        f"--out {args.out} --report {args.report}{args.extra_flags}`",
        "",
        f"Starting point (made by the script, {seconds['starting point']:.0f} s): a "
        f"784-1200-1200-10 teacher (ReLU, dropout 0.3) trained {args.teacher_epochs} epochs "
        f"(test accuracy {100 * teacher_accuracy:.2f}%), its logits cached once with "
        "`TeacherCache`, and a 784-800-800-10 ReLU student distilled from the cache for "
        f"{args.student_epochs} epochs (`Distiller`, alpha 0.1, T 3, Adam 1e-3, batch 128). "
        "Every row below starts from that dense student and distils against the same "
        f"cache: pruning {args.prune_epochs} epochs (polynomial 0 -> 80% over the first 70% "
        f"of the steps, Adam 1e-3), QAT {args.qat_epochs} epoch(s) (Adam 1e-4); pruned + QAT "
        "runs QAT (pruning-preserving scheme) on the pruned student. PTQ int8 calibrates on "
        "500 training images. The control row distils the dense student for as many more "
        "epochs as pruning does, without pruning, to separate the effect of pruning from that "
        "of the extra training.",
        "",
        "Accuracy: the `.tflite` file in the LiteRT interpreter on the 10,000 test images. "
        "gzip: `gzip -9` of the file. Latency: median of "
        f"{LATENCY_CALLS} single-sample interpreter calls on a shared, loaded 2-core CPU "
        "(compare rows with each other only).",
        "",
        "| model | test accuracy | vs dense (pt) | TFLite size (bytes) | gzip size (bytes) "
        "| gzip vs dense | latency, batch 1 (ms) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, row in rows.items():
        lines.append(
            f"| {name} | {100 * row['accuracy']:.2f}% | "
            f"{100 * (row['accuracy'] - dense['accuracy']):+.2f} | {row['size']:,} | "
            f"{row['gzip']:,} | {row['gzip'] / dense['gzip']:.3f}x | {row['latency_ms']:.3f} |"
        )
    lines += ["", "Targets:", ""] + [f"* {line}" for line in targets(rows)]
    lines += [
        "",
        "Kernel sparsity of the pruned student: "
        + ", ".join(f"{name} {100 * value:.1f}%" for name, value in sparsity.items())
        + ".",
        "",
        "Wall time: "
        + ", ".join(f"{name} {value:.0f} s" for name, value in seconds.items())
        + f". keras {keras.__version__}, Python {platform.python_version()}.",
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--data", required=True, help="mnist.npz (x_train, y_train, x_test, y_test)"
    )
    parser.add_argument("--out", default="runs/compress", help="folder for the .tflite files")
    parser.add_argument("--report", help="write the results table (Markdown) here")
    parser.add_argument("--teacher-epochs", type=int, default=3)
    parser.add_argument("--student-epochs", type=int, default=5)
    parser.add_argument("--prune-epochs", type=int, default=4)
    parser.add_argument("--qat-epochs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # The command line in the report repeats every option changed from its default.
    args.extra_flags = "".join(
        f" --{key.replace('_', '-')} {getattr(args, key)}"
        for key in ("teacher_epochs", "student_epochs", "prune_epochs", "qat_epochs", "seed")
        if getattr(args, key) != parser.get_default(key)
    )
    keras.utils.set_random_seed(args.seed)
    text = report(args, *compress(args))
    print(text)
    if args.report:
        with open(args.report + ".tmp", "w") as f:
            f.write(text)
        os.replace(args.report + ".tmp", args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Keras-native quantization-aware distillation (QAD) vs post-training quantization (PTQ) on digits.

For each seed: a teacher MLP (64-256-10) and a small float student (64-HIDDEN-10) distilled from it;
then PTQ int8/int4 (`keras_distill.optimize.quantize_weights`, i.e. `model.quantize`), QAD int8/int4
(`quantize_and_distill`, EPOCHS more epochs against the float teacher) and a control that distils the
float student for the same EPOCHS then applies PTQ int4. Accuracy on the held-out digits; file sizes
of the saved `.keras` files. Writes a section of benchmarks/results/compression.md.

Command: `PYTHONPATH=. python benchmarks/qad.py --report benchmarks/results/compression.md`
"""

import argparse
import os
import platform
import re
import tempfile
import time

import keras
import numpy as np
from sklearn.datasets import load_digits

import keras_distill as kd

HIDDEN = 32
START_EPOCHS = 40
EPOCHS = 10
QAD_LEARNING_RATE = 3e-4
SECTION = "## Keras-native quantization-aware distillation (every backend)"


def data():
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    y = y.astype("int32")
    order = np.random.default_rng(0).permutation(len(x))
    x, y = x[order], y[order]
    return x[:1200], y[:1200], x[1200:], y[1200:]


def mlp(hidden, name):
    return keras.Sequential(
        [keras.Input((64,)), keras.layers.Dense(hidden, activation="relu"), keras.layers.Dense(10)], name=name
    )


def distiller(teacher, student, learning_rate):
    d = kd.Distiller(teacher=teacher, student=student)
    d.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.1,
        temperature=3.0,
    )
    return d


def accuracy(model, x, y):
    return float(np.mean(np.argmax(keras.ops.convert_to_numpy(model.predict(x, verbose=0)), -1) == y))


def size(model, folder, name):
    path = os.path.join(folder, name + ".keras")
    model.save(path)
    return os.path.getsize(path)


def copy(model, weights):
    clone = mlp(HIDDEN, model.name)
    clone.set_weights(weights)
    return clone


def run_seed(seed, folder):
    keras.utils.set_random_seed(seed)
    x, y, x_test, y_test = data()
    teacher = mlp(256, "teacher")
    teacher.compile(keras.optimizers.Adam(1e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x, y, epochs=30, batch_size=64, verbose=0)
    student = mlp(HIDDEN, "student")
    distiller(teacher, student, 3e-3).fit(x, y, epochs=START_EPOCHS, batch_size=64, verbose=0)
    start = student.get_weights()
    rows = {"teacher": (accuracy(teacher, x_test, y_test), None)}
    rows["float student"] = (accuracy(student, x_test, y_test), size(student, folder, "float"))
    for mode in ("int8", "int4"):
        ptq = copy(student, start)
        kd.optimize.quantize_weights(ptq, mode)
        rows[f"PTQ {mode}"] = (accuracy(ptq, x_test, y_test), size(ptq, folder, f"ptq_{mode}"))
        qad = copy(student, start)
        kd.optimize.quantize_and_distill(
            distiller(teacher, qad, QAD_LEARNING_RATE),
            x,
            y,
            mode=mode,
            epochs=EPOCHS,
            batch_size=64,
            verbose=0,
        )
        rows[f"QAD {mode}"] = (accuracy(qad, x_test, y_test), size(qad, folder, f"qad_{mode}"))
    control = copy(student, start)
    distiller(teacher, control, QAD_LEARNING_RATE).fit(x, y, epochs=EPOCHS, batch_size=64, verbose=0)
    kd.optimize.quantize_weights(control, "int4")
    rows["float +EPOCHS, then PTQ int4 (control)"] = (
        accuracy(control, x_test, y_test),
        size(control, folder, "c"),
    )
    return rows, len(y_test)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--report", default=None)
    args = parser.parse_args()
    began = time.time()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for seed in args.seeds:
            results[seed], n_test = run_seed(seed, folder)
            print(seed, {k: v[0] for k, v in results[seed].items()}, flush=True)
    names = list(results[args.seeds[0]])
    lines = [
        SECTION,
        "",
        f"Command: `KERAS_BACKEND={keras.config.backend()} PYTHONPATH=. python benchmarks/qad.py "
        f"--seeds {' '.join(map(str, args.seeds))} --report benchmarks/results/compression.md` "
        f"({time.time() - began:.0f} s on a shared 2-core CPU; keras {keras.__version__}, "
        f"Python {platform.python_version()}).",
        "",
        f"scikit-learn digits (1,200 training, {n_test} test images, fixed split). Per "
        f"seed: a 64-256-10 teacher "
        f"(30 epochs), a 64-{HIDDEN}-10 ReLU student distilled from it for {START_EPOCHS} "
        f"epochs (`Distiller`, "
        "alpha 0.1, T 3, Adam 3e-3): the float student. Every other row starts from that student. PTQ: "
        "`kd.optimize.quantize_weights(student, mode)` (= `model.quantize`, Keras defaults: int8 per-channel "
        "weights and per-row dynamic int8 inputs; int4 weight-only, groups of 128 input "
        "rows with a zero point). "
        f"QAD: `kd.optimize.quantize_and_distill(distiller, x, y, mode=...)`, {EPOCHS} "
        f"epochs against the float "
        f"teacher (Adam {QAD_LEARNING_RATE}), then the same native quantization. Control: the float student "
        f"distilled for the same {EPOCHS} epochs without fake quantization, then PTQ int4. Size: the saved "
        "`.keras` file (int4 kernels packed two per byte; the zip holds config and "
        "metadata too, so small models "
        "shrink less than the kernels do).",
        "",
        "| model | " + " | ".join(f"seed {s} acc" for s in args.seeds) + " | mean acc | `.keras` bytes |",
        "|---|" + "---:|" * (len(args.seeds) + 2),
    ]
    for name in names:
        accs = [results[s][name][0] for s in args.seeds]
        nbytes = results[args.seeds[0]][name][1]
        lines.append(
            f"| {name.replace('EPOCHS', str(EPOCHS))} | "
            + " | ".join(f"{a:.2%}" for a in accs)
            + f" | {np.mean(accs):.2%} | {'' if nbytes is None else f'{nbytes:,}'} |"
        )
    lines += [
        "",
        "Recovered fraction of the accuracy int4 PTQ loses, (QAD - PTQ) / (float - PTQ), per seed:",
        "",
    ]
    for seed in args.seeds:
        r = results[seed]
        lost = r["float student"][0] - r["PTQ int4"][0]
        gained = r["QAD int4"][0] - r["PTQ int4"][0]
        fraction = f"{gained / lost:.2f}" if lost > 0 else "n/a (PTQ lost nothing)"
        lines.append(
            f"* seed {seed}: PTQ int4 loses {lost * n_test:.0f} test images, QAD int4 wins "
            f"back {gained * n_test:.0f}: "
            f"{fraction}"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.report:
        with open(args.report) as f:
            old = f.read()
        old = re.split(r"\n" + re.escape(SECTION), old)[0].rstrip("\n")
        kd_write(args.report, old + "\n\n" + text)


def kd_write(path, text):
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False) as f:
        f.write(text)
    os.replace(f.name, path)


if __name__ == "__main__":
    main()

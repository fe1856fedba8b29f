"""A PyTorch CNN teacher, through ONNX, distilled into a Keras student shipped as TFLite int8.

    python examples/torch_teacher_mnist.py --data /path/to/mnist.npz --seeds 0 1 2 \
        --out runs/torch_teacher --report runs/torch_teacher/report.md
    python examples/torch_teacher_mnist.py --data digits --epochs 1 --seeds 0   # offline, small

The teacher is a small CNN trained with PyTorch (`--teacher-epochs`), then
exported with `torch.onnx`; `keras_distill.teachers.OnnxTeacher` runs the
`.onnx` file in ONNX Runtime, and `TeacherCache.compute` keeps its logits so
training never waits for it. The student is a Keras MLP that takes the same
NCHW images; it is trained alone on the labels and distilled from the cache,
once per seed, and each is exported to a TFLite int8 file with
`keras_distill.export_tflite` and scored in LiteRT. `--data digits` uses
scikit-learn's bundled 8x8 digits instead of MNIST (no file needed).
"""

import argparse
import os
import statistics
import sys
import time

import keras
import numpy as np
import torch
from sklearn import datasets
from sklearn.model_selection import train_test_split

import keras_distill as kd
from keras_distill.core import atomic_files

# Single-sample latency: median of this many calls.
LATENCY_CALLS = 200
NUM_CLASSES = 10


def load(data):
    """`(x_train, y_train, x_test, y_test)`: images as float32 NCHW in [0, 1], int32 labels."""
    if data == "digits":
        x, y = datasets.load_digits(return_X_y=True)
        x_train, x_test, y_train, y_test = train_test_split(
            x.reshape(-1, 1, 8, 8) / 16.0, y, test_size=0.3, stratify=y, random_state=0
        )
    else:
        with np.load(data) as arrays:
            x_train, y_train = arrays["x_train"] / 255.0, arrays["y_train"]
            x_test, y_test = arrays["x_test"] / 255.0, arrays["y_test"]
        x_train, x_test = x_train[:, None], x_test[:, None]
    as_images = lambda x: np.ascontiguousarray(x, dtype="float32")  # noqa: E731
    return as_images(x_train), y_train.astype("int32"), as_images(x_test), y_test.astype("int32")


def torch_cnn(height, width):
    """Conv 16-32 (3x3, ReLU, 2x2 max-pool each), dense 128, 10 logits."""
    return torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(16, 32, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32 * (height // 4) * (width // 4), 128),
        torch.nn.ReLU(), torch.nn.Linear(128, NUM_CLASSES),
    )


def train_teacher(x_train, y_train, epochs, batch_size):
    """Trains the CNN with plain PyTorch (Adam 1e-3, cross-entropy)."""
    torch.manual_seed(0)
    model = torch_cnn(*x_train.shape[2:])
    optimizer = torch.optim.Adam(model.parameters(), 1e-3)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train).long()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()


def export_onnx(model, path, image_shape):
    def write(staged):
        torch.onnx.export(
            model, (torch.zeros(1, *image_shape),), staged, input_names=["images"],
            output_names=["logits"], dynamic_axes={"images": {0: "batch"}, "logits": {0: "batch"}},
            dynamo=False,
        )

    atomic_files.write_file(path, write)


def latency_ms(predict, x):
    """Median time of `predict` on one sample, over `LATENCY_CALLS` samples of `x`."""
    times = []
    for i in range(LATENCY_CALLS):
        sample = x[i % len(x) : i % len(x) + 1]
        start = time.perf_counter()
        predict(sample)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def student_mlp(image_shape, hidden):
    return keras.Sequential(
        [
            keras.Input(image_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(NUM_CLASSES),
        ]
    )


def train_student(student, teacher, cache, x_train, y_train, args):
    """Trains `student` alone (`cache=None`) or distilled from the cached teacher logits."""
    labels = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if cache is None:
        model, x = student, x_train
        model.compile(optimizer=keras.optimizers.Adam(1e-3), loss=labels)
    else:
        model, x = kd.Distiller(teacher, student), cache.inputs(x_train)
        model.compile(
            optimizer=keras.optimizers.Adam(1e-3), student_loss_fn=labels,
            alpha=args.alpha, temperature=args.temperature,
        )
    model.fit(x, y_train, epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    return student


def ship(student, path, x_train, x_test, y_test):
    """Exports `student` to TFLite int8 and scores the file in LiteRT on the test images."""
    # The int8 file is scored on the whole test set below; the export's own check only has to
    # catch a broken conversion, which a barely trained student (tiny settings) must not fail.
    kd.export_tflite(
        student, path, quantization="int8", representative_data=x_train[:500],
        sample_inputs=x_test[:1000], min_agreement=0.95, overwrite=True,
    )
    shipped = kd.teachers.TFLiteTeacher(path)
    keras_logits = student.predict(x_test, batch_size=1000, verbose=0)
    return {
        "keras_accuracy": float(np.mean(keras_logits.argmax(-1) == y_test)),
        "accuracy": float(np.mean(shipped.run(x_test).argmax(-1) == y_test)),
        "size": os.path.getsize(path),
        "latency_ms": latency_ms(shipped.run, x_test),
    }


def run(args):
    """Trains and exports the teacher, then each student per seed; returns the measurements."""
    x_train, y_train, x_test, y_test = load(args.data)
    os.makedirs(args.out, exist_ok=True)
    started = time.perf_counter()
    torch_model = train_teacher(x_train, y_train, args.teacher_epochs, args.batch_size)
    onnx_path = os.path.join(args.out, "teacher.onnx")
    export_onnx(torch_model, onnx_path, x_train.shape[1:])
    teacher = kd.teachers.OnnxTeacher(onnx_path)
    teacher_logits = teacher.run(x_test)
    with torch.no_grad():
        torch_logits = torch_model(torch.from_numpy(x_test)).numpy()
    results = {
        "teacher": {
            "accuracy": float(np.mean(teacher_logits.argmax(-1) == y_test)),
            "onnx_vs_torch": float(np.max(np.abs(teacher_logits - torch_logits))),
            "size": os.path.getsize(onnx_path),
            "latency_ms": latency_ms(teacher.run, x_test),
            "seconds": time.perf_counter() - started,
        },
        "sizes": {"train": len(x_train), "test": len(x_test), "image": x_train.shape[1:]},
        "alone": [],
        "distilled": [],
    }
    cache = kd.TeacherCache.compute(teacher, x_train)
    for seed in args.seeds:
        for kind in ("alone", "distilled"):
            keras.utils.set_random_seed(seed)
            student = student_mlp(x_train.shape[1:], args.hidden)
            train_student(student, teacher, cache if kind == "distilled" else None,
                          x_train, y_train, args)
            path = os.path.join(args.out, f"student_{kind}_seed{seed}_int8.tflite")
            results[kind].append(ship(student, path, x_train, x_test, y_test))
    results["seconds"] = time.perf_counter() - started
    return results


def _spread(values, scale=1.0, digits=2):
    values = [scale * v for v in values]
    mean = statistics.mean(values)
    return f"{mean:.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def report(args, results):
    teacher, sizes = results["teacher"], results["sizes"]
    image = "x".join(map(str, sizes["image"]))
    lines = [
        f"Data: {'MNIST' if args.data != 'digits' else 'scikit-learn digits'} ({image} "
        f"images), {sizes['train']} training and {sizes['test']} test samples. Teacher: "
        "PyTorch CNN (conv 16-32 3x3 + 2x2 max-pool, dense 128), Adam 1e-3, batch "
        f"{args.batch_size}, {args.teacher_epochs} epochs, exported with `torch.onnx` "
        f"(ONNX Runtime vs torch logits: max difference {teacher['onnx_vs_torch']:.1e}); "
        f"trained and exported in {teacher['seconds']:.0f} s. Students: Keras MLP "
        f"flatten-{args.hidden}-10 (ReLU), Adam 1e-3, batch {args.batch_size}, {args.epochs} "
        "epochs; alone on the labels; distilled from `OnnxTeacher`'s logits cached once with "
        f"`TeacherCache.compute` (alpha {args.alpha}, T {args.temperature}). Each student is "
        "exported to TFLite int8 by `keras_distill.export_tflite` (calibrated on 500 "
        "training images) and scored in LiteRT; mean (min-max) over seeds "
        f"{' '.join(map(str, args.seeds))}. Latency: median of {LATENCY_CALLS} single-sample "
        "calls (teacher: ONNX Runtime; students: LiteRT) on the shared, loaded CPU (compare "
        "rows with each other only).",
        "",
        "| model | Keras float32 accuracy (%) | shipped file | shipped accuracy (%) "
        "| size (bytes) | latency, batch 1 (ms) |",
        "|---|---:|---|---:|---:|---:|",
        f"| teacher (PyTorch CNN) | - | `.onnx` float32 | {100 * teacher['accuracy']:.2f} | "
        f"{teacher['size']:,} | {teacher['latency_ms']:.3f} |",
    ]
    for kind, name in (("alone", "student alone"), ("distilled", "distilled student")):
        rows = results[kind]
        lines.append(
            f"| {name} | {_spread([r['keras_accuracy'] for r in rows], 100)} | `.tflite` int8 | "
            f"{_spread([r['accuracy'] for r in rows], 100)} | {rows[0]['size']:,} | "
            f"{_spread([r['latency_ms'] for r in rows], digits=3)} |"
        )
    gains = [
        100 * (d["accuracy"] - a["accuracy"])
        for a, d in zip(results["alone"], results["distilled"])
    ]
    lines += [
        "",
        "Distilled minus alone (shipped int8 files), per seed (pt): "
        + ", ".join(f"{g:+.2f}" for g in gains) + f". Wall time {results['seconds']:.0f} s.",
        "",
    ]
    return "\n".join(lines)


def _write_text(text, path):
    with open(path, "w") as f:
        f.write(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True,
                        help="mnist.npz (x_train, y_train, x_test, y_test), or 'digits'")
    parser.add_argument("--out", default="runs/torch_teacher", help="folder for the files")
    parser.add_argument("--report", help="write the results (Markdown) here")
    parser.add_argument("--teacher-epochs", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--temperature", type=float, default=4.0)
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

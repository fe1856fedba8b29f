"""One distillation script on TensorFlow, JAX and PyTorch: the same student accuracy?

The script is the keras.io recipe with keras_distill's extras: a teacher that
ends in a softmax layer, a `TeacherCache` of its logits, a `TemperatureScheduler`
(cosine, 8 to 2) and a `FineTuning` phase on the labels. Each (backend, seed)
runs in its own process (`KERAS_BACKEND` is read when Keras is imported); the
student trained alone with the same epochs is the baseline. The question is
whether the backends differ by more than the seeds do.

Usage:
    python benchmarks/backends.py [--data mnist.npz] [--seeds 0 1 2]

Without `--data` it uses scikit-learn's digits (half for training, half for
the test).
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import command_line

HERE = os.path.dirname(os.path.abspath(__file__))
BACKENDS = ("tensorflow", "jax", "torch")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="an MNIST .npz (default: scikit-learn's digits)")
    parser.add_argument("--train-samples", type=int, default=None,
                        help="use the first N training samples (default: all)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    parser.add_argument("--teacher-epochs", type=int, default=30)
    parser.add_argument("--distill-epochs", type=int, default=20)
    parser.add_argument("--fine-tune-epochs", type=int, default=5)
    parser.add_argument("--output", default="benchmarks/results/backends.md")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--backend", help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_one(args):
    """The script itself, on the backend this process was started with; prints JSON."""
    import keras

    import keras_distill as kd

    sys.path.insert(0, os.path.join(HERE, "..", "examples"))
    from temperature_schedule import load
    from temperature_schedule import mlp

    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = load(args.data)
    x_train, y_train = x_train[: args.train_samples], y_train[: args.train_samples]
    features = x_train.shape[1]
    epochs = args.distill_epochs + args.fine_tune_epochs
    start = time.perf_counter()

    teacher = keras.Sequential(
        [keras.Input((features,)), mlp(features, [256, 256], "teacher"), keras.layers.Softmax()]
    )
    teacher.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    teacher.fit(x_train, y_train, epochs=args.teacher_epochs, batch_size=64, verbose=0)
    teacher_accuracy = teacher.evaluate(x_test, y_test, verbose=0)[1]

    student = mlp(features, [32], "student")
    alone = keras.models.clone_model(student)
    alone.set_weights(student.get_weights())
    alone.compile(
        keras.optimizers.Adam(1e-2),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    alone.fit(x_train, y_train, epochs=epochs, batch_size=64, verbose=0)
    alone_accuracy = alone.evaluate(x_test, y_test, verbose=0)[1]

    cache = kd.TeacherCache.compute(teacher, x_train)
    distiller = kd.Distiller(teacher=teacher, student=student)
    distiller.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=kd.losses.KDLoss(),
        alpha=0.1,
        temperature=8.0,
    )
    callbacks = [
        kd.callbacks.TemperatureScheduler(
            kd.schedules.Cosine(start=8.0, end=2.0, steps=max(args.distill_epochs - 1, 1))
        ),
        kd.callbacks.FineTuning(start_epoch=args.distill_epochs, alpha=1.0, learning_rate=1e-3),
    ]
    history = distiller.fit(
        cache.inputs(x_train), y_train, epochs=epochs, batch_size=64, verbose=0,
        callbacks=callbacks,
    )
    distilled_accuracy = distiller.evaluate(x_test, y_test, return_dict=True, verbose=0)["accuracy"]
    print(json.dumps({
        "backend": keras.backend.backend(),
        "seed": args.seed,
        "teacher": float(teacher_accuracy),
        "alone": float(alone_accuracy),
        "distilled": float(distilled_accuracy),
        "temperatures": [round(float(t), 3) for t in history.history["temperature"]],
        "seconds": time.perf_counter() - start,
    }))


def spawn(args, backend, seed):
    command = [sys.executable, os.path.abspath(__file__), "--worker", "--backend", backend,
               "--seed", str(seed), "--teacher-epochs", str(args.teacher_epochs),
               "--distill-epochs", str(args.distill_epochs),
               "--fine-tune-epochs", str(args.fine_tune_epochs)]
    if args.data:
        command += ["--data", args.data]
    if args.train_samples:
        command += ["--train-samples", str(args.train_samples)]
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{backend} seed {seed} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(values):
    mean = statistics.mean(values)
    spread = max(values) - min(values)
    return f"{100 * mean:.2f} (range {100 * min(values):.2f}-{100 * max(values):.2f}, {100 * spread:.2f})"


def report(args, runs, wall):
    import keras

    data = args.data or "scikit-learn digits (899 training, 898 test samples)"
    lines = [
        "# One script on three backends",
        "",
        "Command:",
        "",
        "```",
        command_line.command("benchmarks/backends.py"),
        "```",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; keras {keras.__version__}, "
        f"{platform.machine()}, {os.cpu_count()} CPU cores. Data: {data}"
        + (f", first {args.train_samples} training samples" if args.train_samples else "")
        + f". Total wall time {wall / 60:.1f} min.",
        "",
        f"Per (backend, seed), in its own process: a teacher MLP 256-256 ending in a softmax layer "
        f"({args.teacher_epochs} epochs), its logits cached (`TeacherCache`, exact logits from the "
        f"softmax layer's input), a 32-unit student distilled from the cache with alpha 0.1, a "
        f"`TemperatureScheduler` (cosine 8 to 2 over {args.distill_epochs} epochs) and `FineTuning` "
        f"(alpha 1, learning rate 1e-3) for {args.fine_tune_epochs} more; the same student trained "
        f"alone for {args.distill_epochs + args.fine_tune_epochs} epochs is the baseline. Test "
        "accuracy, %:",
        "",
        "| backend | seed | teacher | student alone | distilled | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for run in runs:
        lines.append(
            f"| {run['backend']} | {run['seed']} | {100 * run['teacher']:.2f} | "
            f"{100 * run['alone']:.2f} | {100 * run['distilled']:.2f} | {run['seconds']:.0f} |"
        )
    lines += ["", "Mean over seeds (range, spread):", "",
              "| backend | teacher | student alone | distilled | distilled - alone |",
              "|---|---|---|---|---:|"]
    means = {}
    for backend in args.backends:
        mine = [r for r in runs if r["backend"] == backend]
        gain = statistics.mean(r["distilled"] - r["alone"] for r in mine)
        means[backend] = statistics.mean(r["distilled"] for r in mine)
        lines.append(
            f"| {backend} | {summary([r['teacher'] for r in mine])} | "
            f"{summary([r['alone'] for r in mine])} | {summary([r['distilled'] for r in mine])} | "
            f"{100 * gain:+.2f} |"
        )
    between = max(means.values()) - min(means.values())
    within = max(
        max(r["distilled"] for r in runs if r["backend"] == b)
        - min(r["distilled"] for r in runs if r["backend"] == b)
        for b in args.backends
    )
    schedules = {tuple(r["temperatures"]) for r in runs}
    lines += [
        "",
        f"Distilled accuracy: the backends' means differ by at most {100 * between:.2f} points; "
        f"the seeds of one backend by up to {100 * within:.2f} points. "
        + ("Within seed noise." if between <= within else "More than seed noise.")
        + " The temperature the callbacks logged per epoch is the same on every run: "
        + ("yes" if len(schedules) == 1 else "NO") + ".",
        "",
    ]
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


def main(argv=None):
    args = parse_args(argv)
    if args.worker:
        run_one(args)
        return
    start = time.perf_counter()
    runs = []
    for seed in args.seeds:
        for backend in args.backends:
            run = spawn(args, backend, seed)
            print(f"{backend} seed {seed}: distilled {run['distilled']:.4f} "
                  f"alone {run['alone']:.4f} teacher {run['teacher']:.4f} ({run['seconds']:.0f} s)",
                  flush=True)
            runs.append(run)
    report(args, runs, time.perf_counter() - start)


if __name__ == "__main__":
    main()

"""Per-epoch cost of distillation, online and cached, against plain training.

For each teacher/student pair and each `jit_compile` setting, times one
epoch of:

  (a) plain `student.fit` (hard labels only);
  (b) `keras_distill.Distiller`, teacher run online on every batch;
  (c) `keras_distill.Distiller` fed a `TeacherCache` (build time reported apart);
  (d) `keras.distillation.Distiller` with `LogitsDistillation`;
  (e) a keras.io-example-style Distiller (`compute_loss` calls the teacher);
  (f) the teacher's inference alone (`teacher.predict`) over the same samples.

All rows share the student architecture and initial weights, the teacher,
the batch size and the compile settings. Every row is warmed up with two
batches (tracing, XLA compilation), then the timed epochs are interleaved
(row after row, repeat after repeat) so that load from other processes
falls on all rows alike; medians are reported. Teachers are untrained: the
cost of a step does not depend on the weights.

Usage:
    python benchmarks/step_cost.py --data /path/to/mnist.npz [--backend jax]

`--backend` picks the Keras backend (it must be set before Keras is imported;
`KERAS_BACKEND` works too).
"""

import argparse
import os
import platform
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if "--backend" in sys.argv[:-1]:
    os.environ["KERAS_BACKEND"] = sys.argv[sys.argv.index("--backend") + 1]
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import command_line  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
from keras import ops  # noqa: E402

import keras_distill  # noqa: E402

ROWS = ("a", "b", "c", "d", "e", "f")
ROW_NAMES = {
    "a": "plain student.fit",
    "b": "keras_distill.Distiller, online teacher",
    "c": "keras_distill.Distiller, TeacherCache",
    "d": "keras.distillation.Distiller + LogitsDistillation",
    "e": "keras.io-style Distiller (compute_loss calls teacher)",
    "f": "teacher.predict alone",
}
# The student-only rows are timed `--cheap-repeats` times per repeat: they are
# the denominators of the tightest ratios and cost little.
CHEAP_ROWS = ("a", "c")
ALPHA = 0.1
TEMPERATURE = 4.0


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="mnist.npz with x_train, y_train")
    parser.add_argument(
        "--train-samples",
        type=int,
        default=12800,
        help="samples per epoch for the Hinton pair (default 12800; 60000 is full MNIST)",
    )
    parser.add_argument(
        "--conv-train-samples",
        type=int,
        default=3840,
        help="samples per epoch for the conv pair (default 3840)",
    )
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=5, help="timed epochs per row")
    parser.add_argument(
        "--cheap-repeats", type=int, default=3, help="timed epochs of rows (a), (c) per repeat"
    )
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--pairs", default="hinton,conv")
    parser.add_argument("--jit", default="false,true", help="jit_compile settings to time")
    parser.add_argument("--rows", default=",".join(ROWS))
    parser.add_argument("--output", default="benchmarks/results/step_cost.md")
    parser.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                        help="Keras backend (read before Keras is imported)")
    return parser.parse_args(argv)


def mlp(hidden, name):
    return keras.Sequential(
        [keras.Input((784,))]
        + [keras.layers.Dense(units, activation="relu") for units in hidden]
        + [keras.layers.Dense(10)],
        name=name,
    )


def conv_teacher():
    return keras.Sequential(
        [
            keras.Input((784,)),
            keras.layers.Reshape((28, 28, 1)),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(128, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(256, activation="relu"),
            keras.layers.Dense(10),
        ],
        name="conv_teacher",
    )


def forward_flops(model):
    """Multiply-adds x 2 of one sample's forward pass (Dense and Conv2D layers)."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            flops += 2 * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, keras.layers.Conv2D):
            out_h, out_w = layer.output.shape[1:3]
            flops += 2 * out_h * out_w * int(np.prod(layer.kernel.shape))
    return flops


class KerasIOStyleDistiller(keras.Model):
    """The keras.io knowledge-distillation example's pattern: teacher in `compute_loss`."""

    def __init__(self, student, teacher):
        super().__init__()
        self.student = student
        self.teacher = teacher

    def compile(self, optimizer, metrics, student_loss_fn, distillation_loss_fn, **kwargs):
        super().compile(optimizer=optimizer, metrics=metrics, **kwargs)
        self.student_loss_fn = student_loss_fn
        self.distillation_loss_fn = distillation_loss_fn

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, allow_empty=False):
        teacher_pred = self.teacher(x, training=False)
        student_loss = self.student_loss_fn(y, y_pred)
        distillation_loss = self.distillation_loss_fn(
            ops.softmax(teacher_pred / TEMPERATURE, axis=1),
            ops.softmax(y_pred / TEMPERATURE, axis=1),
        ) * (TEMPERATURE**2)
        return ALPHA * student_loss + (1 - ALPHA) * distillation_loss

    def call(self, x):
        return self.student(x)


class EpochTimer(keras.callbacks.Callback):
    """Wall time and process CPU time (all threads) of each epoch or predict pass."""

    def __init__(self):
        super().__init__()
        self.seconds = []
        self.cpu_seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = (time.perf_counter(), time.process_time())

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start[0])
        self.cpu_seconds.append(time.process_time() - self._start[1])

    on_predict_begin = on_epoch_begin

    def on_predict_end(self, logs=None):
        self.on_epoch_end(0)


def hard_loss():
    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def make_row(row, teacher, student_weights, cache, compile_kwargs):
    """Returns the compiled model of `row` and whether it reads the cache."""
    student = mlp((800, 800), "student")
    student.set_weights(student_weights)
    if row == "a":
        student.compile(optimizer="adam", loss=hard_loss(), metrics=["accuracy"], **compile_kwargs)
        return student
    if row in ("b", "c"):
        distiller = keras_distill.Distiller(teacher=teacher, student=student)
        distiller.compile(
            optimizer="adam",
            metrics=["accuracy"],
            student_loss_fn=hard_loss(),
            distillation_loss_fn=keras_distill.losses.KDLoss(),
            alpha=ALPHA,
            temperature=TEMPERATURE,
            **compile_kwargs,
        )
        return distiller
    if row == "d":
        distiller = keras.distillation.Distiller(
            teacher=teacher,
            student=student,
            distillation_losses=keras.distillation.LogitsDistillation(temperature=TEMPERATURE),
            student_loss_weight=ALPHA,
        )
        distiller.compile(optimizer="adam", loss=hard_loss(), metrics=["accuracy"], **compile_kwargs)
        return distiller
    if row == "e":
        distiller = KerasIOStyleDistiller(student=student, teacher=teacher)
        distiller.compile(
            optimizer="adam",
            metrics=["accuracy"],
            student_loss_fn=hard_loss(),
            distillation_loss_fn=keras.losses.KLDivergence(),
            **compile_kwargs,
        )
        return distiller
    predictor = keras.models.clone_model(teacher)
    predictor.set_weights(teacher.get_weights())
    predictor.compile(**compile_kwargs)
    return predictor


def make_run(row, model, x, y, batch_size):
    """Returns `run(samples=None)`, one epoch of `row` on the first `samples`, and its timer."""
    timer = EpochTimer()

    def run(samples=None):
        xs, ys = keras.tree.map_structure(lambda a: a[:samples], (x, y))
        if row == "f":
            model.predict(xs, batch_size=batch_size, verbose=0, callbacks=[timer])
        else:
            model.fit(xs, ys, batch_size=batch_size, epochs=1, verbose=0, callbacks=[timer])

    return run, timer


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def benchmark(args, loads):
    data = np.load(args.data)
    x_all = data["x_train"].reshape(-1, 784).astype("float32") / 255.0
    y_all = data["y_train"].astype("int32")
    keras.utils.set_random_seed(0)
    student_weights = mlp((800, 800), "student").get_weights()
    pairs = {
        "hinton": (mlp((1200, 1200), "hinton_teacher"), args.train_samples),
        "conv": (conv_teacher(), args.conv_train_samples),
    }
    pairs = {name: pairs[name] for name in args.pairs.split(",")}
    jits = [value.strip().lower() == "true" for value in args.jit.split(",")]
    rows = args.rows.split(",")
    setups, info = [], {}
    for pair, (teacher, samples) in pairs.items():
        # Whole batches only: a ragged last batch would be compiled again by XLA.
        samples -= samples % args.batch_size
        pairs[pair] = (teacher, samples)
        x, y = x_all[:samples], y_all[:samples]
        for jit in jits:
            cache, build = None, 0.0
            # The second build is timed: the first one includes tracing and compilation.
            for _ in range(2 if "c" in rows else 0):
                start = time.perf_counter()
                cache = keras_distill.TeacherCache.compute(
                    teacher, x, batch_size=args.batch_size, jit_compile=jit
                )
                build = time.perf_counter() - start
            info[pair, jit] = dict(cache_build_s=build, cache_mib=cache.nbytes / 2**20 if cache else 0)
            compile_kwargs = dict(jit_compile=jit, steps_per_execution=args.steps_per_execution)
            for row in rows:
                model = make_row(row, teacher, student_weights, cache, compile_kwargs)
                inputs = cache.inputs(x) if row == "c" else x
                run, timer = make_run(row, model, inputs, y, args.batch_size)
                run(2 * args.batch_size)  # warm-up: tracing and XLA compilation
                timer.seconds.clear()
                timer.cpu_seconds.clear()
                setups.append(((pair, jit, row), run, timer))
            print(f"built {pair} jit={jit} (rss {rss_mib():.0f} MiB)", flush=True)
    groups = [
        [setup for setup in setups if setup[0][:2] == group]
        for group in dict.fromkeys(setup[0][:2] for setup in setups)
    ]
    for repeat in range(args.repeats):
        for group in groups:
            shift = repeat % len(group)
            cheap = [setup for setup in group if setup[0][2] in CHEAP_ROWS]
            for _, run, _ in group[shift:] + group[:shift] + cheap * (args.cheap_repeats - 1):
                run()
        loads.append(os.getloadavg()[0])
        print(f"repeat {repeat + 1}/{args.repeats} done (load {loads[-1]:.2f})", flush=True)
    results = {key: (timer.seconds, timer.cpu_seconds) for key, _, timer in setups}
    flops = {
        "student": forward_flops(mlp((800, 800), "student")),
        **{pair: forward_flops(teacher) for pair, (teacher, _) in pairs.items()},
    }
    return results, info, flops, pairs


def ratio_lines(medians, pair, jit):
    """`(name, value, target)` for each target ratio of the medians in `medians`."""
    m = {row: medians.get((pair, jit, row)) for row in ROWS}
    checks = []
    if m["c"] and m["a"]:
        checks.append(("(c)/(a)", m["c"] / m["a"], "<= 1.10"))
    if m["b"] and m["a"] and m["f"]:
        checks.append(("(b)/((a)+(f))", m["b"] / (m["a"] + m["f"]), "<= 1.05"))
    if m["b"] and m["d"]:
        checks.append(("(b)/(d)", m["b"] / m["d"], "<= 1.00"))
    if m["c"] and m["d"]:
        target = ">= 1.5" if pair == "hinton" else ">= 5"
        checks.append(("(d)/(c)", m["d"] / m["c"], target))
    return checks


def passes(value, target):
    op, bound = target.split()
    return value <= float(bound) if op == "<=" else value >= float(bound)


def report(args, results, info, flops, pairs, loads, wall):
    wall_medians = {key: statistics.median(v[0]) for key, v in results.items() if v[0]}
    cpu_medians = {key: statistics.median(v[1]) for key, v in results.items() if v[1]}
    lines = [
        "# Step cost: distillation vs plain training",
        "",
        "Command:",
        "",
        "```",
        command_line.command("benchmarks/step_cost.py"),
        "```",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; keras {keras.__version__}, "
        f"backend {keras.backend.backend()}, {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPU cores shared with other processes. 1-minute load average "
        f"during the run: min {min(loads):.2f}, median {statistics.median(loads):.2f}, max "
        f"{max(loads):.2f}. Total wall time {wall / 60:.1f} min.",
        "",
        f"Batch size {args.batch_size}, steps_per_execution {args.steps_per_execution}, Adam, "
        f"alpha {ALPHA}, temperature {TEMPERATURE}. {args.repeats} repeats after a two-batch "
        f"warm-up per row; in each repeat the rows of a pair and jit setting run one after "
        f"the other (rotating order), rows (a) and (c) {args.cheap_repeats} times. Medians. "
        "An epoch is the first "
        + ", ".join(
            f"{samples} MNIST training samples ({samples // args.batch_size} steps) for the "
            f"{pair} pair"
            for pair, (_, samples) in pairs.items()
        )
        + ": a subset, to keep the run short (full MNIST per epoch with the conv teacher takes "
        "minutes per row); ratios of per-epoch times do not depend on it beyond the fixed "
        "per-epoch cost. Teachers are untrained (the cost does not depend on the weights).",
        "",
        "Forward FLOPs per sample: student 784-800-800-10 "
        f"{flops['student'] / 1e6:.2f} M"
        + "".join(
            f"; {pair} teacher {flops[pair] / 1e6:.2f} M ({flops[pair] / flops['student']:.1f}x)"
            for pair in pairs
        )
        + ". Teachers: hinton = 784-1200-1200-10 MLP; conv = 4 Conv2D (64, 64, 128, 128, 3x3,"
        " 2 max-pools) + Dense 256 + Dense 10.",
        "",
        f"Peak RSS of the whole run (all rows, both pairs, one process): {rss_mib():.0f} MiB.",
        "",
        "Wall time is what the targets are on. CPU time (process CPU seconds of all threads, "
        "per epoch) is shown beside it: it is much less disturbed by other processes on the "
        "shared cores.",
        "",
    ]
    for pair, (_, samples) in pairs.items():
        steps = samples // args.batch_size
        for jit in sorted({key[1] for key in wall_medians}):
            if (pair, jit) not in info:
                continue
            lines += [f"## {pair} pair, jit_compile={jit}", ""]
            lines += [
                "| row | what | median s/epoch | ms/step | min | max | x (a) | CPU s/epoch | CPU x (a) |",
                "|---|---|---|---|---|---|---|---|---|",
            ]
            base = wall_medians.get((pair, jit, "a"))
            cpu_base = cpu_medians.get((pair, jit, "a"))
            for row in ROWS:
                key = (pair, jit, row)
                if key not in wall_medians:
                    continue
                values = results[key][0]
                median, cpu = wall_medians[key], cpu_medians[key]
                lines.append(
                    f"| ({row}) | {ROW_NAMES[row]} | {median:.3f} | {1000 * median / steps:.1f} | "
                    f"{min(values):.3f} | {max(values):.3f} | "
                    f"{median / base if base else float('nan'):.2f} | {cpu:.3f} | "
                    f"{cpu / cpu_base if cpu_base else float('nan'):.2f} |"
                )
            build = info[pair, jit]
            cpu_checks = {name: value for name, value, _ in ratio_lines(cpu_medians, pair, jit)}
            lines += [
                "",
                f"Cache build (one teacher pass + fingerprint, timed after a warm-up build): "
                f"{build['cache_build_s']:.2f} s; cache size {build['cache_mib']:.2f} MiB.",
                "",
                "| ratio | wall | target | met | CPU time |",
                "|---|---|---|---|---|",
            ]
            for name, value, target in ratio_lines(wall_medians, pair, jit):
                met = "yes" if passes(value, target) else "NO"
                lines.append(f"| {name} | {value:.3f} | {target} | {met} | {cpu_checks[name]:.3f} |")
            lines.append("")
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    loads = [os.getloadavg()[0]]
    start = time.perf_counter()
    results, info, flops, pairs = benchmark(args, loads)
    wall = time.perf_counter() - start
    loads.append(os.getloadavg()[0])
    text = report(args, results, info, flops, pairs, loads, wall)
    print(text)
    if args.output:
        directory = os.path.dirname(os.path.abspath(args.output))
        os.makedirs(directory, exist_ok=True)
        temporary = args.output + ".tmp"
        with open(temporary, "w") as handle:
            handle.write(text)
        os.replace(temporary, args.output)


if __name__ == "__main__":
    main()

"""Per-step Python overhead of the Distiller on JAX with `jit_compile=False`.

Without `jit_compile`, Keras's JAX trainer runs `train_step` in Python on
every batch, so everything the Distiller does there in Python (looking up
its trainable variables, checking them against the optimizer's list) is paid
per step. This times one epoch of a small MLP pair and reports the median
time per step of:

  (a) plain `student.fit` (the floor: Keras's own eager step);
  (b) `keras_distill.Distiller`, every student layer trainable;
  (c) `keras_distill.Distiller`, the student's first layer frozen after
      `compile` (the optimizer updates a subset of its built list);

and, apart from the steps, the cost of one `distiller.trainable_variables`
lookup after the train function is built and of the step's check of its
variables against the optimizer's (`frozen_variables.subset_apply`).

Rows are interleaved (row after row, repeat after repeat) so that load from
other processes falls on all rows alike; medians are reported.

    python benchmarks/step_overhead.py --output benchmarks/results/step_overhead_jax.md
"""

import argparse
import os
import platform
import statistics
import sys
import time

os.environ["KERAS_BACKEND"] = "jax"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill  # noqa: E402
from keras_distill.distiller import frozen_variables  # noqa: E402

ROW_NAMES = {
    "a": "plain student.fit",
    "b": "keras_distill.Distiller, all student layers trainable",
    "c": "keras_distill.Distiller, student's first layer frozen",
}


def _mlp(name, hidden, depth):
    layers = [keras.Input((64,))]
    layers += [keras.layers.Dense(hidden, activation="relu") for _ in range(depth)]
    layers.append(keras.layers.Dense(10))
    return keras.Sequential(layers, name=name)


def _models(row):
    keras.utils.set_random_seed(0)
    teacher = _mlp("teacher", 256, 3)
    student = _mlp("student", 32, 2)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if row == "a":
        student.compile("adam", loss, jit_compile=False)
        return student
    distiller = keras_distill.Distiller(teacher=teacher, student=student)
    distiller.compile("adam", student_loss_fn=loss, jit_compile=False)
    if row == "c":
        distiller.optimizer.build(distiller.trainable_variables)
        student.layers[0].trainable = False
    return distiller


def _epoch_seconds(model, x, y, batch_size):
    """Wall and process CPU seconds (all threads) of one epoch."""
    wall, cpu = time.perf_counter(), time.process_time()
    model.fit(x, y, batch_size=batch_size, epochs=1, verbose=0, shuffle=False)
    return time.perf_counter() - wall, time.process_time() - cpu


def _lookup_microseconds(distiller, repeats=2000):
    start = time.perf_counter()
    for _ in range(repeats):
        _ = distiller.trainable_variables
    return (time.perf_counter() - start) / repeats * 1e6


def _bookkeeping_microseconds(distiller, repeats=2000):
    """The step's check of its variables against the optimizer's list (`subset_apply`)."""
    state = (None, [v.value for v in distiller.non_trainable_variables])
    start = time.perf_counter()
    for _ in range(repeats):
        with frozen_variables.subset_apply(distiller, (state,)):
            pass
    return (time.perf_counter() - start) / repeats * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="steps per timed epoch")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default="benchmarks/results/step_overhead_jax.md")
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    samples = args.steps * args.batch_size
    x = rng.normal(size=(samples, 64)).astype("float32")
    y = rng.integers(0, 10, size=(samples,))
    models = {row: _models(row) for row in ROW_NAMES}
    for model in models.values():
        model.fit(x[: 2 * args.batch_size], y[: 2 * args.batch_size],
                  batch_size=args.batch_size, verbose=0)
    times = {row: [] for row in ROW_NAMES}
    lookups, bookkeeping = [], {"b": [], "c": []}
    started = time.perf_counter()
    for repeat in range(args.repeats):
        order = list(ROW_NAMES)[repeat % 3:] + list(ROW_NAMES)[: repeat % 3]
        for row in order:
            times[row].append(_epoch_seconds(models[row], x, y, args.batch_size))
        lookups.append(_lookup_microseconds(models["b"]))
        for row, samples in bookkeeping.items():
            samples.append(_bookkeeping_microseconds(models[row]))
    wall = time.perf_counter() - started

    def per_step(row, column):
        return [t[column] / args.steps * 1e3 for t in times[row]]

    floor = [statistics.median(per_step("a", column)) for column in (0, 1)]
    lines = [
        "# Per-step Python overhead on JAX, jit_compile=False",
        "",
        "Command:",
        "",
        "```",
        f"python benchmarks/step_overhead.py --output {args.output}",
        "```",
        "",
        f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; keras "
        f"{keras.__version__}, backend jax, {platform.machine()}, {os.cpu_count()} CPU cores "
        f"shared with other processes. 1-minute load average at the end: "
        f"{os.getloadavg()[0]:.2f}. Total wall time {wall / 60:.1f} min.",
        "",
        f"Student 64-32-32-10, teacher 64-256-256-256-10 (Dense, ReLU), Adam, batch "
        f"{args.batch_size}, {args.steps} steps per timed epoch, {args.repeats} repeats "
        "after a two-batch warm-up, rows interleaved. Synthetic inputs.",
        "",
        "Wall time is disturbed by other processes on the shared cores; process CPU "
        "time (all threads) much less so.",
        "",
        "| row | what | median ms/step | min | max | minus (a) | CPU ms/step | CPU minus (a) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row, name in ROW_NAMES.items():
        wall, cpu = per_step(row, 0), per_step(row, 1)
        median, cpu_median = statistics.median(wall), statistics.median(cpu)
        lines.append(
            f"| ({row}) | {name} | {median:.2f} | {min(wall):.2f} | {max(wall):.2f} | "
            f"{median - floor[0]:+.2f} | {cpu_median:.2f} | {cpu_median - floor[1]:+.2f} |"
        )
    lines += [
        "",
        f"One `distiller.trainable_variables` lookup after the train function is built: "
        f"median {statistics.median(lookups):.1f} us.",
        "",
        "The step's check of its variables against the optimizer's list "
        "(`frozen_variables.subset_apply`, entered and left once per step): median "
        + ", ".join(
            f"({row}) {statistics.median(samples):.1f} us" for row, samples in bookkeeping.items()
        )
        + ".",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.output:
        with open(args.output, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()

"""Peak memory of one language-model distillation step: benchmarks/results/lm_memory.md.

Vocabulary 32,000, sequence 256, batch 8 (the sizes of issue 25), so that
the `(batch, sequence, vocabulary)` float32 logits (250 MiB each) dominate
the step. Each configuration runs in its own fresh Python process:

  plain   the student alone, `student.fit` with sparse cross-entropy;
  online  `Distiller` with the teacher run on every batch, dense `KDLoss`;
  top_k   `Distiller` fed a top-k `TeacherCache` (`--top-k` ids, with tail mass).

Models (plain Keras, the shape of `benchmarks/token_distillation.py`): a
token embedding (`mask_zero=True`), a position embedding, pre-norm causal
transformer blocks and a `Dense(32000)` head. Student: 1 block, width 128;
teacher: 2 blocks, width 256. The last 32 tokens of every other row are
padding, so the Keras mask is in the step as in real token distillation.

Method: in each process the model(s) are built and compiled, `--warmup`
steps are run (tracing, XLA compilation, optimizer variables), then the
peak counter is reset and `--steps` steps are run. Reported: the *step
memory*, the peak during those steps minus the memory in use just before
them (weights, optimizer state, data), so only what a step allocates and
frees again counts. The counter is the backend's own where it has one:

- TensorFlow: its CPU allocator's statistics
  (`tf.config.experimental.reset_memory_stats("CPU:0")`, then
  `get_memory_info("CPU:0")`: `peak - current before`). The process RSS is
  no use there: TensorFlow's allocator keeps freed blocks resident, so the
  RSS only grows.
- JAX (no allocator statistics on CPU): the process RSS. The kernel's peak
  counter is reset (`echo 5 > /proc/self/clear_refs`, Linux) and read back
  (`VmHWM` of `/proc/self/status`) against `VmRSS` just before the steps.
  XLA's CPU buffers of this size are unmapped when freed, so the RSS falls
  back between steps and each step's peak is seen again.

The ratios in the table are step memory over the plain fine-tune's.

    python benchmarks/lm_memory.py --backend tensorflow
    python benchmarks/lm_memory.py --backend jax

`--backend` sets `KERAS_BACKEND` for the child processes; `--chunk` passes
`sequence_chunks` to the distillation loss (`--chunk auto`: chunks of about
8 MiB of logits; without it, the loss's default: the whole sequence at once).
"""

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VOCAB = 32000
LENGTH = 256
BATCH = 8
STUDENT = {"width": 128, "blocks": 1, "heads": 4}
TEACHER = {"width": 256, "blocks": 2, "heads": 4}
CONFIGS = ("plain", "online", "top_k")


def _memory():
    """`(VmRSS, VmHWM)` of this process in MiB."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            fields[name] = value
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class _Counter:
    """The peak memory of what runs between `start` and `stop`, over what was in use before (MiB)."""

    def __init__(self, backend):
        self.allocator = backend == "tensorflow"
        self.method = ("TensorFlow CPU allocator statistics" if self.allocator
                       else "process RSS (VmHWM - VmRSS)")

    def start(self):
        if self.allocator:
            import tensorflow as tf

            tf.config.experimental.reset_memory_stats("CPU:0")
            self.before = tf.config.experimental.get_memory_info("CPU:0")["current"] / 2**20
        else:
            gc.collect()
            time.sleep(1.0)  # buffers of the last step are freed asynchronously
            with open("/proc/self/clear_refs", "w") as handle:
                handle.write("5")
            self.before = _memory()[0]
        return self.before

    def stop(self):
        if self.allocator:
            import tensorflow as tf

            return tf.config.experimental.get_memory_info("CPU:0")["peak"] / 2**20
        return _memory()[1]


def _transformer(keras, ops, width, blocks, heads, name):
    inputs = keras.Input((LENGTH,), dtype="int32")
    x = keras.layers.Embedding(VOCAB, width, mask_zero=True)(inputs)
    x = x + keras.layers.Embedding(LENGTH, width)(ops.arange(LENGTH)[None, :])
    for _ in range(blocks):
        h = keras.layers.LayerNormalization()(x)
        x = x + keras.layers.MultiHeadAttention(heads, width // heads)(h, h, use_causal_mask=True)
        h = keras.layers.LayerNormalization()(x)
        h = keras.layers.Dense(4 * width, activation="gelu")(h)
        x = x + keras.layers.Dense(width)(h)
    x = keras.layers.LayerNormalization()(x)
    return keras.Model(inputs, keras.layers.Dense(VOCAB, name="logits")(x), name=name)


def child(args):
    """Runs one configuration in this process; prints one JSON line."""
    import keras
    import numpy as np
    from keras import ops

    import keras_distill as kd

    keras.utils.set_random_seed(0)
    samples = BATCH * max(args.warmup, args.steps)
    data = np.random.default_rng(0).integers(1, VOCAB, (samples, LENGTH + 1)).astype("int32")
    data[1::2, -32:] = 0
    x, y = data[:, :-1], data[:, 1:]
    student = _transformer(keras, ops, name="student", **STUDENT)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    record = {"config": args.child, "backend": keras.config.backend(),
              "student_params": student.count_params()}
    if args.child == "plain":
        model = student
        model.compile(optimizer="adam", loss=loss, jit_compile=args.jit_compile)
        inputs = x
    else:
        teacher = _transformer(keras, ops, name="teacher", **TEACHER)
        record["teacher_params"] = teacher.count_params()
        model = kd.Distiller(teacher, student)
        model.compile(optimizer="adam", student_loss_fn=loss, alpha=0.1, temperature=2.0,
                      jit_compile=args.jit_compile,
                      distillation_loss_fn=kd.losses.KDLoss(**_chunk_option(args)))
        inputs = x
        if args.child == "top_k":
            inputs = kd.TeacherCache.compute(teacher, x, batch_size=BATCH,
                                             top_k=args.top_k).inputs(x)
            record["k"] = args.top_k
    record["jit_compile"] = bool(model.jit_compile)

    def fit(steps):
        def take(a):
            return a[: steps * BATCH]
        model.fit(keras.tree.map_structure(take, inputs), take(y), batch_size=BATCH,
                  epochs=1, shuffle=False, verbose=0)

    counter = _Counter(keras.config.backend())
    fit(args.warmup)
    rest = counter.start()
    fit(args.steps)
    peak = counter.stop()
    record.update(method=counter.method, rest_mib=rest, peak_mib=peak, step_mib=peak - rest,
                  process_peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print("RESULT " + json.dumps(record), flush=True)


def _chunk_option(args):
    if args.chunk is None:
        return {}
    if args.chunk in ("none", "auto"):
        return {"sequence_chunks": None if args.chunk == "none" else "auto"}
    return {"sequence_chunks": int(args.chunk)}


def run_config(config, args):
    command = [sys.executable, os.path.abspath(__file__), "--child", config,
               "--top-k", str(args.top_k), "--warmup", str(args.warmup),
               "--steps", str(args.steps), "--jit-compile", args.jit_compile]
    if args.chunk is not None:
        command += ["--chunk", str(args.chunk)]
    env = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{config} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def table(records):
    plain = records["plain"]["step_mib"]
    lines = ["| configuration | step memory MiB | x plain | in use before steps MiB "
             "| process peak RSS MiB |", "|---|---:|---:|---:|---:|"]
    for config, record in records.items():
        label = f"top_k (k={record['k']})" if config == "top_k" else config
        lines.append(f"| {label} | {record['step_mib']:.0f} | {record['step_mib'] / plain:.2f} "
                     f"| {record['rest_mib']:.0f} | {record['process_peak_rss_mib']:.0f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"))
    parser.add_argument("--configs", nargs="+", choices=CONFIGS, default=list(CONFIGS))
    parser.add_argument("--top-k", type=int, default=8)
    parser.add_argument("--chunk", default=None,
                        help="sequence_chunks of the distillation loss: a count, 'auto' or "
                             "'none' (default: the loss's own, None)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--jit-compile", default="auto",
                        help="`jit_compile` of both compiles: auto (Keras's: off for TensorFlow "
                             "on CPU, on for JAX), true or false")
    parser.add_argument("--child", choices=CONFIGS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        args.jit_compile = {"true": True, "false": False}.get(args.jit_compile, args.jit_compile)
        child(args)
        return
    import command_line

    records = {config: run_config(config, args) for config in args.configs}
    if args.chunk is not None:
        print(f"sequence_chunks: {args.chunk}")
    print(f"command: {command_line.command('benchmarks/lm_memory.py')}")
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}; backend {args.backend}, "
          f"jit_compile={records[args.configs[0]]['jit_compile']}; "
          f"counter: {records[args.configs[0]]['method']}")
    print(json.dumps(records))
    print(table(records))


if __name__ == "__main__":
    main()

"""ShardedTeacherCache at scale: build throughput, resume, epoch cost and peak memory.

    python benchmarks/sharded_cache.py --samples 10000000 --out benchmarks/results/sharded_cache.md

On synthetic data (inputs of 16 float32 features in a memory-mapped .npy,
10 classes, an MLP teacher 16-256-256-10 and student 16-64-10):

1. build throughput, one worker and two workers in parallel (separate processes);
2. resume: delete a tenth of the shards, build again: only those are recomputed;
3. epoch cost: `Distiller.fit` on the in-memory packed inputs (what
   `TeacherCache.inputs` gives: every input and float32 logit in memory) against
   `ShardedTeacherCache.dataset` streamed from the memmap and the float16 shards,
   interleaved, each in its own process (second epoch timed);
4. peak RSS of each training process, and of the streamed one at a tenth of the
   samples: streaming's memory does not grow with the data.
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

import command_line

FEATURES, CLASSES = 16, 10


def _models():
    import keras

    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(256, activation="relu"),
                                keras.layers.Dense(256, activation="relu"),
                                keras.layers.Dense(CLASSES)])
    student = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(64, activation="relu"),
                                keras.layers.Dense(CLASSES)])
    return teacher, student


def make_data(folder, samples):
    import numpy as np

    os.makedirs(folder, exist_ok=True)
    x = np.lib.format.open_memmap(os.path.join(folder, "x.npy"), "w+", "float32",
                                  (samples, FEATURES))
    rng = np.random.default_rng(0)
    for start in range(0, samples, 1_000_000):
        stop = min(start + 1_000_000, samples)
        x[start:stop] = rng.normal(size=(stop - start, FEATURES))
    x.flush()
    y = rng.integers(0, CLASSES, samples).astype("int32")
    np.save(os.path.join(folder, "y.npy"), y)


def child_build(folder, cache, worker, workers, shard_size):
    import numpy as np

    import keras_distill

    teacher, _ = _models()
    x = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
    keras_distill.ShardedTeacherCache.build(teacher, x, cache, shard_size=shard_size,
                                            batch_size=8192, worker_index=worker,
                                            num_workers=workers)


def child_epoch(folder, cache, mode, batch_size):
    import keras
    import numpy as np

    import keras_distill
    from keras_distill.core import packed_inputs

    teacher, student = _models()
    y = np.load(os.path.join(folder, "y.npy"))
    sharded = keras_distill.ShardedTeacherCache.open(cache, teacher=teacher)
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", alpha=0.1, temperature=4.0,
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    times = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    if mode == "memory":
        x = np.load(os.path.join(folder, "x.npy"))  # read into memory
        logits = np.concatenate([sharded.read_shard(i).astype("float32")
                                 for i in range(sharded.num_shards)])
        distiller.fit(packed_inputs.pack(x, logits), y, batch_size=batch_size, epochs=2,
                      verbose=0, callbacks=[Timer()])
    else:
        x = np.load(os.path.join(folder, "x.npy"), mmap_mode="r")
        data = sharded.dataset(x, y, batch_size=batch_size, seed=0)
        distiller.fit(data, epochs=2, shuffle=False, verbose=0, callbacks=[Timer()])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"epoch_seconds": times[-1], "peak_rss_mib": peak}))


def _run(*args):
    command = [sys.executable, __file__, "--child", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr[-3000:])
    return done.stdout


def _build(folder, cache, workers, shard_size):
    start = time.perf_counter()
    processes = [subprocess.Popen([sys.executable, __file__, "--child", "build", folder, cache,
                                   str(w), str(workers), str(shard_size)],
                                  stderr=subprocess.PIPE, text=True) for w in range(workers)]
    for process in processes:
        _, err = process.communicate()
        if process.returncode:
            raise SystemExit(err[-3000:])
    return time.perf_counter() - start


def _epoch(folder, cache, mode, batch_size):
    return json.loads(_run("epoch", folder, cache, mode, batch_size).strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=10_000_000)
    parser.add_argument("--shard-size", type=int, default=262_144)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--work", default="/tmp/keras_distill_sharded")
    parser.add_argument("--out", default="benchmarks/results/sharded_cache.md")
    args = parser.parse_args()
    results = {}
    small = args.samples // 10
    for samples in (args.samples, small):
        make_data(os.path.join(args.work, f"data{samples}"), samples)
    big, little = (os.path.join(args.work, f"data{n}") for n in (args.samples, small))
    one, two = os.path.join(args.work, "cache_one"), os.path.join(args.work, "cache_two")
    for path in (one, two, os.path.join(args.work, "cache_small")):
        shutil.rmtree(path, ignore_errors=True)
    results["build_1_worker_s"] = _build(big, one, 1, args.shard_size)
    results["build_2_workers_s"] = _build(big, two, 2, args.shard_size)
    shards = sorted(f for f in os.listdir(two) if f.startswith("shard-"))
    removed = shards[:: 10]
    for name in removed:
        os.unlink(os.path.join(two, name))
    results["resume_shards"] = [len(removed), len(shards)]
    results["resume_s"] = _build(big, two, 1, args.shard_size)
    results["build_small_s"] = _build(little, os.path.join(args.work, "cache_small"), 1,
                                      args.shard_size)
    runs = {"memory": [], "sharded": []}
    for _ in range(args.repeats):  # interleaved
        for mode in runs:
            runs[mode].append(_epoch(big, two, mode, args.batch_size))
    small_run = _epoch(little, os.path.join(args.work, "cache_small"), "sharded", args.batch_size)
    results["epochs"] = runs
    results["sharded_small"] = small_run
    memory = statistics.median(r["epoch_seconds"] for r in runs["memory"])
    sharded = statistics.median(r["epoch_seconds"] for r in runs["sharded"])

    worst = (max(r["epoch_seconds"] for r in runs["sharded"])
             / min(r["epoch_seconds"] for r in runs["memory"]))

    def spread(mode):
        values = [r["epoch_seconds"] for r in runs[mode]]
        return f"{statistics.median(values):.2f} s ({min(values):.2f} to {max(values):.2f})"

    disk = sum(os.path.getsize(os.path.join(two, f)) for f in os.listdir(two))
    n = args.samples
    lines = [
        "# Sharded teacher cache at scale",
        "",
        f"Command: `{command_line.command('benchmarks/sharded_cache.py')}`",
        "",
        f"Machine: {os.cpu_count()} CPU cores; Keras backend "
        f"{os.environ.get('KERAS_BACKEND', 'tensorflow')}. {n:,} synthetic samples of {FEATURES} "
        f"float32 features ({n * FEATURES * 4 / 2**20:,.0f} MiB memmap), {CLASSES} classes; teacher "
        f"16-256-256-10, student 16-64-10; shards of {args.shard_size:,} samples, float16; "
        f"batch {args.batch_size}.",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| build, 1 worker | {results['build_1_worker_s']:.1f} s, "
        f"{n / results['build_1_worker_s']:,.0f} samples/s |",
        f"| build, 2 workers in parallel | {results['build_2_workers_s']:.1f} s, "
        f"{n / results['build_2_workers_s']:,.0f} samples/s |",
        f"| resume after deleting {len(removed)} of {len(shards)} shards | "
        f"{results['resume_s']:.1f} s |",
        f"| cache on disk | {disk / 2**20:,.0f} MiB ({disk / n:.1f} bytes/sample) |",
        f"| epoch, in-memory packed inputs (median of {args.repeats}, range) | {spread('memory')} |",
        f"| epoch, streamed shards (median of {args.repeats}, range) | {spread('sharded')} |",
        f"| **epoch ratio, streamed / in memory (medians)** | **{sharded / memory:.3f}x** |",
        f"| epoch ratio, slowest streamed / fastest in memory | {worst:.3f}x |",
        f"| peak RSS, in memory | "
        f"{max(r['peak_rss_mib'] for r in runs['memory']):,.0f} MiB |",
        f"| peak RSS, streamed, {n:,} samples | "
        f"{max(r['peak_rss_mib'] for r in runs['sharded']):,.0f} MiB |",
        f"| peak RSS, streamed, {small:,} samples | {small_run['peak_rss_mib']:,.0f} MiB |",
        "",
        "Each number comes from its own process (peak RSS is the process's `ru_maxrss`); the "
        "in-memory and streamed epochs are interleaved.",
        "",
        "```json",
        json.dumps(results, indent=1),
        "```",
        "",
    ]
    text = "\n".join(lines)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        kind, rest = sys.argv[2], sys.argv[3:]
        if kind == "build":
            child_build(rest[0], rest[1], int(rest[2]), int(rest[3]), int(rest[4]))
        else:
            child_epoch(rest[0], rest[1], rest[2], int(rest[3]))
    else:
        main()

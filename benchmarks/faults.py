"""Faults and damaged inputs, and what the user sees: benchmarks/results/faults.md.

Part 1 damages files (caches, .keras models, data files, exported models),
feeds bad data (NaN, inf, empty, wrong shapes) and makes targets unwritable,
then records the error each case raises (type and message) and whether
anything was lost. Part 2 SIGKILLs child processes (`tests/fault_child.py`)
at named points of every write and records what the target holds afterwards
and whether the next write cleaned up; and kills training runs mid-epoch,
resuming them with `keras_distill.callbacks.BackupAndRestore`.

    python benchmarks/faults.py --out benchmarks/results/faults.md
"""

import argparse
import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import command_line  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_distill  # noqa: E402
from keras_distill.core import atomic_files  # noqa: E402
from keras_distill.core.model_files import load_keras_model  # noqa: E402
from keras_distill.export import runtimes  # noqa: E402
from tests import test_crash_safety as crash  # noqa: E402
from tests.fault_child import TARGETS  # noqa: E402


def _mlp(name, inputs=8):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [keras.Input((inputs,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4)],
        name=name,
    )


def _x(n=64):
    return np.random.default_rng(0).normal(size=(n, 8)).astype("float32")


def _rewrite(path, **fields):
    data = dict(np.load(path))
    data.update(fields)
    np.savez(path, **data)


def _flip(path, member, offset):
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    data[info.header_offset + 30 + len(info.filename) + offset] ^= 0xFF
    open(path, "wb").write(bytes(data))


def _cli(*args):
    process = subprocess.run(
        [sys.executable, "-m", "keras_distill_cli", *args], capture_output=True, text=True,
        cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
    )
    lines = [line for line in process.stderr.splitlines() if "keras-distill" in line]
    raise RuntimeError(f"exit {process.returncode}: " + (lines[-1] if lines else process.stderr[-300:]))


def input_cases(folder):
    """(case, callable) pairs; each callable raises what the user sees."""
    teacher, x = _mlp("teacher"), _x()
    cache_path = os.path.join(folder, "cache.npz")

    def fresh_cache():
        if os.path.exists(cache_path):
            os.unlink(cache_path)
        keras_distill.TeacherCache.compute(teacher, x, path=cache_path)
        return cache_path

    def load(path=None):
        return keras_distill.TeacherCache.load(path or cache_path, teacher=teacher, x=x)

    def keras_file():
        path = os.path.join(folder, "model.keras")
        _mlp("student").save(path)
        return path

    def cache_case(damage):
        def run():
            path = fresh_cache()
            damage(path)
            load()
        return run

    def truncate(path, keep=0.5):
        data = open(path, "rb").read()
        open(path, "wb").write(data[: int(len(data) * keep)])

    cases = [
        ("TeacherCache.load: truncated cache (half the bytes)", cache_case(truncate)),
        ("TeacherCache.load: empty file", cache_case(lambda p: open(p, "wb").close())),
        ("TeacherCache.load: a CSV text file", cache_case(lambda p: open(p, "w").write("a,b\n1,2\n"))),
        ("TeacherCache.load: a .npy array", cache_case(lambda p: np.save(open(p, "wb"), np.zeros(3)))),
        ("TeacherCache.load: .npz with a pickled object array",
         cache_case(lambda p: np.savez(p, logits=np.array([{"a": 1}], dtype=object)))),
        ("TeacherCache.load: another .npz (MNIST-like)",
         cache_case(lambda p: np.savez(p, x_train=np.zeros((2, 3))))),
        ("TeacherCache.load: one byte flipped in the logits",
         cache_case(lambda p: _flip(p, "logits.npy", 200))),
        ("TeacherCache.load: NaN logits", cache_case(
            lambda p: _rewrite(p, logits=np.full((64, 4), np.nan, "float32")))),
        ("TeacherCache.load: logits of the wrong shape", cache_case(
            lambda p: _rewrite(p, logits=np.zeros((64, 3), "float32")))),
        ("TeacherCache.load: format version from the future", cache_case(
            lambda p: _rewrite(p, format_version=np.array(999)))),
        ("TeacherCache.load: cache of another teacher", lambda: keras_distill.TeacherCache.load(
            fresh_cache(), teacher=keras.Sequential([keras.Input((8,)), keras.layers.Dense(4)]),
            x=x)),
        ("TeacherCache.load: cache of other inputs", lambda: keras_distill.TeacherCache.load(
            fresh_cache(), teacher=teacher, x=x + 1)),
        ("TeacherCache.load: path is a folder", lambda: load(folder)),
        ("TeacherCache.compute: x with a NaN", lambda: keras_distill.TeacherCache.compute(
            teacher, np.where(np.arange(64)[:, None] == 7, np.nan, x).astype("float32"))),
        ("TeacherCache.compute: empty x", lambda: keras_distill.TeacherCache.compute(teacher, x[:0])),
        ("TeacherCache.compute: a teacher whose weights hold inf", lambda: _broken_teacher_cache(x)),
    ]

    def keras_case(damage):
        def run():
            path = keras_file()
            damage(path)
            load_keras_model(path)
        return run

    cases += [
        (".keras: truncated (last 200 bytes cut)", keras_case(lambda p: truncate(p, 0.9))),
        (".keras: empty file", keras_case(lambda p: open(p, "wb").close())),
        (".keras: a text file", keras_case(lambda p: open(p, "w").write("hello"))),
        (".keras: a byte flipped in config.json", keras_case(lambda p: _flip(p, "config.json", 10))),
        (".keras: zip without config.json", keras_case(
            lambda p: zipfile.ZipFile(p, "w").writestr("metadata.json", "{}"))),
        (".keras: a Lambda layer (code on load), safe mode", lambda: _lambda_model(folder)),
        ("CLI `keras-distill export` of a truncated .keras", lambda: _cli_truncated(folder, keras_file)),
        ("CLI `--sample-data` that is a text file", lambda: _cli_data(folder, keras_file)),
        ("export_tflite: int8 representative_data with inf", lambda: keras_distill.export_tflite(
            _mlp("m"), os.path.join(folder, "m.tflite"), quantization="int8",
            representative_data=np.where(np.arange(64)[:, None] == 3, np.inf, x).astype("float32"))),
        ("export_onnx: empty sample_inputs", lambda: keras_distill.export_onnx(
            _mlp("m"), os.path.join(folder, "m.onnx"), sample_inputs=x[:0])),
        ("export_onnx: sample_inputs of the wrong shape", lambda: keras_distill.export_onnx(
            _mlp("m"), os.path.join(folder, "m.onnx"), sample_inputs=x[:, :5])),
        ("report latency: a damaged .tflite", lambda: _damaged_runtime(folder, "tflite", x)),
        ("report latency: a truncated .onnx", lambda: _damaged_runtime(folder, "onnx", x)),
        ("write: no space left on the device (simulated ENOSPC)", lambda: _enospc(folder)),
        ("write: read-only file system (simulated EROFS)", lambda: _erofs(folder)),
        ("write: a folder where the file should go", lambda: atomic_files.write_file(folder, lambda s: None)),
    ]
    return cases


def _broken_teacher_cache(x):
    broken = _mlp("broken")
    broken.layers[-1].kernel.assign(np.full(broken.layers[-1].kernel.shape, np.inf, "float32"))
    keras_distill.TeacherCache.compute(broken, x)


def _lambda_model(folder):
    path = os.path.join(folder, "lambda.keras")
    keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0)]).save(path)
    load_keras_model(path)


def _cli_truncated(folder, keras_file):
    path = keras_file()
    data = open(path, "rb").read()
    open(path, "wb").write(data[: len(data) // 2])
    _cli("export", path, "--format", "onnx", "--out", os.path.join(folder, "cli.onnx"))


def _cli_data(folder, keras_file):
    data = os.path.join(folder, "samples.npz")
    open(data, "w").write("not numpy")
    _cli("export", keras_file(), "--format", "onnx", "--out", os.path.join(folder, "cli.onnx"),
         "--sample-data", data)


def _damaged_runtime(folder, fmt, x):
    path = os.path.join(folder, f"d.{fmt}")
    getattr(keras_distill, f"export_{fmt}")(_mlp("m"), path, sample_inputs=x, overwrite=True)
    data = open(path, "rb").read()
    open(path, "wb").write(b"\x00" * 64 if fmt == "tflite" else data[:100])
    runtimes.open_runner(fmt, path, [])


def _enospc(folder):
    target = os.path.join(folder, "full.txt")
    open(target, "w").write("previous")

    def full(staged):
        open(staged, "w").write("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    try:
        atomic_files.write_file(target, full)
    finally:
        assert open(target).read() == "previous"


def _erofs(folder):
    original = atomic_files.tempfile.mkstemp

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    atomic_files.tempfile.mkstemp = read_only
    try:
        atomic_files.write_file(os.path.join(folder, "ro.txt"), lambda s: None)
    finally:
        atomic_files.tempfile.mkstemp = original


def run_inputs():
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for case, run in input_cases(folder):
            try:
                run()
                seen = "no error (!)"
            except Exception as error:  # noqa: BLE001 - recording what the user sees
                # The scratch folder is this run's own: named as `TMP`.
                message = " ".join(str(error).replace(folder, "TMP").split())
                seen = f"`{type(error).__name__}`: {message}"
            rows.append((case, seen))
            print(f"{case}: {seen[:160]}", flush=True)
    return rows


def run_kills():
    rows = []
    for operation, points in crash.KILL_POINTS:
        with tempfile.TemporaryDirectory() as folder:
            target = os.path.join(folder, TARGETS[operation])
            assert crash.run_child(operation, folder, 1).returncode == 0
            previous = crash.digest(target)
            for point in points:
                start = time.perf_counter()
                process = crash.run_child(operation, folder, 2, fault=point)
                killed = process.returncode == -signal.SIGKILL
                holds = "previous version" if crash.digest(target) == previous else "new version"
                crash.check_loadable(operation, target)
                left = len(crash.leftovers(target))
                rows.append((operation, point, killed, f"{holds}, loads", left,
                             time.perf_counter() - start))
                print(rows[-1], flush=True)
            final = crash.run_child(operation, folder, 3)
            rows.append((operation, "next write (no kill)", final.returncode == 0,
                         "complete new version, loads", len(crash.leftovers(target)), 0.0))
    with tempfile.TemporaryDirectory() as folder:
        reference = os.path.join(folder, "reference")
        os.makedirs(reference)
        crash.run_child("backup", reference, 1)
        expected = crash._weights(os.path.join(reference, TARGETS["backup"]))
        crashed = os.path.join(folder, "crashed")
        os.makedirs(crashed)
        for epoch in range(4):
            process = crash.run_child("backup", crashed, 1, kill_epoch=epoch)
            state = open(os.path.join(crashed, "backup", "state.json")).read() \
                if os.path.exists(os.path.join(crashed, "backup", "state.json")) else "none"
            rows.append(("fit + BackupAndRestore", f"inside epoch {epoch + 1} of 4",
                         process.returncode == -signal.SIGKILL, f"backup state: {state}", 0, 0.0))
        final = crash.run_child("backup", crashed, 1)
        got = crash._weights(os.path.join(crashed, TARGETS["backup"]))
        diff = max(float(np.max(np.abs(a - b))) for a, b in zip(expected, got))
        rows.append(("fit + BackupAndRestore", "resumed to the end", final.returncode == 0,
                     f"max abs weight difference from an uninterrupted fit: {diff:.1e}", 0, 0.0))
        process = crash.run_child("backup", os.path.join(folder, "state"), 1, fault="before_rename") \
            if os.makedirs(os.path.join(folder, "state")) is None else None
        rows.append(("fit + BackupAndRestore", "while committing the first backup",
                     process.returncode == -signal.SIGKILL, "no backup yet; next fit starts over", 0, 0.0))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    inputs = run_inputs()
    kills = run_kills()
    lines = [
        f"Command: `{command_line.command('benchmarks/faults.py')}`", "",
        f"Machine: {os.cpu_count()} CPU cores; Keras backend {keras.backend.backend()}.", "",
        f"## Damaged inputs, bad data, unwritable targets ({len(inputs)} cases)", "",
        "| # | case | what the user sees |", "|---:|---|---|",
    ]
    lines += [f"| {i} | {case} | {seen.replace('|', '/')} |" for i, (case, seen) in enumerate(inputs, 1)]
    kill_points = [r for r in kills if r[1] != "next write (no kill)" and r[1] != "resumed to the end"]
    lines += [
        "", f"## Kill points ({len(kill_points)} SIGKILLs)", "",
        "Each child writes version 2 over version 1 and is killed at the point named; the target is",
        "then read back with its own loader. Leftovers: staging copies beside the target after the",
        "kill (each removed by the next write to that target).", "",
        "| operation | killed at | killed | target afterwards | staging leftovers | s |",
        "|---|---|---|---|---:|---:|",
    ]
    lines += [f"| {op} | {point} | {'yes' if ok else 'NO'} | {holds} | {left} | {secs:.1f} |"
              for op, point, ok, holds, left, secs in kills]
    text = "\n".join(lines) + "\n"
    if args.out:
        atomic_files.write_file(args.out, lambda staged: open(staged, "w").write(text))
    print(text)


if __name__ == "__main__":
    main()

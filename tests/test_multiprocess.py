"""Two JAX processes on localhost (`keras.distribution.initialize`) train like one.

Each process trains its own shard under `DataParallel`; the reference process
trains the same global batches alone. Both clusters' processes run the same
number of steps, the last batch of every epoch is uneven, and only process 0
writes files.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.jax_only


def _free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def _launch(process_id, num_processes, port, mode, out):
    command = [sys.executable, "-m", "tests.multiprocess_child", str(process_id),
               str(num_processes), str(port), mode, str(out)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def _wait(processes):
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=240)
            outputs.append(output)
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]


@pytest.mark.parametrize("mode", ["online", "cached"])
def test_two_processes_train_like_one(tmp_path, mode):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    if mode == "cached":  # each shard's cache, built before the cluster starts
        _wait([_launch(p, 2, 0, "build_cache", two) for p in (0, 1)])
    port = _free_port()
    _wait([_launch(p, 2, port, mode, two) for p in (0, 1)])
    _wait([_launch(0, 1, 0, mode, one)])
    # The two shards were disjoint and together the reference's samples.
    seen = [np.load(two / f"seen_2_{p}.npy") for p in (0, 1)]
    assert not set(seen[0]) & set(seen[1])
    assert sorted(np.concatenate(seen)) == sorted(np.load(one / "seen_1_0.npy"))
    np.testing.assert_allclose(np.load(two / "loss_2.npy"), np.load(one / "loss_1.npy"), rtol=1e-5)
    weights_two, weights_one = np.load(two / "weights_2.npy"), np.load(one / "weights_1.npy")
    print(f"{mode}: max weight difference, 2 processes vs 1: "
          f"{np.max(np.abs(weights_two - weights_one)):.3g}")
    np.testing.assert_allclose(weights_two, weights_one, atol=1e-5)
    # Only the chief wrote its checkpoint; process 1's folder stayed empty.
    assert (two / "process0" / "student.keras").is_file()
    assert not (two / "process1").exists()


def test_computing_a_cache_inside_a_cluster_says_what_to_do(tmp_path):
    port = _free_port()
    processes = [_launch(p, 2, port, "compute_in_cluster", tmp_path) for p in (0, 1)]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode != 0
        assert "RuntimeError: TeacherCache.compute runs the teacher" in output
        assert "TeacherCache.load(path, teacher=teacher" in output


def test_the_distributed_example_runs_as_documented(tmp_path):
    # docs/distributed.md launches examples/distributed_jax.py this way.
    port, out = _free_port(), tmp_path / "student.keras"
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "examples/distributed_jax.py", "--process-id", str(p),
             "--num-processes", "2", "--coordinator", f"localhost:{port}", "--epochs", "2",
             "--out", str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for p in (0, 1)
    ]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-2000:]
    accuracies = [line.split()[-1] for output in outputs for line in output.splitlines()
                  if "student test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1]  # one global metric
    assert "wrote" in outputs[0] and "wrote" not in outputs[1]
    assert out.is_file()

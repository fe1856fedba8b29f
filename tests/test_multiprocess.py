"""Two JAX processes on localhost (`keras.distribution.initialize`) train like one.

Each process trains its own shard under `DataParallel`; the reference process
trains the same global batches alone. Both clusters' processes run the same
number of steps, the last batch of every epoch is uneven, and only process 0
writes files.
"""

import os
import sys

import numpy as np
import pytest

from tests import cluster_testing

ROOT = cluster_testing.ROOT
pytestmark = [pytest.mark.jax_only, pytest.mark.slow]


def _env():
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("XLA_FLAGS", None)  # one CPU device per process
    return env


def _child(process_id, num_processes, port, mode, out):
    return [sys.executable, "-m", "tests.multiprocess_child", str(process_id),
            str(num_processes), str(port), mode, str(out)]


def _wait(commands):
    cluster_testing.run_together(commands, _env())


@pytest.mark.parametrize("mode", ["online", "cached"])
def test_two_processes_train_like_one(tmp_path, mode):
    two, one = tmp_path / "two", tmp_path / "one"
    two.mkdir()
    if mode == "cached":  # each shard's cache, built before the cluster starts
        _wait([_child(p, 2, 0, "build_cache", two) for p in (0, 1)])
    (port,) = cluster_testing.free_ports(1)
    _wait([_child(p, 2, port, mode, two) for p in (0, 1)])
    _wait([_child(0, 1, 0, mode, one)])
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
    (port,) = cluster_testing.free_ports(1)
    codes, outputs = cluster_testing.run_together(
        [_child(p, 2, port, "compute_in_cluster", tmp_path) for p in (0, 1)], _env(), check=False
    )
    assert all(code != 0 for code in codes)
    for output in outputs:
        assert "RuntimeError: TeacherCache.compute runs the teacher" in output
        assert "TeacherCache.load(path, teacher=teacher" in output


def test_the_distributed_example_runs_as_documented(tmp_path):
    # docs/distributed.md launches examples/distributed_jax.py this way.
    (port,) = cluster_testing.free_ports(1)
    out = tmp_path / "student.keras"
    env = dict(_env(), KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    _, outputs = cluster_testing.run_together(
        [[sys.executable, "examples/distributed_jax.py", "--process-id", str(p),
          "--num-processes", "2", "--coordinator", f"localhost:{port}", "--epochs", "2",
          "--out", str(out)] for p in (0, 1)],
        env,
    )
    accuracies = [line.split()[-1] for output in outputs for line in output.splitlines()
                  if "student test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1]  # one global metric
    assert "wrote" in outputs[0] and "wrote" not in outputs[1]
    assert out.is_file()

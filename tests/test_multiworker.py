"""Two TensorFlow workers (`MultiWorkerMirroredStrategy`, localhost) train a Distiller like one.

Keras 3.15 / TF 2.21 `fit` fails under this strategy for any model
(keras-team/keras#20585, tensorflow/tensorflow#72388); the Distiller works
around both failures (keras_distill/distiller/multi_worker.py). Each worker
feeds its own shard; the reference trains the same global batches alone. The
last batch is uneven, and only the chief writes files.
"""

import os
import sys

import numpy as np
import pytest

from tests import cluster_testing

ROOT = cluster_testing.ROOT
pytestmark = [pytest.mark.tensorflow_only, pytest.mark.slow]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=ROOT, **extra)
    env.pop("TF_CONFIG", None)
    return env


def _run(workers, num_workers, ports, mode, out):
    cluster_testing.run_together(
        [[sys.executable, "-m", "tests.multiworker_child", str(w), str(num_workers),
          ",".join(map(str, ports)), mode, str(out)] for w in workers],
        _env(),
    )


@pytest.mark.parametrize("mode", ["online", "cached"])
def test_two_workers_train_like_one(tmp_path, mode):
    _run((0, 1), 2, cluster_testing.free_ports(2), mode, tmp_path)
    _run((0,), 1, [0], mode, tmp_path)
    np.testing.assert_allclose(np.load(tmp_path / "loss_2.npy"), np.load(tmp_path / "loss_1.npy"),
                               rtol=1e-5)
    two, one = np.load(tmp_path / "weights_2.npy"), np.load(tmp_path / "weights_1.npy")
    print(f"{mode}: max weight difference, 2 workers vs 1: {np.max(np.abs(two - one)):.3g}")
    np.testing.assert_allclose(two, one, atol=1e-5)
    # The chief (worker 0) wrote its checkpoint; worker 1's folder was never created.
    assert (tmp_path / "worker0" / "student.keras").is_file()
    assert not (tmp_path / "worker1").exists()


def test_the_distributed_example_runs_as_documented(tmp_path):
    # docs/distributed.md runs examples/distributed_tf.py this way.
    env = _env(KERAS_BACKEND="tensorflow")
    example = [sys.executable, "examples/distributed_tf.py", "--epochs", "2"]
    teacher, out = str(tmp_path / "teacher.keras"), str(tmp_path / "student.keras")
    cluster_testing.run_together([example + ["--train-teacher", teacher]], env)
    workers = ",".join(f"localhost:{port}" for port in cluster_testing.free_ports(2))
    _, outputs = cluster_testing.run_together(
        [example + ["--worker", str(w), "--workers", workers, "--teacher", teacher, "--out", out]
         for w in (0, 1)],
        env,
    )
    accuracies = [line.split()[-1] for output in outputs for line in output.splitlines()
                  if "student test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1]  # one global metric
    assert "wrote" in outputs[0] and "wrote" not in outputs[1]
    assert os.path.isfile(out)

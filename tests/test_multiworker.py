"""Two TensorFlow workers (`MultiWorkerMirroredStrategy`, localhost) train a Distiller like one.

Keras 3.15 / TF 2.21 `fit` fails under this strategy for any model
(keras-team/keras#20585, tensorflow/tensorflow#72388); the Distiller works
around both failures (keras_distill/distiller/multi_worker.py). Each worker
feeds its own shard; the reference trains the same global batches alone. The
last batch is uneven, and only the chief writes files.
"""

import os
import socket
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.tensorflow_only


def _free_ports(count):
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("localhost", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def _run(workers, num_workers, ports, mode, out):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("TF_CONFIG", None)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.multiworker_child", str(w), str(num_workers),
             ",".join(map(str, ports)), mode, str(out)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        for w in workers
    ]
    try:
        outputs = [process.communicate(timeout=240)[0] for process in processes]
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]


@pytest.mark.parametrize("mode", ["online", "cached"])
def test_two_workers_train_like_one(tmp_path, mode):
    _run((0, 1), 2, _free_ports(2), mode, tmp_path)
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
    env = dict(os.environ, KERAS_BACKEND="tensorflow")
    env.pop("TF_CONFIG", None)
    example = [sys.executable, "examples/distributed_tf.py", "--epochs", "2"]
    teacher, out = str(tmp_path / "teacher.keras"), str(tmp_path / "student.keras")
    done = subprocess.run(example + ["--train-teacher", teacher], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-2000:]
    workers = ",".join(f"localhost:{port}" for port in _free_ports(2))
    processes = [
        subprocess.Popen(example + ["--worker", str(w), "--workers", workers, "--teacher", teacher,
                                    "--out", out],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for w in (0, 1)
    ]
    outputs = [process.communicate(timeout=240)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs[0][-2000:]
    accuracies = [line.split()[-1] for output in outputs for line in output.splitlines()
                  if "student test accuracy" in line]
    assert len(accuracies) == 2 and accuracies[0] == accuracies[1]  # one global metric
    assert "wrote" in outputs[0] and "wrote" not in outputs[1]
    assert os.path.isfile(out)

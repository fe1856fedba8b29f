"""Crash safety, proven: child processes SIGKILLed at named points of every write.

After each kill the target holds the previous complete version or the new
complete one, never a partial file; the staging copies a dead writer leaves
are removed by the next write to the same target; a `fit` resumed by
`keras_distill.callbacks.BackupAndRestore` ends with the same weights as an
uninterrupted one.
"""

import glob
import hashlib
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from tests.fault_child import TARGETS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (operation, kill points in the order they are tried). "staged": the new
# file is complete beside the target; "before_rename": also fsynced;
# "after_rename": renamed into place.
KILL_POINTS = [
    ("cache", ["staged", "before_rename", "after_rename"]),
    ("saved_model", ["before_rename", "after_rename"]),
    ("tflite", ["before_rename", "after_rename"]),
    ("onnx", ["before_rename", "after_rename"]),
    ("report", ["staged", "before_rename"]),
    ("distiller", ["before_rename", "after_rename"]),
    ("checkpoint", ["before_rename", "after_rename"]),
]


def run_child(operation, folder, version, fault=None, kill_epoch=None):
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("KERAS_DISTILL_FAULT_POINT", None)
    if fault:
        env["KERAS_DISTILL_FAULT_POINT"] = fault
    if kill_epoch is not None:
        env["KILL_EPOCH"] = str(kill_epoch)
    process = subprocess.run(
        [sys.executable, "-m", "tests.fault_child", operation, str(folder), str(version)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    return process


def digest(path):
    """A hash of a file, or of every file (relative path and bytes) under a folder."""
    h = hashlib.sha256()
    if os.path.isfile(path):
        h.update(open(path, "rb").read())
        return h.hexdigest()
    for root, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            full = os.path.join(root, name)
            h.update(os.path.relpath(full, path).encode())
            h.update(open(full, "rb").read())
    return h.hexdigest()


def leftovers(target):
    """Staging copies beside the target (a report's folder holds several targets)."""
    folder = os.path.dirname(target)
    return glob.glob(os.path.join(folder, ".*.tmp")) + glob.glob(os.path.join(folder, ".*.partial"))


def check_loadable(operation, target):
    """Loads the artifact with its own reader: a partial file fails here."""
    import keras

    import keras_distill

    if operation == "cache":
        fields = np.load(target)
        assert "fingerprint" in fields.files
    elif operation in ("distiller", "checkpoint"):
        keras.models.load_model(target)
    elif operation == "report":
        import json

        json.load(open(target))
    elif operation == "tflite":
        from keras_distill.export import runtimes

        runtimes.open_runner("tflite", target, [])
    elif operation == "onnx":
        import onnx

        onnx.checker.check_model(onnx.load(target))
    elif operation == "saved_model":
        import tensorflow as tf

        tf.saved_model.load(target)
    del keras_distill


@pytest.mark.slow
@pytest.mark.tensorflow_only
@pytest.mark.parametrize("operation, points", KILL_POINTS, ids=[op for op, _ in KILL_POINTS])
def test_killed_writes_leave_the_previous_or_the_complete_new_artifact(tmp_path, operation, points):
    target = os.path.join(tmp_path, TARGETS[operation])
    first = run_child(operation, tmp_path, 1)
    assert first.returncode == 0, first.stderr[-2000:]
    previous = digest(target)
    staged_before = []
    for point in points:
        killed = run_child(operation, tmp_path, 2, fault=point)
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        # Leftovers of the earlier killed writers were removed by this write.
        assert not set(staged_before) & set(leftovers(target)), point
        if point == "after_rename":
            assert digest(target) != previous, point
        else:
            assert digest(target) == previous, point
            assert leftovers(target), f"{point}: the staged copy should still be there"
        check_loadable(operation, target)
        staged_before = leftovers(target)
    final = run_child(operation, tmp_path, 3)
    assert final.returncode == 0, final.stderr[-2000:]
    assert leftovers(target) == []
    check_loadable(operation, target)


def _weights(path):
    import h5py

    values = []
    with h5py.File(path, "r") as f:
        f.visit(lambda name: values.append(np.array(f[name])) if isinstance(f[name], h5py.Dataset) else None)
    return values


@pytest.mark.slow
def test_resumed_fit_ends_with_the_weights_of_an_uninterrupted_one(tmp_path):
    reference = tmp_path / "reference"
    reference.mkdir()
    assert run_child("backup", reference, 1).returncode == 0
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    # Killed in epoch 1, resumed and killed in epoch 3, resumed to the end.
    assert run_child("backup", crashed, 1, kill_epoch=1).returncode == -signal.SIGKILL
    state = open(crashed / "backup" / "state.json").read()
    assert '"epoch": 1' in state
    assert run_child("backup", crashed, 1, kill_epoch=3).returncode == -signal.SIGKILL
    assert '"epoch": 3' in open(crashed / "backup" / "state.json").read()
    resumed = run_child("backup", crashed, 1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert not (crashed / "backup").exists()  # deleted after a completed fit
    a, b = _weights(reference / TARGETS["backup"]), _weights(crashed / TARGETS["backup"])
    assert len(a) == len(b) > 0
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_backup_killed_while_writing_its_state_keeps_the_last_complete_epoch(tmp_path):
    killed = run_child("backup", tmp_path, 1, fault="before_rename")
    assert killed.returncode == -signal.SIGKILL
    # Killed before the first backup was committed: there is none to resume.
    assert not (tmp_path / "backup" / "state.json").exists()
    resumed = run_child("backup", tmp_path, 1)
    assert resumed.returncode == 0, resumed.stderr[-2000:]

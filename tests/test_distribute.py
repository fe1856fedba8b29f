"""Which process writes: `keras_distill.distribute.is_chief` and the callbacks that ask it."""

import json

import pytest

import keras_distill as kd
from keras_distill.callbacks import backup_and_restore
from keras_distill.callbacks import student_checkpoint
from tests import callback_testing
from tests import testing


def test_a_single_process_is_the_chief():
    assert kd.distribute.is_chief() is True


@pytest.mark.tensorflow_only
@pytest.mark.parametrize(
    "cluster, task, chief",
    [
        ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 0}, True),
        ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 1}, False),
        ({"chief": ["c:0"], "worker": ["a:1"]}, {"type": "worker", "index": 0}, False),
        ({"chief": ["c:0"], "worker": ["a:1"]}, {"type": "chief", "index": 0}, True),
    ],
)
def test_tf_config_names_the_chief(monkeypatch, cluster, task, chief):
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": task}))
    assert kd.distribute.is_chief() is chief


def test_other_processes_restore_but_never_write(tmp_path, monkeypatch):
    x, y = testing.synthetic(n=32)
    monkeypatch.setattr(backup_and_restore, "is_chief", lambda model=None: False)
    monkeypatch.setattr(student_checkpoint, "is_chief", lambda model=None: False)
    backup = kd.callbacks.BackupAndRestore(tmp_path / "backup", delete_checkpoint=False)
    checkpoint = kd.callbacks.StudentCheckpoint(str(tmp_path / "ckpt" / "student.keras"))
    model = callback_testing.distiller()
    model.fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[backup, checkpoint])
    assert list(tmp_path.iterdir()) == []
    # The chief's backup, written by another process, is what every process restores.
    monkeypatch.setattr(backup_and_restore, "is_chief", lambda model=None: True)
    model.fit(x, y, epochs=1, batch_size=16, verbose=0,
              callbacks=[kd.callbacks.BackupAndRestore(tmp_path / "backup", delete_checkpoint=False)])
    follower = callback_testing.distiller()
    monkeypatch.setattr(backup_and_restore, "is_chief", lambda model=None: False)
    # The backup says one epoch is done: a one-epoch fit only restores.
    follower.fit(x, y, epochs=1, batch_size=16, verbose=0,
                 callbacks=[kd.callbacks.BackupAndRestore(tmp_path / "backup")])
    assert (tmp_path / "backup").is_dir()  # delete_checkpoint is the chief's job too
    testing.assert_weights_close(follower.student.get_weights(), model.student.get_weights())

"""Atomic writes: rename into place, never a partial or clobbered target."""

import os

import pytest

from keras_distill.export import atomic


def test_success_renames_into_place_and_cleans_up(tmp_path):
    with atomic.staged_path(tmp_path / "a.bin") as staged:
        assert os.path.dirname(os.path.dirname(staged)) == str(tmp_path)
        with open(staged, "wb") as f:
            f.write(b"new")
    assert (tmp_path / "a.bin").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["a.bin"]


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_failure_or_interrupt_leaves_nothing(tmp_path, error):
    with pytest.raises(error):
        with atomic.staged_path(tmp_path / "a.bin") as staged:
            with open(staged, "wb") as f:
                f.write(b"half")
            raise error()
    assert os.listdir(tmp_path) == []


def test_existing_target_needs_overwrite(tmp_path):
    (tmp_path / "a.bin").write_bytes(b"old")
    with pytest.raises(FileExistsError, match=r"`path` .*a\.bin' already exists.*overwrite=True"):
        with atomic.staged_path(tmp_path / "a.bin"):
            pass
    assert (tmp_path / "a.bin").read_bytes() == b"old"


def test_target_appearing_meanwhile_is_not_clobbered(tmp_path):
    with pytest.raises(FileExistsError, match="appeared while exporting"):
        with atomic.staged_path(tmp_path / "a.bin") as staged:
            (tmp_path / "a.bin").write_bytes(b"someone else's")
            with open(staged, "wb") as f:
                f.write(b"mine")
    assert (tmp_path / "a.bin").read_bytes() == b"someone else's"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_folder_replaces_folder_with_overwrite(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "old").write_text("old")
    with atomic.staged_path(tmp_path / "d", overwrite=True) as staged:
        os.makedirs(staged)
        with open(os.path.join(staged, "new"), "w") as f:
            f.write("new")
    assert os.listdir(tmp_path / "d") == ["new"]
    assert os.listdir(tmp_path) == ["d"]
    assert atomic.artifact_size(tmp_path / "d") == 3


def test_writing_nothing_is_an_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="wrote nothing"):
        with atomic.staged_path(tmp_path / "a.bin"):
            pass
    assert os.listdir(tmp_path) == []


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic.check_target(tmp_path / "missing" / "a.bin", overwrite=False)

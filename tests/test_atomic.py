"""Atomic writes: rename into place, never a partial or clobbered target."""

import os
import stat

import pytest

from keras_distill.core import atomic_files as atomic


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


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_get_the_mode_of_a_plain_open(tmp_path, umask_022):
    # Regression: staged files kept mkstemp's 0600.
    atomic.write_file(str(tmp_path / "a.txt"), lambda p: open(p, "w").close())
    assert _mode(tmp_path / "a.txt") == 0o644
    os.umask(0o077)
    atomic.write_file(str(tmp_path / "b.txt"), lambda p: open(p, "w").close())
    assert _mode(tmp_path / "b.txt") == 0o600


def test_cache_files_are_0644(tmp_path, umask_022):
    import keras_distill as kd
    from tests import testing

    x, _ = testing.digits(64)
    teacher = testing.mlp(inputs=64, outputs=10, name="teacher")
    kd.TeacherCache.compute(teacher, x, path=str(tmp_path / "cache.npz"))
    assert _mode(tmp_path / "cache.npz") == 0o644


# The report times a tf.function of each model.
@pytest.mark.tensorflow_only
def test_report_files_are_0644(tmp_path, umask_022):
    import keras_distill as kd
    from tests import testing

    x, y = testing.digits(64)
    teacher = testing.mlp(inputs=64, outputs=10, name="teacher")
    student = testing.mlp(inputs=64, hidden=8, outputs=10, name="student")
    report = kd.DistillationReport(teacher, student, x, y, latency_samples=2,
                                   histories={"d": {"loss": [1.0, 0.5]}})
    paths = report.save(tmp_path / "report")
    for path in paths.values():
        assert _mode(path) == 0o644, path

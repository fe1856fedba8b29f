"""Damaged files, bad data and unwritable targets: typed errors that name the file and the fix."""

import errno
import os
import zipfile

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill.core import atomic_files
from keras_distill.core.model_files import load_keras_model
from keras_distill.errors import CorruptFileError
from keras_distill.errors import InvalidDataError
from keras_distill.errors import StaleCacheError
from keras_distill.errors import TargetWriteError
from tests.testing import mlp
from tests.testing import synthetic


@pytest.fixture
def cache_file(tmp_path):
    teacher = mlp(name="t")
    x, _ = synthetic()
    path = tmp_path / "cache.npz"
    keras_distill.TeacherCache.compute(teacher, x, path=str(path))
    return teacher, x, path


def _load(path, teacher, x):
    return keras_distill.TeacherCache.load(str(path), teacher=teacher, x=x)


def _rewrite(path, **fields):
    data = dict(np.load(path))
    data.update(fields)
    for name, value in list(data.items()):
        if value is None:
            del data[name]
    np.savez(path, **data)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), "truncated or damaged"),
        (lambda p: p.write_bytes(b""), "it is empty"),
        (lambda p: p.write_text("x,y\n1,2\n"), "does not start like a zip archive"),
        (lambda p: np.save(open(p, "wb"), np.zeros(3)), "single NumPy array"),
        (lambda p: np.savez(p, logits=np.array([{"a": 1}], dtype=object)), "pickled Python objects"),
        (lambda p: np.savez(p, x_train=np.zeros((2, 3))), "no 'fingerprint' field"),
        (lambda p: _rewrite(p, logits=np.full((64, 4), np.nan, "float32")), "NaN or inf"),
        (lambda p: _rewrite(p, logits=np.zeros((64, 3), "float32")), "expected \\(samples, ..., 4\\)"),
        (lambda p: _rewrite(p, num_classes=np.array(4.5)), "'num_classes' field is not an integer"),
    ],
    ids=["truncated", "empty", "text", "npy", "pickled", "other_npz", "nan_logits", "wrong_shape",
         "bad_field"],
)
def test_damaged_caches_raise_corrupt_file_errors(cache_file, damage, message):
    teacher, x, path = cache_file
    damage(path)
    with pytest.raises(CorruptFileError, match=message) as info:
        _load(path, teacher, x)
    assert str(path) in str(info.value)
    assert "TeacherCache.compute" in str(info.value)


def test_cache_with_a_flipped_byte_is_reported_as_damaged(cache_file):
    teacher, x, path = cache_file
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("logits.npy")
    # Flip a byte inside the logits' data: the zip checksum no longer matches.
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="damaged"):
        _load(path, teacher, x)


def test_top_k_cache_with_out_of_range_indices(tmp_path):
    teacher = mlp(name="t")
    x, _ = synthetic()
    path = tmp_path / "c.npz"
    keras_distill.TeacherCache.compute(teacher, x, top_k=2, path=str(path))
    _rewrite(path, indices=np.full((64, 2), 7, "int32"))
    with pytest.raises(CorruptFileError, match=r"indices are not class indices in \[0, 4\)"):
        _load(path, teacher, x)


def test_stale_and_other_version_caches(cache_file):
    teacher, x, path = cache_file
    with pytest.raises(StaleCacheError, match="stale"):
        _load(path, mlp(name="other"), x)
    with pytest.raises(StaleCacheError, match="stale"):
        _load(path, teacher, x + 1.0)
    _rewrite(path, format_version=np.array(999))
    with pytest.raises(StaleCacheError, match="format version 999"):
        _load(path, teacher, x)
    assert issubclass(StaleCacheError, ValueError)  # `except ValueError` keeps working


def test_cache_path_that_is_a_folder_or_missing(tmp_path):
    teacher = mlp(name="t")
    x, _ = synthetic()
    with pytest.raises(CorruptFileError, match="it is a folder"):
        _load(tmp_path, teacher, x)
    with pytest.raises(FileNotFoundError, match="No teacher cache at"):
        _load(tmp_path / "missing.npz", teacher, x)


def test_damaged_cache_at_compute_path_is_recomputed_with_a_warning(cache_file):
    teacher, x, path = cache_file
    path.write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="Recomputing the teacher cache.*not an .npz archive"):
        cache = keras_distill.TeacherCache.compute(teacher, x, path=str(path))
    assert _load(path, teacher, x).fingerprint == cache.fingerprint


def test_nan_inputs_and_nan_teachers_are_refused_before_a_cache_is_written(tmp_path):
    teacher = mlp(name="t")
    x, _ = synthetic()
    bad = x.copy()
    bad[5, 2] = np.nan
    with pytest.raises(InvalidDataError, match=r"`x` holds NaN or inf in 1 of 64 samples \(first: index 5\)"):
        keras_distill.TeacherCache.compute(teacher, bad)
    with pytest.raises(InvalidDataError, match="holds no samples"):
        keras_distill.TeacherCache.compute(teacher, x[:0])
    broken = mlp(name="broken")
    broken.layers[-1].kernel.assign(np.full(broken.layers[-1].kernel.shape, np.inf, "float32"))
    path = tmp_path / "c.npz"
    with pytest.raises(InvalidDataError, match="teacher emits NaN or inf logits .* inputs are finite"):
        keras_distill.TeacherCache.compute(broken, x, path=str(path))
    assert not path.exists()


def _saved_model(tmp_path):
    model = mlp(name="m")
    path = tmp_path / "m.keras"
    model.save(path)
    return path


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda p: p.write_bytes(p.read_bytes()[:-200]), "truncated or damaged"),
        (lambda p: p.write_bytes(b""), "it is empty"),
        (lambda p: p.write_text("not a model"), "does not start like a zip archive"),
    ],
    ids=["truncated", "empty", "text"],
)
def test_damaged_keras_files(tmp_path, damage, message):
    path = _saved_model(tmp_path)
    damage(path)
    with pytest.raises(CorruptFileError, match=message) as info:
        load_keras_model(path)
    assert "File not found" not in str(info.value)


def test_keras_file_without_config_or_with_a_damaged_member(tmp_path):
    path = tmp_path / "weird.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")
    with pytest.raises(CorruptFileError, match="no config.json"):
        load_keras_model(path)
    path = _saved_model(tmp_path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("config.json")
    data[info.header_offset + 30 + len(info.filename) + 10] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptFileError, match="damaged"):
        load_keras_model(path)


def test_keras_file_with_code_needs_an_explicit_opt_out(tmp_path):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda t: t * 2.0)])
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(ValueError, match="holds code that runs when it is loaded"):
        load_keras_model(path)
    assert load_keras_model(path, safe_mode=False) is not None


@pytest.mark.tensorflow_only
def test_export_data_is_checked_before_conversion(tmp_path):
    model = mlp(name="m")
    x, _ = synthetic()
    bad = x.copy()
    bad[3] = np.inf
    with pytest.raises(InvalidDataError, match=r"`representative_data` holds NaN or inf .* index 3"):
        keras_distill.export_tflite(
            model, tmp_path / "m.tflite", quantization="int8", representative_data=bad
        )
    with pytest.raises(InvalidDataError, match="`sample_inputs` holds no samples"):
        keras_distill.export_onnx(model, tmp_path / "m.onnx", sample_inputs=x[:0])
    with pytest.raises(InvalidDataError, match=r"must have shape \(batch,\) \+ \(8,\)"):
        keras_distill.export_onnx(model, tmp_path / "m.onnx", sample_inputs=x[:, :5])
    assert not os.listdir(tmp_path)


@pytest.mark.tensorflow_only
def test_damaged_exported_files_are_named(tmp_path):
    from keras_distill.export import runtimes

    model = mlp(name="m")
    x, _ = synthetic()
    result = keras_distill.export_tflite(model, tmp_path / "m.tflite", sample_inputs=x)
    (tmp_path / "m.tflite").write_bytes(b"\x00" * 64)
    with pytest.raises(CorruptFileError, match="TFLite model: its runtime cannot load it"):
        runtimes.open_runner("tflite", result.path, [])
    keras_distill.export_onnx(model, tmp_path / "m.onnx", sample_inputs=x)
    (tmp_path / "m.onnx").write_bytes((tmp_path / "m.onnx").read_bytes()[:100])
    with pytest.raises(CorruptFileError, match="ONNX model: its runtime cannot load it"):
        runtimes.open_runner("onnx", str(tmp_path / "m.onnx"), [])
    with pytest.raises(FileNotFoundError, match="moved or deleted after export"):
        runtimes.open_runner("onnx", str(tmp_path / "gone.onnx"), [])


def test_no_space_left_keeps_the_previous_file(tmp_path, monkeypatch):
    target = tmp_path / "data.txt"
    target.write_text("previous")

    def full_disk(staged):
        with open(staged, "w") as f:
            f.write("partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(TargetWriteError, match="no space left on the device.*untouched"):
        atomic_files.write_file(target, full_disk)
    assert target.read_text() == "previous"
    assert os.listdir(tmp_path) == ["data.txt"]


def test_read_only_folder_and_a_folder_in_the_way(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(atomic_files.tempfile, "mkstemp", read_only)
    with pytest.raises(TargetWriteError, match="the file system is read-only"):
        atomic_files.write_file(tmp_path / "a.txt", lambda staged: None)
    monkeypatch.undo()
    (tmp_path / "folder").mkdir()
    with pytest.raises(TargetWriteError, match="it is a folder"):
        atomic_files.write_file(tmp_path / "folder", lambda staged: None)
    assert issubclass(TargetWriteError, OSError)


def test_staging_leftovers_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "a.txt"
    dead = tmp_path / ".a.txt.999999999.abc.tmp"  # no such process
    dead.write_text("partial")
    live = tmp_path / f".a.txt.{os.getppid()}.abc.tmp"
    live.write_text("in progress")
    atomic_files.write_file(target, lambda staged: open(staged, "w").write("new"))
    assert not dead.exists() and live.exists()
    assert target.read_text() == "new"

"""Teachers from other runtimes and files (keras_distill.teachers): parity, caches, online, errors."""

import json
import sys

import keras
import numpy as np
import pytest

import keras_distill
from keras_distill import teachers
from keras_distill.core.token_masks import UNALIGNED_LOGIT
from keras_distill.errors import CorruptFileError
from keras_distill.errors import InvalidDataError
from keras_distill.errors import StaleCacheError
from tests import testing

torch = pytest.importorskip("torch")


def _torch_mlp(seed=0, features=8, classes=4):
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(features, 16), torch.nn.ReLU(), torch.nn.Linear(16, classes)
    ).eval()


def _torch_outputs(module, x):
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _onnx_file(module, path, features=8):
    torch.onnx.export(
        module, (torch.zeros(2, features),), str(path), input_names=["x"], output_names=["logits"],
        dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}}, dynamo=False,
    )
    return str(path)


def _student(features=8, classes=4):
    return testing.mlp(features, 8, classes, name="student")


def _fit_student(teacher, x, y, cached):
    keras.utils.set_random_seed(7)
    distiller = keras_distill.Distiller(teacher, _student())
    distiller.compile(
        optimizer=keras.optimizers.SGD(0.1),
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        alpha=0.5, temperature=2.0,
    )
    inputs = keras_distill.TeacherCache.compute(teacher, x).inputs(x) if cached else x
    distiller.fit(inputs, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    return [testing.to_numpy(w) for w in distiller.student.weights]


def test_onnx_teacher_matches_onnx_runtime_and_torch(tmp_path):
    import onnxruntime

    module = _torch_mlp()
    path = _onnx_file(module, tmp_path / "teacher.onnx")
    x, _ = testing.synthetic(32)
    teacher = teachers.OnnxTeacher(path)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x})[0]
    np.testing.assert_allclose(teacher.predict(x, batch_size=8, verbose=0), expected, atol=1e-5)
    np.testing.assert_allclose(expected, _torch_outputs(module, x), atol=1e-5)


def test_torch_teacher_matches_module():
    module = _torch_mlp()
    x, _ = testing.synthetic(32)
    teacher = teachers.TorchTeacher(module, input_shape=(8,))
    np.testing.assert_allclose(
        teacher.predict(x, batch_size=8, verbose=0), _torch_outputs(module, x), atol=1e-5
    )


@pytest.mark.parametrize("method", ["predict_proba", "decision_function"])
def test_estimator_teacher_matches_estimator(method):
    from sklearn.linear_model import LogisticRegression

    x, y = testing.digits(400)
    estimator = LogisticRegression(max_iter=300).fit(x, y)
    teacher = teachers.EstimatorTeacher(estimator, method=method)
    outputs = teacher.predict(x, batch_size=64, verbose=0)
    expected = getattr(estimator, method)(x)
    if method == "predict_proba":
        expected = np.log(expected)
    np.testing.assert_allclose(outputs, expected, atol=1e-5, rtol=1e-5)


def test_estimator_fingerprint_follows_what_it_learned():
    from sklearn.linear_model import LogisticRegression

    x, y = testing.digits(300)
    first = teachers.EstimatorTeacher(LogisticRegression(max_iter=1000).fit(x, y))
    same = teachers.EstimatorTeacher(LogisticRegression(max_iter=1000).fit(x, y))
    other = teachers.EstimatorTeacher(LogisticRegression(max_iter=1000, C=0.1).fit(x, y))
    assert first.source_fingerprint == same.source_fingerprint != other.source_fingerprint


def test_function_teacher_and_declared_version_in_cache(tmp_path):
    weights = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    x, _ = testing.synthetic(32)
    teacher = teachers.FunctionTeacher(lambda a: a @ weights, (8,), (4,), version="v1")
    np.testing.assert_allclose(teacher.predict(x, verbose=0), x @ weights, atol=1e-5)
    path = str(tmp_path / "cache.npz")
    keras_distill.TeacherCache.compute(teacher, x, path=path)
    keras_distill.TeacherCache.load(path, teacher=teacher, x=x)
    bumped = teachers.FunctionTeacher(lambda a: a @ weights, (8,), (4,), version="v2")
    with pytest.raises(StaleCacheError):
        keras_distill.TeacherCache.load(path, teacher=bumped, x=x)


def test_function_teacher_output_spec_checked_at_build():
    with pytest.raises(InvalidDataError, match="expected"):
        teachers.FunctionTeacher(lambda a: a[:, :3], (8,), (4,), version="v1")
    with pytest.raises(InvalidDataError, match="float"):
        teachers.FunctionTeacher(lambda a: (a > 0).astype("int32"), (8,), (8,), version="v1")


def test_cache_of_one_onnx_file_is_stale_for_another(tmp_path):
    x, _ = testing.synthetic(32)
    first = _onnx_file(_torch_mlp(0), tmp_path / "a.onnx")
    second = _onnx_file(_torch_mlp(1), tmp_path / "b.onnx")
    path = str(tmp_path / "cache.npz")
    keras_distill.TeacherCache.compute(teachers.OnnxTeacher(first), x, path=path)
    keras_distill.TeacherCache.load(path, teacher=teachers.OnnxTeacher(first), x=x)
    with pytest.raises(StaleCacheError):
        keras_distill.TeacherCache.load(path, teacher=teachers.OnnxTeacher(second), x=x)
    # The same path with other bytes is another teacher too.
    _onnx_file(_torch_mlp(2), tmp_path / "a.onnx")
    with pytest.raises(StaleCacheError):
        keras_distill.TeacherCache.load(path, teacher=teachers.OnnxTeacher(first), x=x)


def test_sharded_cache_of_a_torch_teacher(tmp_path):
    x, _ = testing.synthetic(40)
    module = _torch_mlp()
    teacher = teachers.TorchTeacher(module, input_shape=(8,))
    directory = str(tmp_path / "shards")
    cache = keras_distill.ShardedTeacherCache.build(
        teacher, x, directory, shard_size=16, dtype="float32"
    )
    logits = np.concatenate([cache.read_shard(i) for i in range(cache.num_shards)])
    np.testing.assert_allclose(logits, _torch_outputs(module, x), atol=1e-5)
    keras_distill.ShardedTeacherCache.open(directory, teacher=teacher, x=x)
    with pytest.raises(StaleCacheError):
        keras_distill.ShardedTeacherCache.open(
            directory, teacher=teachers.TorchTeacher(_torch_mlp(1), (8,)), x=x
        )


def test_online_and_cached_distillation_give_the_same_student(tmp_path):
    x, y = testing.synthetic(48)
    teacher = teachers.OnnxTeacher(_onnx_file(_torch_mlp(), tmp_path / "teacher.onnx"))
    online = _fit_student(teacher, x, y, cached=False)
    cached = _fit_student(teacher, x, y, cached=True)
    for a, b in zip(online, cached):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_precomputed_teacher_matches_by_key(tmp_path):
    x, _ = testing.synthetic(32)
    logits = np.random.default_rng(1).normal(size=(32, 4)).astype("float32")
    order = np.random.default_rng(2).permutation(32)
    path = tmp_path / "outputs.npz"
    np.savez(path, keys=np.array(teachers.row_keys(x))[order], logits=logits[order])
    teacher = teachers.PrecomputedTeacher(path, input_shape=(8,))
    np.testing.assert_allclose(teacher.predict(x, batch_size=8, verbose=0), logits, atol=0)
    with pytest.raises(InvalidDataError, match="no outputs"):
        teacher.run(x[:4] + 1.0)
    # Inside a compiled step the host call's runtime wraps the error; its message stays.
    with pytest.raises(Exception, match="have no outputs in"):
        teacher.predict(x + 1.0, verbose=0)


def test_token_logprob_teacher_reads_vllm_prompt_logprobs(tmp_path):
    vocabulary, length = 11, 6
    ids = [3, 5, 7, 2]
    entries = [None] + [{str(ids[t]): {"logprob": -0.5, "rank": 1}, "9": {"logprob": -1.5, "rank": 2}}
                        for t in range(1, len(ids))]
    path = tmp_path / "logprobs.jsonl"
    path.write_text(json.dumps({"prompt_token_ids": ids, "prompt_logprobs": entries}) + "\n")
    teacher = teachers.TokenLogprobTeacher(path, vocabulary, length)
    tokens = np.array([ids + [0, 0]], "int32")
    logits = teacher.predict(tokens, verbose=0)
    assert logits.shape == (1, length, vocabulary)
    for t in range(len(ids) - 1):
        np.testing.assert_allclose(logits[0, t, [ids[t + 1], 9]], [-0.5, -1.5], atol=1e-6)
        probabilities = np.exp(logits[0, t])
        np.testing.assert_allclose(probabilities.sum(), 1.0, atol=1e-5)
    assert np.all(logits[0, len(ids) - 1:] == np.float32(UNALIGNED_LOGIT))  # no teacher there


@pytest.mark.tensorflow_only
@pytest.mark.parametrize("fmt", ["tflite", "saved_model"])
def test_exported_keras_teacher_matches_its_runtime(tmp_path, fmt):
    keras_teacher = testing.mlp(8, 16, 4, name="teacher")
    x, _ = testing.synthetic(32)
    path = str(tmp_path / ("teacher.tflite" if fmt == "tflite" else "teacher_saved_model"))
    result = keras_distill.export.export(keras_teacher, path, format=fmt, sample_inputs=x)
    runner = keras_distill.export.runtimes.RUNNERS[fmt](result.path, [])
    teacher = (teachers.TFLiteTeacher if fmt == "tflite" else teachers.SavedModelTeacher)(result.path)
    np.testing.assert_allclose(
        teacher.predict(x, batch_size=8, verbose=0), runner([x])[0], atol=1e-5
    )
    np.testing.assert_allclose(runner([x])[0], keras_teacher.predict(x, verbose=0), atol=1e-4)


def test_bad_and_missing_files_raise_typed_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        teachers.OnnxTeacher(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    with pytest.raises(CorruptFileError, match="onnxruntime cannot load it"):
        teachers.OnnxTeacher(garbage)
    garbage_tflite = tmp_path / "garbage.tflite"
    garbage_tflite.write_bytes(b"not a model")
    with pytest.raises(CorruptFileError):
        teachers.TFLiteTeacher(garbage_tflite)
    with pytest.raises(CorruptFileError):
        teachers.SavedModelTeacher(tmp_path)
    bad_npz = tmp_path / "outputs.npz"
    np.savez(bad_npz, logits=np.zeros((3, 4)))
    with pytest.raises(CorruptFileError, match="keys"):
        teachers.PrecomputedTeacher(bad_npz, input_shape=(8,))


def test_missing_runtime_names_the_extra(tmp_path, monkeypatch):
    path = _onnx_file(_torch_mlp(), tmp_path / "teacher.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r"keras-distill\[onnx\]"):
        teachers.OnnxTeacher(path)


@pytest.mark.jax_only
def test_online_under_a_distribution_points_to_the_cache():
    import jax

    x, y = testing.synthetic(16)
    teacher = teachers.TorchTeacher(_torch_mlp(), input_shape=(8,))
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=jax.devices()))
    try:
        with pytest.raises(RuntimeError, match="TeacherCache.compute"):
            teacher(x)
    finally:
        keras.distribution.set_distribution(None)

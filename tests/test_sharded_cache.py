"""ShardedTeacherCache: parallel, resumable builds; streamed batches keep samples with their logits."""

import os

import keras
import numpy as np
import pytest

import keras_distill as kd
from keras_distill.errors import StaleCacheError
from tests import testing

N, SHARD = 100, 32  # 4 shards, the last one of 4 samples


@pytest.fixture
def data(tmp_path):
    x, y = testing.synthetic(n=N)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return np.load(path, mmap_mode="r"), y  # a memmap, as for data larger than memory


def _teacher(seed=0):
    return testing.mlp(hidden=16, name="teacher",
                       kernel_initializer=keras.initializers.GlorotUniform(seed))


def test_parallel_workers_build_what_one_worker_builds(tmp_path, data):
    x, _ = data
    teacher = _teacher()
    one = kd.ShardedTeacherCache.build(teacher, x, tmp_path / "one", shard_size=SHARD)
    for worker in (1, 0):  # workers may finish in any order
        kd.ShardedTeacherCache.build(teacher, x, tmp_path / "two", shard_size=SHARD,
                                     worker_index=worker, num_workers=2)
    two = kd.ShardedTeacherCache.open(tmp_path / "two", teacher=teacher, x=x)
    assert (one.num_shards, two.num_shards) == (4, 4)
    expected = keras.ops.convert_to_numpy(teacher(np.asarray(x)))
    for cache in (one, two):
        logits = np.concatenate([cache.read_shard(i) for i in range(4)])
        assert logits.dtype == np.float16
        np.testing.assert_allclose(logits, expected, rtol=1e-3, atol=1e-3)


def test_an_interrupted_build_resumes_without_recomputing_finished_shards(tmp_path, data):
    x, _ = data
    teacher, folder = _teacher(), tmp_path / "cache"
    kd.ShardedTeacherCache.build(teacher, x, folder, shard_size=SHARD)
    os.unlink(folder / "shard-00002.npz")  # as if the build died before shard 2
    with pytest.raises(FileNotFoundError, match="1 of 4 shards are missing"):
        kd.ShardedTeacherCache.open(folder)
    before = {i: os.stat(folder / f"shard-{i:05d}.npz").st_mtime_ns for i in (0, 1, 3)}
    kd.ShardedTeacherCache.build(teacher, x, folder, shard_size=SHARD, verbose=1)
    after = {i: os.stat(folder / f"shard-{i:05d}.npz").st_mtime_ns for i in (0, 1, 3)}
    assert before == after and (folder / "shard-00002.npz").exists()
    kd.ShardedTeacherCache.open(folder, teacher=teacher, x=x)


def test_another_teacher_or_other_data_is_refused(tmp_path, data):
    x, _ = data
    folder = tmp_path / "cache"
    kd.ShardedTeacherCache.build(_teacher(0), x, folder, shard_size=SHARD)
    with pytest.raises(StaleCacheError, match="another teacher"):
        kd.ShardedTeacherCache.open(folder, teacher=_teacher(1))
    changed = np.array(x)
    changed[70] += 1.0
    with pytest.raises(StaleCacheError, match="Shard 2"):
        kd.ShardedTeacherCache.open(folder, x=changed)
    with pytest.raises(StaleCacheError, match="shard_size"):
        kd.ShardedTeacherCache.build(_teacher(0), x, folder, shard_size=16)


def test_streamed_batches_match_the_in_memory_cache(tmp_path, data):
    # Float32 storage, shard size a multiple of the batch, no shuffling: the
    # same batches as the in-memory cache, so the same weights.
    x, y = data
    teacher = _teacher()
    sharded = kd.ShardedTeacherCache.build(teacher, x, tmp_path / "c", shard_size=SHARD,
                                           dtype="float32")
    in_memory = kd.TeacherCache.compute(teacher, np.asarray(x))

    def train(inputs, **kwargs):
        keras.utils.set_random_seed(1)
        distiller = kd.Distiller(teacher, testing.mlp(hidden=8, name="student"))
        distiller.compile(optimizer=keras.optimizers.SGD(0.1), alpha=0.3, temperature=2.0,
                          student_loss_fn=keras.losses.SparseCategoricalCrossentropy(
                              from_logits=True))
        distiller.fit(inputs, epochs=2, verbose=0, **kwargs)
        return distiller.student.get_weights()

    streamed = train(sharded.dataset(x, y, batch_size=16, shuffle=False), shuffle=False)
    reference = train(in_memory.inputs(np.asarray(x)), y=y, batch_size=16, shuffle=False)
    testing.assert_weights_close(streamed, reference, atol=1e-6)


def test_every_sample_meets_its_own_logits_each_epoch(tmp_path, data):
    x, y = data
    teacher = _teacher()
    cache = kd.ShardedTeacherCache.build(teacher, x, tmp_path / "c", shard_size=SHARD, top_k=2)
    batches = cache.dataset(x, y, sample_weight=np.arange(N, dtype="float32"), batch_size=10,
                            seed=0)
    expected = keras.ops.convert_to_numpy(keras.ops.log_softmax(teacher(np.asarray(x)), axis=-1))
    orders = []
    for _ in range(2):
        seen = []
        for i in range(len(batches)):
            packed, labels, weights = batches[i]
            rows = weights.astype(int)  # the weights are the sample positions
            np.testing.assert_array_equal(labels, y[rows])
            np.testing.assert_array_equal(packed["keras_distill_inputs"], np.asarray(x)[rows])
            top = packed["keras_distill_teacher_top_k"]
            best = np.take_along_axis(expected[rows], top["indices"].astype(int), axis=-1)
            np.testing.assert_allclose(top["log_probs"], best, rtol=1e-3, atol=1e-3)
            seen.extend(rows)
        assert sorted(seen) == list(range(N))
        orders.append(seen)
        batches.on_epoch_end()
    assert orders[0] != orders[1]  # a new order every epoch


def test_bad_arguments_are_named(tmp_path, data):
    x, y = data
    for kwargs, name in (({"shard_size": 0}, "shard_size"), ({"dtype": "int8"}, "dtype"),
                         ({"worker_index": 2, "num_workers": 2}, "worker_index")):
        with pytest.raises(ValueError, match=name):
            kd.ShardedTeacherCache.build(_teacher(), x, tmp_path / "c", **kwargs)
    cache = kd.ShardedTeacherCache.build(_teacher(), x, tmp_path / "c", shard_size=SHARD)
    with pytest.raises(ValueError, match="`y` has 3 samples"):
        cache.dataset(x, y[:3])
    with pytest.raises(ValueError, match="shards"):
        cache.dataset(x, y, shards=[0, 4])
    assert "samples=100, shards=4 of 32, dense, dtype=float16" in repr(cache)


def test_fit_reordering_the_batches_is_warned_about(tmp_path, data):
    x, y = data
    teacher = _teacher()
    cache = kd.ShardedTeacherCache.build(teacher, x, tmp_path / "c", shard_size=16)
    distiller = kd.Distiller(teacher, testing.mlp(hidden=8, name="student"))
    distiller.compile(optimizer="sgd", alpha=0.0)
    with pytest.warns(UserWarning, match="Pass `shuffle=False` to `fit`"):
        distiller.fit(cache.dataset(x, y, batch_size=4), epochs=1, verbose=0)  # shuffle=True


def test_processes_stream_disjoint_shards(tmp_path, data):
    # For a multi-process run: each process visits its own shards.
    x, y = data
    cache = kd.ShardedTeacherCache.build(_teacher(), x, tmp_path / "c", shard_size=SHARD)
    seen = []
    for process in (0, 1):
        batches = cache.dataset(x, y, sample_weight=np.arange(N, dtype="float32"), batch_size=8,
                                shards=range(process, cache.num_shards, 2), seed=process)
        seen.append(sorted(int(r) for i in range(len(batches)) for r in batches[i][2]))
    assert seen[0] == list(range(0, 32)) + list(range(64, 96))
    assert seen[1] == list(range(32, 64)) + list(range(96, 100))

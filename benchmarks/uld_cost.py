"""Where ULD's training time goes (TensorFlow CPU); quoted in benchmarks/results/cross_tokenizer.md.

Per batch of 32 x 64 positions over 957 classes, forward and backward:
plain cross-entropy, `uld_loss`, the same L1 without the sort, and the sort
(and `top_k`) of the softmax alone. Then a `Distiller` epoch from a dense
cache with `ULDLoss` against the same loss without the sort, and plain `fit`.

    python benchmarks/uld_cost.py
"""

import sys
import time

import keras
import numpy as np
import tensorflow as tf
from keras import ops

sys.path.insert(0, __file__.rpartition("/")[0] or ".")
import language_models as lm  # noqa: E402

import keras_distill as kd  # noqa: E402

N, L, V = 320, 64, 957


def unsorted_l1(t, s):
    return ops.sum(ops.abs(ops.softmax(ops.cast(t, "float32")) - ops.softmax(s)), -1)


class UnsortedULD(kd.losses.ULDLoss):
    def call(self, teacher_outputs, student_outputs, temperature, activation=None):
        return unsorted_l1(teacher_outputs, student_outputs)


def per_batch():
    rng = np.random.default_rng(0)
    s = tf.Variable(rng.normal(size=(32, L, V)).astype("float32"))
    t = tf.constant(rng.normal(size=(32, L, 256)).astype("float32"))
    t_full = tf.constant(rng.normal(size=(32, L, V)).astype("float32"))
    y = tf.constant(rng.integers(0, V, size=(32, L)))
    cases = {
        "cross-entropy": lambda: keras.losses.sparse_categorical_crossentropy(y, s, from_logits=True),
        "uld_loss (teacher 256 classes)": lambda: kd.losses.uld_loss(t, s),
        "same L1 without the sort": lambda: unsorted_l1(t_full, s),
        "sort of the student's softmax": lambda: tf.sort(ops.softmax(s), axis=-1)[..., -1],
        "top_k(957) of the student's softmax": lambda: tf.math.top_k(ops.softmax(s), V).values[..., 0],
    }
    for name, loss in cases.items():
        @tf.function
        def step(loss=loss):
            with tf.GradientTape() as tape:
                value = tf.reduce_mean(loss())
            return tape.gradient(value, s)
        step()
        start = time.perf_counter()
        for _ in range(10):
            step()
        print(f"{name}: {(time.perf_counter() - start) * 100:.1f} ms per batch", flush=True)


def per_epoch():
    rng = np.random.default_rng(0)
    x = {"token_ids": rng.integers(1, V, (N, L)).astype("int32"), "padding_mask": np.ones((N, L), bool)}
    y = rng.integers(1, V, (N, L)).astype("int32")
    ids = keras.Input((L,), dtype="int32", name="token_ids")
    mask = keras.Input((L,), dtype="bool", name="padding_mask")
    teacher = keras.Model({"token_ids": ids, "padding_mask": mask}, keras.layers.Embedding(V, V)(ids))
    cache = kd.TeacherCache.compute(teacher, x, batch_size=64)

    def student():
        keras.utils.set_random_seed(0)
        return lm.gpt2(V, name="student", **lm.STUDENT)

    def timed(fit):
        fit(1)
        start = time.perf_counter()
        fit(2)
        return (time.perf_counter() - start) / 2

    model = student()
    model.compile("adam", lm.LOSS)
    seconds = timed(lambda e: model.fit(x, y, batch_size=32, epochs=e, verbose=0))
    print(f"plain fit: {seconds:.2f} s per epoch")
    for name, loss in (("ULDLoss", kd.losses.ULDLoss()), ("same L1 without the sort", UnsortedULD())):
        distiller = kd.Distiller(teacher, student())
        distiller.compile(optimizer="adam", student_loss_fn=lm.LOSS, distillation_loss_fn=loss, alpha=0.5)
        seconds = timed(lambda e, d=distiller: d.fit(cache.inputs(x), y, batch_size=32, epochs=e, verbose=0))
        print(f"Distiller from a dense cache, {name}: {seconds:.2f} s per epoch", flush=True)


if __name__ == "__main__":
    per_batch()
    per_epoch()

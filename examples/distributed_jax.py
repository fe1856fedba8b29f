"""Distillation across several JAX processes with `keras.distribution`.

Start one process per host (here all on localhost), each with its index:

    KERAS_BACKEND=jax python examples/distributed_jax.py --process-id 0 --num-processes 2 &
    KERAS_BACKEND=jax python examples/distributed_jax.py --process-id 1 --num-processes 2

Process 0 is the coordinator (`--coordinator host:port`, default localhost:12355).
Every process builds the same teacher and student (same seed), takes its own
shard of scikit-learn's digits, and trains under `DataParallel`: each step's
global batch is the processes' local batches together, so the result is the
one-process result with batches of `--batch-size x processes`. Only process 0
writes the student (`keras_distill.distribute.is_chief`).
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--process-id", type=int, required=True)
    parser.add_argument("--num-processes", type=int, required=True)
    parser.add_argument("--coordinator", default="localhost:12355")
    parser.add_argument("--batch-size", type=int, default=32, help="Per process.")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="student.keras")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        raise SystemExit("Run with KERAS_BACKEND=jax: this example uses keras.distribution.")

    # Before any JAX computation: join the cluster.
    keras.distribution.initialize(args.coordinator, args.num_processes, args.process_id)
    import jax
    import numpy as np
    from sklearn.datasets import load_digits

    import keras_distill

    # Each process passes its own shard, so Keras must not shard the data again.
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
    )
    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    x_train, y_train, x_test, y_test = x[:1296], y[:1296], x[1296:], y[1296:]

    def my_part(n):
        # Equal parts: every process must run the same steps with the same batch shapes.
        return np.array_split(np.arange(n - n % args.num_processes), args.num_processes)[
            args.process_id
        ]

    shard = my_part(len(x_train))

    keras.utils.set_random_seed(0)  # the same initial weights in every process
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                                keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    teacher.compile(optimizer="adam", metrics=["accuracy"],
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x_train[shard], y_train[shard], batch_size=args.batch_size, epochs=args.epochs,
                verbose=0)
    student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                keras.layers.Dense(10)], name="student")
    distiller = keras_distill.Distiller(teacher, student)
    distiller.compile(optimizer="adam", metrics=["accuracy"], alpha=0.1, temperature=4.0,
                      student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    distiller.fit(x_train[shard], y_train[shard], batch_size=args.batch_size, epochs=args.epochs,
                  verbose=0)
    # Each process evaluates its part of the test set; the metric covers all parts.
    half = my_part(len(x_test))
    accuracy = distiller.evaluate(x_test[half], y_test[half], verbose=0, return_dict=True)
    print(f"process {args.process_id}/{args.num_processes}: student test accuracy "
          f"{accuracy['accuracy']:.4f}", flush=True)
    if keras_distill.distribute.is_chief():
        student.save(args.out)
        print(f"process {args.process_id}: wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()

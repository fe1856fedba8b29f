"""Distillation across several TensorFlow workers with `MultiWorkerMirroredStrategy`.

Train (or bring) the teacher, then start one process per worker (here all on
localhost), each with its index:

    python examples/distributed_tf.py --train-teacher teacher.keras
    python examples/distributed_tf.py --worker 0 --workers localhost:12345,localhost:12346 &
    python examples/distributed_tf.py --worker 1 --workers localhost:12345,localhost:12346

Each worker builds the models inside the strategy's scope, feeds its own shard
of scikit-learn's digits through `distribute_datasets_from_function`, and trains;
the gradients are averaged across workers every step. Worker 0 (the chief)
alone writes the student (`keras_distill.distribute.is_chief`).
"""

import argparse
import json
import os


def digits():
    """scikit-learn's 8x8 digits: 1,296 training and 500 test images."""
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32")
    return x[:1296], y[:1296], x[1296:1796], y[1296:1796]


def train_teacher(path, epochs):
    """Trains the teacher in a plain single process and saves it to `path`."""
    import keras

    x_train, y_train, x_test, y_test = digits()
    keras.utils.set_random_seed(0)
    teacher = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256, activation="relu"),
                                keras.layers.Dense(256, activation="relu"), keras.layers.Dense(10)])
    teacher.compile(optimizer="adam", metrics=["accuracy"],
                    loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    teacher.fit(x_train, y_train, batch_size=64, epochs=epochs, verbose=0)
    accuracy = teacher.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    teacher.save(path)
    print(f"teacher test accuracy {accuracy:.4f}; wrote {path}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--train-teacher", metavar="PATH", help="Train the teacher alone, save it.")
    parser.add_argument("--teacher", default="teacher.keras", help="The teacher to distil.")
    parser.add_argument("--worker", type=int, help="This worker's index.")
    parser.add_argument("--workers", help="host:port of every worker, comma-separated.")
    parser.add_argument("--batch-size", type=int, default=64, help="Global batch.")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--out", default="student.keras")
    args = parser.parse_args(argv)
    if args.train_teacher:
        return train_teacher(args.train_teacher, args.epochs)
    if args.worker is None or not args.workers:
        parser.error("give --worker and --workers (or --train-teacher PATH)")
    workers = args.workers.split(",")
    # TF_CONFIG must be set before TensorFlow starts.
    os.environ["TF_CONFIG"] = json.dumps(
        {"cluster": {"worker": workers}, "task": {"type": "worker", "index": args.worker}}
    )
    os.environ["KERAS_BACKEND"] = "tensorflow"
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_distill

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    x_train, y_train, x_test, y_test = digits()
    # Equal shards: every worker must run the same number of steps.
    shard = np.array_split(np.arange(len(x_train)), len(workers))[args.worker]

    def batches(x, y):
        def local(context):
            per_worker = context.get_per_replica_batch_size(args.batch_size)
            return tf.data.Dataset.from_tensor_slices((x[shard], y[shard])).shuffle(
                len(shard), seed=context.input_pipeline_id).batch(per_worker)

        return strategy.distribute_datasets_from_function(local)

    with strategy.scope():
        keras.utils.set_random_seed(0)  # the same initial weights on every worker
        teacher = keras.models.load_model(args.teacher)
        student = keras.Sequential([keras.Input((64,)), keras.layers.Dense(32, activation="relu"),
                                    keras.layers.Dense(10)], name="student")
        distiller = keras_distill.Distiller(teacher, student)
        distiller.compile(
            optimizer="adam", metrics=["accuracy"], alpha=0.1, temperature=4.0,
            student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    distiller.fit(batches(x_train, y_train), epochs=args.epochs, verbose=0)
    # Each worker evaluates its part of the test set; the metric covers all parts.
    accuracy = distiller.evaluate(x_test, y_test, verbose=0, return_dict=True)["accuracy"]
    print(f"worker {args.worker}/{len(workers)}: student test accuracy {accuracy:.4f}", flush=True)
    if keras_distill.distribute.is_chief(distiller):
        student.save(args.out)
        print(f"worker {args.worker}: wrote {args.out}", flush=True)


if __name__ == "__main__":
    main()

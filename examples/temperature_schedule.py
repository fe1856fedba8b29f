"""Temperature annealing, then fine-tuning on the labels, with keras_distill callbacks.

Runs offline in about a minute on 2 CPU cores:

    python examples/temperature_schedule.py
    python examples/temperature_schedule.py --data /path/to/mnist.npz

It trains a teacher MLP, then distils a small student for `--distill-epochs`
epochs while a `TemperatureScheduler` anneals the temperature along a cosine
from 8 to 2, and finishes with a `FineTuning` phase (alpha=1: labels only, at
a tenth of the learning rate). It prints one row per epoch: phase,
temperature, alpha, learning rate, training loss and validation accuracy, all
read from the `History` the callbacks wrote into.
"""

import argparse

import keras
import numpy as np

import keras_distill as kd


def load(data):
    """Returns (x_train, y_train, x_test, y_test): digits by default, else an MNIST .npz."""
    if data is None:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        x, y = load_digits(return_X_y=True)
        x = (x / 16.0).astype("float32")
        x_train, x_test, y_train, y_test = train_test_split(
            x, y, test_size=0.5, random_state=0, stratify=y
        )
        return x_train, y_train, x_test, y_test
    with np.load(data) as f:
        arrays = [f[k] for k in ("x_train", "y_train", "x_test", "y_test")]
    x_train, y_train, x_test, y_test = arrays
    flatten = lambda x: (x.reshape(len(x), -1) / 255.0).astype("float32")  # noqa: E731
    return flatten(x_train), y_train, flatten(x_test), y_test


def mlp(features, hidden, name):
    layers = [keras.Input((features,))]
    for i, units in enumerate(hidden):
        layers.append(keras.layers.Dense(units, activation="relu", name=f"{name}_hidden_{i}"))
    layers.append(keras.layers.Dense(10, name=f"{name}_logits"))
    return keras.Sequential(layers, name=name)


class EpochTable(keras.callbacks.Callback):
    """Prints one row per epoch from the logs the keras_distill callbacks filled in."""

    COLUMNS = ("epoch", "phase", "temperature", "alpha", "lr", "loss", "val_accuracy")

    def __init__(self, phases):
        super().__init__()
        self.phases = phases

    def on_train_begin(self, logs=None):
        print(" ".join(f"{c:>12}" for c in self.COLUMNS))

    def on_epoch_end(self, epoch, logs=None):
        row = (
            f"{epoch + 1:>12d} {self.phases.phases[logs['phase']].name:>12} "
            f"{logs['temperature']:>12.3f} {logs['alpha']:>12.2f} "
            f"{logs['learning_rate']:>12.2e} {logs['loss']:>12.4f} {logs['val_accuracy']:>12.4f}"
        )
        print(row)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="an MNIST .npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--teacher-epochs", type=int, default=30)
    parser.add_argument("--distill-epochs", type=int, default=20)
    parser.add_argument("--fine-tune-epochs", type=int, default=5)
    parser.add_argument("--learning-rate", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    keras.utils.set_random_seed(args.seed)
    x_train, y_train, x_test, y_test = load(args.data)
    features = x_train.shape[1]
    teacher = mlp(features, [256, 256], "teacher")
    teacher.compile(
        "adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"]
    )
    teacher.fit(x_train, y_train, epochs=args.teacher_epochs, batch_size=64, verbose=0)
    teacher_accuracy = teacher.evaluate(x_test, y_test, verbose=0)[1]
    print(f"teacher test accuracy: {teacher_accuracy:.4f}")

    distiller = kd.Distiller(teacher=teacher, student=mlp(features, [32], "student"))
    distiller.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        metrics=["accuracy"],
        student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        distillation_loss_fn=kd.losses.KDLoss(),
        alpha=0.1,
        temperature=8.0,
    )
    anneal = kd.callbacks.TemperatureScheduler(
        kd.schedules.Cosine(start=8.0, end=2.0, steps=max(args.distill_epochs - 1, 1))
    )
    fine_tune = kd.callbacks.FineTuning(
        start_epoch=args.distill_epochs, alpha=1.0, learning_rate=args.learning_rate / 10
    )
    distiller.fit(
        x_train,
        y_train,
        epochs=args.distill_epochs + args.fine_tune_epochs,
        batch_size=64,
        validation_data=(x_test, y_test),
        callbacks=[anneal, fine_tune, EpochTable(fine_tune)],
        verbose=0,
    )
    student_accuracy = distiller.evaluate(x_test, y_test, return_dict=True, verbose=0)["accuracy"]
    print(f"student test accuracy: {student_accuracy:.4f}")


if __name__ == "__main__":
    main()

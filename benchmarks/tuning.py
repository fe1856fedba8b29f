"""Distillation-aware search (keras_distill.tuning): benchmarks/results/tuning.md.

For each seed: the same random search (same seed, so the same trials) twice,
once with the teacher's outputs shared by all trials (one teacher pass) and
once with the teacher online in every trial, timed one after the other in this
process (which runs first alternates with the seed; an untimed one-trial search
in each mode first pays the process's one-time costs); then the Distiller's
defaults (KD, T=3, alpha=0.1, no augmentation), the best trial's configuration
and the configuration the search selects with `selection="one_standard_error"`
(the defaults unless the best trial is more than one standard error better on
validation) each train the same student initialisation on the whole training
set, and all are scored on the untouched test set.

    python benchmarks/tuning.py --dataset digits --seeds 0 1 2
    python benchmarks/tuning.py --dataset digits --seeds 0 1 2 --folds 5
    python benchmarks/tuning.py --dataset mnist --data /path/to/mnist.npz --seeds 0 1 2

Tasks:
    digits  scikit-learn's 8x8 digits (1,297 train / 500 test, the demo's split); a
            CNN teacher (3x3 conv 128 - conv 256 - dense 256, 23.1 M multiply-adds
            per image) and a CNN student (conv 16 - conv 32 - dense, 0.32 M: 71x less);
            20 epochs, batch 64
    mnist   the first 6,000 MNIST training images / the 10,000 test images; a CNN
            teacher (3x3 conv 64 - pool - conv 128 - pool - dense 256, 16.5 M) and a
            CNN student (conv 8 - pool - conv 16 - pool - dense, 0.29 M: 57x less);
            5 epochs, batch 128
The search: random search (4 trials), the default SearchSpace (temperature 1-8, alpha
0-0.9, losses kd/ls/dkd/dist/jsd, consistent teaching on/off with RandomShift(1)
and 4 cached views), 20% of the training set held out for val_accuracy, or with
--folds k the mean val_accuracy of k-fold cross-validation over the training set.
"""

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time

import keras

import keras_distill
from keras_distill import tuning
from keras_distill.demo import data as demo_data

TASKS = {
    "digits": dict(image_shape=(8, 8), filters=(128, 256), student_filters=(16, 32), pool=False,
                   epochs=20, batch_size=64),
    "mnist": dict(image_shape=(28, 28), filters=(64, 128), student_filters=(8, 16), pool=True,
                  epochs=5, batch_size=128),
}


def load(dataset, path):
    if dataset == "digits":
        return demo_data.load_digits()
    data = demo_data.load_mnist(path)
    data.x_train, data.y_train = data.x_train[:6000], data.y_train[:6000]
    return data


def make_teacher(data, task):
    layers = [keras.Input((data.x_train.shape[1],)), keras.layers.Reshape((*task["image_shape"], 1))]
    for filters in task["filters"]:
        layers.append(keras.layers.Conv2D(filters, 3, padding="same", activation="relu"))
        if task["pool"]:
            layers.append(keras.layers.MaxPooling2D())
    layers += [keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
               keras.layers.Dense(data.num_classes)]
    teacher = keras.Sequential(layers, name="teacher")
    teacher.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                    metrics=["accuracy"])
    teacher.fit(data.x_train, data.y_train, epochs=5, batch_size=64, verbose=0)
    return teacher


def student_builder(data, task):
    def build_student(hp):
        layers = [keras.Input((data.x_train.shape[1],)),
                  keras.layers.Reshape((*task["image_shape"], 1))]
        for filters in task["student_filters"]:
            layers.append(keras.layers.Conv2D(filters, 3, padding="same", activation="relu"))
            if task["pool"]:
                layers.append(keras.layers.MaxPooling2D())
        layers += [keras.layers.Flatten(), keras.layers.Dense(data.num_classes)]
        return keras.Sequential(layers, name="student")
    return build_student


def multiply_adds(model):
    """Multiply-adds of one image through the model's Conv2D and Dense layers."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            out = layer.output.shape
            total += out[1] * out[2] * out[3] * layer.kernel.shape[0] * layer.kernel.shape[1] * (
                layer.kernel.shape[2])
        elif isinstance(layer, keras.layers.Dense):
            total += layer.kernel.shape[0] * layer.kernel.shape[1]
    return int(total)


def test_accuracy(distiller, data, task, seed):
    keras.utils.set_random_seed(seed)
    distiller.fit(data.x_train, data.y_train, epochs=task["epochs"],
                  batch_size=task["batch_size"], verbose=0)
    return float(distiller.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"])


def warm_up(data, task, teacher, folder):
    """One untimed one-trial, one-epoch search in each mode: the process's one-time costs
    (imports, the first traces of Keras's and KerasTuner's machinery) are paid here, not by
    whichever timed search runs first."""
    build_student = student_builder(data, task)
    for cache_teacher in (True, False):
        tuning.search(
            teacher, build_student, data.x_train[:512], data.y_train[:512], max_trials=1,
            epochs=1, batch_size=task["batch_size"], seed=0, cache_teacher=cache_teacher,
            directory=folder, project_name=f"warm_up_{cache_teacher}", overwrite=True,
        )


def run_seed(data, task, teacher, seed, trials, folder, folds=None):
    build_student = student_builder(data, task)
    jitter = keras_distill.augment.RandomShift(1, image_shape=task["image_shape"])
    searches = {}
    load_before = os.getloadavg()[0]
    modes = [("shared cache", True), ("teacher online", False)]
    # Alternate which search runs first, so that a drift in the shared machine's load
    # does not always favour the same mode.
    for mode, cache_teacher in modes if seed % 2 == 0 else modes[::-1]:
        keras.utils.set_random_seed(seed)
        start = time.perf_counter()
        result = tuning.search(
            teacher, build_student, data.x_train, data.y_train, max_trials=trials,
            epochs=task["epochs"], batch_size=task["batch_size"], seed=seed,
            augmentation=jitter, views=4, cache_teacher=cache_teacher,
            directory=folder, project_name=f"seed{seed}_{mode.split()[1]}", overwrite=True,
            selection="one_standard_error", folds=folds,
        )
        searches[mode] = dict(result=result, wall=time.perf_counter() - start)
    cached, online = searches["shared cache"]["result"], searches["teacher online"]["result"]
    settings = lambda r: sorted(  # noqa: E731 - the trials' settings, for the same-trials check
        json.dumps({k: v for k, v in row.items() if k not in ("trial", "status", "score",
                    "fit_seconds")}, sort_keys=True) for row in r.trials)
    assert settings(cached) == settings(online), "the two searches ran different trials"
    load_after = os.getloadavg()[0]
    keras.utils.set_random_seed(seed)
    default = keras_distill.Distiller(teacher, build_student(None))
    default.compile(optimizer="adam", metrics=["accuracy"],
                    student_loss_fn=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(seed)
    tuned = cached.build_distiller(build_student(None))
    best = {k: cached.trials[0][k] for k in cached.best_hyperparameters}
    keras.utils.set_random_seed(seed)
    tuned_best = cached.hypermodel.build_distiller(best, build_student(None))
    return dict(
        seed=seed, load=(load_before, load_after), first="cache" if seed % 2 == 0 else "online",
        cached_wall=searches["shared cache"]["wall"], online_wall=searches["teacher online"]["wall"],
        teacher_seconds=cached.teacher_seconds,
        cached_fit=statistics.mean(r["fit_seconds"] for r in cached.trials),
        online_fit=statistics.mean(r["fit_seconds"] for r in online.trials),
        best=best, best_val=cached.trials[0]["score"], selected=cached.best_hyperparameters,
        kept_defaults=cached.selected_trial != cached.trials[0]["trial"],
        default_val=min(cached.trials, key=lambda row: int(row["trial"]))["score"],
        default_test=test_accuracy(default, data, task, seed),
        best_test=test_accuracy(tuned_best, data, task, seed),
        tuned_test=test_accuracy(tuned, data, task, seed),
        table=cached.table(),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(TASKS), default="digits")
    parser.add_argument("--data", help="mnist.npz for --dataset mnist")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--folds", type=int, default=None,
                        help="cross-validate every trial over this many folds of the training "
                             "set instead of holding out 20%% of it")
    parser.add_argument("--out", help="JSON file for the rows")
    args = parser.parse_args()
    task = TASKS[args.dataset]
    data = load(args.dataset, args.data)
    keras.utils.set_random_seed(0)
    teacher = make_teacher(data, task)
    teacher_test = float(teacher.evaluate(data.x_test, data.y_test, verbose=0, return_dict=True)["accuracy"])
    macs = dict(teacher=multiply_adds(teacher), student=multiply_adds(student_builder(data, task)(None)))
    print(f"multiply-adds per image: teacher {macs['teacher']:,}, student {macs['student']:,} "
          f"({macs['teacher'] / macs['student']:.0f}x)", flush=True)
    folder = tempfile.mkdtemp(prefix="kd_tuning_")
    rows = []
    try:
        warm_up(data, task, teacher, folder)
        for seed in args.seeds:
            rows.append(run_seed(data, task, teacher, seed, args.trials, folder, args.folds))
            row = rows[-1]
            print(f"seed {seed}: search {row['cached_wall']:.1f} s shared cache "
                  f"({row['teacher_seconds']:.1f} s teacher pass) vs {row['online_wall']:.1f} s "
                  f"online; per-trial fit {row['cached_fit']:.2f} s vs {row['online_fit']:.2f} s "
                  f"({row['online_fit'] / row['cached_fit']:.2f}x); validation default "
                  f"{row['default_val']:.4f}, best {row['best_val']:.4f}; test accuracy default "
                  f"{row['default_test']:.4f}, best trial {row['best_test']:.4f}, selected (one "
                  f"standard error) {row['tuned_test']:.4f}, defaults kept: "
                  f"{row['kept_defaults']}; best {row['best']}; "
                  f"load average {row['load'][0]:.1f} -> {row['load'][1]:.1f}",
                  flush=True)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"teacher test accuracy {teacher_test:.4f}; backend {keras.backend.backend()}; "
          f"validation: {f'{args.folds}-fold cross-validation' if args.folds else '20% split'}")
    print(rows[0]["table"])
    if args.out:
        os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
        with open(args.out, "w") as f:
            json.dump(dict(teacher_test=teacher_test, macs=macs, folds=args.folds, rows=[
                {k: v for k, v in r.items() if k != "table"} for r in rows]), f, indent=1)


if __name__ == "__main__":
    main()

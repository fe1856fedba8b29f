"""Issue 31 exploration: one change to the record recipe's distillation, teachers held fixed.

Trains the `--preset full` teacher ensemble of a seed once (exactly as the
demo does, saved to `--teachers`), then distils the 784-800-800-10 student
from it with the demo's cached-view recipe and one change, and appends the
per-epoch test errors to `--out` (JSON lines):

    python benchmarks/record_variants.py --data PATH/mnist.npz --seed 2 --student-seed-offset 17
    python benchmarks/record_variants.py --data PATH/mnist.npz --seed 2 --student-seed-offset 17 \
        --deformation-scale 0.5

`--student-seed-offset K` initialises the student from seed `seed + K`
instead of the demo's (the spread between two initialisations is the noise a
change has to beat); `--deformation-scale F` multiplies every magnitude of
the deformation of the cached views the student learns (the teachers keep
theirs); `--views`, `--epochs`, `--temperature`, `--alpha` and
`--learning-rate` replace the recipe's values.
"""

import argparse
import dataclasses
import json
import os
import time

import keras
import numpy as np

from keras_distill.demo import data as data_lib
from keras_distill.demo import models
from keras_distill.demo import pipeline
from keras_distill.demo import presets


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="MNIST's .npz file")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--teachers", default="runs/record_variants",
                        help="folder of the saved teacher ensembles (teacher_seedS.keras)")
    parser.add_argument("--out", default="runs/record_variants/results.jsonl")
    parser.add_argument("--student-seed-offset", type=int, default=0)
    parser.add_argument("--deformation-scale", type=float, default=1.0)
    parser.add_argument("--views", type=int, default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--temperature", type=float, default=None)
    parser.add_argument("--alpha", type=float, default=None)
    parser.add_argument("--learning-rate", type=float, default=None)
    args = parser.parse_args()

    recipe = presets.recipe("mnist", "full")
    keras.utils.set_random_seed(args.seed)
    dataset = data_lib.load("mnist", args.data)
    os.makedirs(args.teachers, exist_ok=True)
    path = os.path.join(args.teachers, f"teacher_seed{args.seed}.keras")
    if os.path.exists(path):
        teacher = keras.saving.load_model(path)
    else:
        teacher, _ = pipeline.train_teacher(dataset, recipe, args.seed, 0)
        pipeline.save_model(teacher, path)
    predicted = np.argmax(teacher.predict(dataset.x_test, batch_size=1000, verbose=0), -1)
    teacher_errors = int((predicted != dataset.y_test).sum())

    changes = {
        "consistent_views": args.views, "consistent_epochs": args.epochs,
        "consistent_temperature": args.temperature, "consistent_alpha": args.alpha,
        "learning_rate": args.learning_rate,
    }
    changes = {key: value for key, value in changes.items() if value is not None}
    if args.deformation_scale != 1.0:
        changes["deformation"] = {
            key: value * args.deformation_scale for key, value in recipe.deformation.items()
        }
    recipe = dataclasses.replace(recipe, **changes)
    keras.utils.set_random_seed(args.seed + args.student_seed_offset)
    student = models.student(dataset.x_train.shape[1], dataset.num_classes, recipe, name="student")
    started = time.perf_counter()
    _, history = pipeline.distil_consistently(teacher, student, dataset, recipe, args.seed, 2)
    errors = [round((1 - value) * len(dataset.y_test)) for value in history.history["val_accuracy"]]
    row = dict(
        seed=args.seed, student_seed_offset=args.student_seed_offset,
        deformation_scale=args.deformation_scale, changes=changes, teacher_errors=teacher_errors,
        distillation_seconds=round(time.perf_counter() - started), errors=errors, final=errors[-1],
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "a") as file:
        file.write(json.dumps(row) + "\n")
    print(json.dumps({key: value for key, value in row.items() if key != "errors"}))


if __name__ == "__main__":
    main()

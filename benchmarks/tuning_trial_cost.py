"""What one search trial costs: a plain student fit, a cached Distiller fit, an online one.

The digits pair of benchmarks/tuning.py, the Distiller's defaults, 80% of the
training set with the other 20% as validation (as a trial sees them), the
search's epochs and batch size. Each kind fits a fresh model twice (the first
fit traces); the three kinds alternate over `--repeats` rounds, side by side in
one process. benchmarks/results/tuning.md.

    PYTHONPATH=. python benchmarks/tuning_trial_cost.py --repeats 3
"""

import argparse
import statistics
import time

import keras

import keras_distill
from benchmarks import tuning as tuning_benchmark


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    task = tuning_benchmark.TASKS["digits"]
    data = tuning_benchmark.load("digits", None)
    keras.utils.set_random_seed(0)
    teacher = tuning_benchmark.make_teacher(data, task)
    build_student = tuning_benchmark.student_builder(data, task)
    split = int(len(data.x_train) * 0.8)
    x, y = data.x_train[:split], data.y_train[:split]
    validation = (data.x_train[split:], data.y_train[split:])
    cache = keras_distill.TeacherCache.compute(teacher, x)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def plain():
        student = build_student(None)
        student.compile("adam", loss, metrics=["accuracy"])
        return student, x

    def distiller(inputs):
        model = keras_distill.Distiller(teacher, build_student(None))
        model.compile(optimizer="adam", student_loss_fn=loss, metrics=["accuracy"])
        return model, inputs

    kinds = {
        "plain student fit": plain,
        "Distiller, shared cache": lambda: distiller(cache.inputs(x)),
        "Distiller, teacher online": lambda: distiller(x),
    }
    seconds = {name: ([], []) for name in kinds}
    for _ in range(args.repeats):
        for name, make in kinds.items():
            keras.backend.clear_session()
            model, inputs = make()
            for times in seconds[name]:
                start = time.perf_counter()
                model.fit(inputs, y, validation_data=validation, epochs=task["epochs"],
                          batch_size=task["batch_size"], verbose=0)
                times.append(time.perf_counter() - start)
    print(f"| fit of {task['epochs']} epochs (mean of {args.repeats}) | first fit (traces) | "
          "second fit |\n|---|---|---|")
    for name, (first, second) in seconds.items():
        print(f"| {name} | {statistics.mean(first):.2f} s | {statistics.mean(second):.2f} s |")


if __name__ == "__main__":
    main()

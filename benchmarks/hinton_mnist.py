"""Hinton et al. (2015) MNIST over seeds: the table of benchmarks/results/hinton_mnist.md.

Runs `keras-distill demo --preset PRESET --seed S` for each seed (each in its
own process, timed), then tabulates every run's report.json:

    python benchmarks/hinton_mnist.py --data /path/to/mnist.npz --preset full --seeds 0 1 2

`--teacher cnn` runs the demo with its small convolutional teacher instead of
the paper's 784-1200-1200-10 network. `--teaching cached` reproduces the paper's
transfer (cached logits of the un-jittered images, T=20, then fine-tuning);
`--teaching consistent` (the MNIST default) lets the online teacher label
every jittered batch the student sees (Beyer et al. 2022).

`--aggregate-only` tabulates existing run folders (`OUT/seedS`) without
training, e.g. after running the seeds in the background.

`--alone-augmented` trains, per seed, the student alone with the preset's
augmentation for as many epochs as its consistent teaching (the control
that separates what distillation gives from what the augmentation gives),
writes `OUT/seedS/alone_augmented.json`, and the table gains its row.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

PAPER = {"teacher": 67, "student_alone": 146, "distilled_student": 74}


def run_seed(args, seed):
    out = os.path.join(args.out, f"seed{seed}")
    command = [sys.executable, "-m", "keras_distill_cli", "demo", "--preset", args.preset,
               "--teacher", args.teacher, "--teaching", args.teaching, "--seed", str(seed),
               "--out", out, "--verbose", "1"]
    if args.data:
        command += ["--data", args.data]
    start = time.perf_counter()
    subprocess.run(command, check=True)
    print(f"seed {seed}: {time.perf_counter() - start:.0f} s", flush=True)


def run_alone_augmented(args, seed):
    import keras

    from keras_distill.demo import data as data_lib
    from keras_distill.demo import models
    from keras_distill.demo import pipeline
    from keras_distill.demo import presets

    recipe = presets.recipe("mnist", args.preset, args.teacher, args.teaching)
    keras.utils.set_random_seed(seed)
    dataset = data_lib.load("mnist", args.data)
    student = models.student(dataset.x_train.shape[1], dataset.num_classes, recipe)
    start = time.perf_counter()
    history = pipeline.train_alone(student, dataset, recipe, verbose=1, augmented=True, seed=seed)
    seconds = time.perf_counter() - start
    predictions = student.predict(dataset.x_test, batch_size=1000, verbose=0).argmax(axis=1)
    result = {
        "errors": int((predictions != dataset.y_test).sum()),
        "epochs": len(history.history["loss"]),
        "seconds": round(seconds, 1),
        "preset": args.preset,
    }
    folder = os.path.join(args.out, f"seed{seed}")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "alone_augmented.json"), "w") as f:
        json.dump(result, f, indent=2)
    print(f"seed {seed}: student alone with augmentation: {result}", flush=True)


def load_alone_augmented(out, seed):
    path = os.path.join(out, f"seed{seed}", "alone_augmented.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def load(out, seed):
    with open(os.path.join(out, f"seed{seed}", "report.json")) as f:
        return json.load(f)


def _stats(values, fmt):
    if len(values) == 1:
        return format(values[0], fmt)
    mean = statistics.mean(values)
    return f"{format(mean, fmt)} ({format(min(values), fmt)} to {format(max(values), fmt)})"


def _export(result, format, quantization):
    for item in result["exports"]:
        if item["format"] == format and item["quantization"] == quantization:
            return item
    raise KeyError((format, quantization))


def table(results, seeds, alone_augmented=None):
    rows = []
    def add(name, values, fmt, paper=""):
        rows.append(f"| {name} | {_stats(values, fmt)} | {paper} |")
    for key, label in (("teacher", "teacher"), ("student_alone", "student alone"),
                       ("distilled_student", "distilled student")):
        add(f"{label}: test errors / 10,000",
            [r["models"][key]["errors"] for r in results], ".1f", PAPER[key])
        if key == "student_alone" and alone_augmented:
            add("student alone, same augmentation and epochs as distillation: test errors",
                [a["errors"] for a in alone_augmented], ".1f")
    add("share of the gap closed", [100 * r["distillation"]["gap_closed"] for r in results],
        ".1f", "91%")
    add("teacher-student top-1 agreement (%)",
        [100 * r["distillation"]["agreement"] for r in results], ".2f")
    add("mean KL(teacher \\|\\| student), nats",
        [r["distillation"]["mean_kl"] for r in results], ".4f")
    add("ECE, distilled student", [r["models"]["distilled_student"]["ece"] for r in results], ".4f")
    int8 = [_export(r, "tflite", "int8") for r in results]
    add("int8 TFLite size / float32 TFLite size", [r["int8_size_ratio"] for r in results], ".3f")
    add("int8 TFLite size (KiB)", [e["size_bytes"] / 1024 for e in int8], ".0f")
    add("int8 TFLite top-1 agreement with Keras (%, 10,000 test images)",
        [100 * e["agreement"] for e in int8], ".2f")
    add("teacher (Keras) latency, ms/sample",
        [r["latency_ms"]["teacher (Keras)"] for r in results], ".3f")
    add("student (TFLite int8) latency, ms/sample", [e["latency_ms"] for e in int8], ".3f")
    add("student (ONNX Runtime) latency, ms/sample",
        [_export(r, "onnx", None)["latency_ms"] for r in results], ".3f")
    add("int8 TFLite speed-up vs Keras teacher (eager call)",
        [e["speedup_vs_teacher"] for e in int8], ".1f")
    compiled = [r["latency_ms"].get("teacher (Keras, tf.function)") for r in results]
    if None not in compiled:
        add("teacher (Keras, tf.function) latency, ms/sample", compiled, ".3f")
        add("int8 TFLite speed-up vs Keras teacher (tf.function)",
            [c / e["latency_ms"] for c, e in zip(compiled, int8)], ".1f")
    add("wall time of the run (s)", [r["wall_seconds"] for r in results], ".0f")
    header = [f"Seeds: {', '.join(map(str, seeds))} ({len(seeds)} run(s)); mean (min to max).", "",
              "| | ours | paper |", "|---|---:|---:|"]
    return "\n".join(header + rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", help="A local mnist.npz.")
    parser.add_argument("--preset", default="full", choices=("quick", "full"))
    parser.add_argument("--teacher", default="mlp", choices=("mlp", "cnn"))
    parser.add_argument("--teaching", default="consistent", choices=("consistent", "cached"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--out", default="runs/hinton_mnist")
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument("--alone-augmented", action="store_true")
    args = parser.parse_args(argv)
    if args.alone_augmented:
        for seed in args.seeds:
            run_alone_augmented(args, seed)
    elif not args.aggregate_only:
        for seed in args.seeds:
            run_seed(args, seed)
    reports = [os.path.join(args.out, f"seed{seed}", "report.json") for seed in args.seeds]
    if args.alone_augmented and not all(map(os.path.exists, reports)):
        return None  # the demo runs come later; `--aggregate-only` tabulates them all
    results = [load(args.out, seed) for seed in args.seeds]
    for seed, result in zip(args.seeds, results):
        teacher = result["settings"].get("teacher_model", "mlp")
        teaching = result["settings"].get("teaching", "cached")
        if (teacher, teaching) != (args.teacher, args.teaching):
            raise SystemExit(f"{args.out}/seed{seed} ran with --teacher {teacher} --teaching "
                             f"{teaching}, not --teacher {args.teacher} --teaching "
                             f"{args.teaching}.")
    alone = [load_alone_augmented(args.out, seed) for seed in args.seeds]
    text = table(results, args.seeds, alone if None not in alone else None)
    print(text)
    return text


if __name__ == "__main__":
    main()

"""The README's first command over seeds: benchmarks/results/demo_digits.md.

Runs `keras-distill demo --dataset digits --seed S` for each seed, one process
at a time (wall time measured around the process), and tabulates each run's
report.json: test errors of 500 for the teacher, the student alone and the
distilled student, and the share of the teacher-student gap closed.

    python benchmarks/demo_digits.py --seeds 0 1 2 3 4
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

MODELS = ("teacher", "student_alone", "distilled_student")


def run_seed(seed, folder):
    out = os.path.join(folder, f"seed{seed}")
    command = [sys.executable, "-m", "keras_distill_cli", "demo", "--dataset", "digits",
               "--seed", str(seed), "--out", out, "--verbose", "0"]
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    with open(os.path.join(out, "report.json")) as f:
        report = json.load(f)
    run = {key: report["models"][key]["errors"] for key in MODELS}
    run.update(gap_closed=report["distillation"]["gap_closed"], wall_seconds=round(wall, 1))
    print(f"seed {seed}: {run}", flush=True)
    return run


def markdown(runs, command):
    lines = [
        "# The README's first command over seeds",
        "",
        f"Command: `{command}`",
        "",
        "`keras-distill demo --dataset digits --seed S` per seed, one run at a time on 2 CPU cores; "
        "test errors of 500.",
        "",
        "| seed | teacher | student alone | distilled | gap closed | wall |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for seed, run in runs.items():
        gap = run["gap_closed"]
        gap = "n/a" if gap is None else f"{100 * gap:.1f}%"
        lines.append(f"| {seed} | {run['teacher']} | {run['student_alone']} | "
                     f"{run['distilled_student']} | {gap} | {run['wall_seconds']:.1f} s |")
    values = list(runs.values())
    mean = {key: statistics.mean(r[key] for r in values) for key in MODELS}
    gaps = [r["gap_closed"] for r in values if r["gap_closed"] is not None]
    lines.append(f"| mean | {mean['teacher']:.1f} | {mean['student_alone']:.1f} | "
                 f"{mean['distilled_student']:.1f} | "
                 f"{100 * statistics.mean(gaps):.1f}% | |")
    wins = sum(r["distilled_student"] < r["student_alone"] for r in values)
    lines += ["", f"Distilled beats alone on {wins}/{len(values)} seeds.", "",
              "```json", json.dumps(runs, indent=1), "```", ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--out", default="benchmarks/results/demo_digits.md")
    args = parser.parse_args(argv)
    command = "python benchmarks/demo_digits.py --seeds " + " ".join(map(str, args.seeds))
    with tempfile.TemporaryDirectory() as folder:
        runs = {str(seed): run_seed(seed, folder) for seed in args.seeds}
    text = markdown(runs, command)
    with open(args.out, "w") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()

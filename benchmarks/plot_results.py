"""The plots of docs/results.md, drawn from the measured results in benchmarks/results/.

Reads only recorded numbers (no training):

- `demo_digits.md` (from `benchmarks/demo_digits.py`): test errors per seed of the
  README's first command;
- `hinton_mnist/consistent_cnn_seed*.report.json` (from `benchmarks/hinton_mnist.py
  --teacher cnn --preset full`): MNIST per seed, against Hinton et al. (2015);
- `features_mnist.md` (from `benchmarks/features.py --dataset mnist`): each method's
  mean test errors over seeds, with the range.

    python benchmarks/plot_results.py      # writes docs/img/*.png
"""

import glob
import json
import os
import re
import statistics

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results")
IMAGES = os.path.join(os.path.dirname(__file__), os.pardir, "docs", "img")
MODELS = (("teacher", "teacher", "0.55"), ("student_alone", "student alone", "tab:red"),
          ("distilled_student", "distilled student", "tab:blue"))
# Keys of benchmarks/features.py's JSON, as its table names them.
LABELS = {"kd_best": "kd + best", "at": "AT", "sp": "SP", "rkd": "RKD", "kd": "KD",
          "fitnets": "FitNets"}
# Hinton et al. (2015), MNIST test errors of 10,000.
PAPER = {"teacher": 67, "student_alone": 146, "distilled_student": 74}


def json_block(name):
    with open(os.path.join(RESULTS, name)) as f:
        return json.loads(re.search(r"```json\n(.*?)```", f.read(), re.S).group(1))


def per_seed_bars(runs, title, ylabel, path, paper=None):
    """Grouped bars: one group per seed, one bar per model."""
    seeds = list(runs)
    figure, axis = plt.subplots(figsize=(6.4, 3.4))
    width = 0.26
    for offset, (key, label, color) in enumerate(MODELS):
        positions = [i + (offset - 1) * width for i in range(len(seeds))]
        values = [runs[seed][key] for seed in seeds]
        axis.bar(positions, values, width, label=label, color=color)
        if paper:
            axis.axhline(paper[key], color=color, linestyle=":", linewidth=1)
    axis.set_xticks(range(len(seeds)), [f"seed {seed}" for seed in seeds])
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, ncols=3, loc="upper center", bbox_to_anchor=(0.5, -0.12))
    _save(figure, path)


def method_bars(runs, title, ylabel, path):
    """Mean over seeds per method, the range as an error bar; the student alone dashed."""
    methods = [m for m in runs[next(iter(runs))] if m not in ("teacher", "second_teacher")]
    values = {m: [runs[seed][m]["errors"] for seed in runs] for m in methods}
    means = [statistics.mean(values[m]) for m in methods]
    low = [mean - min(values[m]) for mean, m in zip(means, methods)]
    high = [max(values[m]) - mean for mean, m in zip(means, methods)]
    alone = statistics.mean(values["alone"])
    colors = ["tab:red" if m == "alone" else ("tab:blue" if v < alone else "0.6")
              for m, v in zip(methods, means)]
    figure, axis = plt.subplots(figsize=(6.4, 3.4))
    labels = [LABELS.get(m, m) for m in methods]
    axis.bar(labels, means, yerr=[low, high], color=colors, capsize=3)
    axis.axhline(alone, color="tab:red", linestyle="--", linewidth=1)
    teacher = statistics.mean(runs[seed]["teacher"]["errors"] for seed in runs)
    axis.axhline(teacher, color="0.3", linestyle=":", linewidth=1)
    axis.text(len(methods) - 0.5, teacher, " teacher", va="bottom", ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title, fontsize=10)
    axis.tick_params(axis="x", labelsize=8)
    _save(figure, path)


def _save(figure, path):
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"wrote {os.path.relpath(path)}")


def main():
    os.makedirs(IMAGES, exist_ok=True)
    per_seed_bars(
        json_block("demo_digits.md"),
        "keras-distill demo --dataset digits (64-32-32-10 student)",
        "test errors of 500",
        os.path.join(IMAGES, "demo_digits.png"),
    )
    mnist = {}
    for path in sorted(glob.glob(os.path.join(RESULTS, "hinton_mnist", "consistent_cnn_seed*.json"))):
        seed = re.search(r"seed(\d+)", path).group(1)
        with open(path) as f:
            models = json.load(f)["models"]
        mnist[seed] = {key: models[key]["errors"] for key, _, _ in MODELS}
    per_seed_bars(
        mnist,
        "MNIST, 784-800-800-10 student, --preset full (dotted: Hinton et al. 2015)",
        "test errors of 10,000",
        os.path.join(IMAGES, "hinton_mnist.png"),
        paper=PAPER,
    )
    method_bars(
        json_block("features_mnist.md"),
        "MNIST thin CNN student, 3 seeds (dashed: student alone; blue: better than alone)",
        "test errors of 10,000",
        os.path.join(IMAGES, "features_mnist.png"),
    )


if __name__ == "__main__":
    main()

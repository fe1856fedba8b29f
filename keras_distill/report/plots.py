"""PNG plots of a distillation report, drawn with matplotlib (extra `plot`).

matplotlib is imported only here, lazily, with the non-interactive Agg
backend; without it the report is written without plots.
"""

import numpy as np

from keras_distill.core import atomic_files

PLOT_FILES = {
    "training_curves": "training_curves.png",
    "reliability": "reliability_diagram.png",
    "confusion": "confusion_matrix.png",
    "disagreements": "disagreements.png",
}
MISSING_MATPLOTLIB = (
    'matplotlib is not installed; run `pip install "keras-distill[plot]"` to get the '
    "training curves, reliability diagram and confusion matrix"
)


def import_pyplot():
    """Returns `matplotlib.pyplot` on the Agg backend, or `None` if missing."""
    try:
        import matplotlib
    except ImportError:
        return None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path):
    """Saves `figure` beside `path`, then renames it into place."""
    import matplotlib.pyplot as plt

    try:
        atomic_files.write_file(
            path, lambda staged: figure.savefig(staged, dpi=110, bbox_inches="tight", format="png")
        )
    finally:
        plt.close(figure)


def _shade_phases(axis, phases, names=None):
    """Shades every other phase and labels each at its first epoch, by name if known."""
    starts = [0] + [i for i in range(1, len(phases)) if phases[i] != phases[i - 1]]
    ends = starts[1:] + [len(phases)]
    for number, (start, end) in enumerate(zip(starts, ends)):
        if number % 2:
            axis.axvspan(start + 0.5, end + 0.5, color="0.9", zorder=0)
        label = names[start] if names else f"phase {int(phases[start])}"
        axis.text(start + 0.6, 1.0, label, fontsize=7,
                  va="top", transform=axis.get_xaxis_transform())


def accuracy_keys(history):
    """The logged accuracy metrics of a history (`accuracy`, `sparse_categorical_accuracy`, ...)."""
    return [key for key in history if "accuracy" in key and not key.startswith("val_")]


def training_curves(plt, histories, path):
    """One column per training run: loss on top, accuracy metrics below, by epoch."""
    names = list(histories)
    figure, axes = plt.subplots(2, len(names), figsize=(4.2 * len(names), 6), squeeze=False)
    for column, name in enumerate(names):
        history = histories[name]
        for row, (label, metrics) in enumerate(
            (("loss", ["loss"]), ("accuracy", accuracy_keys(history)))
        ):
            axis = axes[row, column]
            plotted = False
            for metric in metrics:
                for key in (metric, f"val_{metric}"):
                    if key in history:
                        values = history[key]
                        axis.plot(range(1, len(values) + 1), values, label=key, marker=".")
                        plotted = True
            if "phase" in history and len(set(history["phase"])) > 1:
                _shade_phases(axis, history["phase"], history.get("phase_name"))
            axis.set_xlabel("epoch")
            axis.set_ylabel(label)
            if plotted:
                axis.legend(fontsize=7)
            else:
                axis.text(0.5, 0.5, f"no {label} metric logged", ha="center", va="center",
                          transform=axis.transAxes, fontsize=8, color="0.4")
        axes[0, column].set_title(name)
    figure.tight_layout()
    _save(figure, path)


def reliability_diagram(plt, bins_by_model, path):
    """Accuracy against confidence per bin, one line per model, with the diagonal."""
    figure, axis = plt.subplots(figsize=(5, 5))
    axis.plot([0, 1], [0, 1], color="0.6", linestyle="--", label="perfect calibration")
    for name, bins in bins_by_model.items():
        filled = np.asarray(bins["count"]) > 0
        axis.plot(
            np.asarray(bins["confidence"])[filled],
            np.asarray(bins["accuracy"])[filled],
            marker="o",
            label=name,
        )
    axis.set_xlabel("confidence (top-1 probability)")
    axis.set_ylabel("accuracy")
    axis.set_xlim(0, 1)
    axis.set_ylim(0, 1)
    axis.legend(fontsize=8)
    axis.set_title("Reliability diagram (test set)")
    _save(figure, path)


def confusion_plot(plt, matrix, title, path):
    """The confusion matrix as an image with a count in each non-empty cell."""
    matrix = np.asarray(matrix)
    size = max(4.0, 0.45 * len(matrix) + 1.5)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(np.log1p(matrix), cmap="Blues")
    threshold = np.log1p(matrix).max() / 2
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            color = "white" if np.log1p(count) > threshold else "black"
            axis.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    axis.set_xticks(range(len(matrix)))
    axis.set_yticks(range(len(matrix)))
    axis.set_xlabel("predicted class")
    axis.set_ylabel("true class")
    axis.set_title(title)
    _save(figure, path)


def disagreement_figure(plt, images, items):
    """The figure of `disagreement_grid`, not yet saved.

    Each panel's title reads `label y | T t | S s (confidence)`.
    """
    columns = min(8, len(items))
    rows = -(-len(items) // columns)
    # The constrained layout reserves room for the suptitle above the panels'
    # two-line titles; the default layout draws them over each other.
    figure, axes = plt.subplots(
        rows, columns, figsize=(1.6 * columns, 1.9 * rows + 0.4), squeeze=False,
        layout="constrained",
    )
    for axis in axes.flat:
        axis.axis("off")
    for axis, item, image in zip(axes.flat, items, images):
        axis.imshow(image, cmap="gray_r" if image.ndim == 2 else None)
        axis.set_title(
            f"y {item['label']} | T {item['teacher']}\nS {item['student']} "
            f"({item['student_confidence']:.2f})",
            fontsize=7,
        )
    figure.suptitle("Most confident student-teacher disagreements (test set)", fontsize=9)
    return figure


def disagreement_grid(plt, images, items, path):
    """The images the student and teacher label differently, most confident
    first, saved as a PNG at `path`."""
    _save(disagreement_figure(plt, images, items), path)

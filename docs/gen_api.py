"""Writes docs/api/*.md: one reference page per public package, driven by `__all__`.

    python docs/gen_api.py          # rewrite the pages
    python docs/gen_api.py --check  # exit 1 if a page is out of date (CI, tests/test_api_docs.py)

mkdocstrings renders each `::: name` entry from the docstring; the pages list
exactly the symbols of each package's `__all__`, so the reference and the
package cannot drift apart.
"""

import argparse
import importlib
import inspect
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
API = ROOT / "docs" / "api"
# (page, module, title, what it holds)
PAGES = [
    ("keras_distill.md", "keras_distill", "keras_distill",
     "The top-level API: the Distiller, the teacher cache and ensemble, exporters, the report."),
    ("losses.md", "keras_distill.losses", "keras_distill.losses",
     "Distillation losses on logits and feature losses on intermediate layers."),
    ("features.md", "keras_distill.features", "keras_distill.features",
     "Feature distillation: pairs of matched layers."),
    ("language.md", "keras_distill.language", "keras_distill.language",
     "keras-hub language models: LoRA students (the Distiller takes CausalLMs as they are)."),
    ("augment.md", "keras_distill.augment", "keras_distill.augment",
     "Batch mixing and view augmentations for consistent teaching."),
    ("callbacks.md", "keras_distill.callbacks", "keras_distill.callbacks",
     "Schedules of temperature and alpha, phases, checkpoints, crash-safe backups."),
    ("schedules.md", "keras_distill.schedules", "keras_distill.schedules",
     "Serializable schedules for callbacks."),
    ("export.md", "keras_distill.export", "keras_distill.export",
     "SavedModel, TFLite and ONNX exporters with verification."),
    ("optimize.md", "keras_distill.optimize", "keras_distill.optimize",
     "Pruning and quantization-aware distillation: Keras-native (every backend) and tfmot."),
    ("report.md", "keras_distill.report", "keras_distill.report",
     "The distillation report and its metrics."),
    ("tuning.md", "keras_distill.tuning", "keras_distill.tuning",
     "Distillation-aware hyper-parameter search on KerasTuner."),
    ("transfer.md", "keras_distill.transfer", "keras_distill.transfer",
     "Initialising a student from teacher weights."),
    ("teachers.md", "keras_distill.teachers", "keras_distill.teachers",
     "Teachers from ONNX, TFLite, SavedModel, PyTorch, scikit-learn, functions and files."),
    ("errors.md", "keras_distill.errors", "keras_distill.errors",
     "The errors keras_distill raises."),
    ("distribute.md", "keras_distill.distribute", "keras_distill.distribute",
     "Multi-process runs: which process writes files."),
]


def documented(module_name):
    """The symbols of `module_name.__all__` that get a reference entry (no sub-packages)."""
    module = importlib.import_module(module_name)
    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj) or name.startswith("__"):
            continue
        names.append(name)
    return names


def page(module_name, title, summary):
    lines = [f"# {title}", "", summary, ""]
    for name in documented(module_name):
        lines += [f"## {name}", "", f"::: {module_name}.{name}", ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    stale = []
    for filename, module_name, title, summary in PAGES:
        text = page(module_name, title, summary)
        path = API / filename
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(str(path.relative_to(ROOT)))
        else:
            API.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if stale:
        print(f"Out of date: {', '.join(stale)}. Run: python docs/gen_api.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

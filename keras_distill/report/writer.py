"""Rendering a report's results as Markdown and JSON, written atomically."""

import json
import os

from keras_distill.core import atomic_files

MODEL_LABELS = {
    "teacher": "teacher",
    "student_alone": "student alone",
    "distilled_student": "distilled student",
}


def write_text(path, text):
    """Writes `text` beside `path`, then renames it into place."""

    def write(staged):
        with open(staged, "w", encoding="utf-8") as f:
            f.write(text)

    atomic_files.write_file(path, write)


def to_json(results):
    """The results as indented JSON text."""
    return json.dumps(results, indent=2, sort_keys=False) + "\n"


def _number(value, fmt):
    return "n/a" if value is None else format(value, fmt)


def _size(num_bytes):
    if num_bytes < 1024**2:
        return f"{num_bytes / 1024:.1f} KiB"
    return f"{num_bytes / 1024**2:.2f} MiB"


def _models_table(results):
    lines = [
        "| model | parameters | test accuracy | test errors | ECE "
        "| Keras eager (ms/sample) | Keras tf.function (ms/sample) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for key, label in MODEL_LABELS.items():
        model = results["models"].get(key)
        if model is None:
            continue
        lines.append(
            f"| {label} | {model['parameters']:,} | {100 * model['accuracy']:.2f}% | "
            f"{model['errors']} / {results['num_test_samples']} | {model['ece']:.4f} | "
            f"{_number(model.get('latency_ms'), '.3f')} | "
            f"{_number(model.get('compiled_latency_ms'), '.3f')} |"
        )
    return lines


def parameter_ratio(compression):
    """`"1.9x fewer parameters"` for a teacher/student parameter ratio of 1.9,
    `"8.7x more parameters"` for 0.115 (a student larger than its teacher)."""
    if compression >= 1:
        return f"{compression:.1f}x fewer parameters"
    return f"{1 / compression:.1f}x more parameters"


def _distillation_lines(results):
    d = results["distillation"]
    gap = d["gap_closed"]
    lines = [
        "- Share of the teacher-student gap closed: "
        + ("n/a (the teacher is not better than the student alone)" if gap is None
           else f"{100 * gap:.1f}%"),
        f"- Teacher-student top-1 agreement: {100 * d['agreement']:.2f}%",
        f"- Mean KL(teacher || student) at T=1: {d['mean_kl']:.4f} nats",
        f"- Parameters: the student has {parameter_ratio(d['compression'])} than the teacher",
    ]
    if d.get("student_alone_agreement") is not None:
        lines.insert(2, "- Student alone vs teacher top-1 agreement: "
                     f"{100 * d['student_alone_agreement']:.2f}%")
    return lines


def _speedups(item):
    values = [item.get("speedup_vs_teacher"), item.get("speedup_vs_compiled_teacher")]
    return " / ".join("n/a" if v is None else f"{v:.1f}x" for v in values)


def _exports_lines(results):
    exports = results["exports"]
    if not exports:
        return ["No exported artifacts were given."]
    lines = [
        "| artifact | size | verified | max abs diff vs Keras | top-1 agreement vs Keras "
        "| latency (ms/sample) | speed-up vs Keras teacher (eager / tf.function) |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for item in exports:
        agreement = item["agreement"]
        lines.append(
            f"| {item['label']} (`{os.path.basename(item['path'])}`) | "
            f"{_size(item['size_bytes'])} | "
            f"{'yes' if item['verified'] else 'no'} | {_number(item['max_abs_diff'], '.3g')} | "
            + ("n/a" if agreement is None else f"{100 * agreement:.2f}%")
            + f" ({item['num_samples']} samples) | {_number(item['latency_ms'], '.3f')} | "
            + _speedups(item)
            + " |"
        )
    ratio = results.get("int8_size_ratio")
    if ratio is not None:
        lines += ["", f"int8 TFLite size / float32 TFLite size: {ratio:.3f}"]
    return lines


def _cell(value):
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _per_class_lines(results):
    per_class = results.get("per_class")
    if not per_class:
        return []
    names = list(per_class["accuracy"])
    header = " | ".join(MODEL_LABELS.get(name, name) for name in names)
    lines = [
        "Test accuracy per true class, and how often the distilled student labels that "
        "class's samples differently from the teacher.",
        "",
        f"| class | {header} | student-teacher disagreements |",
        "|---|" + "---:|" * (len(names) + 1),
    ]
    for c in per_class["classes"]:
        cells = " | ".join(_cell(per_class["accuracy"][name][c]) for name in names)
        lines.append(
            f"| {c} | {cells} | {per_class['disagreements'][c]} "
            f"({_cell(per_class['disagreement_rate'][c])}) |"
        )
    items = results.get("disagreements") or []
    if items:
        lines += [
            "",
            "Most confident disagreements (test index: label, teacher, student with its "
            "confidence): "
            + "; ".join(
                f"{i['index']}: {i['label']}, {i['teacher']}, {i['student']} "
                f"({i['student_confidence']:.2f})"
                for i in items[:8]
            ),
        ]
    return lines


def _plots_lines(results):
    if results["plots"]:
        return [f"![{name}]({path})" for name, path in results["plots"].items()]
    return [f"Plots were not drawn: {results['plots_skipped']}."]


def to_markdown(results):
    """The results as a Markdown document."""
    lines = [f"# {results['title']}", ""]
    lines += _models_table(results)
    lines += ["", "## Distillation", ""] + _distillation_lines(results)
    per_class = _per_class_lines(results)
    if per_class:
        lines += ["", "## Per class", ""] + per_class
    lines += ["", "## Exported student", ""] + _exports_lines(results)
    lines += ["", "## Plots", ""] + _plots_lines(results)
    if results.get("settings"):
        lines += ["", "## Settings", ""]
        lines += [f"- {key}: `{value}`" for key, value in results["settings"].items()]
    if results.get("phase_seconds"):
        lines += ["", "## Wall time", "", "| phase | seconds |", "|---|---:|"]
        lines += [f"| {name} | {sec:.1f} |" for name, sec in results["phase_seconds"].items()]
        if results.get("wall_seconds") is not None:
            lines.append(f"| total | {results['wall_seconds']:.1f} |")
    lines += [
        "",
        f"Latencies are medians of {results['latency_samples']} single-sample calls on "
        "the CPU after warm-up; ECE uses "
        f"{results['num_bins']} equal-width confidence bins.",
    ]
    return "\n".join(lines) + "\n"

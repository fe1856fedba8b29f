"""The demo's final summary table, printed on the terminal."""

from keras_distill.report import writer
from keras_distill.report.writer import MODEL_LABELS


def _row(cells, widths):
    """The first cell left-aligned, the others right-aligned."""
    padded = [str(cells[0]).ljust(widths[0])]
    padded += [str(c).rjust(w) for c, w in zip(cells[1:], widths[1:])]
    return "  ".join(padded)


def _size(num_bytes):
    if num_bytes < 1024**2:
        return f"{num_bytes / 1024:.0f} KiB"
    return f"{num_bytes / 1024**2:.2f} MiB"


def _table(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = [_row(header, widths), "  ".join("-" * w for w in widths)]
    return lines + [_row(r, widths) for r in rows]


def table(results):
    """The headline numbers of a demo run's results, as plain text."""
    n = results["num_test_samples"]
    rows = [
        [MODEL_LABELS[key], f"{m['parameters']:,}", f"{100 * m['accuracy']:.2f}%",
         f"{m['errors']}/{n}", f"{m['ece']:.4f}", f"{m['latency_ms']:.3f}",
         f"{m['compiled_latency_ms']:.3f}"]
        for key, m in results["models"].items()
    ]
    lines = ["", "== Summary =="]
    header = ["model (Keras)", "params", "test acc", "errors", "ECE", "ms eager", "ms tf.function"]
    lines += _table(header, rows)
    d = results["distillation"]
    gap = "n/a" if d["gap_closed"] is None else f"{100 * d['gap_closed']:.1f}%"
    lines += [
        "",
        f"gap closed: {gap}   teacher agreement: {100 * d['agreement']:.2f}%   "
        f"KL(teacher||student): {d['mean_kl']:.4f}   student: {writer.parameter_ratio(d['compression'])}",
        "",
    ]
    rows = [
        [e["label"], _size(e["size_bytes"]), "yes" if e["verified"] else "no",
         "n/a" if e["agreement"] is None else f"{100 * e['agreement']:.2f}%",
         f"{e['latency_ms']:.3f}",
         f"{e['speedup_vs_teacher']:.1f}x / {e['speedup_vs_compiled_teacher']:.1f}x"]
        for e in results["exports"]
    ]
    lines += _table(
        ["exported student", "size", "verified", "agrees w/ Keras", "ms/sample",
         "vs teacher (eager / tf.function)"], rows
    )
    if results.get("int8_size_ratio") is not None:
        lines.append(f"int8 / float32 TFLite size: {results['int8_size_ratio']:.3f}")
    if results.get("wall_seconds") is not None:
        lines.append(f"wall time: {results['wall_seconds']:.0f} s")
    files = results.get("files", {})
    if files:
        lines.append(f"report: {files['markdown']}")
    return "\n".join(lines)

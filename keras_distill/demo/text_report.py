"""The text demo's report: a table of the three models and their generations side by side."""

from keras_distill.demo.summary import _table

_HEADER = ["model", "params", "held-out perplexity", "agrees with teacher",
           "teacher NLL of own samples"]


def _rows(results):
    return [
        [name, f"{m['parameters']:,}", f"{m['perplexity']:.2f}", f"{100 * m['agreement']:.2f}%",
         f"{m['teacher_nll_of_samples']:.3f}"]
        for name, m in results["models"].items()
    ]


def _gain(results):
    models = results["models"]
    alone, distilled = models["student alone"], models["distilled student"]
    verdict = "better" if distilled["perplexity"] < alone["perplexity"] else "not better"
    return (f"distilled vs alone: held-out perplexity {distilled['perplexity']:.2f} vs "
            f"{alone['perplexity']:.2f} ({verdict})")


def summary(results):
    """The headline numbers and the samples, as plain text for the terminal."""
    lines = ["", "== Summary =="] + _table(_HEADER, _rows(results)) + ["", _gain(results), ""]
    samples = results["samples"]
    for index, prompt in enumerate(samples["prompts"]):
        lines.append(f"prompt: {prompt!r}")
        for name, texts in samples["continuations"].items():
            lines.append(f"  {name:>17}: {texts[index]!r}")
    lines.append("")
    lines.append(f"wall time: {results['wall_seconds']:.0f} s   CPU time: "
                 f"{results['cpu_seconds']:.0f} s")
    lines.append(f"report: {results['files']['markdown']}")
    return "\n".join(lines)


def _cell(text):
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results):
    """`report.md`: settings, the table, and the greedy generations side by side."""
    lines = [f"# {results['title']}", ""]
    lines += ["| " + " | ".join(_HEADER) + " |", "|" + "---|" + "---:|" * (len(_HEADER) - 1)]
    lines += ["| " + " | ".join(row) + " |" for row in _rows(results)]
    lines += [
        "",
        _gain(results) + ".",
        "",
        "Held-out perplexity: exp of the mean next-token cross-entropy on pieces of topics "
        "that no model trained on. Agreement: share of those positions where the model's most "
        "likely next token is the teacher's. Teacher NLL of own samples: each model continues "
        "64 held-out prompts greedily, and the teacher's mean negative log-likelihood "
        "per continuation token is reported (lower: the teacher finds them likelier).",
        "",
        "## Greedy continuations of held-out prompts (the first of the 64 scored)",
        "",
        "| prompt | " + " | ".join(results["samples"]["continuations"]) + " |",
        "|---|" + "---|" * len(results["samples"]["continuations"]),
    ]
    continuations = results["samples"]["continuations"]
    for index, prompt in enumerate(results["samples"]["prompts"]):
        cells = [_cell(prompt)] + [_cell(texts[index][len(prompt):].strip()
                                         if texts[index].startswith(prompt) else texts[index])
                                   for texts in continuations.values()]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Settings", ""]
    lines += [f"- {key}: {value}" for key, value in results["settings"].items()]
    lines += ["", f"Wall time {results['wall_seconds']} s, CPU time {results['cpu_seconds']} s; "
              f"per phase (wall, s): {results['phase_seconds']}", ""]
    return "\n".join(lines)

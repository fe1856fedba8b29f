"""The README's commands and quickstart are real: CI runs the same test command, the snippet runs."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
TEST_COMMAND = 'pip install -c constraints.txt -e ".[test]" && python -m pytest -q -n 2 -m "not slow"'


def test_readme_first_screen_has_both_setup_commands():
    first_screen = "\n".join(README.splitlines()[:25])
    assert TEST_COMMAND in first_screen
    assert 'pip install -c constraints.txt -e ".[demo]" && keras-distill demo' in first_screen


def test_ci_runs_the_readme_test_command():
    ci = (ROOT / ".ci" / "run").read_text()
    pattern = re.search(r"grep -m1 '(.+)' README.md", ci).group(1)
    matches = [line for line in README.splitlines() if re.match(pattern, line)]
    assert matches[0] == TEST_COMMAND


def test_ci_also_runs_the_slow_tests_and_contributing_says_so():
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'python -m pytest -q -n 2 -m slow' in ci
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert TEST_COMMAND.split(" && ")[1] in contributing
    assert 'python -m pytest -q -n 2 -m slow' in contributing


def test_quickstart_snippet_runs():
    section = README.split("## Quickstart", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    namespace = {}
    exec(compile(code, "README.md", "exec"), namespace)
    student = namespace["student"]
    assert student.name != namespace["teacher"].name
    assert namespace["distiller"].student is student
    results = namespace["distiller"].evaluate(
        namespace["x_test"], namespace["y_test"], return_dict=True, verbose=0
    )
    assert results["accuracy"] > 0.5


def test_cli_messages_name_flags_not_python_keywords():
    from keras_distill.cli_flags import as_flags

    assert as_flags("exists; pass `overwrite=True` to replace it.") == (
        "exists; pass --overwrite to replace it."
    )
    assert as_flags("or pass `verify=False` to keep it") == "or pass --no-verify to keep it"
    assert as_flags("use `teacher='mlp'` with `dataset='digits'`.") == (
        "use --teacher mlp with --dataset digits."
    )

"""Every code block of the guides runs: Python blocks in order, commands parsed.

Python blocks of a page run as written, in order, in one namespace that starts
with what the page assumes the reader has (`tests/docs_context.py`: a trained
teacher, a student, MNIST-shaped data). Shell blocks cannot all run here
(installs, downloads, long demos): each `keras-distill` command in them must
parse with the real parser, and each extra named in a `pip install` must exist.
The demo command itself runs in tests/test_demo.py.
"""

import os
import pathlib
import re
import shlex
import subprocess
import sys

import keras
import pytest

import keras_distill_cli
from tests import docs_context

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
tf_only, jax_only = pytest.mark.tensorflow_only, pytest.mark.jax_only
# The pages that train the longest (over ~11 s each on 2 cores) run with the slow tests.
slow = pytest.mark.slow
# Pages that start from an empty namespace: they build everything they use.
SELF_CONTAINED = [
    pytest.param("index.md", marks=tf_only), pytest.param("features.md", marks=slow),
    pytest.param("language_models.md", marks=slow), "migration.md", pytest.param("teachers.md", marks=slow),
]
# Pages of fragments, run on the context; TensorFlow-only where a block is
# (tf.data, trainable phases, exporters, tfmot, tf.distribute), JAX-only for its
# distribution API.
FRAGMENTS = [
    pytest.param("backends.md", marks=jax_only),
    pytest.param("cache.md", marks=[tf_only, slow]),
    pytest.param("callbacks.md", marks=[tf_only, slow]),
    pytest.param("distiller.md", marks=slow),
    pytest.param("distributed.md", marks=[tf_only, pytest.mark.slow]),  # own process
    pytest.param("export.md", marks=[tf_only, slow]),
    "losses.md",
    pytest.param("optimize.md", marks=[tf_only, slow]),
    pytest.param("quantization.md", marks=slow),
    pytest.param("report.md", marks=[tf_only, slow]),
    pytest.param("tuning.md", marks=slow),
]
SHELL = ("", "bash", "sh", "console")
# Pages run in a process of their own: TensorFlow keeps a MirroredStrategy's
# collective keys for the process, and another strategy's later collectives
# would collide with them.
OWN_PROCESS = ("distributed.md",)


def code_blocks(page):
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


def run_blocks(page, namespace):
    blocks = code_blocks(page)
    assert blocks, f"{page} has no python code blocks"
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/{page} block {index + 1}", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("page", SELF_CONTAINED)
def test_guide_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    run_blocks(page, {})


@pytest.mark.parametrize("page", FRAGMENTS)
def test_guide_fragments_run_on_their_context(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    if page in OWN_PROCESS:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        done = subprocess.run([sys.executable, "-m", "tests.docs_page_child", page],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"ran every block of {page}" in done.stdout
        return
    try:
        namespace = run_blocks(page, docs_context.context(page))
    finally:
        keras.distribution.set_distribution(None)
    if page == "distiller.md":
        # The checkpoint block wrote the student alone, a plain Keras model.
        assert namespace["student"].name == "student" and (tmp_path / "student.keras").exists()
    if page == "report.md":
        assert (tmp_path / "report" / "report.md").exists()


def test_every_guide_with_python_is_run():
    tested = {getattr(p, "values", [p])[0] for p in SELF_CONTAINED + FRAGMENTS}
    with_code = {page.name for page in DOCS.glob("*.md") if code_blocks(page.name)}
    assert with_code == tested


def fenced_blocks(text):
    """(info string, body) of each fenced block of a Markdown text."""
    blocks, info, lines = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if info is None:
                info, lines = line[3:].strip(), []
            else:
                blocks.append((info, "\n".join(lines)))
                info = None
        elif info is not None:
            lines.append(line)
    return blocks


def shell_commands():
    """(page, command) for each command of the docs' and README's shell blocks."""
    pages = sorted(DOCS.glob("*.md")) + [ROOT / "README.md"]
    for page in pages:
        for info, body in fenced_blocks(page.read_text()):
            if info not in SHELL:
                continue
            for line in body.replace("\\\n", " ").splitlines():
                line = line.split(" #")[0].strip()
                if line and not line.startswith("#"):
                    for command in line.split("&&"):
                        yield page.name, command.strip()


def _without_environment(words):
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]
    return words


def test_documented_commands_parse():
    extras = set(re.findall(r'^\s+"([a-z]+)": ', (ROOT / "setup.py").read_text(), re.M))
    checked = 0
    for page, command in shell_commands():
        words = _without_environment(shlex.split(command))
        if words[:1] == ["keras-distill"]:
            keras_distill_cli.build_parser().parse_args(words[1:])  # exits 2 on a bad flag
            checked += 1
        elif words[:2] == ["pip", "install"]:
            for names in re.findall(r"\[([a-z,]+)\]", command):
                unknown = set(names.split(",")) - extras
                assert not unknown, f"{page}: `{command}` names unknown extras {unknown}"
                checked += 1
    assert checked >= 10, checked

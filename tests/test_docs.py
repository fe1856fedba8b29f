"""Guides whose code blocks run as written, in order, in one namespace."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
# Guides whose every code block runs here (fast, synthetic or bundled data).
# The getting-started page ends with a TFLite export, a TensorFlow feature.
RUNNABLE = [
    pytest.param("index.md", marks=pytest.mark.tensorflow_only),
    "features.md",
    "migration.md",
]


def code_blocks(page):
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


@pytest.mark.parametrize("page", RUNNABLE)
def test_guide_code_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files the examples write land here
    blocks = code_blocks(page)
    assert blocks, f"{page} has no python code blocks"
    namespace = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/{page} block {index + 1}", "exec"), namespace)

"""Guides whose code blocks run as written, in order, in one namespace."""

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[1] / "docs"
RUNNABLE = ["features.md"]


def code_blocks(page):
    return re.findall(r"```python\n(.*?)```", (DOCS / page).read_text(), re.S)


@pytest.mark.parametrize("page", RUNNABLE)
def test_guide_code_blocks_run(page):
    blocks = code_blocks(page)
    assert blocks, f"{page} has no python code blocks"
    namespace = {}
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/{page} block {index + 1}", "exec"), namespace)

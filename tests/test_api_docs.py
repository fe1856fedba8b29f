"""The documentation site: the API reference lists exactly the exported symbols, and builds strict."""

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs"))

import gen_api  # noqa: E402


def test_reference_pages_are_generated_from_all():
    assert gen_api.main(["--check"]) == 0


def test_documented_symbols_equal_exported_symbols():
    documented = set()
    for path in (ROOT / "docs" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: (\S+)$", path.read_text(), re.M))
    exported = set()
    for _, module_name, _, _ in gen_api.PAGES:
        module = importlib.import_module(module_name)
        for name in module.__all__:
            if not inspect.ismodule(getattr(module, name)) and not name.startswith("__"):
                exported.add(f"{module_name}.{name}")
    assert documented == exported
    # Every public package has its page.
    packages = {
        f"keras_distill.{p.name}" for p in (ROOT / "keras_distill").iterdir()
        if (p / "__init__.py").exists() and p.name not in ("core", "cache", "distiller", "demo", "lm_hooks",
                                                           "ensemble")
    }
    assert packages <= {module for _, module, _, _ in gen_api.PAGES}


def _public_objects():
    for _, module_name, _, _ in gen_api.PAGES:
        module = importlib.import_module(module_name)
        for name in gen_api.documented(module_name):
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


@pytest.mark.parametrize("name, obj", list(_public_objects()), ids=lambda v: v if isinstance(v, str) else "")
def test_public_symbols_have_args_and_an_example(name, obj):
    doc = inspect.getdoc(obj) or ""
    assert doc, f"{name} has no docstring"
    try:
        parameters = [p for p in inspect.signature(obj).parameters if p not in ("self", "args", "kwargs")]
    except (TypeError, ValueError):
        parameters = []
    if parameters:
        assert "Args:" in doc, f"{name} documents no Args"
    assert "Example" in doc, f"{name} has no example"


@pytest.mark.slow
@pytest.mark.tensorflow_only
def test_site_builds_strict(tmp_path):
    process = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert process.returncode == 0, process.stderr[-3000:]

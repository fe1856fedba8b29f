"""The package's import graph runs one way: no package imports one that imports it back."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "keras_distill"


def _package(module_path):
    parts = module_path.relative_to(ROOT).with_suffix("").parts
    return parts[0] if len(parts) > 1 else None  # top-level modules are no package


def _imported_packages(path):
    """keras_distill packages imported anywhere in a file, in-function imports included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "keras_distill" and len(parts) > 1 and (ROOT / parts[1]).is_dir():
                found.add(parts[1])
    return found


def _graph():
    graph = {}
    for path in ROOT.rglob("*.py"):
        package = _package(path)
        if package is not None:
            graph.setdefault(package, set()).update(_imported_packages(path) - {package})
    return graph


def test_no_import_cycle_between_packages():
    graph = _graph()
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return
        if state.get(node) == "open":
            pytest.fail(f"import cycle: {' -> '.join(trail + [node])}")
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            visit(child, trail + [node])
        state[node] = "done"

    for package in sorted(graph):
        visit(package, [])


def test_core_is_the_ground_floor():
    graph = _graph()
    assert graph["core"] == set(), graph["core"]
    # The Distiller stands on core, the augmentations, features, losses and
    # the keras-hub hooks of `lm_hooks/`, which import nothing of the package;
    # `language/` (on-policy distillation, teacher sequences) stands on it.
    assert graph["distiller"] <= {"core", "augment", "features", "lm_hooks", "losses"}, (
        graph["distiller"]
    )
    assert graph["lm_hooks"] == set(), graph["lm_hooks"]


def _module_name(path):
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_graph():
    """Module -> the keras_distill modules it imports (in-function imports included).

    `from package import name` counts as importing `package.name` where that
    is a module, else `package` (its `__init__`).
    """
    modules = {_module_name(path): path for path in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                for alias in node.names:
                    submodule = f"{node.module}.{alias.name}"
                    imported.add(submodule if submodule in modules else node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
        graph[name] = {m for m in imported if m in modules} - {name}
    return graph


def _cycle(graph):
    """One import cycle as a list of nodes, or None."""
    state = {}

    def visit(node, trail):
        if state.get(node) == "done":
            return None
        if state.get(node) == "open":
            return trail[trail.index(node):] + [node]
        state[node] = "open"
        for child in sorted(graph.get(node, ())):
            found = visit(child, trail + [node])
            if found:
                return found
        state[node] = "done"
        return None

    for node in sorted(graph):
        found = visit(node, [])
        if found:
            return found
    return None


def test_no_import_cycle_between_modules():
    cycle = _cycle(_module_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None

"""The package's shape: no import circles, imports pointing one way, heavy libraries loaded only
when used, and modules and functions of a readable size. Built from the source, so a change that
breaks the layout fails here."""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "autonn"

# A module may import modules of its own layer and of the layers above it, never below.
LAYERS = [
    ("base", ["autonn._lazy", "autonn.errors", "autonn.params", "autonn.masking", "autonn.version",
              "autonn.tasks", "autonn.config_errors", "autonn.names", "autonn.quick_exit"]),
    ("registries", ["autonn.components", "autonn.losses", "autonn.metrics", "autonn.samplers",
                    "autonn.measures", "autonn.schedules", "autonn.blocks", "autonn.families"]),
    ("core", ["autonn.config", "autonn.space", "autonn.data", "autonn.training"]),
    ("export", ["autonn.export", "autonn.pyfunc"]),
    ("tracking", ["autonn.tracking"]),
    ("search", ["autonn.search"]),
    ("api", ["autonn.estimators", "autonn"]),
    ("cli", ["autonn.cli", "autonn.__main__"]),
]
HEAVY = ("torch", "optuna", "mlflow", "sklearn", "pandas")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> list[tuple[str, ast.stmt, bool]]:
    """(imported module, statement, inside a function) for every import in the file."""
    tree = ast.parse(path.read_text())
    in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef,
                   ast.AsyncFunctionDef)) for n in ast.walk(f) if n is not f}
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, node, id(node) in in_function) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            out += [(node.module, node, id(node) in in_function)]
            out += [(f"{node.module}.{a.name}", node, id(node) in in_function) for a in node.names]
    return out


def _own(name: str) -> str | None:
    """The autonn module ``name`` refers to (a name imported from a module maps to it)."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


@functools.cache
def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module, path in MODULES.items():
        for name, _, _ in _imports(path):
            target = _own(name) if name.split(".")[0] == "autonn" else None
            if target and target != module:
                graph[module].add(target)
    graph["autonn.export.formats"] |= _format_modules()  # imported by name, on first use
    return graph


def _format_modules() -> set[str]:
    """The modules the export-format registry names (it imports them with importlib)."""
    tree = ast.parse(MODULES["autonn.export.formats"].read_text())
    return {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)
            and isinstance(n.value, str) and n.value in MODULES}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
                on.discard(group[-1])
            if len(group) > 1:
                out.append(sorted(group))

    for v in graph:
        if v not in index:
            visit(v)
    return out


def _layer(module: str) -> int:
    matches = [(len(prefix), i) for i, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or (prefix != "autonn" and module.startswith(prefix + "."))]
    assert matches, f"{module} belongs to no layer: add it to LAYERS"
    return max(matches)[1]


def test_the_cycle_finder_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_no_import_circles_counting_function_level_imports():
    assert _cycles(_graph()) == []


def test_imports_point_one_way_down_the_layers():
    upward = [f"{m} ({LAYERS[_layer(m)][0]}) imports {t} ({LAYERS[_layer(t)][0]})"
              for m, targets in _graph().items() for t in targets if _layer(t) > _layer(m)]
    assert upward == []


def test_data_and_core_know_nothing_of_search_export_tracking_or_cli():
    graph = _graph()
    for module in [m for m in MODULES if _layer(m) <= 2]:
        for target in graph[module]:
            assert not target.startswith(("autonn.search", "autonn.export", "autonn.tracking",
                                          "autonn.cli")), f"{module} imports {target}"


@pytest.mark.parametrize("library, allowed", [
    ("mlflow", ("autonn.tracking", "autonn.export.mlflow_model", "autonn.export.mlflow_signature")),
    ("click", ("autonn.cli",)),
])
def test_only_their_own_modules_import_mlflow_and_click(library, allowed):
    users = {m for m, path in MODULES.items() for name, _, _ in _imports(path)
             if name.split(".")[0] == library}
    assert users and all(m.startswith(allowed) for m in users), sorted(users)


def test_a_function_level_import_of_autonn_says_why():
    silent = []
    for module, path in MODULES.items():
        lines = path.read_text().splitlines()
        for name, node, in_function in _imports(path):
            said = "#" in "".join(lines[node.lineno - 1:node.end_lineno])
            if in_function and name.startswith("autonn") and not said:
                silent.append(f"{module}:{node.lineno}")
    assert sorted(set(silent)) == []


def test_modules_and_functions_stay_readable_in_size():
    too_long = []
    for module, path in MODULES.items():
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{module}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > 50:
                    too_long.append(f"{module}.{node.name}: {length} lines")
    assert too_long == []


def test_every_subpackage_lists_its_pipeline():
    for init in PACKAGE.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc.splitlines()) >= 3, f"{init} needs a docstring listing its modules"


def test_every_subpackage_index_names_each_of_its_modules():
    import re

    missing = []
    for init in PACKAGE.rglob("*/__init__.py"):  # subpackages: the root is the public API
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        missing += [f"{init.parent.name}/{p.name}" for p in init.parent.glob("*.py")
                    if p.stem != "__init__" and not re.search(rf"\b{p.stem}\b", doc)]
    assert missing == []


def _heavy_after(code: str) -> tuple[list[str], str]:
    probe = (f"import sys, json\n{code}\n"
             f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))")
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120, cwd=PACKAGE.parent)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1]), proc.stderr


def test_import_autonn_loads_no_heavy_library():
    assert _heavy_after("import autonn; autonn.AutonnError")[0] == []


@pytest.mark.parametrize("argv", [[], ["search"], ["export"], ["predict"], ["trials"], ["ui"],
                                  ["space"], ["datasets"], ["studies"], ["best"]])
def test_help_loads_no_heavy_library(argv):
    code = ("from autonn.cli import main\n"
            f"try:\n    main({argv + ['--help']!r})\nexcept SystemExit as e:\n    assert e.code == 0")
    assert _heavy_after(code)[0] == []


@pytest.mark.parametrize("argv, says", [
    (["search", "--dataset", "nosuch"], "unknown dataset 'nosuch'"),
    (["search", "bad.yaml"], "bad.yaml:3: unknown key 'space.activaton'"),
    (["search", "--data", "t.csv", "--target", "nope"], "no target column 'nope'"),
])
def test_bad_input_fails_before_any_heavy_library_loads(argv, says, tmp_path):
    (tmp_path / "bad.yaml").write_text("dataset: iris\nspace:\n  activaton: relu\n")
    (tmp_path / "t.csv").write_text("a,b,y\n1,2,0\n3,4,1\n")
    code = (f"import os; os.chdir({str(tmp_path)!r})\nfrom autonn.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 2")
    heavy, stderr = _heavy_after(code)
    assert says in stderr
    assert heavy == []


def test_the_graph_sees_the_modules_the_format_registry_imports_by_name():
    assert "autonn.export.mlflow_model" in _graph()["autonn.export.formats"]

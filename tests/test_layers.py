"""The layering of the code, checked from the source: imports only point down and never form a cycle.

The graph is built from the ``ast`` of every module of ``unlearn_core`` and ``lab_ui`` (and ``app.py``),
imports inside functions included, so a lazy import cannot hide an upward edge.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("unlearn_core", "lab_ui")

# Lowest first. A module belongs to the first layer one of whose prefixes it matches (a package name covers
# its submodules). A module may import from its own layer or any lower one.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("data", ("unlearn_core", "unlearn_core.errors", "unlearn_core.execution", "unlearn_core.assets", "unlearn_core.cache",
              "unlearn_core.hparams", "unlearn_core.metering", "unlearn_core.data", "unlearn_core.shapes", "unlearn_core.user_data")),
    ("metrics", ("unlearn_core.metrics", "unlearn_core.spread", "unlearn_core.targets")),
    ("saliency", ("unlearn_core.saliency",)),
    ("models", ("unlearn_core.models", "unlearn_core.diffusion", "unlearn_core.training", "unlearn_core.gan_loop",
                "unlearn_core.gan_training", "unlearn_core.attribution")),
    ("tasks", ("unlearn_core.tasks",)),
    ("methods", ("unlearn_core.methods",)),
    ("zoo", ("unlearn_core.zoo",)),
    ("runner", ("unlearn_core.runner", "unlearn_core.budget", "unlearn_core.inspection", "unlearn_core.export", "unlearn_core.sweep",
                "unlearn_core.audit", "unlearn_core.lesson_data")),
    ("plots", ("unlearn_core.plots",)),
    ("cli", ("unlearn_core.cli", "unlearn_core.__main__", "unlearn_core.bench", "unlearn_core.tuning",
             "unlearn_core.audit_bench", "unlearn_core.speed")),
    ("ui", ("lab_ui", "app")),
]


def module_files() -> dict[str, Path]:
    files = {"app": ROOT / "app.py"} if (ROOT / "app.py").exists() else {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            files[".".join(parts)] = path
    return files


def import_graph(files: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the project modules it imports (``from . import x`` resolves to the submodule ``x``)."""
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                candidates = [[alias.name] for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[:len(package) - node.level + 1] + [node.module or ""]) if node.level \
                    else node.module or ""
                base = base.rstrip(".")
                candidates = [[f"{base}.{alias.name}", base] for alias in node.names]
            else:
                continue
            for options in candidates:
                hit = next((option for option in options if option in files), None)
                if hit is None:  # `import unlearn_core.x.y` of a module: its longest project prefix
                    hit = next((p for p in _prefixes(options[-1]) if p in files), None)
                if hit is not None and hit != name:
                    targets.add(hit)
        graph[name] = targets
    return graph


def _prefixes(dotted: str) -> list[str]:
    parts = dotted.split(".")
    return [".".join(parts[:i]) for i in range(len(parts), 0, -1)]


def layer_of(module: str) -> int:
    matches = [(len(prefix), index) for index, (_, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise AssertionError(f"module {module} has no layer: add it to LAYERS in tests/test_layers.py")
    return max(matches)[1]


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path a -> b -> ... -> a, or None (depth-first search with colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return stack[stack.index(target):] + [target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def upward_edges(graph: dict[str, set[str]]) -> list[str]:
    edges = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(source):
                edges.append(f"{source} ({LAYERS[layer_of(source)][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)][0]})")
    return edges


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return import_graph(module_files())


def test_every_module_has_a_layer(graph):
    for module in graph:
        layer_of(module)


def test_no_import_cycle(graph):
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_only_point_down(graph):
    edges = upward_edges(graph)
    assert not edges, "imports from a lower layer to a higher one:\n" + "\n".join(edges)


def test_checker_sees_lazy_upward_imports_and_cycles(tmp_path):
    """The checker itself: an import inside a function is an edge, an upward one is reported by name, and a
    two-module cycle is found."""
    package = tmp_path / "unlearn_core"
    (package / "tasks").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks" / "__init__.py").write_text("")
    (package / "tasks" / "base.py").write_text("def f():\n    from ..runner import run_unlearning\n")
    (package / "runner.py").write_text("from .tasks import base\n")
    files = {"unlearn_core": package / "__init__.py", "unlearn_core.tasks": package / "tasks" / "__init__.py",
             "unlearn_core.tasks.base": package / "tasks" / "base.py", "unlearn_core.runner": package / "runner.py"}
    graph = import_graph(files)
    assert graph["unlearn_core.tasks.base"] == {"unlearn_core.runner"}
    assert upward_edges(graph) == ["unlearn_core.tasks.base (tasks) imports unlearn_core.runner (runner)"]
    assert find_cycle(graph) == ["unlearn_core.runner", "unlearn_core.tasks.base", "unlearn_core.runner"]


def test_readme_architecture_names_every_module():
    """The README's architecture table names every package and top-level module of unlearn_core, so the table
    a newcomer reads matches the tree (a new module without a line there fails here)."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Architecture"):readme.index("How one run flows")]
    named = set(re.findall(r"`(?:unlearn_core/)?([\w./]+)`", section))
    core = ROOT / "unlearn_core"
    modules = [f"{p.name}/" if p.is_dir() else p.name for p in sorted(core.iterdir())
               if (p.suffix == ".py" and p.name not in ("__init__.py", "__main__.py"))
               or (p.is_dir() and (p / "__init__.py").exists())]
    missing = [name for name in modules if name not in named]
    assert not missing, f"README's architecture section does not name: {', '.join(missing)}"


MAX_MODULE_LINES = 500


def test_no_module_is_over_500_lines():
    """Every module of unlearn_core and lab_ui stays readable in one sitting: one over 500 lines is split by job
    (plots.py, 1,044 lines, became a package with a module per panel)."""
    lines = {path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
             for package in PACKAGES for path in sorted((ROOT / package).rglob("*.py"))}
    long = [f"{path} ({count} lines)" for path, count in lines.items() if count > MAX_MODULE_LINES]
    assert not long, f"modules over {MAX_MODULE_LINES} lines: " + ", ".join(long)

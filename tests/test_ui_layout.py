"""The shape of the UI code, read from the source (nothing is imported, so this is instant): ``app.py`` is only the
entry point, the ``lab_ui`` modules import each other without cycles, and they reach the compute core only
through its public modules."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "lab_ui"
# The core modules the UI may use; anything else in unlearn_core is internal to it.
PUBLIC_CORE = {"unlearn_core.errors", "unlearn_core.methods", "unlearn_core.zoo", "unlearn_core.runner",
               "unlearn_core.inspection", "unlearn_core.plots", "unlearn_core.plots.lessons", "unlearn_core.attribution",
               "unlearn_core.sweep", "unlearn_core.audit", "unlearn_core.budget", "unlearn_core.execution",
               "unlearn_core.lesson_data", "unlearn_core.metering"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at module level or inside functions (``from package import name`` counts
    as ``package.name``, so ``from unlearn_core import plots`` is seen as ``unlearn_core.plots``)."""
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if "." in node.module:
                modules.add(node.module)
            else:
                modules.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            raise AssertionError(f"{path.name}: use absolute imports (lab_ui.x), got a relative one")
    return modules


def lab_ui_graph() -> dict[str, set[str]]:
    names = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    return {name: {module.split(".")[1] for module in imported_modules(PACKAGE / f"{name}.py")
                   if module.startswith("lab_ui.") and module.split(".")[1] in names} - {name}
            for name in names}


def test_app_py_is_only_the_entry_point():
    source = (ROOT / "app.py").read_text(encoding="utf-8")
    assert len(source.splitlines()) < 100
    assert not any(module.startswith("unlearn_core") for module in imported_modules(ROOT / "app.py"))
    for flag in ("--host", "--port", "--share", "--no-warmup", "--warmup-examples"):
        assert f'"{flag}"' in source


def test_lab_ui_modules_are_layered_without_cycles():
    """lab_ui/__init__.py lists the modules from the page down to the defaults; each may import only modules
    listed after it (imports inside functions included), which rules out cycles."""
    graph = lab_ui_graph()
    docstring = ast.get_docstring(ast.parse((PACKAGE / "__init__.py").read_text(encoding="utf-8")))
    listed = re.findall(r"^- ``(\w+)``", docstring, re.M)
    assert sorted(listed) == sorted(graph), "lab_ui/__init__.py should list every module"
    assert {"layout", "handlers", "compute", "state"} <= set(listed)
    for position, name in enumerate(listed):
        upwards = graph[name] - set(listed[position + 1:])
        assert not upwards, f"lab_ui.{name} imports {sorted(upwards)}, listed above it"


def test_lab_ui_uses_only_the_public_core_modules():
    for path in PACKAGE.glob("*.py"):
        core = {module for module in imported_modules(path) if module.startswith("unlearn_core")}
        assert core <= PUBLIC_CORE, f"{path.name} imports {sorted(core - PUBLIC_CORE)}"


def test_every_endpoint_leaves_as_many_outputs_as_it_is_wired_to():
    """An endpoint that fails in the page writes its message into its status line and leaves its other outputs
    as they were: its count must be the event's (the large view made /run 17 outputs against 16 counted)."""
    from lab_ui.layout import build_app
    from lab_ui.panels import RUN_PANELS

    counted = {fn.api_name: (fn.fn.outputs, len(fn.outputs)) for fn in build_app([]).fns.values()
               if hasattr(fn.fn, "outputs")}
    assert set(counted) == {"run", "compare", "sweep", "audit"}
    assert all(declared == wired for declared, wired in counted.values()), counted
    assert counted["run"][1] == len(RUN_PANELS) + 1  # the panels by name, then the session's view


def test_a_run_fills_every_named_panel():
    from lab_ui.panels import RUN_PANELS, named_panel_values

    view = {"report": {"method": "ga", "model": "digits-cnn", "forget": "class:3", "seed": 0, "hyperparameters": {},
                       "metrics": {"original": {}, "unlearned": {}}}}
    assert set(named_panel_values(view, "status")) == set(RUN_PANELS)

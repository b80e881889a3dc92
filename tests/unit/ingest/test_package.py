"""The ingest package as a whole: the dependency rule keeps it pure (a forbidden import in a
copy of the package breaks the contracts and ruff's ban). Its doctests run with the suite
(pytest.ini's testpaths)."""
from __future__ import annotations

import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import pms_luigi.ingest
from tests.unit.test_architecture import (  # noqa: F401 - package_copy: a fixture
    _add_import,
    _lint_imports,
    _ruff,
    package_copy,
)

MODULES = sorted(f"pms_luigi.ingest.{m.name}" for m in pkgutil.iter_modules(
    pms_luigi.ingest.__path__))


@pytest.mark.parametrize("name", MODULES)
def test_every_module_has_examples(name: str) -> None:
    """Each parser documents itself with examples (run as doctests by the suite)."""
    tests = doctest.DocTestFinder().find(importlib.import_module(name))
    assert sum(len(t.examples) for t in tests) > 0 or name.endswith("__init__")


def test_the_facade_exports_what_it_names() -> None:
    assert all(hasattr(pms_luigi.ingest, name) for name in pms_luigi.ingest.__all__)


@pytest.mark.parametrize(("module", "statement", "broken", "ruff_flags"), [
    ("ingest/tickers.py", "import sqlalchemy", ["ingest is pure"], True),
    ("ingest/common.py", "from pms_luigi.store import schema", ["ingest is pure", "layers"],
     True),
    ("ingest/cotahist.py", "import pms_luigi.faults", ["ingest is pure", "layers"], True),
    ("core/frames.py", "from pms_luigi.ingest import tickers", ["layers"], False),
], ids=["ingest-imports-sqlalchemy", "ingest-imports-store", "ingest-imports-faults",
        "core-imports-ingest"])
def test_a_forbidden_import_breaks_the_contracts(request: pytest.FixtureRequest, module: str,
                                                 statement: str, broken: list[str],
                                                 ruff_flags: bool) -> None:
    root: Path = request.getfixturevalue("package_copy")
    line = _add_import(root / "pms_luigi" / module, statement)
    run = _lint_imports(root)
    assert run.returncode != 0, run.stdout
    for name in broken:
        assert any(name in row and " BROKEN" in row for row in run.stdout.splitlines()), \
            (name, run.stdout)
    lint = _ruff(root, f"pms_luigi/{module}")
    flagged = f"pms_luigi/{module}:{line}:" in lint.stdout and "TID251" in lint.stdout
    assert flagged == ruff_flags, lint.stdout

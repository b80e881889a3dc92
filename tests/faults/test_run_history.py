"""Run history closes itself: no ``task_runs`` row stays RUNNING after its process died.

A step killed after its commit *outside* the cache window leaves its marker valid and its
history row RUNNING. The step is then complete: no later run ever runs it again, so the
step's own closing (under its lock, when it runs) never comes. Every build first closes
such rows where no run holds the pair's lock (``runner.close_dead_runs``), and the ``luigi``
binary closes them for each complete step it meets: DONE when the marker is the dead run's
(finished when the marker was written), ABANDONED otherwise, the ``error`` column saying who
found it and how. A row whose pair's lock is held (a live run) is left alone.

On both store pairs; 8 business days loaded, so the first two are outside the 5-day cache
window of the newest price.
"""
from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.ops import runner
from pms_luigi.pipeline import context
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.engine import step_lock
from tests.conftest import BACKENDS, World, make_world
from tests.faults.servers import LUIGI, config_file, environment
from tests.faults.test_faults import load_short

MTM = "pms.MarkToMarket"


@pytest.fixture(params=BACKENDS)
def eight_days(request: pytest.FixtureRequest, tmp_path: Path
               ) -> Iterator[tuple[World, list[date], Path]]:
    with make_world(request.param, tmp_path) as w:
        w.redis.ping()  # own the embedded server before any subprocess joins it
        yield w, load_short(w, days=8), config_file(tmp_path)


def _killed_after_commit(w: World, cfg: Path, on: date) -> str:
    """MarkToMarket of ``on`` SIGKILLed right after its commit (nothing published); its
    run_id, whose history row the kill leaves RUNNING."""
    proc = subprocess.run([*LUIGI, MTM, "--date", on.isoformat(), "--local-scheduler"],
                          env=environment(cfg, PMS_FAULT=f"{MTM}:after_commit"),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == -9, proc.stderr[-3000:]
    (row,) = _runs(w, MTM, on)
    assert row.status == "RUNNING"
    assert _marker(w, on).run_id == row.run_id  # committed whole
    return row.run_id


def _runs(w: World, family: str, on: date) -> list[sa.Row]:
    t = s.task_runs
    with w.engine.connect() as conn:
        return list(conn.execute(sa.select(t).where(
            t.c.family == family, t.c.business_date == on).order_by(t.c.started_at)))


def _marker(w: World, on: date) -> mk.Marker:
    with w.engine.connect() as conn:
        return mk.read_markers(conn, MTM, [on])[on]


def _assert_closed_done(w: World, on: date, killed: str) -> None:
    """The killed run's row: DONE, when its marker was written, and how it was found."""
    marker = _marker(w, on)
    assert marker.run_id == killed  # the committed run stands: nothing recomputed
    (row,) = [r for r in _runs(w, MTM, on) if r.run_id == killed]
    assert row.status == "DONE"
    assert row.finished_at.replace(tzinfo=None) == marker.finished_at.replace(tzinfo=None)
    assert row.error.startswith("closed by ") and \
        row.error.endswith(": marker committed, process gone"), row.error
    assert row.failure is None


def test_a_kill_after_commit_outside_the_cache_window_is_closed_by_the_next_run(
        eight_days) -> None:
    w, dates, cfg = eight_days
    first, second = dates[0], dates[1]

    # pms-luigi (the runner): closed before the build, though no step of it runs MTM(first)
    killed = _killed_after_commit(w, cfg, first)
    assert runner.run_kind("eod", first) == runner.ExitCode.OK
    _assert_closed_done(w, first, killed)
    assert [r.status for r in _runs(w, MTM, first)] == ["DONE"]  # no new run of MTM(first)

    # the luigi binary: closed when it finds MTM(second) complete
    killed = _killed_after_commit(w, cfg, second)
    proc = subprocess.run([*LUIGI, "pms.EndOfDay", "--date", second.isoformat(),
                           "--local-scheduler"], env=environment(cfg),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    _assert_closed_done(w, second, killed)
    assert [r.status for r in _runs(w, MTM, second)] == ["DONE"]
    assert [r.status for r in _runs(w, "pms.PerformanceAttribution", second)] == ["DONE"]


def test_a_row_whose_lock_is_held_is_a_live_run_and_stays_running(eight_days) -> None:
    w, dates, _cfg = eight_days
    on = dates[5]
    with w.engine.begin() as conn:
        mk.start_run(conn, run_id="live-run", family=MTM, business_date=on)
    ctx = context.current()
    with step_lock(w.engine, w.data_dir / "var" / "locks", MTM, on):
        assert runner.close_dead_runs(ctx) == 0
        assert [r.status for r in _runs(w, MTM, on)] == ["RUNNING"]
    assert runner.close_dead_runs(ctx) == 1  # the lock is free: nobody runs it
    (row,) = _runs(w, MTM, on)
    assert row.status == "ABANDONED"
    assert row.error.endswith("no marker of this run (never committed), process gone")

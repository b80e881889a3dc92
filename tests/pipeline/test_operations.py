"""Operations on both store pairs: the cron scripts' exit codes, waiting for late data, the
single-day rerun, the plain ``luigi`` binary on a PreOpen, the status grid and the freshness
check, and a backfill killed mid-way then resumed.

One demo world per backend for the module (a copy of ``OPS_FUND``, 40 business days, built
once per session); the last day's prices and PTAX are held back so "missing data" is real,
and loaded while a cron run polls.
Tests run in file order and read as an operator's evening and morning.
"""
from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.cli import main as cli
from pms_luigi.cli.run import cron_lock_path
from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner, status
from pms_luigi.pipeline import graph
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, DemoFund, DemoWorlds, World

REPO = Path(__file__).resolve().parents[2]
LAST = date(2026, 11, 26)                      # last demo day: its prices arrive late
PREV = calendar.previous_business_day(LAST)    # 2026-11-25: built by the first cron run
NXT = calendar.next_business_day(LAST)         # 2026-11-27: the pre-open day
HOLIDAY = date(2026, 11, 20)                   # Black Awareness day (ANBIMA holiday)
EOD = list(graph.EOD_FAMILIES)
#: the last day's prices arrive late; EOD is built up to the day before PREV
OPS_FUND = DemoFund(seed=5, end=LAST, through=calendar.previous_business_day(PREV), withheld=LAST)


class Held:
    """The last day's market data, loaded only when a test says it has "arrived"."""

    def __init__(self, data: demo.DemoData) -> None:
        self.prices = data.market_prices[data.market_prices["price_date"] == LAST]
        self.fx = data.fx_fixings[data.fx_fixings["fixing_date"] == LAST]

    def load(self, w: World) -> None:
        load_inputs(w.engine, {"market_prices": self.prices, "fx_fixings": self.fx})


@pytest.fixture(scope="module", params=BACKENDS)
def ops(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData, Held]]:
    with demo_worlds.copy(OPS_FUND, request.param, tmp_path_factory.mktemp("ops")) as (w, data):
        yield w, data, Held(data)


def _script(name: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PMS_PYTHON": sys.executable}
    env.pop("PMS_SCHEDULER_URL", None)
    return subprocess.run([str(REPO / name), *args], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _log(w: World, kind: str, on: date) -> str:
    path = w.data_dir / "var" / "logs" / f"{kind}-{on.isoformat()}.log"
    return path.read_text(encoding="utf-8") if path.exists() else ""


def _run_ids(w: World, families: list[str], on: date) -> dict[str, str]:
    with w.engine.connect() as conn:
        return {f: m.run_id for f in families
                for m in mk.read_markers(conn, f, [on]).values()}


def _done_runs(w: World, since: datetime) -> pd.DataFrame:
    with w.engine.connect() as conn:
        return pd.read_sql(sa.select(s.task_runs.c.family, s.task_runs.c.business_date)
                           .where(s.task_runs.c.status == "DONE",
                                  s.task_runs.c.started_at >= since), conn)


def _duplicate_marks(w: World) -> int:
    m = s.position_marks.c
    with w.engine.connect() as conn:
        dup = sa.select(m.business_date, m.instrument_id, m.strategy_id).group_by(
            m.business_date, m.instrument_id, m.strategy_id).having(sa.func.count() > 1)
        return conn.execute(sa.select(sa.func.count()).select_from(dup.subquery())).scalar_one()


# ------------------------------------------------------------------------------ cron scripts
def test_cron_success_builds_the_date_and_writes_a_dated_log(ops) -> None:
    w, _, _ = ops
    proc = _script("run_eod.sh", "--date", PREV.isoformat())
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(_run_ids(w, EOD, PREV)) == set(EOD)
    text = _log(w, "eod", PREV)
    assert f"eod {PREV} finished with exit code 0" in text
    assert "pms.MarkToMarket" in text  # Luigi's own lines land in the same file


def test_cron_non_business_day_exits_zero_with_a_log_line(ops) -> None:
    w, _, _ = ops
    for script, kind in (("run_eod.sh", "eod"), ("run_preopen.sh", "preopen")):
        proc = _script(script, "--date", HOLIDAY.isoformat())
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "not a business day (National Day of Zumbi and Black Awareness)" in \
            _log(w, kind, HOLIDAY)
    saturday = date(2026, 11, 28)
    assert _script("run_eod.sh", "--date", saturday.isoformat()).returncode == 0
    assert "not a business day (Saturday)" in _log(w, "eod", saturday)


def test_cron_lock_held_exits_4(ops) -> None:
    w, _, _ = ops
    with open(cron_lock_path("eod", PREV), "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = _script("run_eod.sh", "--date", PREV.isoformat())
    assert proc.returncode == 4, proc.stderr[-3000:]
    assert "already running" in _log(w, "eod", PREV)
    # The lock is per (kind, date), not per command line: extra flags do not bypass it.
    with open(cron_lock_path("eod", PREV), "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        proc = _script("run_eod.sh", "--date", PREV.isoformat(), "--workers", "2")
    assert proc.returncode == 4


def test_cron_missing_data_with_a_past_deadline_exits_3_at_once(ops) -> None:
    w, _, _ = ops
    now = datetime.now(calendar.TIMEZONE)
    t0 = time.monotonic()
    proc = _script("run_eod.sh", "--date", LAST.isoformat(), "--wait-until",
                   f"{now:%H:%M}", "--poll-seconds", "60")
    assert proc.returncode == 3, proc.stderr[-3000:]
    assert time.monotonic() - t0 < 60  # one attempt, no poll
    assert "MarketDataReady" in proc.stderr + _log(w, "eod", LAST)
    assert "polling again" not in _log(w, "eod", LAST)


def test_cron_waits_for_late_prices_then_succeeds(ops) -> None:
    w, _, held = ops
    now = datetime.now(calendar.TIMEZONE)
    until = now + timedelta(minutes=4)
    hhmm = f"{until:%H:%M}" if until.date() == now.date() else "23:59"
    env = {**os.environ, "PMS_PYTHON": sys.executable}
    env.pop("PMS_SCHEDULER_URL", None)
    proc = subprocess.Popen([str(REPO / "run_eod.sh"), "--date", LAST.isoformat(),
                             "--wait-until", hhmm, "--poll-seconds", "1"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while "polling again" not in _log(w, "eod", LAST):
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "cron never polled"
            time.sleep(0.2)
        held.load(w)  # the prices arrive while cron polls
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert set(_run_ids(w, EOD, LAST)) == set(EOD)
    found = re.search(rf"eod {LAST} finished with exit code 0 after (\d+) attempt",
                      _log(w, "eod", LAST))
    assert found and int(found.group(1)) >= 2


def test_cron_missing_price_exits_3_and_shows_failed_in_the_grid(ops) -> None:
    w, _, held = ops
    with w.engine.connect() as conn:
        iid = conn.execute(sa.select(s.position_marks.c.instrument_id).where(
            s.position_marks.c.business_date == LAST,
            s.position_marks.c.instrument_id.like("DI1%")).limit(1)).scalar_one()
    invalidation.invalidate("pms.MarkToMarket", LAST, downstream=True)
    with w.engine.begin() as conn:
        conn.execute(sa.delete(s.market_prices).where(s.market_prices.c.price_date == LAST,
                                                      s.market_prices.c.instrument_id == iid))
    proc = _script("run_eod.sh", "--date", LAST.isoformat())
    assert proc.returncode == ExitCode.MISSING_DATA, proc.stderr[-3000:]  # --wait-until waits
    assert iid in _log(w, "eod", LAST)  # the error names the instrument
    g = status.grid(LAST, LAST)
    assert g.cells[("pms.MarkToMarket", LAST)] == "failed"
    assert g.cells[("pms.PerformanceAttribution", LAST)] == "missing"
    held.load(w)  # the price is corrected; the same command now succeeds
    assert _script("run_eod.sh", "--date", LAST.isoformat()).returncode == 0
    assert status.grid(LAST, LAST).cells[("pms.MarkToMarket", LAST)] == "done"


# ------------------------------------------------------------------------------ rerun
def test_rerun_dry_run_lists_and_real_run_replaces_later_dates_too(ops, capsys) -> None:
    w, _, _ = ops
    day = calendar.add_business_days(LAST, -2)
    later = calendar.business_days(day, LAST)
    before = {d: _run_ids(w, EOD, d) for d in later}
    marks_before = _marks_count(w, later)
    assert cli.main(["rerun", "--task", "MarkToMarket", "--date", day.isoformat(),
                     "--downstream", "--dry-run"]) == 0
    out = capsys.readouterr().out
    for d in later:
        for fam in EOD:
            assert f"would rerun {fam} {d}" in out
    assert {d: _run_ids(w, EOD, d) for d in later} == before  # nothing changed

    # Without --downstream only the step itself reruns; its consumers become stale.
    assert cli.main(["rerun", "--task", "MarkToMarket", "--date", LAST.isoformat()]) == 0
    assert _run_ids(w, EOD, LAST)["pms.MarkToMarket"] != before[LAST]["pms.MarkToMarket"]
    assert status.grid(LAST, LAST).cells[("pms.PerformanceAttribution", LAST)] == "stale"
    before[LAST] = _run_ids(w, EOD, LAST)

    since = datetime.now(UTC)
    assert cli.main(["rerun", "--task", "pms.MarkToMarket", "--date", day.isoformat(),
                     "--downstream"]) == 0
    after = {d: _run_ids(w, EOD, d) for d in later}
    for d in later:
        for fam in EOD:
            assert after[d][fam] != before[d][fam], (fam, d)
    runs = _done_runs(w, since)
    assert len(runs) == 2 * len(later) and not runs.duplicated().any()
    assert _marks_count(w, later) == marks_before and _duplicate_marks(w) == 0
    assert backfills.missing(EOD, later) == {f: [] for f in EOD}


def _marks_count(w: World, dates: list[date]) -> int:
    with w.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(s.position_marks).where(
            s.position_marks.c.business_date.in_(dates))).scalar_one()


# ------------------------------------------------------------------------------ luigi binary
def test_luigi_binary_preopen_runs_only_what_is_missing_and_check(ops, capsys) -> None:
    w, _, _ = ops
    assert cli.main(["check", "--by", "06:45", "--date", NXT.isoformat()]) == 1
    assert "pms.MorningPack@" in capsys.readouterr().out
    since = datetime.now(UTC)
    cmd = [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", "pms.PreOpen",
           "--date", NXT.isoformat(), "--local-scheduler"]
    proc = subprocess.run(cmd, cwd=REPO, env=os.environ.copy(), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ran = _done_runs(w, since)
    assert sorted(ran["family"]) == ["pms.MorningPack", "pms.TradeProposals"]  # EOD was done
    assert set(ran["business_date"]) == {NXT}
    again = subprocess.run(cmd, cwd=REPO, env=os.environ.copy(), capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 0 and len(_done_runs(w, since)) == 2
    assert cli.main(["check", "--by", "06:45", "--date", NXT.isoformat()]) == 0
    assert "complete" in capsys.readouterr().out
    # The freshness check also runs as cron does: a holiday expects nothing.
    assert cli.main(["check", "--date", HOLIDAY.isoformat()]) == 0


# ------------------------------------------------------------------------------ status grid
def test_status_grid_shows_every_state_in_text_and_html(ops, tmp_path, capsys) -> None:
    w, data, _ = ops
    old = calendar.add_business_days(data.start, 5)
    mid = calendar.add_business_days(LAST, -3)
    invalidation.invalidate("pms.PerformanceAttribution", old, downstream=False)      # missing
    assert runner.build([graph.FAMILIES["pms.MarkToMarket"](date=mid)]) == 0   # no-op
    invalidation.invalidate("pms.MarkToMarket", mid, downstream=False)
    assert runner.build([graph.FAMILIES["pms.MarkToMarket"](date=mid)]) == 0   # next is stale
    before_mid = calendar.previous_business_day(mid)  # upstream of the rerun: stays fine
    w.redis.delete(f"{w.namespace}:marker:pms.MarkToMarket:{before_mid.isoformat()}")
    invalidation.invalidate("pms.TradeProposals", NXT, downstream=False)
    with w.engine.begin() as conn:  # a failed run of a step that has no marker
        mk.start_run(conn, run_id="f" * 32, family="pms.TradeProposals", business_date=NXT)
        mk.finish_run(conn, run_id="f" * 32, status="FAILED", error="MissingPrice: test")
    html = tmp_path / "grid.html"
    assert cli.main(["status", "--start", data.start.isoformat(), "--end", NXT.isoformat(),
                     "--html", str(html)]) == 0
    out = capsys.readouterr().out
    g = status.grid(data.start, NXT)
    nxt_mtm = calendar.next_business_day(mid)
    assert g.cells[("pms.PerformanceAttribution", old)] == "missing"
    assert g.cells[("pms.MarkToMarket", mid)] == "done"
    assert g.cells[("pms.MarkToMarket", nxt_mtm)] == "stale"
    assert g.cells[("pms.MarkToMarket", before_mid)] == "cache-missing"  # cache lost
    # LAST's own marker is fine, but the MTM chain it consumes is stale from nxt_mtm on
    assert g.cells[("pms.MarkToMarket", LAST)] == "stale"
    assert f"pms.MarkToMarket@{nxt_mtm}" in g.reasons[("pms.MarkToMarket", LAST)]
    assert g.cells[("pms.TradeProposals", NXT)] == "failed"
    assert g.cells[("pms.MorningPack", NXT)] == "stale"
    assert g.cells[("pms.MarkToMarket", data.start)] == "done"
    assert any(line.startswith("pms.MarkToMarket") and "#" in line and "s" in line
               and "c" in line.split()[-1] for line in out.splitlines())
    assert "failed=1" in out and "missing=" in out and "stale=" in out
    page = html.read_text(encoding="utf-8")
    for state in ("done", "missing", "stale", "failed"):
        assert f'<td class="s-{state}">' in page
    # cache-missing on its own: a fresh grid after only deleting a cache marker
    assert backfills.backfill(data.start, LAST, progress=None) == 0
    w.redis.delete(f"{w.namespace}:marker:pms.PerformanceAttribution:{LAST.isoformat()}")
    assert status.grid(LAST, LAST).cells[("pms.PerformanceAttribution", LAST)] == \
        "cache-missing"
    assert runner.run_kind("eod", LAST) == 0


# ------------------------------------------------------------------------------ backfill
def test_backfill_plans_the_whole_range_without_clamping(ops) -> None:
    span = calendar.business_days(date(2016, 1, 4), date(2019, 12, 31))
    todo = backfills.missing(EOD, span)  # one bulk status call per family: no date dropped
    assert all(len(todo[f]) == len(span) for f in EOD) and len(span) > 990


def test_backfill_killed_mid_way_resumes_without_duplicates(ops, capsys) -> None:
    w, data, _ = ops
    first = calendar.add_business_days(LAST, -11)
    hit = invalidation.invalidate("pms.MarkToMarket", first, downstream=True)
    assert len(hit) >= 24
    since = datetime.now(UTC)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pms_luigi.cli.main", "backfill", "--start", data.start.isoformat(),
         "--end", LAST.isoformat(), "--chunk", "2"],
        cwd=REPO, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    progress = []
    try:
        for line in proc.stderr:
            if line.startswith("backfill ["):
                progress.append(line)
                if len(progress) == 2:
                    proc.send_signal(signal.SIGKILL)
                    break
    finally:
        proc.kill()
        proc.wait(timeout=60)
        proc.stderr.close()
    assert progress and "eta" in progress[0] and re.search(r" \d+/\d+ dates", progress[0])
    dates = calendar.business_days(data.start, LAST)
    left = backfills.missing(EOD, dates)
    assert 0 < len(left["pms.MarkToMarket"]) < 12  # killed part-way through

    assert cli.main(["backfill", "--start", data.start.isoformat(), "--end",
                     LAST.isoformat(), "--chunk", "10"]) == 0
    err = capsys.readouterr().err
    assert "still missing" in err and "exit code 0" in err
    assert backfills.missing(EOD, dates) == {f: [] for f in EOD}
    runs = _done_runs(w, since)
    assert not runs.duplicated().any()           # each (family, date) ran once in all
    # (the step killed mid-way may have committed and then been re-published, not re-run)
    assert len(runs) >= len({(f, d) for f, d in hit if f in EOD}) - 1
    assert _duplicate_marks(w) == 0


def test_backfill_failure_is_non_zero_with_a_summary(ops, capsys) -> None:
    _w, _, _ = ops
    # NXT has no market data at all: the backfill must say so, not report success.
    assert cli.main(["backfill", "--start", LAST.isoformat(), "--end", NXT.isoformat()]) == 3
    err = capsys.readouterr().err
    # dates 2, were done 1, built 0, by another run 0, re-published 0, still missing 1
    assert re.search(r"pms\.MarkToMarket\s+2\s+1\s+0\s+0\s+0\s+1\s+" + NXT.isoformat(), err), err

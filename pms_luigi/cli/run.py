"""``pms-luigi run`` and ``pms-luigi cron``: one run kind (eod, preopen) for one business date.

``cron`` is what ``run_eod.sh`` / ``run_preopen.sh`` call: today's date in BRT, a holiday
exits 0 with a line, a lock per (kind, date), a dated log file, and ``--wait-until`` to
poll while input data is missing. ``run`` is the same build without the cron wrapping.
Only entry points like these read the clock (``calendar.today_brt``).
"""
from __future__ import annotations

import argparse
import logging
from datetime import date
from pathlib import Path
from typing import Any

from pms_luigi.cli.common import parse_date, parse_hhmm

log = logging.getLogger("pms_luigi")


def cmd_run(args: argparse.Namespace) -> int:
    """Build ``EndOfDay`` or ``PreOpen`` of ``--date`` (default today, BRT).

    Without ``--date`` a holiday is nothing to do (exit 0, like cron); an explicit date
    that is not a business day is a bad request (exit 2, naming the holiday).
    """
    from pms_luigi.core import calendar
    from pms_luigi.core.errors import NotBusinessDay
    from pms_luigi.ops import runner

    on = args.date or calendar.today_brt()
    name = calendar.holiday_name(on)
    if name is not None:
        if args.date is not None:
            raise NotBusinessDay(on, name)
        log.info("%s %s: not a business day (%s): nothing to run", args.kind, on, name)
        return 0
    return runner.run_kind(args.kind, on, workers=args.workers,
                           **runner.scheduler_kwargs(args.scheduler))


def cron_lock_path(kind: str, on: date) -> Path:
    """The cron lock of one (run kind, business date): a different ``--date`` or extra flags
    do not change it (Luigi's own lock hashes the whole command line)."""
    from pms_luigi.pipeline import config as cfg

    locks = cfg.data_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return locks / f"cron-{kind}-{on.isoformat()}.lock"


def cron_log_path(kind: str, on: date) -> Path:
    """``<data_dir>/logs/<kind>-<date>.log``: every line of the cron runs of that date."""
    from pms_luigi.pipeline import config as cfg

    logs = cfg.data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{kind}-{on.isoformat()}.log"


def _cron_date(args: argparse.Namespace) -> date:
    from pms_luigi.core import calendar

    return args.date or calendar.today_brt()


def cmd_cron(args: argparse.Namespace) -> int:
    """The cron entry point behind run_eod.sh / run_preopen.sh.

    Picks the business date in America/Sao_Paulo (both kinds run for *today*: the pre-open
    steps of D read the close of the previous business day), exits 0 with a log line on a
    holiday or weekend, holds a lock per (kind, date) (exit 4 when taken), runs through
    luigid when ``PMS_SCHEDULER_URL`` / ``[pms_cron] scheduler_url`` is set (local
    scheduler otherwise), and with ``--wait-until HH:MM`` polls while input data is missing
    (exit 3) until that BRT time today (a deadline already past means one attempt), instead
    of failing at once. Every line also goes to ``<data_dir>/logs/<kind>-<date>.log``.
    """
    import fcntl

    from pms_luigi.core import calendar
    from pms_luigi.core.errors import AlreadyRunning

    on = _cron_date(args)
    name = calendar.holiday_name(on)
    if name is not None:
        log.info("%s %s: not a business day (%s): nothing to run", args.kind, on, name)
        return 0
    with open(cron_lock_path(args.kind, on), "a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning(f"{args.kind} {on} already running (lock {lock.name} "
                                 "held)") from None
        return _poll(args, on)


def _poll(args: argparse.Namespace, on: date) -> int:
    """Run ``args.kind`` of ``on`` until it is not missing data or ``--wait-until`` passed."""
    import time
    from datetime import UTC, datetime
    from datetime import time as dtime

    from pms_luigi.core import calendar
    from pms_luigi.core.errors import ExitCode
    from pms_luigi.ops import runner
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.pipeline import context

    use_scheduler = bool(cfg.scheduler_url())
    deadline = None
    if args.wait_until:  # today's wall clock in BRT (cron runs the same day)
        deadline = datetime.combine(calendar.today_brt(), dtime(*args.wait_until),
                                    tzinfo=calendar.TIMEZONE)
    log.info("%s %s starting (%s scheduler%s)", args.kind, on,
             "luigid" if use_scheduler else "local",
             f", waiting for data until {deadline:%H:%M}" if deadline else "")
    attempt = 0
    while True:
        attempt += 1
        started = datetime.now(UTC)
        code = runner.run_kind(args.kind, on, workers=args.workers,
                               **runner.scheduler_kwargs(use_scheduler))
        if use_scheduler and code == ExitCode.MISSING_DATA:
            # luigid disabled the steps that failed on missing data: give them back, for the
            # next poll or the next command (runner.reenable_missing_data)
            with context.activated() as ctx:
                runner.reenable_missing_data(ctx, started, cfg.scheduler_url())
        now = datetime.now(calendar.TIMEZONE)
        if code != ExitCode.MISSING_DATA or deadline is None or now >= deadline:
            log.info("%s %s finished with exit code %d after %d attempt(s) (%s)", args.kind,
                     on, code, attempt, ExitCode(code).name)
            return code
        pause = min(args.poll_seconds, max(0.0, (deadline - now).total_seconds()))
        log.info("%s %s: input data missing, polling again in %.0fs (until %s)",
                 args.kind, on, pause, deadline.strftime("%H:%M"))
        time.sleep(pause)


def register(sub: Any) -> None:
    """Add ``run`` and ``cron`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("run", help="run one cron kind for a date")
    s.add_argument("kind", choices=["eod", "preopen"])
    s.add_argument("--date", type=parse_date)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--scheduler", action="store_true",
                   help="use luigid (PMS_SCHEDULER_URL, else [core] scheduler_host/port)")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("cron", help="cron entry point (run_eod.sh / run_preopen.sh)")
    s.add_argument("kind", choices=["eod", "preopen"])
    s.add_argument("--date", type=parse_date)
    s.add_argument("--wait-until", type=parse_hhmm,
                   help="HH:MM BRT: poll for missing input data until then")
    s.add_argument("--poll-seconds", type=float, default=300.0)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(fn=cmd_cron, log_file=lambda a: cron_log_path(a.kind, _cron_date(a)))

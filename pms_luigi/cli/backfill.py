"""``pms-luigi backfill`` and ``pms-luigi rerun``: build a date range, or invalidate a step
(and its consumers) and build it again.

Both print a progress line per chunk and a summary (stderr), and keep the per-task log
(ours and Luigi's) for ``-v/--verbose``.
"""
from __future__ import annotations

import argparse
from typing import Any

from pms_luigi.cli.common import BACKFILL_WORKERS, add_verbose, parse_date
from pms_luigi.ops import DEFAULT_CHUNK


def family(name: str) -> str:
    """A task family from ``MarkToMarket`` or ``pms.MarkToMarket``; an unknown name is a bad
    request naming the known ones."""
    from pms_luigi.core.errors import BadRequest
    from pms_luigi.pipeline.graph import family_name

    try:
        return family_name(name)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None


def cmd_backfill(args: argparse.Namespace) -> int:
    from pms_luigi.core.errors import BadRequest
    from pms_luigi.ops import backfill as backfills
    from pms_luigi.ops import runner

    if args.start > args.end:
        raise BadRequest(f"backfill: --start {args.start} is after --end {args.end}")
    families = [family(t) for t in (args.tasks or [])] or None
    workers = args.workers or (1 if args.scheduler else BACKFILL_WORKERS)
    return backfills.backfill(args.start, args.end, families, chunk=args.chunk,
                              workers=workers, **runner.scheduler_kwargs(args.scheduler))


def cmd_rerun(args: argparse.Namespace) -> int:
    from pms_luigi.ops import invalidate as invalidation
    from pms_luigi.ops import runner
    from pms_luigi.pipeline.graph import FAMILIES

    fam = family(args.task)
    code, hit = invalidation.rerun(fam, args.date, downstream=args.downstream,
                                   dry_run=args.dry_run, chunk=args.chunk,
                                   workers=args.workers,
                                   **runner.scheduler_kwargs(args.scheduler))
    for name, d in sorted(hit, key=lambda fd: (fd[1], FAMILIES[fd[0]].rank)):
        print(f"{'would rerun' if args.dry_run else 'reran'} {name} {d}")
    print(f"{len(hit)} step(s) {'would be ' if args.dry_run else ''}invalidated"
          + ("" if args.dry_run else f"; exit code {code}"))
    return code


def register(sub: Any) -> None:
    """Add ``backfill`` and ``rerun`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("backfill", help="run every missing step in a date range")
    s.add_argument("--start", type=parse_date, required=True)
    s.add_argument("--end", type=parse_date, required=True)
    s.add_argument("--tasks", nargs="*", help="families (default MarkToMarket, attribution)")
    s.add_argument("--workers", type=int,
                   help=f"local: 2+ pipelines MTM and the rest over two processes (default "
                        f"{BACKFILL_WORKERS}); with --scheduler: Luigi workers (default 1)")
    s.add_argument("--chunk", type=int, default=DEFAULT_CHUNK,
                   help=f"dates per luigi.build (default {DEFAULT_CHUNK})")
    s.add_argument("--scheduler", action="store_true",
                   help="use luigid (PMS_SCHEDULER_URL, else [core] scheduler_host/port)")
    add_verbose(s)
    s.set_defaults(fn=cmd_backfill)

    s = sub.add_parser("rerun", help="invalidate a step (and its consumers) and run again")
    s.add_argument("--task", required=True)
    s.add_argument("--date", type=parse_date, required=True)
    s.add_argument("--downstream", action="store_true")
    s.add_argument("--dry-run", action="store_true", help="list what would rerun, change nothing")
    s.add_argument("--workers", type=int, default=1)
    s.add_argument("--chunk", type=int, default=DEFAULT_CHUNK)
    s.add_argument("--scheduler", action="store_true")
    add_verbose(s)
    s.set_defaults(fn=cmd_rerun)

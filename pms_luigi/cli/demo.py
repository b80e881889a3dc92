"""``pms-luigi demo``: load a realistic synthetic fund and run a year of it.

Prints the rows loaded, a progress line per backfill chunk and the backfill's summary, then
the pre-open of the next business day and where its morning pack is; the per-task log
(ours and Luigi's) only with ``-v/--verbose``.
"""
from __future__ import annotations

import argparse
from typing import Any

from pms_luigi.cli.common import BACKFILL_WORKERS, add_verbose, ensure_schema, parse_date


def cmd_demo(args: argparse.Namespace) -> int:
    from pms_luigi import demo
    from pms_luigi.cli.pack import pack_folder, stored_pack
    from pms_luigi.core import calendar
    from pms_luigi.ops import backfill as backfills
    from pms_luigi.ops import runner
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.pipeline import context
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.loader import load_inputs

    ensure_schema()
    end = args.end or calendar.previous_business_day(calendar.today_brt())
    data = demo.generate(seed=args.seed, end=end, n_days=args.days)
    counts = load_inputs(get_engine(cfg.database_url()), data.frames())
    context.forget()
    print("loaded: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    families = ["pms.MarkToMarket", "pms.PerformanceAttribution"]
    code = backfills.backfill(data.start, end, families, chunk=args.chunk, workers=args.workers)
    if code:
        return code
    nxt = calendar.next_business_day(end)
    code = runner.run_kind("preopen", nxt)
    print(f"end-of-day {data.start}..{end} and pre-open {nxt}: "
          f"{'OK' if code == 0 else f'exit {code}'}")
    row = stored_pack(nxt)
    pack = None if row is None else \
        pack_folder(nxt, row["payload"].get("fund_name") or "") / "morning_pack.html"
    if pack is not None and pack.exists():
        print(f"morning pack: {pack}")
    return code


def register(sub: Any) -> None:
    """Add ``demo`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("demo", help="load a realistic synthetic fund and run a year of it")
    s.add_argument("--seed", type=int, default=7)
    s.add_argument("--end", type=parse_date, help="last EOD date (default: last business day)")
    s.add_argument("--days", type=int, default=260, help="business days of history")
    s.add_argument("--workers", type=int, default=BACKFILL_WORKERS,
                   help=f"backfill processes (default {BACKFILL_WORKERS})")
    s.add_argument("--chunk", type=int, default=25)
    add_verbose(s)
    s.set_defaults(fn=cmd_demo)

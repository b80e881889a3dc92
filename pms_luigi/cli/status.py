"""``pms-luigi status`` and ``pms-luigi check``: what is built, and is today's pre-open done."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pms_luigi.cli.common import parse_date, parse_hhmm


def cmd_status(args: argparse.Namespace) -> int:
    """Print the families × business dates grid (and write it as HTML with ``--html``)."""
    from pms_luigi.core.errors import BadRequest
    from pms_luigi.ops import status

    if args.start > args.end:
        raise BadRequest(f"status: --start {args.start} is after --end {args.end}")
    grid = status.grid(args.start, args.end)
    print(status.render_text(grid))
    if args.html:
        Path(args.html).write_text(status.render_html(grid), encoding="utf-8")
        print(f"written {args.html}")
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Freshness watchdog for cron: exit 0 when the pre-open of the date (default today, BRT)
    is complete — all four steps done, transitively (what ``PreOpen(date).complete()``
    answers): MTM and attribution of the previous close, proposals and the morning pack of
    the date — and 1 otherwise ("LATE" once past ``--by``), with one line per step that is
    not done saying why (a stale one names the upstream step and date that makes it so)."""
    from datetime import datetime
    from datetime import time as dtime

    from pms_luigi.core import calendar
    from pms_luigi.ops import status

    on = args.date or calendar.today_brt()
    if not calendar.is_business_day(on):
        print(f"{on}: not a business day ({calendar.holiday_name(on)}): nothing expected")
        return 0
    states = status.preopen_states(on)
    deadline = datetime.combine(on, dtime(*args.by), tzinfo=calendar.TIMEZONE)
    late = datetime.now(calendar.TIMEZONE) >= deadline
    done = all(label == "done" for label, _ in states.values())
    word = "complete" if done else ("LATE" if late else "not complete yet")
    detail = ", ".join(f"{k}={label}" for k, (label, _) in states.items())
    print(f"pre-open {on} (due {deadline:%H:%M} BRT): {word} [{detail}]")
    for key, (label, why) in states.items():
        if label != "done":
            print(f"  {key} {label}: {why}")
    return 0 if done else 1


def register(sub: Any) -> None:
    """Add ``status`` and ``check`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("status", help="families x business dates grid")
    s.add_argument("--start", type=parse_date, required=True)
    s.add_argument("--end", type=parse_date, required=True)
    s.add_argument("--html", help="also write the grid as an HTML page")
    s.set_defaults(fn=cmd_status)

    s = sub.add_parser("check", help="exit non-zero if today's pre-open is not complete")
    s.add_argument("--by", type=parse_hhmm, default="06:45", help="HH:MM BRT deadline")
    s.add_argument("--date", type=parse_date)
    s.set_defaults(fn=cmd_check)

"""``pms-luigi load`` and ``pms-luigi migrate``: input data in, schema up to date."""
from __future__ import annotations

import argparse
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING, Any

from pms_luigi.cli.common import ensure_schema, parse_date

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

#: The step whose figures a replaced trade changes from its trade date on.
MTM_FAMILY = "pms.MarkToMarket"

LOAD_DESCRIPTION = """\
Validate a CSV and load it into an input table: all rows or none. Every problem in the file
is reported at once, with its line, column and the value as written (exit 8, BAD_INPUT).

The file: UTF-8 text, a header line of column names, one row per line. Dates are ISO
(YYYY-MM-DD) unless --dayfirst declares Brazilian dd/mm/yyyy (then only that); numbers use a
decimal point unless --decimal-comma declares a decimal comma (never a thousands separator);
booleans are true/false or 1/0 in any case; rates are decimals (0.1425 for 14.25 %). The
separator is ',' or, when the header line has ';' and no ',', ';' (or --sep).

A trade id already loaded with other values is refused unless --replace is given; a
replacement marks MarkToMarket from the earlier of its old and new trade dates stale (the
next run recomputes it and everything after).
"""


def cmd_migrate(_: argparse.Namespace) -> int:
    """Create or upgrade the schema (Alembic) and say where."""
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import mask_url

    ensure_schema()
    print(f"schema up to date at {mask_url(cfg.database_url())}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Validate a CSV and load it into an input table: all rows or none.

    A refused file is BAD_INPUT naming the file, the table and every problem (line, column,
    value as written, why); an unknown table or a file that is not there is a bad request.
    """
    from pathlib import Path

    from pms_luigi.core import calendar
    from pms_luigi.core.cells import TextFormat
    from pms_luigi.core.errors import BadRequest, InvalidInput
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.loader import INPUT_TABLES, load_inputs, read_csv

    if args.table not in INPUT_TABLES:
        raise BadRequest(f"load: {args.table!r} is not an input table; the input tables: "
                         f"{', '.join(INPUT_TABLES)}")
    if not Path(args.file).is_file():
        raise BadRequest(f"load: no such file: {args.file}")
    if args.replace and args.table != "trades":
        raise BadRequest("load: --replace is for trades (other tables are upserted by key)")
    ensure_schema()
    stale: list[str] = []
    try:
        frame = read_csv(args.file, args.table, sep=args.sep)
        counts = load_inputs(
            get_engine(cfg.database_url()), {args.table: frame},
            as_of=args.as_of or calendar.today_brt(),
            fmt=TextFormat(dayfirst=args.dayfirst, decimal_comma=args.decimal_comma),
            replace=args.replace, on_replace=lambda conn, since, ids: stale.append(
                mark_stale(conn, since, ids)))
    except InvalidInput as exc:
        raise InvalidInput(f"{args.file}: {exc}", table=exc.table, row=exc.row,
                           field=exc.field) from exc
    print(f"loaded {counts[args.table]} row(s) into {args.table}")
    for line in stale:
        print(line)
    return 0


def mark_stale(conn: Connection, since: date, trade_ids: Sequence[str]) -> str:
    """Delete the MarkToMarket markers dated ``since`` and later, in the load's transaction.

    The next run recomputes those dates; every step that consumed one of them is stale
    already (its recorded upstream run no longer exists), so it reruns too.

    Returns:
        What was done, for the operator.
    """
    from pms_luigi.store import markers as mk

    dates = sorted(m.business_date for m in mk.markers_from(conn, since)
                   if m.family == MTM_FAMILY)
    mk.delete_markers(conn, MTM_FAMILY, dates)
    shown = ", ".join(trade_ids[:10]) + (f" and {len(trade_ids) - 10} more"
                                         if len(trade_ids) > 10 else "")
    return (f"replaced {len(trade_ids)} trade(s) ({shown}): {MTM_FAMILY} from "
            f"{since.isoformat()} on is stale ({len(dates)} date(s) to recompute)")


class _Describe(argparse.Action):
    """``--describe [TABLE]`` and ``--help``: print, then exit (like ``--version``)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        from pms_luigi.store import loader

        if option_string in ("-h", "--help"):
            parser.print_help()
            print("\ninput tables and their columns (* required; "
                  f"--describe TABLE for types and units):\n{loader.overview()}")
        elif values in loader.INPUT_TABLES:
            print(loader.describe(values))
        elif values is None:
            print("\n\n".join(loader.describe(name) for name in loader.INPUT_TABLES))
        else:
            parser.error(f"--describe: {values!r} is not an input table; the input tables: "
                         f"{', '.join(loader.INPUT_TABLES)}")
        parser.exit()


def register(sub: Any) -> None:
    """Add ``migrate`` and ``load`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("migrate", help="create/upgrade the schema")
    s.set_defaults(fn=cmd_migrate)

    s = sub.add_parser("load", help="validate and load a CSV into an input table",
                       description=LOAD_DESCRIPTION, add_help=False,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("-h", "--help", nargs=0, action=_Describe,
                   help="show this help, the input tables and their columns, and exit")
    s.add_argument("--describe", nargs="?", metavar="TABLE", action=_Describe,
                   help="show a table's columns (all tables without TABLE): type, required, "
                        "units, and exit")
    s.add_argument("table")
    s.add_argument("file")
    s.add_argument("--as-of", type=parse_date, help="reject rows dated after this (default today)")
    s.add_argument("--dayfirst", action="store_true",
                   help="dates are written dd/mm/yyyy (Brazilian), not YYYY-MM-DD")
    s.add_argument("--decimal-comma", action="store_true",
                   help="numbers are written with a decimal comma (0,1425)")
    s.add_argument("--sep", choices=(",", ";"), metavar="{',',';'}",
                   help="field separator (default ',', or ';' when the header has only ';')")
    s.add_argument("--replace", action="store_true",
                   help="replace trades already loaded under the same trade id (marks the "
                        "MTM from their trade date on stale)")
    s.set_defaults(fn=cmd_load)

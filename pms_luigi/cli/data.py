"""``pms-luigi load`` and ``pms-luigi migrate``: input data in, schema up to date."""
from __future__ import annotations

import argparse
from typing import Any

from pms_luigi.cli.common import ensure_schema, parse_date


def cmd_migrate(_: argparse.Namespace) -> int:
    """Create or upgrade the schema (Alembic) and say where."""
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import mask_url

    ensure_schema()
    print(f"schema up to date at {mask_url(cfg.database_url())}")
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Validate a CSV and load it into an input table: all rows or none.

    A refused file is BAD_INPUT naming the file, the table, the first bad row and field;
    an unknown table or a file that is not there is a bad request.
    """
    from pathlib import Path

    from pms_luigi.core import calendar
    from pms_luigi.core.errors import BadRequest, InvalidInput
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.loader import INPUT_TABLES, load_inputs, read_csv

    if args.table not in INPUT_TABLES:
        raise BadRequest(f"load: {args.table!r} is not an input table; the input tables: "
                         f"{', '.join(INPUT_TABLES)}")
    if not Path(args.file).is_file():
        raise BadRequest(f"load: no such file: {args.file}")
    ensure_schema()
    try:
        frame = read_csv(args.file, args.table)
        as_of = args.as_of or calendar.today_brt()
        counts = load_inputs(get_engine(cfg.database_url()), {args.table: frame}, as_of=as_of)
    except InvalidInput as exc:
        raise InvalidInput(f"{args.file}: {exc}", table=exc.table, row=exc.row,
                           field=exc.field) from exc
    print(f"loaded {counts[args.table]} row(s) into {args.table}")
    return 0


def register(sub: Any) -> None:
    """Add ``migrate`` and ``load`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("migrate", help="create/upgrade the schema")
    s.set_defaults(fn=cmd_migrate)

    s = sub.add_parser("load", help="validate and load a CSV into an input table")
    s.add_argument("table")
    s.add_argument("file")
    s.add_argument("--as-of", type=parse_date, help="reject rows dated after this (default today)")
    s.set_defaults(fn=cmd_load)

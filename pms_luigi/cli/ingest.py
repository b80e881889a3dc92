"""``pms-luigi ingest``: the landed files of a date parsed, checked and written with their
provenance (the ``Ingest`` steps of :mod:`pms_luigi.pipeline.steps.ingest`).

Files land as ``<landing>/<source>/<YYYY-MM-DD>/<file>`` (``[pms_ingest] landing_dir``,
``PMS_LANDING_DIR``; default ``<data_dir>/landing``). A file not landed is missing data
(exit 3, naming the path); a bad file is bad input (exit 8, naming file, place and field;
nothing written); the same file again is a no-op; a corrected one replaces what the earlier
one wrote. The batch runs these steps itself when ``[pms_ingest] sources`` feed a date;
this command runs them alone (e.g. to load and reconcile a file before any fund exists).
"""
from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from pms_luigi.cli.common import ensure_schema, parse_date


def flat_counts(counts: Mapping[str, Any], prefix: str = "") -> str:
    """``{"kinds": {"future": 206}, "messages": 2275}`` -> ``kinds.future=206
    messages=2275``: an ``ingested_files.counts`` document on one line."""
    parts = []
    for key, value in counts.items():
        if isinstance(value, Mapping):
            parts.append(flat_counts(value, f"{prefix}{key}."))
        else:
            parts.append(f"{prefix}{key}={value}")
    return " ".join(p for p in parts if p)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Build the ``Ingest`` step of each source for ``--date``; print each file ingested."""
    from pms_luigi.core.errors import BadRequest
    from pms_luigi.ops import runner
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.pipeline import landing
    from pms_luigi.pipeline.steps.ingest import STEPS
    from pms_luigi.store.engine import get_engine
    from pms_luigi.store.ingested import files_on

    configured = [s.name for s in landing.Landing.from_config().sources]
    names = list(dict.fromkeys(args.sources)) or configured
    unknown = [n for n in names if n not in STEPS]
    if unknown:
        raise BadRequest(f"ingest: unknown source(s) {', '.join(unknown)}; the sources: "
                         f"{', '.join(STEPS)}")
    if not names:
        raise BadRequest("ingest: no source given and [pms_ingest] sources is empty; the "
                         f"sources: {', '.join(STEPS)}")
    ensure_schema()
    code = runner.build([STEPS[n](date=args.date) for n in names])
    with get_engine(cfg.database_url()).connect() as conn:
        files = files_on(conn, args.date)
    latest = files[files["source"].isin(names)].drop_duplicates("source", keep="last")
    for row in latest.itertuples(index=False):
        print(f"{row.source} {args.date}: {row.file_name} sha256 {row.sha256[:16]}… "
              f"{row.size_bytes:,} bytes, run {row.run_id[:12]}: {flat_counts(row.counts)}")
    return code


def register(sub: Any) -> None:
    """Add ``ingest`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("ingest", help="ingest the landed files of a date",
                       description=__doc__.split("\n\n")[0])
    s.add_argument("sources", nargs="*", metavar="SOURCE",
                   help="b3_price_report, anbima_tpf, bcb_ptax, bcb_cdi (default: "
                        "[pms_ingest] sources)")
    s.add_argument("--date", type=parse_date, required=True,
                   help="the landing folder's date (YYYY-MM-DD)")
    s.set_defaults(fn=cmd_ingest)

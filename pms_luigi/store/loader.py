"""Load input data (reference, market, ledger, signals) into the database.

Every table of a load is validated first (``pms_luigi.core.validation``) and then upserted in
ONE transaction: a bad file is refused whole, a repeated file changes nothing.
"""
from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from pms_luigi.core import validation
from pms_luigi.core.errors import InvalidInput
from pms_luigi.store import readers
from pms_luigi.store import schema as s
from pms_luigi.store.writers import upsert_frame

# Load order respects foreign keys.
INPUT_TABLES: dict[str, sa.Table] = {
    "fund": s.fund,
    "instruments": s.instruments,
    "strategies": s.strategies,
    "instrument_aliases": s.instrument_aliases,
    "market_prices": s.market_prices,
    "fx_fixings": s.fx_fixings,
    "cdi_fixings": s.cdi_fixings,
    "vna": s.vna,
    "trades": s.trades,
    "signals": s.signals,
    "capital_flows": s.capital_flows,
}


def read_csv(path: str | Path, table: str = "") -> pd.DataFrame:
    """Read an input CSV the way ``pms-luigi load`` does: every cell as text (validation does
    the typing, so "0,15" or "abc" is reported by row and field instead of silently coerced),
    empty cells as missing. A file that is not UTF-8 is refused with the line and column of
    the first bad byte — a spreadsheet saved as Latin-1 must be fixed, not guessed at."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = raw[:exc.start]
        line = head.count(b"\n") + 1
        header = raw.split(b"\n", 1)[0].decode("utf-8", "replace").strip().split(",")
        col = head.rsplit(b"\n", 1)[-1].count(b",")
        field = header[col] if col < len(header) else f"column {col + 1}"
        raise InvalidInput(
            f"{table or Path(path).name}: not UTF-8 text at line {line}, field {field} "
            f"(byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            table=table, row={"line": line}, field=field) from None
    return pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_values=[""])


def load_inputs(engine: sa.Engine, frames: dict[str, pd.DataFrame],
                as_of: date | None = None) -> dict[str, int]:
    """Validate every frame, then upsert all of them in one transaction. Returns row counts."""
    unknown = set(frames) - set(INPUT_TABLES)
    if unknown:
        raise ValueError(f"not an input table: {sorted(unknown)}")
    with engine.connect() as conn:
        instruments = frames.get("instruments", readers.instruments(conn))
        strategies = frames.get("strategies", readers.strategies(conn))
    if "instruments" in frames:
        instruments = validation.validate("instruments", instruments)
    known = {"instruments": set(instruments["instrument_id"]),
             "strategies": set(strategies["strategy_id"])}
    cleaned = {name: validation.validate(name, frame, known, instruments, as_of)
               for name, frame in frames.items()}
    counts: dict[str, int] = {}
    with engine.begin() as conn:
        for name, tbl in INPUT_TABLES.items():
            if name in cleaned:
                counts[name] = upsert_frame(conn, tbl, cleaned[name])
    return counts

"""The demo's table shapes and reference data as text: column orders, the 24 strategies, CSVs.

Every frame the demo builds carries exactly the columns of ``pms_luigi/store/schema.py`` a load
sets (kept here, not imported, so the demo does not import SQLAlchemy; the tests compare the
two).
The reference tables (instruments, strategies, instrument aliases) of the default demo are
also stored as ``config/*.csv``: :func:`reference_csv` writes a frame in that text form and
:func:`load_reference` reads it back to an equal frame, through the one typing
:func:`typed` applies to frames built in memory too.
"""
from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Final

import pandas as pd

from pms_luigi.core.errors import InvalidInput

#: The default demo's last business day (the reference CSVs in ``config/`` are built for it).
DEFAULT_END: Final = date(2026, 11, 27)

#: Column order of the three reference tables (= pms_luigi/store/schema.py).
REFERENCE_COLUMNS: Final = MappingProxyType({
    "instruments": ("instrument_id", "name", "asset_class", "instrument_type", "currency",
                    "exchange", "maturity_date", "contract_size", "lot_size", "underlying",
                    "is_active"),
    "strategies": ("strategy_id", "name", "asset_class", "factor_tags", "is_systematic"),
    "instrument_aliases": ("alias", "instrument_id"),
})

#: Column order of every demo table, in foreign-key order (reference data first) for a loader.
COLUMNS: Final = MappingProxyType({
    "fund": ("fund_id", "name", "inception_date", "initial_nav"),
    **REFERENCE_COLUMNS,
    "market_prices": ("price_date", "instrument_id", "price", "rate", "source"),
    "fx_fixings": ("fixing_date", "pair", "kind", "rate"),
    "cdi_fixings": ("fixing_date", "rate"),
    "vna": ("ref_date", "index_name", "value"),
    "trades": ("trade_id", "trade_date", "instrument_id", "strategy_id", "quantity", "price",
               "cost_brl", "source", "proposal_id"),
    "signals": ("signal_date", "strategy_id", "signal_id", "conviction"),
    "capital_flows": ("flow_date", "kind", "amount_brl"),
})

#: The fund's 24 strategies: (id, name, asset class, factor tags, generic ids emitted).
#: Asset class is the strategy *family* mapped onto the instrument master's closed enum (RATES
#: INFLATION FX CUPOM CREDIT) plus CROSS_ASSET, kept as a strategy family. The US Treasury
#: generic id is dropped (the master has no UST instrument); RATES_BR_03 (slope) emits the 2Y
#: and 4Y DI aliases instead of DI_PRE. A strategy is systematic unless it is tagged
#: macro-discretionary.
STRATEGIES: Final[tuple[tuple[str, str, str, tuple[str, ...], tuple[str, ...]], ...]] = (
    ("RATES_BR_01", "DI carry & roll-down", "RATES", ("carry",), ("DI_PRE",)),
    ("RATES_BR_02", "Taylor-rule misalignment", "RATES", ("macro-discretionary",), ("DI_PRE",)),
    ("RATES_BR_03", "DI slope (flattener/steepener)", "RATES", ("momentum", "mean-reversion"),
     ("DI_PRE_2Y", "DI_PRE_4Y")),
    ("RATES_BR_04", "US rates spillover to DI", "RATES", ("macro-discretionary",), ("DI_PRE",)),
    ("RATES_03", "BR-US rate spread", "RATES", ("relative-value",), ("DI_PRE",)),
    ("RATES_04", "Term-premium extraction", "RATES", ("carry", "mean-reversion"), ("DI_PRE",)),
    ("RATES_05", "FOMC event", "RATES", ("event-driven",), ()),
    ("RATES_06", "COPOM event", "RATES", ("event-driven",), ("DI_PRE",)),
    ("INF_BR_01", "Breakeven inflation", "INFLATION", ("carry",), ("DI_PRE", "NTN_B_REAL")),
    ("INF_02", "IPCA surprise", "INFLATION", ("event-driven",), ("NTN_B_REAL", "DI_PRE")),
    ("INF_03", "Inflation carry", "INFLATION", ("carry",), ("DI_PRE", "NTN_B_REAL")),
    ("FX_BR_01", "USDBRL carry & fundamental", "FX", ("carry",), ("USDBRL",)),
    ("FX_02", "Carry-adjusted momentum", "FX", ("carry", "momentum"), ("USDBRL",)),
    ("FX_03", "Flow-based tactical", "FX", ("momentum",), ("USDBRL",)),
    ("FX_04", "Vol-surface relative value", "FX", ("relative-value",), ("USDBRL",)),
    ("FX_05", "Terms-of-trade misalignment", "FX", ("macro-discretionary",), ("USDBRL",)),
    ("CUPOM_01", "CIP basis mean reversion", "CUPOM", ("carry", "relative-value"),
     ("DI_PRE", "USDBRL")),
    ("CUPOM_02", "Onshore-offshore spread", "CUPOM", ("relative-value",), ("DDI", "NDF")),
    ("SOV_BR_01", "BR fiscal risk premium", "CREDIT", ("macro-discretionary",),
     ("DI_PRE", "USDBRL")),
    ("SOV_01", "CDS curve trading", "CREDIT", ("momentum",), ("CDS_BR",)),
    ("SOV_02", "EM sovereign relative value", "CREDIT", ("relative-value",), ("CDS_BR",)),
    ("SOV_03", "Rating-migration anticipation", "CREDIT", ("event-driven",), ("CDS_BR", "DI_PRE")),
    ("CROSS_01", "Macro regime allocation", "CROSS_ASSET", ("macro-discretionary",),
     ("DI_PRE", "USDBRL", "IBOV_FUT", "NTN_B_REAL")),
    ("CROSS_02", "Global risk appetite", "CROSS_ASSET", ("momentum",),
     ("DI_PRE", "USDBRL", "IBOV_FUT")),
)


def strategy_frame() -> pd.DataFrame:
    """The ``strategies`` table of :data:`STRATEGIES` (factor tags as lists of str)."""
    rows = [{"strategy_id": sid, "name": name, "asset_class": ac, "factor_tags": list(tags),
             "is_systematic": "macro-discretionary" not in tags}
            for sid, name, ac, tags, _ in STRATEGIES]
    return typed("strategies", pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS["strategies"])))


def typed(table: str, frame: pd.DataFrame) -> pd.DataFrame:
    """One canonical typing for reference frames, whether built here or read from CSV.

    Why: the CSVs and the generator must give *equal* frames (a test compares them), so both
    go through this: text (and dates, tag lists) as object columns with None for NULL, sizes
    float, flags bool, a fresh RangeIndex.
    """
    out = frame[list(REFERENCE_COLUMNS[table])].copy()
    for col in out.columns:
        if col in ("contract_size", "lot_size"):
            out[col] = out[col].astype(float)
        elif col in ("is_active", "is_systematic"):
            out[col] = out[col].astype(bool)
        else:
            out[col] = pd.Series([None if v is None or (isinstance(v, float) and math.isnan(v))
                                  else v for v in out[col]], index=out.index, dtype=object)
    return out.reset_index(drop=True)


def load_reference(config_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read ``instruments.csv``, ``strategies.csv`` and ``instrument_aliases.csv`` from a folder.

    Args:
        config_dir: the folder holding the three CSVs (``config/`` for the default demo).

    Returns:
        Table name -> frame with the schema's columns in schema order: ``maturity_date`` as
        ``datetime.date`` (None when empty), ``contract_size``/``lot_size`` float, booleans as
        bool, ``factor_tags`` as a list of str (stored as a JSON array in the CSV), empty
        text as None.

    Raises:
        InvalidInput: a file lacks a column, has an unknown one, or a value does not parse
            (the message names the file or the table, row and field).
    """
    folder = Path(config_dir)
    out: dict[str, pd.DataFrame] = {}
    for table, columns in REFERENCE_COLUMNS.items():
        cols = list(columns)
        path = folder / f"{table}.csv"
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
        if list(raw.columns) != cols:
            raise InvalidInput(f"{path}: columns {list(raw.columns)} differ from the schema's "
                               f"{cols}", table=table, field=",".join(cols))
        text = {c: [v.strip() or None for v in raw[c].astype(object)] for c in cols}
        key = text[cols[0]]
        if table == "instruments":
            text["maturity_date"] = [_parse_date(v, table, r, "maturity_date")
                                     for r, v in zip(key, text["maturity_date"], strict=True)]
            for col in ("contract_size", "lot_size"):
                text[col] = [_parse_float(v, table, r, col)
                             for r, v in zip(key, text[col], strict=True)]
            text["is_active"] = [_parse_bool(v, table, r, "is_active")
                                 for r, v in zip(key, text["is_active"], strict=True)]
        elif table == "strategies":
            text["factor_tags"] = [_parse_tags(v, r)
                                   for r, v in zip(key, text["factor_tags"], strict=True)]
            text["is_systematic"] = [_parse_bool(v, table, r, "is_systematic")
                                     for r, v in zip(key, text["is_systematic"], strict=True)]
        out[table] = typed(table, pd.DataFrame(text, columns=cols))
    return out


def reference_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A reference frame as the text ``config/*.csv`` stores: ISO dates, JSON tag arrays,
    empty cells for NULL. :func:`load_reference` reads it back to an equal frame."""
    out = frame.copy()
    if "factor_tags" in out:
        out["factor_tags"] = [json.dumps(list(t)) for t in out["factor_tags"]]
    if "maturity_date" in out:
        out["maturity_date"] = [None if v is None else v.isoformat() for v in out["maturity_date"]]
    return out


def _parse_float(value: str | None, table: str, row: str, fld: str) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not a number",
                           table=table, row=row, field=fld) from exc


def _parse_date(value: str | None, table: str, row: str, fld: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not an ISO date",
                           table=table, row=row, field=fld) from exc


def _parse_bool(value: str | None, table: str, row: str, fld: str) -> bool:
    text = (value or "").lower()
    if text in ("true", "1", "t", "yes"):
        return True
    if text in ("false", "0", "f", "no"):
        return False
    raise InvalidInput(f"{table} row {row}: field {fld} {value!r} is not a boolean",
                       table=table, row=row, field=fld)


def _parse_tags(value: str | None, row: str) -> list[str]:
    try:
        tags = json.loads(value or "")
    except json.JSONDecodeError as exc:
        raise InvalidInput(f"strategies row {row}: field factor_tags {value!r} is not a JSON "
                           "array", table="strategies", row=row, field="factor_tags") from exc
    if not isinstance(tags, list) or not tags or not all(isinstance(t, str) for t in tags):
        raise InvalidInput(f"strategies row {row}: field factor_tags {value!r} must be a "
                           "non-empty JSON array of strings", table="strategies", row=row,
                           field="factor_tags")
    return tags

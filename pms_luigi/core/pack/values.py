"""How the pack writes a value: rounding at a stated precision, dates, missing inputs.

Floats are rounded once, here, at the precision of what they measure:

* money (R$, US$): 2 decimals (centavos)          -> ``MONEY_DP``
* bps of NAV and rate changes in bp: 2 decimals    -> ``BPS_DP``
* returns and ratios in percent: 4 decimals        -> ``PCT_DP``
* rates in percent a.a. (14.2500 = 14.25%): 4 dp   -> ``RATE_PCT_DP``
* prices/PUs/points/FX: 8 decimals (schema scale)  -> ``PRICE_DP``
* conviction, leverage: 4 decimals                 -> ``RATIO_DP``
* limit utilisation in percent: 2 decimals          -> ``UTIL_DP``

Rounding is Python's ``round`` (half-even on the binary value); -0.0 is normalised to 0.0;
a missing or non-finite value stays None — never a made-up 0.

A section (or sub-block) whose input is absent is ``{"status": "unavailable", "reason":
"..."}`` (:func:`unavailable`).
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

import pandas as pd

from pms_luigi.core.frames import as_date
from pms_luigi.core.pack.inputs import PackInputs

MONEY_DP: Final = 2
BPS_DP: Final = 2
PCT_DP: Final = 4
RATE_PCT_DP: Final = 4
PRICE_DP: Final = 8
RATIO_DP: Final = 4
UTIL_DP: Final = 2

_MONTH_CODES: Final = "FGHJKMNQUVXZ"
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                      "Nov", "Dec")


def unavailable(reason: str) -> dict[str, Any]:
    """The block of a section whose input is absent: it says why, and shows no number."""
    return {"status": "unavailable", "reason": reason}


def is_unavailable(block: Any) -> bool:
    """Whether ``block`` is an :func:`unavailable` block."""
    return isinstance(block, dict) and block.get("status") == "unavailable"


def num(v: Any) -> float | None:
    """A finite float, or None (missing, not a number, NaN, inf)."""
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def rnd(x: Any, ndigits: int) -> float | None:
    """Round to ``ndigits``; None for missing/NaN/inf (never a made-up 0), -0.0 as 0.0.

    >>> rnd(2.675, 2), rnd(-0.001, 2), rnd(float("nan"), 2), rnd(True, 2)
    (2.67, 0.0, None, None)
    """
    if isinstance(x, bool):
        return None
    v = num(x)
    if v is None:
        return None
    out = round(v, ndigits)
    return 0.0 if out == 0 else out


def money(x: Any) -> float | None:
    """R$ / US$ at centavos."""
    return rnd(x, MONEY_DP)


def bps(x: Any) -> float | None:
    """bps (of NAV, or of rate) at 2 decimals."""
    return rnd(x, BPS_DP)


def to_date(x: Any) -> date | None:
    """A date from a date, datetime, Timestamp, datetime64 or ISO text; None when missing.

    >>> to_date("2026-02-18"), to_date(pd.NaT), to_date(None)
    (datetime.date(2026, 2, 18), None, None)
    """
    if x is None:
        return None
    try:
        missing = bool(pd.isna(x))
    except (TypeError, ValueError):  # array-likes and other objects are not a missing scalar
        missing = False
    return None if missing else as_date(x, "date")


def iso(x: Any) -> str | None:
    """ISO text of :func:`to_date`, None when missing."""
    d = to_date(x)
    return None if d is None else d.isoformat()


def date_col(s: pd.Series) -> pd.Series:
    """A date-like column (date objects, Timestamps or ISO strings) as python ``date`` values."""
    if len(s) == 0:
        return pd.Series([], dtype=object, index=s.index)
    return pd.to_datetime(s).dt.date


def json_value(v: Any) -> Any:
    """A JSON column value: drivers return dicts/lists, SQLite may hand back a string."""
    if isinstance(v, bytes | bytearray):
        v = v.decode()
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def first_of(d: Mapping[str, Any], *keys: str) -> Any:
    """The value of the first key present and not None (rows of several schema versions)."""
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def text(x: Any) -> str:
    """Text of a value; "" for None or NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def rows_on(df: pd.DataFrame, column: str, day: date) -> pd.DataFrame:
    """Rows of ``df`` dated ``day`` (point-in-time guard: callers may pass wider frames)."""
    if column not in df.columns or len(df) == 0:
        return df
    return df.loc[date_col(df[column]) == day]


def instrument_table(inp: PackInputs) -> pd.DataFrame | None:
    """The instrument master indexed by id, maturities as dates (None if not provided)."""
    if inp.instruments is None:
        return None
    ins = inp.instruments.copy()
    if "maturity_date" in ins.columns:
        ins["maturity_date"] = [to_date(v) for v in ins["maturity_date"]]
    ins.index = pd.Index(ins["instrument_id"].astype(str).to_numpy(), name=None)
    return ins


def names(df: pd.DataFrame | None, key: str) -> dict[str, str]:
    """{id: name} of a reference table ({} when absent or nameless)."""
    if df is None or len(df) == 0 or "name" not in df.columns:
        return {}
    return dict(zip(df[key].astype(str), df["name"].astype(str), strict=True))


def contract_label(maturity: date | None) -> str | None:
    """B3 vertex label of a maturity: month letter + 2-digit year.

    >>> contract_label(date(2027, 1, 4))
    'F27'
    """
    if maturity is None:
        return None
    return f"{_MONTH_CODES[maturity.month - 1]}{maturity.year % 100:02d}"


def vertex_label(maturity: date | None) -> str | None:
    """Newsroom style vertex (how DI moves are quoted in the Brazilian press).

    >>> vertex_label(date(2027, 1, 4))
    'Jan/27'
    """
    if maturity is None:
        return None
    return f"{_MONTH_ABBR[maturity.month - 1]}/{maturity.year % 100:02d}"

"""Validation of input frames before anything is written (pure: pandas only).

Each check is vectorised over the frame and raises ``InvalidInput`` naming the table, the
first offending row (its key columns) and the field, plus how many rows fail — so an
operator can fix the file without reading code. Nothing is ever silently replaced.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.errors import InvalidInput

# table -> (key columns, date columns, numeric columns, required columns)
SPECS: dict[str, tuple[list[str], list[str], list[str], list[str]]] = {
    "fund": (["fund_id"], ["inception_date"], ["initial_nav"],
             ["fund_id", "name", "inception_date", "initial_nav"]),
    "instruments": (["instrument_id"], ["maturity_date"], ["contract_size", "lot_size"],
                    ["instrument_id", "name", "asset_class", "instrument_type", "currency",
                     "exchange", "contract_size", "lot_size"]),
    "strategies": (["strategy_id"], [], [],
                   ["strategy_id", "name", "asset_class", "factor_tags", "is_systematic"]),
    "instrument_aliases": (["alias"], [], [], ["alias", "instrument_id"]),
    "market_prices": (["price_date", "instrument_id"], ["price_date"], ["price", "rate"],
                      ["price_date", "instrument_id", "price"]),
    "fx_fixings": (["fixing_date", "pair", "kind"], ["fixing_date"], ["rate"],
                   ["fixing_date", "pair", "kind", "rate"]),
    "cdi_fixings": (["fixing_date"], ["fixing_date"], ["rate"], ["fixing_date", "rate"]),
    "vna": (["ref_date", "index_name"], ["ref_date"], ["value"],
            ["ref_date", "index_name", "value"]),
    "trades": (["trade_id"], ["trade_date"], ["quantity", "price", "cost_brl"],
               ["trade_id", "trade_date", "instrument_id", "strategy_id", "quantity", "price",
                "source"]),
    "signals": (["signal_date", "strategy_id", "signal_id"], ["signal_date"], ["conviction"],
                ["signal_date", "strategy_id", "signal_id", "conviction"]),
    "capital_flows": (["flow_date", "kind"], ["flow_date"], ["amount_brl"],
                      ["flow_date", "kind", "amount_brl"]),
}

# Optional columns per table (never in the required list). Per table, not per name: a
# market price may lack a yield, but an FX or CDI fixing without its rate is no fixing.
NULLABLE = {"market_prices": {"rate"}, "instruments": {"maturity_date"}, "trades": {"cost_brl"}}
DATE_FIELD = {"market_prices": "price_date", "fx_fixings": "fixing_date",
              "cdi_fixings": "fixing_date", "vna": "ref_date", "trades": "trade_date",
              "signals": "signal_date", "capital_flows": "flow_date"}
# Plausible ranges: catch percent-vs-decimal and absurd values (value outside → error).
RATE_MAX = 1.0  # 100 % a.a. as a decimal; 14.9 means someone sent percent
USDBRL_RANGE = (1.0, 20.0)
PU_MAX = {"DI1": 100_000.0, "DDI": 100_000.0, "LTN": 1_000.0}
# Dated rows that only exist on ANBIMA business days (a Saturday price is a wrong date column).
BUSINESS_DATED = {"market_prices": "price_date", "fx_fixings": "fixing_date",
                  "cdi_fixings": "fixing_date", "trades": "trade_date"}
FX_KINDS = {"PTAX", "CLOSE"}
FLOW_SIGN = {"SUBSCRIPTION": 1.0, "REDEMPTION": -1.0, "FEE": -1.0}


def _fail(table: str, frame: pd.DataFrame, bad: pd.Series, field: str, why: str) -> None:
    if not bool(bad.any()):
        return
    keys = SPECS[table][0]
    first = frame.loc[bad.to_numpy()].iloc[0]
    row = {k: (first[k].isoformat() if isinstance(first[k], date) else first[k])
           for k in keys if k in frame.columns}
    raise InvalidInput(f"{table}: {int(bad.sum())} row(s) with invalid {field} ({why}); "
                       f"first: {row} {field}={first.get(field)!r}",
                       table=table, row=row, field=field)


def validate(table: str, frame: pd.DataFrame, known: dict[str, set[str]] | None = None,
             instruments: pd.DataFrame | None = None, as_of: date | None = None) -> pd.DataFrame:
    """Return a typed copy of ``frame`` or raise ``InvalidInput`` for the first problem."""
    keys, date_cols, num_cols, required = SPECS[table]
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InvalidInput(f"{table}: missing column(s) {missing}; got {list(frame.columns)}",
                           table=table, field=",".join(missing))
    out = frame.copy()
    for col in date_cols:
        if col not in out:
            continue
        parsed = pd.to_datetime(out[col], errors="coerce", format="mixed")
        _fail(table, out, parsed.isna() & out[col].notna(), col, "not a date")
        out[col] = [None if pd.isna(v) else v.date() for v in parsed]
    for col in num_cols:
        if col not in out:
            continue
        parsed = pd.to_numeric(out[col], errors="coerce")
        _fail(table, out, parsed.isna() & out[col].notna(), col, "not a number")
        _fail(table, out, np.isinf(parsed), col, "infinite")
        out[col] = parsed.astype(float)
    for col in required:
        if col not in NULLABLE.get(table, set()):
            _fail(table, out, out[col].isna(), col, "missing value")
    _fail(table, out, out.duplicated(keys, keep=False), "+".join(keys), "duplicate key")
    if as_of is not None and table in DATE_FIELD:
        field = DATE_FIELD[table]
        _fail(table, out, out[field].map(lambda d: d > as_of), field, f"dated after {as_of}")
    if table in BUSINESS_DATED:
        field = BUSINESS_DATED[table]
        days = pd.Series(out[field].dropna().unique())
        holidays = set(days[~days.map(calendar.is_business_day).astype(bool)])
        _fail(table, out, out[field].isin(holidays), field, "not an ANBIMA business day")
    _check_values(table, out, known or {}, instruments)
    return out


def _check_values(table: str, out: pd.DataFrame, known: dict[str, set[str]],
                  instruments: pd.DataFrame | None) -> None:
    if "instrument_id" in out and "instruments" in known and table != "instruments":
        _fail(table, out, ~out["instrument_id"].isin(known["instruments"]), "instrument_id",
              "unknown instrument")
    if "strategy_id" in out and "strategies" in known and table != "strategies":
        _fail(table, out, ~out["strategy_id"].isin(known["strategies"]), "strategy_id",
              "unknown strategy")
    if table == "market_prices":
        _fail(table, out, out["price"] <= 0, "price", "must be > 0")
        if "rate" in out:
            _fail(table, out, out["rate"].abs() >= RATE_MAX, "rate",
                  "looks like percent; rates are decimals (0.1425 for 14.25%)")
        if instruments is not None:
            types = out["instrument_id"].map(instruments.set_index("instrument_id")
                                             ["instrument_type"])
            cap = types.map(PU_MAX).astype(float)
            _fail(table, out, out["price"] > cap, "price", "PU above face value")
    if table == "fx_fixings":
        usd = out["pair"] == "USDBRL"
        lo, hi = USDBRL_RANGE
        _fail(table, out, usd & ((out["rate"] < lo) | (out["rate"] > hi)), "rate",
              f"USDBRL outside [{lo}, {hi}]")
    if table == "fx_fixings":
        _fail(table, out, ~out["kind"].isin(FX_KINDS), "kind", f"not one of {sorted(FX_KINDS)}")
    if table == "capital_flows":
        _fail(table, out, ~out["kind"].isin(FLOW_SIGN), "kind",
              f"not one of {sorted(FLOW_SIGN)}")
        sign = out["kind"].map(FLOW_SIGN).astype(float)
        _fail(table, out, out["amount_brl"] * sign <= 0, "amount_brl",
              "wrong sign for its kind (+ in: SUBSCRIPTION; - out: REDEMPTION, FEE)")
    if table == "cdi_fixings":
        _fail(table, out, (out["rate"] <= -0.01) | (out["rate"] >= RATE_MAX), "rate",
              "looks like percent; CDI is an annual decimal (0.1490 for 14.90%)")
    if table == "signals":
        _fail(table, out, out["conviction"].abs() > 1, "conviction", "outside [-1, 1]")
    if table == "trades":
        _fail(table, out, out["quantity"] == 0, "quantity", "zero")
        _fail(table, out, out["price"] <= 0, "price", "must be > 0")
        if instruments is not None:
            lots = out["instrument_id"].map(instruments.set_index("instrument_id")["lot_size"])
            ratio = out["quantity"] / lots.astype(float)
            _fail(table, out, (ratio - ratio.round()).abs() > 1e-9, "quantity",
                  "not a multiple of the instrument's lot_size")
    if table == "vna":
        _fail(table, out, out["value"] <= 0, "value", "must be > 0")
    if table == "instruments":
        _fail(table, out, out["contract_size"] <= 0, "contract_size", "must be > 0")
        _fail(table, out, out["lot_size"] <= 0, "lot_size", "must be > 0")

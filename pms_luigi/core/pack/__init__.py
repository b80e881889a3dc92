"""The morning pack: the PM's pre-open briefing for trading day D, assembled as a JSON-able dict.

Why a pure assembler: the pack is read at 06:30 on a phone and archived for compliance, so it
must be reproducible to the byte from persisted inputs (DESIGN.md §3: MTM/risk/attribution at
P = the last close, proposals for D, data-quality issues, signals). This module takes those
inputs as DataFrames/dicts whose columns are the DB column names (store/schema.py), does no
I/O and reads no clock; rendering to HTML/PDF/email lives in :mod:`pms_luigi.report.html`.

Sections, in reading order (finance-conventions.md §4.2, original-system.md §4):

=================  =====================================================================
summary            NAV, P&L D-1 (R$ and bps), MTD/YTD (bps, %, % of CDI), VaR use, breaches
action_items       priority-sorted: limit breaches, proposals, signal flips/surges, data
                   quality and stale prices, positions expiring within N business days
market             last B3 session vs the previous settlement: DI1 by vertex (bp), NTN-B
                   real yields (bp), USD/BRL, IBOV future; the window since the last session
                   (after a Brazilian holiday it spans the whole closure)
positions          strategy -> asset class -> instrument, top contributors/detractors,
                   P&L explain, attribution by dimension
risk               VaR/ES, limits with traffic lights, stress table, DV01 buckets, exposures
proposals          proposals for D with pre-trade risk impact and breaches
signal_changes     flips, conviction surges, new and dropped signals vs the previous day
calendar           B3 session today, next B3 holiday, closures ahead, maturities ahead
narrative          a deterministic paragraph generated from the numbers above
=================  =====================================================================

``series`` (not a reading section) carries the chart data: the equity curve with drawdown.

Contract for missing inputs: a section (or sub-block) whose input is absent is
``{"status": "unavailable", "reason": "..."}``; it never shows invented or zero values.
Available sections carry ``"status": "ok"`` (or ``"partial"`` when some sub-blocks are
unavailable).

Determinism: every list has an explicit total sort order, every dict is emitted with sorted
keys (:func:`canonical`), and floats are rounded once, here, at the stated precision:

* money (R$, US$): 2 decimals (centavos)          -> ``MONEY_DP``
* bps of NAV and rate changes in bp: 2 decimals    -> ``BPS_DP``
* returns and ratios in percent: 4 decimals        -> ``PCT_DP``
* rates in percent a.a. (14.2500 = 14.25%): 4 dp   -> ``RATE_PCT_DP``
* prices/PUs/points/FX: 8 decimals (schema scale)  -> ``PRICE_DP``
* conviction, leverage: 4 decimals                 -> ``RATIO_DP``
* limit utilisation in percent: 2 decimals          -> ``UTIL_DP``

Rounding is Python's ``round`` (half-even on the binary value); -0.0 is normalised to 0.0.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput

__all__ = [
    "PackInputs",
    "SECTIONS",
    "SCHEMA_VERSION",
    "assemble_pack",
    "canonical",
    "pack_json",
    "pack_digest",
    "fmt_brl",
    "fmt_bps",
    "fmt_pct",
    "fmt_signed",
]

SCHEMA_VERSION = 1

#: Reading order of the pack's sections (the HTML follows it).
SECTIONS: tuple[str, ...] = (
    "summary",
    "action_items",
    "market",
    "positions",
    "risk",
    "proposals",
    "signal_changes",
    "calendar",
    "narrative",
)

MONEY_DP = 2
BPS_DP = 2
PCT_DP = 4
RATE_PCT_DP = 4
PRICE_DP = 8
RATIO_DP = 4
UTIL_DP = 2

#: Priority order of action items (original-system.md §4.2: CRITICAL < HIGH < MEDIUM < LOW).
PRIORITIES: tuple[str, ...] = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
#: Tie-break order of categories within one priority: what the PM must act on first.
CATEGORIES: tuple[str, ...] = (
    "limit_breach",
    "limit_warning",
    "proposal",
    "signal_flip",
    "conviction_surge",
    "data_quality",
    "stale_price",
    "expiring_position",
    "missing_input",
)

#: Limit status semantics (original-system.md §1.11): utilisation = |value| / limit x 100;
#: OK below the warning threshold (80 %), WARNING from it up to 100, BREACHED at 100 or above.
DEFAULT_WARN_PCT = 80.0
LIGHTS = {"OK": "green", "WARNING": "amber", "BREACHED": "red", "NO_DATA": "grey"}

_MONTH_CODES = "FGHJKMNQUVXZ"
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_EXPLAIN_COMPONENTS: tuple[tuple[str, str], ...] = (
    ("carry", "pnl_carry_brl"),
    ("market", "pnl_market_brl"),
    ("fx", "pnl_fx_brl"),
    ("new_trades", "pnl_new_trades_brl"),
    ("realized", "pnl_realized_brl"),
    ("costs", "pnl_costs_brl"),
    ("residual", "pnl_residual_brl"),
)
_SUM_COLUMNS: tuple[str, ...] = (
    "market_value_brl",
    "notional_brl",
    "pnl_brl",
    "pnl_bps",
    "dv01_brl",
    "fx_delta_usd",
    "equity_delta_brl",
)


# ============================================================================ inputs


@dataclass
class PackInputs:
    """Everything the pack reads, all persisted upstream outputs (no recomputation here).

    Frames have exactly the columns of the table named (store/schema.py); ``run_id`` may be
    present or not. ``None`` means "the input could not be read / does not exist" and makes
    the dependent section ``unavailable``; an empty frame means "read, and there are none"
    (e.g. no proposals today), which is a real state and is shown as such.

    Attributes:
        date: D, the trading day the pack is for (an ANBIMA business day).
        prev_date: P, the last close (normally ``calendar.previous_business_day(D)``).
        book: the ``book_snapshots`` row at P as a dict, or None.
        book_history: ``book_snapshots`` rows up to P (equity curve, drawdown).
        marks: ``position_marks`` rows at P.
        risk: the ``risk_snapshots`` row at P as a dict (``details`` dict or JSON string).
        attribution: ``attribution`` rows at P (all periods and dimensions).
        stats: ``performance_stats`` rows at P (``stats`` dict or JSON string per period).
        proposals: ``proposals`` rows for D.
        dq_issues: ``data_quality_issues`` rows for P and D.
        signals_now / signals_prev: ``signals`` at P and at the business day before P.
        curve_prices: ``market_prices`` for at least the last B3 session <= P, the session
            before it and the 5th session before it (DI1, NTN-B, IND, DOL ...).
        fx: ``fx_fixings`` (USDBRL PTAX/CLOSE) covering at least the last two fixings <= P.
        instruments / strategies: reference tables.
        expiry_horizon_bd: flag positions maturing within this many ANBIMA business days of D.
        calendar_horizon_bd: list instrument maturities within this many business days of D.
        surge_threshold: |delta conviction| above which a move is a surge (signal_monitor: 0.3).
        new_signal_threshold: |conviction| at/above which a new signal is reported.
        top_n: number of top contributors/detractors and top signals.
        fund_name: shown in the header.
    """

    date: date
    prev_date: date
    book: Mapping[str, Any] | None = None
    book_history: pd.DataFrame | None = None
    marks: pd.DataFrame | None = None
    risk: Mapping[str, Any] | None = None
    attribution: pd.DataFrame | None = None
    stats: pd.DataFrame | None = None
    proposals: pd.DataFrame | None = None
    dq_issues: pd.DataFrame | None = None
    signals_now: pd.DataFrame | None = None
    signals_prev: pd.DataFrame | None = None
    curve_prices: pd.DataFrame | None = None
    fx: pd.DataFrame | None = None
    instruments: pd.DataFrame | None = None
    strategies: pd.DataFrame | None = None
    expiry_horizon_bd: int = 10
    calendar_horizon_bd: int = 21
    surge_threshold: float = 0.3
    new_signal_threshold: float = 0.5
    top_n: int = 5
    fund_name: str = ""


# ============================================================================ small helpers


def _unavailable(reason: str) -> dict[str, Any]:
    return {"status": "unavailable", "reason": reason}


def _is_unavailable(block: Any) -> bool:
    return isinstance(block, dict) and block.get("status") == "unavailable"


def _r(x: Any, ndigits: int) -> float | None:
    """Round to ``ndigits``; None for missing/NaN/inf (never a made-up 0)."""
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(v):
        return None
    out = round(v, ndigits)
    return 0.0 if out == 0 else out


def _money(x: Any) -> float | None:
    return _r(x, MONEY_DP)


def _bps(x: Any) -> float | None:
    return _r(x, BPS_DP)


def _to_date(x: Any) -> date | None:
    if x is None:
        return None
    if isinstance(x, pd.Timestamp):
        return None if pd.isna(x) else x.date()
    if isinstance(x, datetime):
        return x.date()
    if isinstance(x, date):
        return x
    if isinstance(x, np.datetime64):
        return None if np.isnat(x) else pd.Timestamp(x).date()
    if isinstance(x, str):
        return date.fromisoformat(x[:10])
    try:
        missing = bool(pd.isna(x))
    except (TypeError, ValueError):  # array-likes and other objects are not a missing scalar
        missing = False
    if missing:
        return None
    raise TypeError(f"not a date: {x!r}")


def _iso(x: Any) -> str | None:
    d = _to_date(x)
    return None if d is None else d.isoformat()


def _date_col(s: pd.Series) -> pd.Series:
    """A date-like column (date objects, Timestamps or ISO strings) as python ``date`` values."""
    if len(s) == 0:
        return pd.Series([], dtype=object, index=s.index)
    return pd.to_datetime(s).dt.date


def _json(v: Any) -> Any:
    """A JSON column value: drivers return dicts/lists, SQLite may hand back a string."""
    if isinstance(v, (bytes, bytearray)):
        v = v.decode()
    if isinstance(v, str):
        try:
            return json.loads(v)
        except json.JSONDecodeError:
            return v
    return v


def _first(d: Mapping[str, Any], *keys: str) -> Any:
    for k in keys:
        if k in d and d[k] is not None:
            return d[k]
    return None


def _str(x: Any) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def _on(df: pd.DataFrame, column: str, day: date) -> pd.DataFrame:
    """Rows of ``df`` dated ``day`` (point-in-time guard: callers may pass wider frames)."""
    if column not in df.columns or len(df) == 0:
        return df
    return df.loc[_date_col(df[column]) == day]


def canonical(obj: Any) -> Any:
    """A JSON-able copy with sorted dict keys, python scalars, ISO dates and no NaN.

    Why: the pack's digest (and the idempotent rerun check) must not depend on dict insertion
    order, numpy scalar types or pandas' NaN.
    """
    if isinstance(obj, Mapping):
        return {str(k): canonical(obj[k]) for k in sorted(obj, key=str)}
    if isinstance(obj, (list, tuple)):
        return [canonical(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        if not math.isfinite(v):
            return None
        return 0.0 if v == 0 else v
    if isinstance(obj, (pd.Timestamp, datetime)):
        return obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    if isinstance(obj, np.ndarray):
        return [canonical(v) for v in obj.tolist()]
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NaT or (not isinstance(obj, (list, dict)) and pd.isna(obj)):
        return None
    return str(obj)


def pack_json(pack: Mapping[str, Any]) -> str:
    """The canonical JSON text of a pack: sorted keys, compact, UTF-8 (what the DB stores)."""
    return json.dumps(
        canonical(pack), sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    )


def pack_digest(pack: Mapping[str, Any]) -> str:
    """SHA-256 of :func:`pack_json`: equal inputs give an equal digest (rerun check)."""
    return hashlib.sha256(pack_json(pack).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- number formatting (narrative)


def fmt_signed(x: float | None, nd: int = 0) -> str:
    """``+1.5`` / ``-1.5``; a value that rounds to zero is printed unsigned (``0.0``): a
    "+0" or "-0" reads as a move that did not happen."""
    if x is None:
        return "n/a"
    if round(x, nd) == 0:
        return f"{0.0:,.{nd}f}"
    return f"{x:+,.{nd}f}"


def fmt_brl(x: float | None, nd: int = 0, signed: bool = False) -> str:
    """R$ amounts as a Brazilian PM reads them in an English pack: ``R$ 1,234,567``."""
    if x is None:
        return "n/a"
    v = 0.0 if round(x, nd) == 0 else x
    if signed and v != 0:
        sign = "+" if v > 0 else "-"
        return f"{sign}R$ {abs(v):,.{nd}f}"
    return f"-R$ {abs(v):,.{nd}f}" if v < 0 else f"R$ {v:,.{nd}f}"


def fmt_bps(x: float | None, nd: int = 1) -> str:
    return "n/a" if x is None else f"{fmt_signed(x, nd)} bps"


def fmt_pct(x: float | None, nd: int = 2, signed: bool = True) -> str:
    if x is None:
        return "n/a"
    return f"{fmt_signed(x, nd)}%" if signed else f"{x:,.{nd}f}%"


# ============================================================================ reference lookups


def _instrument_table(inp: PackInputs) -> pd.DataFrame | None:
    if inp.instruments is None:
        return None
    ins = inp.instruments.copy()
    if "maturity_date" in ins.columns:
        ins["maturity_date"] = [_to_date(v) for v in ins["maturity_date"]]
    ins.index = pd.Index(ins["instrument_id"].astype(str).to_numpy(), name=None)
    return ins


def _names(df: pd.DataFrame | None, key: str) -> dict[str, str]:
    if df is None or len(df) == 0 or "name" not in df.columns:
        return {}
    return dict(zip(df[key].astype(str), df["name"].astype(str)))


def _contract_label(maturity: date | None) -> str | None:
    """B3 vertex label of a maturity, e.g. 2027-01-04 -> ``F27`` (month letter + 2-digit year)."""
    if maturity is None:
        return None
    return f"{_MONTH_CODES[maturity.month - 1]}{maturity.year % 100:02d}"


def _vertex_label(maturity: date | None) -> str | None:
    """Newsroom style vertex, e.g. ``Jan/27`` (how Valor/Broadcast quote DI moves)."""
    if maturity is None:
        return None
    return f"{_MONTH_ABBR[maturity.month - 1]}/{maturity.year % 100:02d}"


# ============================================================================ series (charts)


def _equity_series(inp: PackInputs) -> dict[str, Any]:
    """Equity curve and drawdown from the book history.

    Why an index and not raw NAV: NAV jumps with subscriptions/redemptions; the performance
    index compounds the daily return ``pnl_bps / 1e4`` (bps of NAV_{t-1}, as MTM reports it),
    so flows do not show up as gains or drawdowns. index_t = 100 * prod(1 + pnl_bps_i / 1e4);
    drawdown_t = index_t / max_{s<=t} index_s - 1 (in %). Source: book_snapshots.
    """
    hist = inp.book_history
    if hist is None:
        return _unavailable("book history (book_snapshots up to P) was not provided")
    if len(hist) == 0:
        return _unavailable(f"no book snapshots on or before {inp.prev_date.isoformat()}")
    h = hist.assign(_d=_date_col(hist["business_date"]))
    h = h.loc[h["_d"] <= inp.prev_date].sort_values("_d")
    if len(h) == 0:
        return _unavailable(f"no book snapshots on or before {inp.prev_date.isoformat()}")
    ret = h["pnl_bps"].astype(float).to_numpy() / 1e4
    index = 100.0 * np.cumprod(1.0 + ret)
    peak = np.maximum.accumulate(np.maximum(index, 100.0))  # anchored at 100 before day 1
    dd = (index / peak - 1.0) * 100.0
    points = [
        {
            "date": d.isoformat(),
            "nav_brl": _money(n),
            "index": _r(i, 6),
            "drawdown_pct": _r(x, PCT_DP),
        }
        for d, n, i, x in zip(h["_d"], h["nav_brl"].astype(float), index, dd)
    ]
    return {
        "status": "ok",
        "start": points[0]["date"],
        "end": points[-1]["date"],
        "points": points,
        "current_drawdown_pct": _r(dd[-1], PCT_DP),
        "max_drawdown_pct": _r(dd.min(), PCT_DP),
        "cumulative_return_pct": _r(index[-1] - 100.0, PCT_DP),
    }


# ============================================================================ summary


def _period_perf(inp: PackInputs, period: str) -> dict[str, Any]:
    """MTD/YTD performance from the ``performance_stats`` row of the period at P.

    Reads the JSON written by ``attribution.performance_stats``: ``return`` = prod(1+r_t) - 1
    and ``cdi_return`` (decimals), ``pct_of_cdi`` = return / cdi_return as a *fraction*
    (1.2 = 120 %), ``pnl_brl``, ``max_drawdown`` (fraction <= 0), ``volatility`` (annualised
    fraction), ``sharpe``, ``start``/``end``/``n_days``. Shown as: return in % (x100) and bps
    (x1e4), "% of CDI" in percent (x100), drawdown and volatility in %. Nothing is recomputed.
    """
    if inp.stats is None:
        return _unavailable(f"performance_stats at {inp.prev_date.isoformat()} were not provided")
    rows = _on(inp.stats, "business_date", inp.prev_date)
    rows = rows.loc[rows["period"].astype(str).str.upper() == period] if len(rows) else rows
    if len(rows) == 0:
        return _unavailable(
            f"no {period} performance_stats row at {inp.prev_date.isoformat()} "
            f"(PerformanceAttribution(P))"
        )
    st = _json(rows["stats"].iloc[0])
    if not isinstance(st, Mapping) or _num(st.get("return")) is None:
        return _unavailable(
            f"{period} performance_stats at {inp.prev_date.isoformat()} carry no return"
        )

    def x100(key: str, nd: int) -> float | None:
        v = _num(st.get(key))
        return None if v is None else _r(v * 100.0, nd)

    ret = float(st["return"])
    return {
        "status": "ok",
        "period": period,
        "start": None if st.get("start") is None else str(st["start"]),
        "end": None if st.get("end") is None else str(st["end"]),
        "n_days": None if _num(st.get("n_days")) is None else int(st["n_days"]),
        "return_pct": _r(ret * 100.0, PCT_DP),
        "return_bps": _bps(ret * 1e4),
        "pnl_brl": _money(st.get("pnl_brl")),
        "cdi_return_pct": x100("cdi_return", PCT_DP),
        "pct_of_cdi": x100("pct_of_cdi", UTIL_DP),
        "excess_return_bps": (
            None
            if _num(st.get("excess_return")) is None
            else _bps(float(st["excess_return"]) * 1e4)
        ),
        "volatility_pct": x100("volatility", PCT_DP),
        "sharpe": _r(st.get("sharpe"), RATIO_DP),
        "max_drawdown_pct": x100("max_drawdown", PCT_DP),
    }


def _book_block(inp: PackInputs, equity: dict[str, Any]) -> dict[str, Any]:
    b = inp.book
    if b is None:
        return _unavailable(f"no book snapshot at {inp.prev_date.isoformat()} (MarkToMarket(P))")
    out = {
        "status": "ok",
        "as_of": _iso(b.get("business_date")) or inp.prev_date.isoformat(),
        "nav_brl": _money(b.get("nav_brl")),
        "nav_prev_brl": _money(b.get("nav_prev_brl")),
        "pnl_brl": _money(b.get("pnl_brl")),
        "pnl_bps": _bps(b.get("pnl_bps")),
        "capital_flow_brl": _money(b.get("capital_flow_brl")),
        "cdi_rate_pct": _r(
            None if b.get("cdi_rate") is None else float(b["cdi_rate"]) * 100, RATE_PCT_DP
        ),
        "gross_notional_brl": _money(b.get("gross_notional_brl")),
        "net_notional_brl": _money(b.get("net_notional_brl")),
        "leverage": _r(b.get("leverage"), RATIO_DP),
        "n_positions": None if b.get("n_positions") is None else int(b["n_positions"]),
        "is_b3_session": None if b.get("is_b3_session") is None else bool(b["is_b3_session"]),
    }
    if equity.get("status") == "ok":
        out["drawdown_pct"] = equity["current_drawdown_pct"]
    return out


def _summary(
    inp: PackInputs, risk: dict[str, Any], equity: dict[str, Any], dq: pd.DataFrame | None
) -> dict[str, Any]:
    book = _book_block(inp, equity)
    perf = {"mtd": _period_perf(inp, "MTD"), "ytd": _period_perf(inp, "YTD")}
    if _is_unavailable(risk):
        var_use: dict[str, Any] = _unavailable(risk["reason"])
        alerts_limits: dict[str, Any] = _unavailable(risk["reason"])
    else:
        var_use = _var_use(risk)
        bad = [x for x in risk["limits"] if x["status"] in ("BREACHED", "WARNING")]
        alerts_limits = {
            "status": "ok",
            "n_breaches": sum(1 for x in bad if x["status"] == "BREACHED"),
            "n_warnings": sum(1 for x in bad if x["status"] == "WARNING"),
            "items": [
                {
                    k: x[k]
                    for k in (
                        "name",
                        "status",
                        "light",
                        "utilization_pct",
                        "value",
                        "limit",
                        "unit",
                    )
                }
                for x in bad
            ],
        }
    if dq is None:
        dq_block: dict[str, Any] = _unavailable("data_quality_issues were not provided")
    else:
        sev = dq["severity"].astype(str).str.upper() if len(dq) else pd.Series([], dtype=object)
        dq_block = {
            "status": "ok",
            "n_errors": int((sev == "ERROR").sum()),
            "n_warnings": int((sev == "WARNING").sum()),
        }
    blocks = {
        "book": book,
        "mtd": perf["mtd"],
        "ytd": perf["ytd"],
        "var": var_use,
        "limit_alerts": alerts_limits,
        "data_quality": dq_block,
    }
    n_missing = sum(_is_unavailable(v) for v in blocks.values())
    status = "ok" if n_missing == 0 else ("unavailable" if n_missing == len(blocks) else "partial")
    out: dict[str, Any] = {"status": status, "as_of": inp.prev_date.isoformat(), **blocks}
    if status == "unavailable":
        out["reason"] = "no book, performance, risk or data-quality input was available"
    return out


def _var_use(risk: dict[str, Any]) -> dict[str, Any]:
    """VaR 95 in R$, bps of NAV and its limit utilisation (the limit entry named like VaR95)."""
    var95 = next((m for m in risk["var"] if m["key"] == "var95_brl"), None)
    if var95 is None or var95["value_brl"] is None:
        return _unavailable(f"VaR 95% not available (risk status {risk.get('model_status')})")
    lim = next(
        (
            x
            for x in risk["limits"]
            if _norm_key(x["name"]) in ("var95", "var_95", "var95_pct", "var95_nav", "var95_brl")
        ),
        None,
    )
    out = {"status": "ok", "var95_brl": var95["value_brl"], "var95_bps": var95["bps_of_nav"]}
    if lim is not None:
        out.update(
            {
                "limit": lim["limit"],
                "unit": lim["unit"],
                "utilization_pct": lim["utilization_pct"],
                "limit_status": lim["status"],
                "light": lim["light"],
            }
        )
    return out


def _norm_key(name: Any) -> str:
    return "".join(
        ch
        for ch in str(name).lower().replace(" ", "_").replace("%", "")
        if ch.isalnum() or ch == "_"
    )


# ============================================================================ risk


#: Display unit of a limit, from the ``metric`` key of ``risk.book_metrics`` (the persisted
#: limit rows carry the metric, not the unit column of config/limits.csv).
_METRIC_UNITS: tuple[tuple[str, str], ...] = (
    ("concentration_pct.", "% of gross"),
    ("dv01_bucket_bps_nav", "bps NAV/bp"),
    ("dv01_net_bps_nav", "bps NAV/bp"),
    ("dv01_gross_bps_nav", "bps NAV/bp"),
    ("leverage", "x"),
    ("_pct_nav", "% of NAV"),
    ("drawdown_pct", "% from peak"),
    ("_bps", "bps of NAV"),
)
LIMIT_STATUSES = ("BREACHED", "WARNING", "OK", "NO_DATA")


def _metric_unit(metric: str | None) -> str | None:
    if not metric:
        return None
    for needle, unit in _METRIC_UNITS:
        if needle in metric:
            return unit
    return None


def _norm_status(status: Any, util: float | None, warn_pct: float) -> str:
    """BREACHED / WARNING / OK / NO_DATA. risk.limit_status writes BREACH (> 100 %), WARNING
    (>= warn_pct), OK, NO_DATA (metric absent, e.g. VaR under INSUFFICIENT_HISTORY); the status
    is taken as written and only derived from utilisation when a row carries none."""
    if status is not None:
        st = str(status).upper()
        st = {"BREACH": "BREACHED", "WARN": "WARNING"}.get(st, st)
        if st in LIMIT_STATUSES:
            return st
    if util is None:
        return "NO_DATA"
    if util > 100.0:
        return "BREACHED"
    if util >= warn_pct:
        return "WARNING"
    return "OK"


def _norm_limits(raw: Any) -> list[dict[str, Any]]:
    """Limit rows of ``risk_snapshots.details['limits']`` with a traffic light.

    Source rows (``risk.limit_status``): {limit, metric, value, limit_value, utilisation
    (= value / limit_value x 100), status}. Sorted worst first: BREACHED, WARNING, OK, NO_DATA,
    then by utilisation descending, then name. Light: red / amber / green / grey.
    """
    if raw is None:
        return []
    items = (
        [{"limit": k, **(v if isinstance(v, Mapping) else {"value": v})} for k, v in raw.items()]
        if isinstance(raw, Mapping)
        else [dict(v) for v in raw if isinstance(v, Mapping)]
    )
    out = []
    for it in items:
        name = _first(it, "limit", "name", "limit_name", "metric")
        metric = _first(it, "metric")
        value = _num(_first(it, "value"))
        limit = _num(_first(it, "limit_value", "max"))
        util = _num(_first(it, "utilisation", "utilization", "utilization_pct"))
        if util is None and value is not None and limit:
            util = abs(value) / abs(limit) * 100.0
        warn = _num(_first(it, "warn_pct"))
        status = _norm_status(
            _first(it, "status"), util, warn if warn is not None else DEFAULT_WARN_PCT
        )
        out.append(
            {
                "name": str(name),
                "metric": None if metric is None else str(metric),
                "value": _r(value, 4),
                "limit": _r(limit, 4),
                "unit": _first(it, "unit") or _metric_unit(None if metric is None else str(metric)),
                "utilization_pct": _r(util, UTIL_DP),
                "status": status,
                "light": LIGHTS.get(status, "grey"),
            }
        )
    rank = {st: i for i, st in enumerate(LIMIT_STATUSES)}
    out.sort(
        key=lambda x: (
            rank[x["status"]],
            -(x["utilization_pct"] if x["utilization_pct"] is not None else -1.0),
            x["name"],
        )
    )
    return out


def _norm_stress(raw: Any, nav: float | None) -> list[dict[str, Any]]:
    """Stress rows of ``details['stress']`` ({scenario, kind, pnl_brl, pnl_bps, status,
    description}); worst P&L first, rows without data (status NO_DATA, P&L null) last."""
    if raw is None:
        return []
    items = (
        [
            {"scenario": k, **(v if isinstance(v, Mapping) else {"pnl_brl": v})}
            for k, v in raw.items()
        ]
        if isinstance(raw, Mapping)
        else [dict(v) for v in raw if isinstance(v, Mapping)]
    )
    out = []
    for it in items:
        pnl = _num(_first(it, "pnl_brl", "pnl"))
        bps = _num(_first(it, "pnl_bps"))
        if bps is None and pnl is not None and nav:
            bps = pnl / nav * 1e4
        out.append(
            {
                "scenario": str(_first(it, "scenario", "name")),
                "kind": None if _first(it, "kind") is None else str(_first(it, "kind")),
                "description": _str(_first(it, "description")),
                "pnl_brl": _money(pnl),
                "pnl_bps": _bps(bps),
                "status": str(_first(it, "status") or ("OK" if pnl is not None else "NO_DATA")),
            }
        )
    out.sort(
        key=lambda x: (
            x["pnl_brl"] is None,
            x["pnl_brl"] if x["pnl_brl"] is not None else 0.0,
            x["scenario"],
        )
    )
    return out


def _bucket_sort_key(b: str) -> tuple[str, int, str]:
    """Order DV01 buckets by curve family then vertex in du: DI_21 < DI_63 < ... < REAL_252."""
    family, _, vertex = b.rpartition("_")
    if vertex.isdigit():
        return (family, int(vertex), b)
    return (b, -1, b) if not b.isdigit() else ("", int(b), b)


def _norm_buckets(raw: Any) -> list[dict[str, Any]]:
    """DV01 by curve vertex from ``details['dv01_by_bucket']`` ({factor: R$ per +1 bp})."""
    if raw is None:
        return []
    if isinstance(raw, Mapping):
        items = [
            (str(k), v if not isinstance(v, Mapping) else _first(v, "dv01_brl", "sensitivity_brl"))
            for k, v in raw.items()
        ]
    else:
        items = [
            (str(_first(v, "factor", "bucket", "vertex")), _first(v, "dv01_brl", "sensitivity_brl"))
            for v in raw
            if isinstance(v, Mapping)
        ]
    out = []
    for k, v in items:
        family, _, vertex = k.rpartition("_")
        out.append(
            {
                "bucket": k,
                "curve": family or None,
                "du": int(vertex) if vertex.isdigit() else None,
                "dv01_brl": _money(v),
            }
        )
    out.sort(key=lambda x: _bucket_sort_key(x["bucket"]))
    return out


def _risk(inp: PackInputs) -> dict[str, Any]:
    """Risk vs limits from the persisted ``risk_snapshots`` row at P (nothing recomputed).

    VaR/ES are shown in R$ and bps of NAV at P (finance-conventions §6: "report both").
    A snapshot with status INSUFFICIENT_HISTORY carries NULL VaRs: they stay None with the
    status shown, never 0 (the original's flaw, original-system.md §7).
    """
    r = inp.risk
    if r is None:
        return _unavailable(f"no risk snapshot at {inp.prev_date.isoformat()} (MarkToMarket(P))")
    details = _json(r.get("details")) or {}
    if not isinstance(details, Mapping):
        details = {}
    nav = None if inp.book is None else inp.book.get("nav_brl")
    nav_f = float(nav) if nav not in (None, 0) else None
    measures = (
        ("var95_brl", "VaR 95% 1d (historical)"),
        ("var99_brl", "VaR 99% 1d (historical)"),
        ("es975_brl", "ES 97.5% 1d (historical)"),
        ("param_var95_brl", "VaR 95% 1d (parametric)"),
        ("param_var99_brl", "VaR 99% 1d (parametric)"),
    )
    var_rows = []
    for key, label in measures:
        v = r.get(key)
        v_f = None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
        var_rows.append(
            {
                "key": key,
                "label": label,
                "value_brl": _money(v_f),
                "bps_of_nav": _bps(v_f / nav_f * 1e4) if (v_f is not None and nav_f) else None,
            }
        )
    limits = _norm_limits(details.get("limits"))
    stress = _norm_stress(details.get("stress"), nav_f)
    buckets = _norm_buckets(details.get("dv01_by_bucket"))
    exposures: dict[str, Any]
    if inp.book is None:
        exposures = _unavailable("no book snapshot at P")
    else:
        b = inp.book
        exposures = {
            "status": "ok",
            "gross_notional_brl": _money(b.get("gross_notional_brl")),
            "net_notional_brl": _money(b.get("net_notional_brl")),
            "leverage": _r(b.get("leverage"), RATIO_DP),
            "dv01_brl": _money(b.get("dv01_brl")),
            "fx_delta_usd": _money(b.get("fx_delta_usd")),
            "equity_delta_brl": _money(b.get("equity_delta_brl")),
        }
    out = {
        "status": "ok",
        "as_of": _iso(r.get("business_date")) or inp.prev_date.isoformat(),
        "model_status": str(r.get("status")),
        "n_scenarios": None if r.get("n_scenarios") is None else int(r["n_scenarios"]),
        "var": var_rows,
        "limits": limits,
        "n_breaches": sum(1 for x in limits if x["status"] == "BREACHED"),
        "n_warnings": sum(1 for x in limits if x["status"] == "WARNING"),
        "stress": stress if stress else _unavailable("the risk snapshot has no stress table"),
        "dv01_buckets": (
            buckets if buckets else _unavailable("the risk snapshot has no DV01 buckets")
        ),
        "exposures": exposures,
    }
    out["lookback"] = {
        "start": _iso(details.get("window_start")),
        "end": _iso(details.get("window_end")),
    }
    out["missing_factors"] = sorted(str(x) for x in (details.get("missing_factors") or []))
    out["unmodelled_positions"] = [
        " / ".join(str(y) for y in x) if isinstance(x, (list, tuple)) else str(x)
        for x in (details.get("unmodelled_positions") or [])
    ]
    comp = details.get("component_var99_by_strategy")
    out["var99_by_strategy"] = (
        sorted(
            ({"strategy_id": str(k), "component_var99_brl": _money(v)} for k, v in comp.items()),
            key=lambda x: (-(x["component_var99_brl"] or 0.0), x["strategy_id"]),
        )
        if isinstance(comp, Mapping) and comp
        else _unavailable("no component VaR in the risk snapshot")
    )
    if str(r.get("status")).upper() != "OK":
        out["note"] = (
            f"risk model status {r.get('status')}: VaR figures it could not compute are left empty"
        )
    return out


# ============================================================================ market


def _market_window(inp: PackInputs) -> dict[str, Any]:
    """The "since the last B3 session" window (finance-conventions §1.1).

    S0 = last B3 session on or before P (settlement prices exist only on sessions);
    S1 = the session before S0 (the "previous settlement" every move is measured against);
    S5 = the 5th session before S0 (the D-5 curve on the chart). The window the PM reads at
    06:00 runs from the S0 close to D's open; after a Brazilian holiday it covers the whole
    closure, whose weekday closures are listed (e.g. Ash Wednesday 2026-02-18: S0 = Fri
    2026-02-13, Carnival Mon 16 and Tue 17 listed, while global markets traded).
    """
    p = inp.prev_date
    s0 = p if cal.is_b3_session(p) else cal.previous_b3_session(p)
    s1 = cal.previous_b3_session(s0)
    s5 = cal.previous_b3_session(s0, 5)
    closed = cal.b3_holidays_between(s0 + timedelta(days=1), inp.date - timedelta(days=1))
    return {
        "start": s0.isoformat(),
        "end": inp.date.isoformat(),
        "last_session": s0.isoformat(),
        "previous_session": s1.isoformat(),
        "d5_session": s5.isoformat(),
        "calendar_days": (inp.date - s0).days,
        "closed_days": [{"date": d.isoformat(), "name": n} for d, n in closed],
        "covers_closure": bool(closed),
        "b3_session_today": cal.is_b3_session(inp.date),
    }


def _price_panel(
    prices: pd.DataFrame, ins: pd.DataFrame, types: Iterable[str], sessions: dict[str, date]
) -> pd.DataFrame:
    """One row per instrument of ``types``: price/rate on each of the named sessions."""
    types = set(types)
    sel = ins.loc[ins["instrument_type"].astype(str).isin(types)]
    if len(sel) == 0 or len(prices) == 0:
        return pd.DataFrame()
    p = prices.loc[prices["instrument_id"].astype(str).isin(set(sel["instrument_id"].astype(str)))]
    p = p.assign(_d=_date_col(p["price_date"]))
    out = sel[["instrument_id", "instrument_type", "maturity_date"]].reset_index(drop=True)
    for tag, day in sessions.items():
        snap = p.loc[p["_d"] == day, ["instrument_id", "price", "rate"]].rename(
            columns={"price": f"price_{tag}", "rate": f"rate_{tag}"}
        )
        out = out.merge(snap, on="instrument_id", how="left")
    return out


def _num(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def _rate_rows(panel: pd.DataFrame, s0: date) -> list[dict[str, Any]]:
    """Rates by vertex: level in % a.a. and changes in bp (1 bp = 0.0001 in decimal rate)."""
    if len(panel) == 0:
        return []
    pnl = panel.loc[panel["rate_s0"].notna()]
    pnl = pnl.loc[[m is None or m > s0 for m in pnl["maturity_date"]]]
    pnl = pnl.sort_values(["maturity_date", "instrument_id"], na_position="last")
    mats = [m for m in pnl["maturity_date"]]
    du_arr = (
        cal.du(
            np.full(len(mats), np.datetime64(s0, "D")),
            np.array([m or s0 for m in mats], dtype="datetime64[D]"),
        )
        if mats
        else []
    )
    rows = []
    for (iid, mat, r0, r1, r5), du_ in zip(
        pnl[["instrument_id", "maturity_date", "rate_s0", "rate_s1", "rate_s5"]].itertuples(
            index=False
        ),
        du_arr,
    ):
        r0f, r1f, r5f = _num(r0), _num(r1), _num(r5)
        rows.append(
            {
                "instrument_id": str(iid),
                "vertex": _contract_label(mat),
                "label": _vertex_label(mat),
                "maturity_date": _iso(mat),
                "du": int(du_) if mat is not None else None,
                "rate_pct": _r(r0f * 100, RATE_PCT_DP),
                "rate_prev_pct": _r(None if r1f is None else r1f * 100, RATE_PCT_DP),
                "rate_d5_pct": _r(None if r5f is None else r5f * 100, RATE_PCT_DP),
                "change_bp": _bps(None if r1f is None else (r0f - r1f) * 1e4),
                "change_5d_bp": _bps(None if r5f is None else (r0f - r5f) * 1e4),
            }
        )
    return rows


def _curve_shape(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Average move and slope change (long - short vertex) -> bull/bear, steepener/flattener."""
    ch = [x for x in rows if x["change_bp"] is not None]
    if not ch:
        return None
    avg = sum(x["change_bp"] for x in ch) / len(ch)
    short, long_ = ch[0], ch[-1]
    slope = long_["change_bp"] - short["change_bp"] if len(ch) > 1 else 0.0
    direction = "bear" if avg > 0 else ("bull" if avg < 0 else "flat")
    if len(ch) < 2 or abs(slope) < 1.0:
        shape = "parallel"
    else:
        shape = "steepener" if slope > 0 else "flattener"
    label = (
        "unchanged"
        if direction == "flat" and shape == "parallel"
        else (
            f"parallel {'rise' if avg > 0 else 'fall'}"
            if shape == "parallel"
            else f"{direction} {shape}"
        )
    )
    return {
        "avg_change_bp": _bps(avg),
        "short_vertex": short["vertex"],
        "long_vertex": long_["vertex"],
        "slope_change_bp": _bps(slope),
        "label": label,
    }


def _front(panel: pd.DataFrame, s0: date) -> pd.Series | None:
    """The front contract with a settlement on S0 (nearest maturity after S0)."""
    if len(panel) == 0:
        return None
    p = panel.loc[panel["price_s0"].notna()]
    p = p.loc[[m is None or m > s0 for m in p["maturity_date"]]]
    if len(p) == 0:
        return None
    p = p.assign(_m=[m or date.max for m in p["maturity_date"]]).sort_values(
        ["_m", "instrument_id"]
    )
    return p.iloc[0]


def _front_of(families: Iterable[str], prices: pd.DataFrame, ins: pd.DataFrame,
              sessions: dict[str, date]) -> pd.Series | None:
    """The front contract of the first family (full contract before mini) settled on S0."""
    for family in families:
        front = _front(_price_panel(prices, ins, [family], sessions), sessions["s0"])
        if front is not None:
            return front
    return None


def _price_move(row: pd.Series | None, unit: str) -> dict[str, Any] | None:
    if row is None:
        return None
    p0, p1, p5 = _num(row["price_s0"]), _num(row["price_s1"]), _num(row["price_s5"])
    return {
        "instrument_id": str(row["instrument_id"]),
        "maturity_date": _iso(row["maturity_date"]),
        "unit": unit,
        "price": _r(p0, PRICE_DP),
        "price_prev": _r(p1, PRICE_DP),
        "change": _r(None if p1 is None else p0 - p1, PRICE_DP),
        "change_pct": _r(None if not p1 else (p0 / p1 - 1) * 100, PCT_DP),
        "change_5d_pct": _r(None if not p5 else (p0 / p5 - 1) * 100, PCT_DP),
    }


def _fx_moves(inp: PackInputs) -> dict[str, Any]:
    """USD/BRL fixings: the latest fixing on or before P per kind vs the fixing before it.

    PTAX is a BCB fixing published on ANBIMA days (so it exists on Dec 31 when B3 is closed);
    CLOSE is the onshore close. Change % = (last / previous - 1) x 100.
    """
    if inp.fx is None:
        return _unavailable("fx_fixings were not provided")
    fx = inp.fx.loc[inp.fx["pair"].astype(str) == "USDBRL"] if len(inp.fx) else inp.fx
    if len(fx) == 0:
        return _unavailable(f"no USDBRL fixings on or before {inp.prev_date.isoformat()}")
    fx = fx.assign(_d=_date_col(fx["fixing_date"]))
    fx = fx.loc[fx["_d"] <= inp.prev_date].sort_values(["kind", "_d"])
    rows = []
    for kind in sorted(fx["kind"].astype(str).unique()):
        k = fx.loc[fx["kind"].astype(str) == kind]
        last = k.iloc[-1]
        prev = k.iloc[-2] if len(k) > 1 else None
        v0 = float(last["rate"])
        v1 = None if prev is None else float(prev["rate"])
        rows.append(
            {
                "kind": kind,
                "date": last["_d"].isoformat(),
                "rate": _r(v0, PRICE_DP),
                "prev_date": None if prev is None else prev["_d"].isoformat(),
                "rate_prev": _r(v1, PRICE_DP),
                "change_pct": _r(None if not v1 else (v0 / v1 - 1) * 100, PCT_DP),
            }
        )
    if not rows:
        return _unavailable(f"no USDBRL fixings on or before {inp.prev_date.isoformat()}")
    order = {"CLOSE": 0, "PTAX": 1}
    rows.sort(key=lambda x: (order.get(x["kind"], 2), x["kind"]))
    return {"status": "ok", "fixings": rows}


def _market(inp: PackInputs) -> tuple[dict[str, Any], dict[str, Any]]:
    """Market moves since the last B3 session; also returns the window (used elsewhere)."""
    window = _market_window(inp)
    s0 = date.fromisoformat(window["last_session"])
    sessions = {
        "s0": s0,
        "s1": date.fromisoformat(window["previous_session"]),
        "s5": date.fromisoformat(window["d5_session"]),
    }
    ins = _instrument_table(inp)
    blocks: dict[str, Any] = {}
    if inp.curve_prices is None or ins is None:
        why = (
            "market_prices for the last sessions were not provided"
            if inp.curve_prices is None
            else "the instruments reference table was not provided"
        )
        for k in ("di1_curve", "ntnb_real", "ibov", "dol"):
            blocks[k] = _unavailable(why)
    else:
        prices = inp.curve_prices
        di1 = _rate_rows(_price_panel(prices, ins, ["DI1"], sessions), s0)
        blocks["di1_curve"] = (
            {
                "status": "ok",
                "session": s0.isoformat(),
                "vs_session": sessions["s1"].isoformat(),
                "d5_session": sessions["s5"].isoformat(),
                "vertices": di1,
                "shape": _curve_shape(di1),
            }
            if di1
            else _unavailable(f"no DI1 settlement rates on {s0.isoformat()}")
        )
        ntnb = _rate_rows(_price_panel(prices, ins, ["NTNB"], sessions), s0)
        blocks["ntnb_real"] = (
            {
                "status": "ok",
                "session": s0.isoformat(),
                "vs_session": sessions["s1"].isoformat(),
                "bonds": ntnb,
            }
            if ntnb
            else _unavailable(f"no NTN-B real yields on {s0.isoformat()}")
        )
        ind = _front_of(("IND", "WIN"), prices, ins, sessions)
        blocks["ibov"] = (
            {"status": "ok", **_price_move(ind, "index points")}
            if ind is not None
            else _unavailable(f"no IND/WIN settlement on {s0.isoformat()}")
        )
        dol = _front_of(("DOL", "WDO"), prices, ins, sessions)
        blocks["dol"] = (
            {"status": "ok", **_price_move(dol, "R$ per US$1,000")}
            if dol is not None
            else _unavailable(f"no DOL/WDO settlement on {s0.isoformat()}")
        )
    blocks["usdbrl"] = _fx_moves(inp)
    n_missing = sum(_is_unavailable(v) for v in blocks.values())
    if n_missing == len(blocks):
        out = _unavailable("no market data (market_prices, fx_fixings) for the last B3 sessions")
        out["window"] = window
        return out, window
    return {"status": "ok" if n_missing == 0 else "partial", "window": window, **blocks}, window


# ============================================================================ positions


def _positions(inp: PackInputs) -> dict[str, Any]:
    """Positions and P&L at P: tree, top contributors/detractors, P&L explain, attribution.

    All figures are sums of ``position_marks`` columns (R$) — no re-pricing. bps of NAV for
    explain lines = component / NAV_{P-1} x 1e4 with NAV_{P-1} = book.nav_prev_brl (the
    denominator MTM uses for pnl_bps, finance-conventions §3: "report bps of NAV_{t-1}").
    """
    if inp.marks is None:
        return _unavailable(f"position_marks at {inp.prev_date.isoformat()} were not provided")
    m = _on(inp.marks, "business_date", inp.prev_date)
    n_book = None if inp.book is None else inp.book.get("n_positions")
    if len(m) == 0 and not (n_book is not None and int(n_book) == 0):
        return _unavailable(f"no position marks at {inp.prev_date.isoformat()}")
    ins_names = _names(inp.instruments, "instrument_id")
    strat_names = _names(inp.strategies, "strategy_id")
    m = m.copy()
    m["instrument_id"] = m["instrument_id"].astype(str)
    m["strategy_id"] = m["strategy_id"].astype(str)
    m["asset_class"] = m["asset_class"].astype(str)
    num_cols = list(_SUM_COLUMNS) + [c for _, c in _EXPLAIN_COMPONENTS]
    for c in num_cols:
        m[c] = m[c].astype(float)
    m = m.sort_values(["strategy_id", "asset_class", "instrument_id"], kind="mergesort")

    def agg(g: pd.DataFrame | pd.Series) -> dict[str, Any]:
        return {
            "market_value_brl": _money(g["market_value_brl"]),
            "notional_brl": _money(g["notional_brl"]),
            "pnl_brl": _money(g["pnl_brl"]),
            "pnl_bps": _bps(g["pnl_bps"]),
            "dv01_brl": _money(g["dv01_brl"]),
            "fx_delta_usd": _money(g["fx_delta_usd"]),
            "equity_delta_brl": _money(g["equity_delta_brl"]),
        }

    by_sc = m.groupby(["strategy_id", "asset_class"], sort=True)[list(_SUM_COLUMNS)].sum()
    by_s = m.groupby("strategy_id", sort=True)[list(_SUM_COLUMNS)].sum()
    strategies = []
    for sid, srow in by_s.iterrows():
        classes = []
        for (sid2, ac), crow in by_sc.loc[[sid]].iterrows():
            rows = m.loc[(m["strategy_id"] == sid2) & (m["asset_class"] == ac)]
            classes.append(
                {
                    "asset_class": ac,
                    **agg(crow),
                    "instruments": [_position_row(r, ins_names) for r in rows.to_dict("records")],
                }
            )
        strategies.append(
            {
                "strategy_id": sid,
                "name": strat_names.get(sid, sid),
                **agg(srow),
                "asset_classes": classes,
            }
        )
    by_ac = m.groupby("asset_class", sort=True)[list(_SUM_COLUMNS)].sum()
    asset_classes = [{"asset_class": ac, **agg(row)} for ac, row in by_ac.iterrows()]

    # Top contributors/detractors by position (instrument, strategy), ties broken by key.
    ranked = m.assign(_abs=m["pnl_brl"].abs())
    pos = ranked.loc[ranked["pnl_brl"] > 0].sort_values(
        ["pnl_brl", "instrument_id", "strategy_id"], ascending=[False, True, True], kind="mergesort"
    )
    neg = ranked.loc[ranked["pnl_brl"] < 0].sort_values(
        ["pnl_brl", "instrument_id", "strategy_id"], ascending=[True, True, True], kind="mergesort"
    )
    top = [_position_row(r, ins_names, strat_names) for r in pos.head(inp.top_n).to_dict("records")]
    bottom = [
        _position_row(r, ins_names, strat_names) for r in neg.head(inp.top_n).to_dict("records")
    ]

    nav_prev = None if inp.book is None else _num(inp.book.get("nav_prev_brl"))
    comps = []
    for label, col in _EXPLAIN_COMPONENTS:
        v = float(m[col].sum())
        comps.append(
            {
                "component": label,
                "pnl_brl": _money(v),
                "pnl_bps": _bps(v / nav_prev * 1e4) if nav_prev else None,
            }
        )
    pos_total = float(m["pnl_brl"].sum())
    explain: dict[str, Any] = {
        "components": comps,
        "positions_pnl_brl": _money(pos_total),
        "positions_pnl_bps": _bps(pos_total / nav_prev * 1e4) if nav_prev else None,
        "sum_of_components_brl": _money(float(sum(m[c].sum() for _, c in _EXPLAIN_COMPONENTS))),
    }
    if inp.book is not None and _num(inp.book.get("pnl_brl")) is not None:
        book_pnl = float(inp.book["pnl_brl"])
        explain["book_pnl_brl"] = _money(book_pnl)
        explain["cash_and_other_brl"] = _money(book_pnl - pos_total)
    stale = m.loc[m["is_stale"].astype(bool)] if "is_stale" in m.columns else m.iloc[0:0]
    return {
        "status": "ok",
        "as_of": inp.prev_date.isoformat(),
        "n_positions": int(len(m)),
        "n_stale": int(len(stale)),
        "totals": agg(m[list(_SUM_COLUMNS)].sum()),
        "by_strategy": strategies,
        "by_asset_class": asset_classes,
        "top_contributors": top,
        "top_detractors": bottom,
        "explain": explain,
        "attribution": _attribution(inp),
    }


def _position_row(
    r: Mapping[str, Any], ins_names: dict[str, str], strat_names: dict[str, str] | None = None
) -> dict[str, Any]:
    out = {
        "instrument_id": r["instrument_id"],
        "name": ins_names.get(r["instrument_id"], r["instrument_id"]),
        "strategy_id": r["strategy_id"],
        "asset_class": r["asset_class"],
        "quantity": _r(r.get("quantity"), 6),
        "price": _r(r.get("price"), PRICE_DP),
        "price_date": _iso(r.get("price_date")),
        "is_stale": bool(r.get("is_stale")) if r.get("is_stale") is not None else None,
        "market_value_brl": _money(r["market_value_brl"]),
        "notional_brl": _money(r["notional_brl"]),
        "pnl_brl": _money(r["pnl_brl"]),
        "pnl_bps": _bps(r["pnl_bps"]),
        "dv01_brl": _money(r["dv01_brl"]),
        "fx_delta_usd": _money(r["fx_delta_usd"]),
        "equity_delta_brl": _money(r["equity_delta_brl"]),
    }
    if strat_names is not None:
        out["strategy_name"] = strat_names.get(r["strategy_id"], r["strategy_id"])
    return out


_PERIOD_ORDER = ("DAY", "WTD", "MTD", "QTD", "YTD", "ITD")


def _attribution(inp: PackInputs) -> dict[str, Any]:
    """Attribution rows at P as {period: {dimension: [bucket rows]}}, largest |P&L| first."""
    if inp.attribution is None:
        return _unavailable(f"attribution at {inp.prev_date.isoformat()} was not provided")
    a = _on(inp.attribution, "business_date", inp.prev_date)
    if len(a) == 0:
        return _unavailable(f"no attribution rows at {inp.prev_date.isoformat()}")
    a = a.assign(
        period=a["period"].astype(str),
        dimension=a["dimension"].astype(str),
        bucket=a["bucket"].astype(str),
        pnl_brl=a["pnl_brl"].astype(float),
        contribution_bps=a["contribution_bps"].astype(float),
    )
    a = a.assign(_abs=a["pnl_brl"].abs()).sort_values(
        ["period", "dimension", "_abs", "bucket"],
        ascending=[True, True, False, True],
        kind="mergesort",
    )
    periods: dict[str, Any] = {}
    for (per, dim), g in a.groupby(["period", "dimension"], sort=True):
        periods.setdefault(per, {})[dim] = [
            {"bucket": b, "pnl_brl": _money(p), "contribution_bps": _bps(c)}
            for b, p, c in zip(g["bucket"], g["pnl_brl"], g["contribution_bps"])
        ]
    order = [p for p in _PERIOD_ORDER if p in periods] + sorted(
        p for p in periods if p not in _PERIOD_ORDER
    )
    return {
        "status": "ok",
        "periods": periods,
        "period_order": order,
        "dimensions": sorted(a["dimension"].unique().tolist()),
    }


# ============================================================================ proposals


def _proposal_strategies(v: Any) -> list[dict[str, Any]]:
    """``proposals.strategies``: [{strategy_id, weight, conviction, factor_tags}] or plain ids."""
    v = _json(v)
    if isinstance(v, Mapping):
        v = [{"strategy_id": k, "weight": w} for k, w in v.items()]
    out = []
    for x in v or []:
        if isinstance(x, Mapping):
            out.append(
                {
                    "strategy_id": str(x.get("strategy_id")),
                    "weight": _r(x.get("weight"), RATIO_DP),
                    "conviction": _r(x.get("conviction"), RATIO_DP),
                }
            )
        else:
            out.append({"strategy_id": str(x), "weight": None, "conviction": None})
    return sorted(out, key=lambda x: x["strategy_id"])


def _pre_trade(impact: Any) -> dict[str, Any]:
    """The pre-trade view a PM reads from ``risk_impact['pre_trade']`` (proposals.pre_trade_risk):
    VaR 95/99 before -> after and the change, limit warnings and NO_DATA limits after the trade."""
    impact = _json(impact)
    if not isinstance(impact, Mapping):
        return _unavailable("the proposal carries no risk impact")
    pre = impact.get("pre_trade")
    out: dict[str, Any] = {
        "target_quantity": _r(impact.get("target_quantity"), 6),
        "post_trade_quantity": _r(impact.get("post_trade_quantity"), 6),
        "fat_finger_capped": (
            bool(impact["fat_finger_capped"]) if "fat_finger_capped" in impact else None
        ),
        "measure": None if impact.get("measure") is None else str(impact["measure"]),
    }
    if not isinstance(pre, Mapping):
        out.update(
            {"status": "unavailable", "reason": "pre-trade risk was not computed for this proposal"}
        )
        return out
    v95b, v95a = _num(pre.get("var95_brl_before")), _num(pre.get("var95_brl_after"))
    v99b, v99a = _num(pre.get("var99_brl_before")), _num(pre.get("var99_brl_after"))
    out.update(
        {
            "status": "ok",
            "model_status": None if pre.get("status") is None else str(pre["status"]),
            "var95_before_brl": _money(v95b),
            "var95_after_brl": _money(v95a),
            "var95_change_brl": _money(None if v95a is None or v95b is None else v95a - v95b),
            "var99_before_brl": _money(v99b),
            "var99_after_brl": _money(v99a),
            "var99_change_brl": _money(None if v99a is None or v99b is None else v99a - v99b),
            "warnings": sorted(str(x) for x in (pre.get("warnings") or [])),
            "no_data": sorted(str(x) for x in (pre.get("no_data") or [])),
        }
    )
    return out


def _breaches(v: Any) -> list[dict[str, Any]]:
    """``proposals.breaches``: limits in BREACH after the trade (proposals.pre_trade_risk)."""
    v = _json(v)
    if isinstance(v, Mapping):
        v = [v]
    out = []
    for b in v or []:
        if isinstance(b, Mapping):
            out.append(
                {
                    "limit": str(_first(b, "limit", "name")),
                    "metric": None if b.get("metric") is None else str(b["metric"]),
                    "value": _r(b.get("value"), 4),
                    "limit_value": _r(b.get("limit_value"), 4),
                    "utilization_pct": _r(
                        _first(b, "utilisation", "utilization", "utilization_pct"), UTIL_DP
                    ),
                    "headroom": _r(b.get("headroom"), 4),
                    "value_before": _r(b.get("value_before"), 4),
                    "worsens": None if b.get("worsens") is None else bool(b["worsens"]),
                    "unit": _metric_unit(None if b.get("metric") is None else str(b["metric"])),
                }
            )
        else:
            out.append(
                {
                    "limit": str(b),
                    "metric": None,
                    "value": None,
                    "limit_value": None,
                    "utilization_pct": None,
                    "headroom": None,
                    "value_before": None,
                    "worsens": None,
                    "unit": None,
                }
            )
    return sorted(out, key=lambda x: x["limit"])


def _proposals(inp: PackInputs) -> dict[str, Any]:
    """Proposals for D with their persisted pre-trade risk and breaches (nothing recomputed)."""
    if inp.proposals is None:
        return _unavailable(
            f"proposals for {inp.date.isoformat()} were not provided (TradeProposals(D))"
        )
    p = _on(inp.proposals, "business_date", inp.date)
    ins_names = _names(inp.instruments, "instrument_id")
    rows = []
    for r in p.to_dict("records"):
        breaches = _breaches(r.get("breaches"))
        rows.append(
            {
                "proposal_id": (
                    None if _num(r.get("proposal_id")) is None else int(r["proposal_id"])
                ),
                "rank": None if _num(r.get("rank")) is None else int(r["rank"]),
                "instrument_id": str(r["instrument_id"]),
                "name": ins_names.get(str(r["instrument_id"]), str(r["instrument_id"])),
                "side": str(r["side"]),
                "action": str(r["action"]),
                "quantity": _r(r.get("quantity"), 6),
                "notional_brl": _money(r.get("notional_brl")),
                "dv01_brl": _money(r.get("dv01_brl")),
                "delta_brl": _money(r.get("delta_brl")),
                "conviction": _r(r.get("conviction"), RATIO_DP),
                "strategies": _proposal_strategies(r.get("strategies")),
                "rationale": _str(r.get("rationale")),
                "pre_trade": _pre_trade(r.get("risk_impact")),
                "breaches": breaches,
                "n_breaches": len(breaches),
                "status": str(r["status"]),
                "origin": _str(r.get("origin")),
            }
        )
    rows.sort(
        key=lambda x: (
            x["rank"] if x["rank"] is not None else 10**9,
            x["proposal_id"] if x["proposal_id"] is not None else 10**9,
            x["instrument_id"],
        )
    )
    statuses: dict[str, int] = {}
    for x in rows:
        statuses[x["status"]] = statuses.get(x["status"], 0) + 1
    return {
        "status": "ok",
        "date": inp.date.isoformat(),
        "n_proposals": len(rows),
        "n_pending": statuses.get("PENDING", 0),
        "by_status": statuses,
        "n_with_breaches": sum(1 for x in rows if x["n_breaches"]),
        "items": rows,
    }


# ============================================================================ signals


def _signal_changes(inp: PackInputs) -> dict[str, Any]:
    """Signal changes between the previous business day and P, per (strategy, signal).

    flip: the sign of conviction changed (both non-zero); surge: |delta| > surge_threshold and
    not a flip (signal_monitor.py rule, original-system.md §4.2); new: present at P only with
    |conviction| >= new_signal_threshold; dropped: present the day before only.
    """
    if inp.signals_now is None:
        return _unavailable(f"signals at {inp.prev_date.isoformat()} were not provided")
    if inp.signals_prev is None:
        return _unavailable("signals of the previous business day were not provided")
    key = ["strategy_id", "signal_id"]
    now = inp.signals_now[key + ["conviction"]].astype({"strategy_id": str, "signal_id": str})
    prev = inp.signals_prev[key + ["conviction"]].astype({"strategy_id": str, "signal_id": str})
    now_date = _iso(inp.signals_now["signal_date"].iloc[0]) if len(inp.signals_now) else None
    prev_date = _iso(inp.signals_prev["signal_date"].iloc[0]) if len(inp.signals_prev) else None
    j = now.merge(prev, on=key, how="outer", suffixes=("_now", "_prev"), indicator=True)
    j = j.sort_values(key, kind="mergesort")
    c0 = j["conviction_prev"].astype(float)
    c1 = j["conviction_now"].astype(float)
    both = j["_merge"] == "both"
    flip = both & (np.sign(c0) * np.sign(c1) < 0)
    delta = c1 - c0
    surge = both & ~flip & (delta.abs() > inp.surge_threshold + 1e-12)
    new = (j["_merge"] == "left_only") & (c1.abs() >= inp.new_signal_threshold - 1e-12)
    dropped = j["_merge"] == "right_only"

    def rows(mask: pd.Series) -> list[dict[str, Any]]:
        sel = j.loc[mask]
        return [
            {
                "strategy_id": s,
                "signal_id": g,
                "conviction_prev": _r(a, RATIO_DP),
                "conviction": _r(b, RATIO_DP),
                "change": _r(None if (a is None or b is None) else b - a, RATIO_DP),
                "direction_prev": _direction(a),
                "direction": _direction(b),
            }
            for s, g, a, b in zip(
                sel["strategy_id"],
                sel["signal_id"],
                [_num(x) for x in sel["conviction_prev"]],
                [_num(x) for x in sel["conviction_now"]],
            )
        ]

    surges = rows(surge)
    surges.sort(key=lambda x: (-abs(x["change"] or 0.0), x["strategy_id"], x["signal_id"]))
    topn = (
        now.assign(_abs=now["conviction"].astype(float).abs())
        .sort_values(
            ["_abs", "strategy_id", "signal_id"], ascending=[False, True, True], kind="mergesort"
        )
        .head(10)
    )
    return {
        "status": "ok",
        "date": now_date or inp.prev_date.isoformat(),
        "vs_date": prev_date,
        "n_signals": int(len(now)),
        "surge_threshold": inp.surge_threshold,
        "flips": rows(flip),
        "surges": surges,
        "new": rows(new),
        "dropped": rows(dropped),
        "top_signals": [
            {
                "strategy_id": s,
                "signal_id": g,
                "conviction": _r(c, RATIO_DP),
                "direction": _direction(float(c)),
            }
            for s, g, c in zip(topn["strategy_id"], topn["signal_id"], topn["conviction"])
        ],
    }


def _direction(c: float | None) -> str | None:
    if c is None:
        return None
    return "LONG" if c > 0 else ("SHORT" if c < 0 else "NEUTRAL")


# ============================================================================ calendar


def _calendar(inp: PackInputs) -> dict[str, Any]:
    """Calendar notes: today's session, next B3 holiday, closures and maturities ahead."""
    d = inp.date
    horizon_end = cal.add_business_days(d, inp.calendar_horizon_bd)
    year_ahead = cal.b3_holidays_between(d, d + timedelta(days=400))
    nxt = year_ahead[0] if year_ahead else None
    closures = [
        {"date": x.isoformat(), "name": n, "weekday": x.strftime("%a")}
        for x, n in year_ahead
        if x <= horizon_end
    ]
    notes = []
    if not cal.is_b3_session(d):
        notes.append(
            f"B3 is closed today ({cal.b3_holidays_between(d, d)[0][1]}): no settlement prices."
        )
    yday = d - timedelta(days=1)
    if d.weekday() == 2 and "Carnival" in (cal.holiday_name(yday) or ""):
        notes.append("Ash Wednesday: B3 opens late (13:00 BRT).")
    next_session = cal.next_b3_session(d)
    next_bd = cal.next_business_day(d)
    if next_session != next_bd:
        notes.append(
            f"B3 closed on {next_bd.isoformat()}: next session {next_session.isoformat()}."
        )
    out: dict[str, Any] = {
        "status": "ok",
        "date": d.isoformat(),
        "b3_session_today": cal.is_b3_session(d),
        "next_b3_session": next_session.isoformat(),
        "next_b3_holiday": (
            None
            if nxt is None
            else {
                "date": nxt[0].isoformat(),
                "name": nxt[1],
                "weekday": nxt[0].strftime("%a"),
                "business_days_away": int(cal.du(d, nxt[0])),
            }
        ),
        "closures_ahead": closures,
        "horizon_end": horizon_end.isoformat(),
        "notes": notes,
    }
    ins = _instrument_table(inp)
    if ins is None:
        out["maturities_ahead"] = _unavailable("the instruments reference table was not provided")
        return out
    held = {}
    if inp.marks is not None and len(inp.marks):
        m = _on(inp.marks, "business_date", inp.prev_date)
        held = m.groupby(m["instrument_id"].astype(str))["quantity"].sum().astype(float).to_dict()
    mat = ins.loc[[x is not None and d <= x <= horizon_end for x in ins["maturity_date"]]]
    if "is_active" in mat.columns:
        mat = mat.loc[
            mat["is_active"].astype(bool) | mat["instrument_id"].astype(str).isin(set(held))
        ]
    mat = mat.sort_values(["maturity_date", "instrument_id"])
    rows = []
    if len(mat):
        dus = cal.du(
            np.full(len(mat), np.datetime64(d, "D")),
            np.array(list(mat["maturity_date"]), dtype="datetime64[D]"),
        )
        for (iid, name, typ, m_), du_ in zip(
            mat[["instrument_id", "name", "instrument_type", "maturity_date"]].itertuples(
                index=False
            ),
            dus,
        ):
            q = held.get(str(iid))
            rows.append(
                {
                    "instrument_id": str(iid),
                    "name": str(name),
                    "instrument_type": str(typ),
                    "maturity_date": m_.isoformat(),
                    "business_days_away": int(du_),
                    "held": q is not None and q != 0,
                    "net_quantity": _r(q, 6),
                }
            )
    out["maturities_ahead"] = rows
    return out


# ============================================================================ action items


def _action_items(
    inp: PackInputs,
    risk: dict[str, Any],
    proposals: dict[str, Any],
    signals: dict[str, Any],
    dq: pd.DataFrame | None,
    sections: dict[str, Any],
) -> dict[str, Any]:
    """What the PM must look at, most urgent first (original-system.md §4.2, extended).

    Rules: limit BREACHED -> CRITICAL, WARNING -> HIGH; pending proposal: FLIP -> CRITICAL,
    |conviction| >= 0.8 or pre-trade breaches -> HIGH, else MEDIUM; signal flip -> HIGH;
    conviction surge -> MEDIUM; data-quality ERROR -> HIGH, WARNING -> LOW; stale price
    (without its own data-quality issue) -> MEDIUM; position maturing within
    ``expiry_horizon_bd`` business days of D -> HIGH within 2 days, else MEDIUM; an unavailable
    section -> MEDIUM. Sorted by (priority, category, key, description).
    """
    items: list[dict[str, Any]] = []

    def add(priority: str, category: str, key: str, description: str, urgency: str) -> None:
        items.append(
            {
                "priority": priority,
                "category": category,
                "key": key,
                "description": description,
                "urgency": urgency,
            }
        )

    if not _is_unavailable(risk):
        for lim in risk["limits"]:
            if lim["status"] == "BREACHED":
                add(
                    "CRITICAL",
                    "limit_breach",
                    lim["name"],
                    f"Limit {lim['name']} breached: {_fmt_num(lim['value'])} vs limit "
                    f"{_fmt_num(lim['limit'])}"
                    f"{_unit(lim['unit'])} ({_fmt_num(lim['utilization_pct'], 1)}% used)",
                    "Reduce before the open",
                )
            elif lim["status"] == "WARNING":
                add(
                    "HIGH",
                    "limit_warning",
                    lim["name"],
                    f"Limit {lim['name']} at {_fmt_num(lim['utilization_pct'], 1)}% of limit"
                    f" ({_fmt_num(lim['value'])} vs {_fmt_num(lim['limit'])}{_unit(lim['unit'])})",
                    "Monitor today",
                )
    if not _is_unavailable(proposals):
        for p in proposals["items"]:
            if p["status"] != "PENDING":
                continue
            conv = p["conviction"] or 0.0
            pri = (
                "CRITICAL"
                if p["action"] == "FLIP"
                else ("HIGH" if abs(conv) >= 0.8 or p["n_breaches"] else "MEDIUM")
            )
            desc = (
                f"{p['side']} {_fmt_num(abs(p['quantity'] or 0), 0)} {p['instrument_id']} "
                f"({p['action']}, "
                f"conviction {abs(conv) * 100:.0f}%, notional {fmt_brl(p['notional_brl'])})"
            )
            if p["action"] == "FLIP":
                desc += " [FLIP]"
            if p["n_breaches"]:
                desc += f" - {p['n_breaches']} pre-trade limit breach(es)"
            add(
                pri,
                "proposal",
                (
                    f"{p['rank']:06d}:{p['instrument_id']}"
                    if p["rank"] is not None
                    else p["instrument_id"]
                ),
                desc,
                "Requires review today",
            )
    if not _is_unavailable(signals):
        for s in signals["flips"]:
            add(
                "HIGH",
                "signal_flip",
                f"{s['strategy_id']}:{s['signal_id']}",
                f"{s['strategy_id']} flipped {s['signal_id']} "
                f"{s['direction_prev']} -> {s['direction']} "
                f"({s['conviction_prev']:+.2f} -> {s['conviction']:+.2f})",
                "Review position",
            )
        for s in signals["surges"]:
            add(
                "MEDIUM",
                "conviction_surge",
                f"{s['strategy_id']}:{s['signal_id']}",
                f"{s['strategy_id']} conviction on {s['signal_id']} moved {s['change']:+.2f} "
                f"({s['conviction_prev']:+.2f} -> {s['conviction']:+.2f})",
                "Review sizing",
            )
    dq_instruments: set[str] = set()
    if dq is not None and len(dq):
        d = dq.assign(_d=_date_col(dq["business_date"])).sort_values(
            ["_d", "step", "instrument_id", "field"], kind="mergesort"
        )
        for r in d.to_dict("records"):
            sev = str(r["severity"]).upper()
            dq_instruments.add(str(r["instrument_id"]))
            add(
                "HIGH" if sev == "ERROR" else "LOW",
                "data_quality",
                f"{r['_d'].isoformat()}:{r['step']}:{r['instrument_id']}:{r['field']}",
                f"{sev} {r['step']} {r['instrument_id']} {r['field']} ({r['_d'].isoformat()}): "
                f"{r['message']}",
                "Fix data before the next run",
            )
    if inp.marks is not None and len(inp.marks) and "is_stale" in inp.marks.columns:
        m = _on(inp.marks, "business_date", inp.prev_date)
        st = m.loc[
            m["is_stale"].astype(bool) & ~m["instrument_id"].astype(str).isin(dq_instruments)
        ]
        if len(st):
            g = (
                st.groupby(st["instrument_id"].astype(str))
                .agg(price_date=("price_date", "min"), staleness_bd=("staleness_bd", "max"))
                .sort_index()
            )
            for iid, r in g.iterrows():
                add(
                    "MEDIUM",
                    "stale_price",
                    iid,
                    f"{iid} marked with the {_iso(r['price_date'])} price "
                    f"({int(r['staleness_bd'])} business day(s) stale) at "
                    f"{inp.prev_date.isoformat()}",
                    "Check the price source",
                )
    items.extend(_expiring(inp))
    for name in ("summary", "market", "positions", "risk", "proposals", "signal_changes"):
        sec = sections.get(name)
        if _is_unavailable(sec):
            add(
                "MEDIUM",
                "missing_input",
                name,
                f"Section {name} unavailable: {sec['reason']}",
                "Check the upstream step",
            )
    prank = {p: i for i, p in enumerate(PRIORITIES)}
    crank = {c: i for i, c in enumerate(CATEGORIES)}
    items.sort(
        key=lambda x: (prank[x["priority"]], crank[x["category"]], x["key"], x["description"])
    )
    counts = {p: sum(1 for x in items if x["priority"] == p) for p in PRIORITIES}
    return {"status": "ok", "n_items": len(items), "counts": counts, "items": items}


def _expiring(inp: PackInputs) -> list[dict[str, Any]]:
    """Held instruments whose maturity is within ``expiry_horizon_bd`` ANBIMA days of D.

    Business days away = du(D, maturity) (ANBIMA, [D, maturity)); 0 means it matures today.
    """
    if inp.marks is None or inp.instruments is None or len(inp.marks) == 0:
        return []
    ins = _instrument_table(inp)
    m = _on(inp.marks, "business_date", inp.prev_date)
    if len(m) == 0 or "maturity_date" not in ins.columns:
        return []
    g = m.groupby(m["instrument_id"].astype(str)).agg(
        quantity=("quantity", "sum"),
        strategies=("strategy_id", lambda s: ",".join(sorted(s.astype(str)))),
    )
    g = g.join(ins[["maturity_date"]], how="left")
    g = g.loc[[x is not None for x in g["maturity_date"]]]
    if len(g) == 0:
        return []
    dus = cal.du(
        np.full(len(g), np.datetime64(inp.date, "D")),
        np.array(list(g["maturity_date"]), dtype="datetime64[D]"),
    )
    g = g.assign(du=dus)
    g = g.loc[g["du"] <= inp.expiry_horizon_bd].sort_index()
    out = []
    for iid, r in g.iterrows():
        du_ = int(r["du"])
        when = (
            "today" if du_ == 0 else ("already matured" if du_ < 0 else f"in {du_} business day(s)")
        )
        out.append(
            {
                "priority": "HIGH" if du_ <= 2 else "MEDIUM",
                "category": "expiring_position",
                "key": iid,
                "description": f"{iid} matures {r['maturity_date'].isoformat()} ({when}); "
                f"net quantity {_fmt_num(float(r['quantity']), 0)} in {r['strategies']}",
                "urgency": "Roll or close",
            }
        )
    return out


def _fmt_num(x: float | None, nd: int = 2) -> str:
    return "n/a" if x is None else f"{x:,.{nd}f}"


def _unit(u: str | None) -> str:
    return "" if not u else f" {u}"


# ============================================================================ narrative


def _narrative(inp: PackInputs, s: dict[str, Any]) -> dict[str, Any]:
    """A deterministic paragraph from the numbers (no LLM: the text must be reproducible).

    One sentence per available fact, in reading order; missing inputs are named, never filled.
    """
    out: list[str] = []
    summ = s["summary"]
    book = summ.get("book", {})
    if book.get("status") == "ok":
        out.append(
            f"On {inp.prev_date.isoformat()} the fund closed with NAV {fmt_brl(book['nav_brl'])} "
            f"and a P&L of {fmt_brl(book['pnl_brl'], signed=True)} ({fmt_bps(book['pnl_bps'])})."
        )
    else:
        out.append(f"The book for {inp.prev_date.isoformat()} is unavailable.")
    perf = []
    for tag in ("mtd", "ytd"):
        p = summ.get(tag, {})
        if p.get("status") == "ok":
            txt = f"{tag.upper()} {fmt_bps(p['return_bps'])}"
            if p.get("pct_of_cdi") is not None:
                txt += f" ({p['pct_of_cdi']:.0f}% of CDI)"
            perf.append(txt)
    if perf:
        out.append("Performance: " + "; ".join(perf) + ".")
    var = summ.get("var", {})
    if var.get("status") == "ok":
        txt = f"VaR 95% is {fmt_brl(var['var95_brl'])} ({var['var95_bps']:.0f} bps of NAV"
        if var.get("utilization_pct") is not None:
            txt += f", {var['utilization_pct']:.0f}% of its limit"
        out.append(txt + ").")
    risk = s["risk"]
    if not _is_unavailable(risk):
        if risk["n_breaches"]:
            names = ", ".join(x["name"] for x in risk["limits"] if x["status"] == "BREACHED")
            out.append(f"{risk['n_breaches']} limit(s) breached: {names}.")
        elif risk["n_warnings"]:
            out.append(f"No limit breached; {risk['n_warnings']} limit(s) above the warning level.")
        else:
            out.append("All risk limits are within their warning levels.")
    else:
        out.append("Risk figures are unavailable.")
    pos = s["positions"]
    if not _is_unavailable(pos):
        if pos["top_contributors"]:
            t = pos["top_contributors"][0]
            out.append(
                f"Top contributor: {t['instrument_id']} ({t['strategy_id']}) "
                f"{fmt_brl(t['pnl_brl'], signed=True)}."
            )
        if pos["top_detractors"]:
            t = pos["top_detractors"][0]
            out.append(
                f"Top detractor: {t['instrument_id']} ({t['strategy_id']}) "
                f"{fmt_brl(t['pnl_brl'], signed=True)}."
            )
    mk = s["market"]
    win = mk.get("window", {})
    if win.get("covers_closure"):
        names = ", ".join(f"{x['date']} {x['name']}" for x in win["closed_days"])
        tail = "" if _is_unavailable(mk) else "; the market moves shown are that session's"
        out.append(f"B3 has been closed since the {win['last_session']} session ({names}){tail}.")
    di1 = mk.get("di1_curve", {})
    if di1.get("status") == "ok" and di1.get("shape"):
        sh = di1["shape"]
        out.append(
            f"In the {di1['session']} session the DI1 curve moved "
            f"{fmt_bps(sh['avg_change_bp'])} on average ({sh['label']}; "
            f"{sh['short_vertex']}-{sh['long_vertex']} slope "
            f"{fmt_bps(sh['slope_change_bp'])})."
        )
    fx = mk.get("usdbrl", {})
    if fx.get("status") == "ok":
        f0 = fx["fixings"][0]
        out.append(f"USD/BRL {f0['kind'].lower()} {f0['rate']:.4f} ({fmt_pct(f0['change_pct'])}).")
    ib = mk.get("ibov", {})
    if ib.get("status") == "ok":
        out.append(
            f"Ibovespa future {ib['instrument_id']} {ib['price']:,.0f} "
            f"({fmt_pct(ib['change_pct'])})."
        )
    props = s["proposals"]
    if not _is_unavailable(props):
        if props["n_pending"]:
            first = next(x for x in props["items"] if x["status"] == "PENDING")
            out.append(
                f"{props['n_pending']} proposal(s) pending; top ranked: {first['side']} "
                f"{first['instrument_id']} ({first['action']}, conviction "
                f"{abs(first['conviction'] or 0) * 100:.0f}%)."
            )
        else:
            out.append("No trade proposals pending today.")
    sig = s["signal_changes"]
    if not _is_unavailable(sig) and (sig["flips"] or sig["surges"]):
        out.append(
            f"Signals: {len(sig['flips'])} flip(s) and {len(sig['surges'])} conviction surge(s) "
            f"vs the previous day."
        )
    calx = s["calendar"]
    nh = calx.get("next_b3_holiday")
    if nh:
        out.append(
            f"Next B3 holiday: {nh['date']} ({nh['name']}), "
            f"in {nh['business_days_away']} business day(s)."
        )
    ai = s["action_items"]
    if ai["counts"]["CRITICAL"] or ai["counts"]["HIGH"]:
        out.append(
            f"Action items: {ai['counts']['CRITICAL']} critical, {ai['counts']['HIGH']} high."
        )
    return {"status": "ok", "sentences": out, "text": " ".join(out)}


# ============================================================================ entry point


def assemble_pack(inp: PackInputs) -> dict[str, Any]:
    """Assemble the morning pack for D from persisted outputs; pure and deterministic.

    Raises:
        InvalidInput: when D is not an ANBIMA business day, P is not before D, or the book /
            risk snapshot passed is dated other than P (a wiring bug, not a data gap).
    """
    d, p = _to_date(inp.date), _to_date(inp.prev_date)
    if d is None or p is None:
        raise InvalidInput(
            "pack date and prev_date are required", table="morning_packs", field="business_date"
        )
    if not cal.is_business_day(d):
        raise InvalidInput(
            f"morning pack date {d.isoformat()} is not an ANBIMA business day: "
            f"{cal.holiday_name(d)}",
            table="morning_packs",
            row=d.isoformat(),
            field="business_date",
        )
    if p >= d:
        raise InvalidInput(
            f"prev_date {p.isoformat()} must be before the pack date {d.isoformat()}",
            table="morning_packs",
            row=d.isoformat(),
            field="prev_date",
        )
    for label, row, tbl in (
        ("book", inp.book, "book_snapshots"),
        ("risk", inp.risk, "risk_snapshots"),
    ):
        if (
            row is not None
            and row.get("business_date") is not None
            and _to_date(row["business_date"]) != p
        ):
            raise InvalidInput(
                f"{label} snapshot is dated {_iso(row['business_date'])}, expected P = "
                f"{p.isoformat()} for the pack of {d.isoformat()}",
                table=tbl,
                row=_iso(row["business_date"]),
                field="business_date",
            )
    inp = dataclasses.replace(inp, date=d, prev_date=p)

    dq = None
    if inp.dq_issues is not None:
        dq = inp.dq_issues
        if len(dq):
            dq = dq.loc[_date_col(dq["business_date"]).isin([p, d])]

    equity = _equity_series(inp)
    risk = _risk(inp)
    market, window = _market(inp)
    sections: dict[str, Any] = {
        "summary": _summary(inp, risk, equity, dq),
        "market": market,
        "positions": _positions(inp),
        "risk": risk,
        "proposals": _proposals(inp),
        "signal_changes": _signal_changes(inp),
        "calendar": _calendar(inp),
    }
    sections["action_items"] = _action_items(
        inp, risk, sections["proposals"], sections["signal_changes"], dq, sections
    )
    sections["narrative"] = _narrative(inp, sections)
    pack = {
        "schema_version": SCHEMA_VERSION,
        "date": d.isoformat(),
        "prev_date": p.isoformat(),
        "fund_name": inp.fund_name,
        "sections": list(SECTIONS),
        "series": {"equity_curve": equity},
        **sections,
    }
    return canonical(pack)

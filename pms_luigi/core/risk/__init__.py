"""Book risk for a business date: factor exposures, VaR/ES (historical, parametric), stress, limits.

Pure module (stdlib, numpy, pandas, ``pms_luigi.core.calendar``): inputs are DataFrames whose columns
are the DB column names of ``pms_luigi/store/schema.py``; no I/O, no clock. The task layer reads
``config/limits.csv`` and ``config/stress_scenarios.json`` and passes them in.

Method (finance-conventions.md §6):

* **Risk factors.** Rates, inflation and cupom positions load on constant-maturity vertices of a
  curve — ``DI_<du>`` (DI1 curve; DI1, LTN, NTN-F), ``REAL_<du>`` (NTN-B real yields),
  ``CUPOM_<du>`` (DDI rates) for du in :data:`VERTICES` — shocked in **absolute bp**. FX loads on
  ``USDBRL`` and equity on ``IBOV``, both shocked **relatively**. Shocks are applied to today's
  du (constant maturity), never to fixed contract codes, which roll down.
* **Sensitivities** come from ``position_marks``: ``dv01_brl`` (BRL P&L for +1bp of the
  position's own yield), ``fx_delta_usd × spot`` (BRL P&L for a +100% USDBRL move) and
  ``equity_delta_brl`` (BRL P&L for a +100% IBOV move). Scenario P&L is first order
  (Σ sensitivity × shock): no convexity, no basis between a bond's yield and the curve vertex.
* **Historical VaR/ES** (primary): today's exposures × the last ``window`` daily factor changes.
  With N scenarios and k = ⌈N·(1−α)⌉ computed in Decimal arithmetic (in floats
  20·(1−0.95) = 1.0000000000000009 and ``ceil`` gives 2), VaR_α = −(k-th worst P&L) and
  ES_α = −mean(k worst P&Ls). No interpolation between order statistics.
* **Parametric** (cross-check): delta-normal, σ_P = √(sᵀΣs), VaR_α = z_α·σ_P (1-day, mean
  ignored), ES_α = σ_P·φ(z_α)/(1−α), Euler component VaR_i = z_α·s_i(Σs)_i/σ_P (sums to VaR),
  marginal VaR_i = z_α·(Σs)_i/σ_P. z_α from ``statistics.NormalDist`` (exact, not a table).
* **Stress**: factor shocks (bp × DV01 of the bucket, % × delta), never % of notional;
  historical replays derive their shocks from the stored factor changes of a dated window.
* **Limits**: utilisation = value / limit × 100; OK below the warn threshold, WARNING from it
  up to and including 100, BREACH above 100; NO_DATA when the metric is unavailable (e.g. VaR
  with insufficient history) — never OK by default.

Money stays float64 here; the writer rounds to centavos (half-even) at the DB boundary.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_CEILING, Decimal
from statistics import NormalDist
from typing import Any, Final, Mapping

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.errors import InvalidInput, MissingFxFixing
from pms_luigi.core.mtm import to_days

# ------------------------------------------------------------------------------- constants

#: Constant-maturity vertices, in ANBIMA business days (finance-conventions.md §6).
VERTICES: Final[tuple[int, ...]] = (21, 63, 126, 252, 504, 756, 1260, 2520)

#: Curve family of a position's ``dv01_brl``, by instrument_type. LTN/NTN-F load on the DI curve
#: (their yield-DI spread is not a factor: basis risk is not modelled).
RATE_FAMILY_BY_TYPE: Final[dict[str, str]] = {
    "DI1": "DI", "LTN": "DI", "NTNF": "DI", "NTNB": "REAL", "DDI": "CUPOM",
}
#: Instruments whose ``market_prices.rate`` builds each curve family.
CURVE_SOURCE_TYPES: Final[dict[str, tuple[str, ...]]] = {
    "DI": ("DI1",), "REAL": ("NTNB",), "CUPOM": ("DDI",),
}
RATE_FAMILIES: Final[tuple[str, ...]] = ("DI", "REAL", "CUPOM")
FX_FACTOR: Final[str] = "USDBRL"
EQUITY_FACTOR: Final[str] = "IBOV"
#: Contracts whose settlement prices give IBOV returns (IND preferred over WIN, same maturity).
EQUITY_INDEX_TYPES: Final[tuple[str, ...]] = ("IND", "WIN")
ABS_BP: Final[str] = "abs_bp"
REL: Final[str] = "rel"
ASSET_CLASSES: Final[tuple[str, ...]] = ("RATES", "INFLATION", "FX", "CUPOM", "EQUITY", "CREDIT")

EXPOSURE_COLUMNS: Final[list[str]] = [
    "instrument_id", "strategy_id", "factor", "shock_kind", "sensitivity_brl",
]
STRESS_COLUMNS: Final[list[str]] = [
    "scenario", "kind", "pnl_brl", "pnl_bps", "status", "description",
]
LIMIT_STATUS_COLUMNS: Final[list[str]] = [
    "limit", "metric", "value", "limit_value", "utilisation", "status",
]
SNAPSHOT_STATUS_OK: Final[str] = "OK"
SNAPSHOT_STATUS_INSUFFICIENT: Final[str] = "INSUFFICIENT_HISTORY"

_NORMAL = NormalDist()
_NAT: Final = np.datetime64("NaT", "D")
_KEY_STRIDE = 1_000_000  # > any du: composite (date, du) sort key for vectorized interpolation


def rate_factor(family: str, vertex: int) -> str:
    """Column name of a curve vertex, e.g. ``rate_factor('DI', 252) == 'DI_252'``."""
    return f"{family}_{vertex}"


def all_factors() -> list[str]:
    """Every factor this module can produce, in canonical column order."""
    return [rate_factor(f, v) for f in RATE_FAMILIES for v in VERTICES] + [FX_FACTOR, EQUITY_FACTOR]


def factor_kind(factor: str) -> str:
    """``'abs_bp'`` for curve vertices (changes in bp), ``'rel'`` for USDBRL/IBOV (fractions)."""
    family, _, vertex = factor.partition("_")
    if family in RATE_FAMILIES and vertex.isdigit() and int(vertex) in VERTICES:
        return ABS_BP
    if factor in (FX_FACTOR, EQUITY_FACTOR):
        return REL
    raise InvalidInput(f"unknown risk factor {factor!r} (field factor)", field="factor", row=factor)


# ------------------------------------------------------------------------------- small helpers


def _require(df: pd.DataFrame, cols: list[str], table: str) -> None:
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise InvalidInput(f"{table} is missing column(s) {missing}", table=table, field=missing[0])


def _day(d: date) -> np.datetime64:
    if isinstance(d, datetime):
        d = d.date()
    if not isinstance(d, date):
        raise InvalidInput(f"`on` must be a datetime.date, got {d!r}", field="on")
    return np.datetime64(d, "D")


def _as_dates(days: np.ndarray) -> pd.Index:
    """A datetime64[D] array as an Index of ``datetime.date`` (the schema's Date type)."""
    return pd.Index(days.astype("datetime64[D]").astype(object), dtype=object, name="date")


def _finite_or_none(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def tail_count(n: int, alpha: float) -> int:
    """k = ⌈n·(1−α)⌉ in exact decimal arithmetic (finance-conventions.md §6).

    ``alpha`` goes through its shortest repr (0.95 → Decimal('0.95')), so the product is exact
    and ``tail_count(20, 0.95) == 1`` (floats would give 2). k is at least 1 and at most n.
    """
    if not (isinstance(n, (int, np.integer)) and n >= 1):
        raise InvalidInput(f"need at least one scenario for VaR, got n={n!r}", field="pnl")
    a = Decimal(repr(float(alpha)))
    if not (Decimal(0) < a < Decimal(1)):
        raise InvalidInput(f"confidence alpha must be in (0, 1), got {alpha!r}", field="alpha")
    k = int((Decimal(int(n)) * (Decimal(1) - a)).to_integral_value(rounding=ROUND_CEILING))
    return min(max(k, 1), int(n))


# ------------------------------------------------------------------------------- exposures


def factor_exposures(
    marks: pd.DataFrame, instruments: pd.DataFrame, spot: float | None = None
) -> pd.DataFrame:
    """Map each position's sensitivities to risk factors.

    Returns one row per (instrument_id, strategy_id, factor) with a non-zero sensitivity, columns
    ``[instrument_id, strategy_id, factor, shock_kind, sensitivity_brl]``:

    * ``dv01_brl`` ≠ 0 → factor ``<FAMILY>_<vertex>``, ``abs_bp``, sensitivity = dv01_brl
      (BRL per +1bp). FAMILY from instrument_type (:data:`RATE_FAMILY_BY_TYPE`: DI1/LTN/NTNF → DI,
      NTNB → REAL, DDI → CUPOM). vertex = the :data:`VERTICES` entry nearest to the position's
      du = ``calendar.du(business_date, instruments.maturity_date)`` (ANBIMA [start, end));
      a tie goes to the shorter vertex. NTN-B is bucketed by maturity, consistent with the REAL
      curve, which is built from yields-to-maturity indexed by maturity du.
    * ``fx_delta_usd`` ≠ 0 → ``USDBRL``, ``rel``, sensitivity = fx_delta_usd × spot
      (BRL per +100% USDBRL; contracts.md: +1% P&L = fx_delta_usd·spot·0.01). ``spot`` is the
      USDBRL rate the caller passes (risk_snapshot passes the CLOSE of the date); without it each
      row's ``position_marks.fx_rate`` is used, and a row without one is an error.
    * ``equity_delta_brl`` ≠ 0 → ``IBOV``, ``rel``, sensitivity = equity_delta_brl (beta 1:
      idiosyncratic equity risk is not modelled).

    A position may produce several rows (a DDI has a CUPOM DV01 and a USD delta). Closed
    positions (all sensitivities zero) produce none.
    """
    _require(marks, ["business_date", "instrument_id", "strategy_id", "dv01_brl",
                     "fx_delta_usd", "equity_delta_brl"], "position_marks")
    _require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    if marks.empty:
        return _no_exposures()
    iid = marks["instrument_id"].to_numpy(dtype=object)
    sid = marks["strategy_id"].to_numpy(dtype=object)
    _check_unique_positions(iid, sid)
    sens_cols = ["dv01_brl", "fx_delta_usd", "equity_delta_brl"]
    dv01, fx_delta, eq_delta = (marks[c].to_numpy(dtype=float) for c in sens_cols)
    null = np.isnan(np.column_stack([dv01, fx_delta, eq_delta]))
    if null.any():
        k = int(null.any(axis=1).argmax())
        r, field = marks.iloc[k], sens_cols[int(null[k].argmax())]
        raise InvalidInput(f"{field} is null for {r['instrument_id']}/{r['strategy_id']} on "
                           f"{r['business_date']}", table="position_marks",
                           row=(r["instrument_id"], r["strategy_id"]), field=field)
    pos = _instrument_rows(instruments, iid)
    if (pos < 0).any():
        unknown = sorted(set(iid[pos < 0].tolist()))
        raise InvalidInput(f"instrument(s) {unknown} of position_marks not in instruments",
                           table="instruments", row=unknown[0], field="instrument_id")
    itype = instruments["instrument_type"].to_numpy(dtype=object)[pos]
    mat = to_days(instruments["maturity_date"])[pos]

    rr = np.flatnonzero(dv01 != 0.0)  # rates / inflation / cupom
    ff = np.flatnonzero(fx_delta != 0.0)
    ee = np.flatnonzero(eq_delta != 0.0)
    rate_factors = _rate_buckets(marks, rr, itype[rr], mat[rr])
    fx_sens = fx_delta[ff] * _fx_spot(marks, ff, spot)
    rows = np.concatenate([rr, ff, ee])
    if not len(rows):
        return _no_exposures()
    factor = np.concatenate([rate_factors, np.full(len(ff), FX_FACTOR, dtype=object),
                             np.full(len(ee), EQUITY_FACTOR, dtype=object)])
    kind = np.repeat(np.array([ABS_BP, REL, REL], dtype=object), [len(rr), len(ff), len(ee)])
    value = np.concatenate([dv01[rr], fx_sens, eq_delta[ee]])
    i, s = iid[rows], sid[rows]
    order = np.lexsort([np.unique(x, return_inverse=True)[1] for x in (factor, s, i)])
    out = pd.DataFrame({"instrument_id": i[order], "strategy_id": s[order],
                        "factor": factor[order], "shock_kind": kind[order],
                        "sensitivity_brl": value[order]}, columns=EXPOSURE_COLUMNS)
    return out.astype({"instrument_id": object, "strategy_id": object, "factor": object,
                       "shock_kind": object})


def _no_exposures() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float if c == "sensitivity_brl" else object)
                         for c in EXPOSURE_COLUMNS})


def _instrument_rows(instruments: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    """Row of each id in ``instruments`` (−1 when unknown); an instrument_id listed twice is
    an error (which row would describe it?)."""
    known = pd.Index(instruments["instrument_id"].to_numpy(dtype=object))
    if not known.is_unique:
        iid = known[known.duplicated()][0]
        raise InvalidInput(f"instrument {iid} appears twice in instruments",
                           table="instruments", row=iid, field="instrument_id")
    return known.get_indexer(ids)


def _check_unique_positions(iid: np.ndarray, sid: np.ndarray) -> None:
    """One mark per (instrument_id, strategy_id): the first duplicated pair is named."""
    ci, cs = pd.factorize(iid)[0], pd.factorize(sid)[0]
    pair = ci.astype(np.int64) * (int(cs.max(initial=0)) + 1) + cs
    _, inverse, counts = np.unique(pair, return_inverse=True, return_counts=True)
    dup = counts[inverse.reshape(-1)] > 1
    if dup.any():
        k = int(dup.argmax())
        row = [iid[k], sid[k]]
        raise InvalidInput(f"duplicate position {row} in position_marks",
                           table="position_marks", row=tuple(row), field="instrument_id")


def _rate_buckets(marks: pd.DataFrame, rows: np.ndarray, itype: np.ndarray,
                  mat: np.ndarray) -> np.ndarray:
    """``<FAMILY>_<vertex>`` of the marks ``rows`` with a DV01 (see :func:`factor_exposures`)."""
    fam = pd.Index(list(RATE_FAMILY_BY_TYPE)).get_indexer(itype)
    if (fam < 0).any():
        k = int((fam < 0).argmax())
        x = marks.iloc[rows[k]]
        raise InvalidInput(
            f"{x['instrument_id']} ({itype[k]}) has dv01_brl {x['dv01_brl']} on "
            f"{x['business_date']} but no rate factor for its instrument_type",
            table="position_marks", row=(x["instrument_id"], x["strategy_id"]),
            field="dv01_brl")
    if np.isnat(mat).any():
        x = marks.iloc[rows[int(np.isnat(mat).argmax())]]
        raise InvalidInput(f"{x['instrument_id']} has dv01_brl but no maturity_date, needed "
                           f"for its du bucket", table="instruments",
                           row=x["instrument_id"], field="maturity_date")
    du = calendar.du(to_days(marks["business_date"].to_numpy()[rows]), mat)
    vert = np.asarray(VERTICES)
    bucket = vert[np.abs(np.asarray(du)[:, None] - vert[None, :]).argmin(axis=1)]
    family = np.array(list(RATE_FAMILY_BY_TYPE.values()), dtype=object)[fam]
    return family + "_" + bucket.astype(str).astype(object)


def _fx_spot(marks: pd.DataFrame, rows: np.ndarray, spot: float | None) -> np.ndarray:
    """USDBRL spot for the FX delta of the marks ``rows``: ``spot`` if given, else each row's
    ``fx_rate``; a row left without a positive spot is an error."""
    if spot is not None:
        s = np.full(len(rows), float(spot))
    elif "fx_rate" in marks.columns:
        s = pd.to_numeric(marks["fx_rate"], errors="coerce").to_numpy(dtype=float)[rows]
    else:
        s = np.full(len(rows), np.nan)
    bad = ~(np.isfinite(s) & (s > 0))
    if bad.any():
        x = marks.iloc[rows[int(bad.argmax())]]
        raise InvalidInput(
            f"no USDBRL spot for the FX delta of {x['instrument_id']}/{x['strategy_id']} on "
            f"{x['business_date']} (field position_marks.fx_rate); pass spot=",
            table="position_marks", row=(x["instrument_id"], x["strategy_id"]),
            field="fx_rate")
    return s


def _factor_vector(exposures: pd.DataFrame) -> pd.Series:
    """Net sensitivity per factor (BRL per bp or per +100%), checking shock_kind consistency."""
    _require(exposures, EXPOSURE_COLUMNS, "exposures")
    if exposures.empty:
        return pd.Series(dtype=float, name="sensitivity_brl")
    codes, uniq = pd.factorize(exposures["factor"])  # factor_kind once per distinct factor
    kinds = np.array([factor_kind(f) for f in uniq], dtype=object)[codes]
    wrong = kinds != exposures["shock_kind"].to_numpy(dtype=object)
    if wrong.any():
        x = exposures[wrong].iloc[0]
        raise InvalidInput(f"factor {x['factor']} has shock_kind {x['shock_kind']!r}, expected "
                           f"{factor_kind(x['factor'])!r}", table="exposures",
                           row=(x["instrument_id"], x["strategy_id"]), field="shock_kind")
    s = exposures.groupby("factor", sort=False)["sensitivity_brl"].sum()
    order = [f for f in all_factors() if f in s.index]
    return s.reindex(order).astype(float).rename("sensitivity_brl")


# ------------------------------------------------------------------------------- factor history

#: Curve levels already computed in this process, keyed by one date's knots: the exact bytes
#: of its du and rate arrays in row order. A date's levels are a pure function of its knots
#: (:func:`_interpolate_levels`), so a corrected rate or price, or a contract added or removed,
#: is a different key and can never return a stale level. In a backfill the first date fills
#: the whole window and every later date computes one new day per family instead of ~260.
_LEVEL_MEMO: dict[bytes, np.ndarray] = {}
#: Entries kept (oldest dropped first): 3 families × ~2,700 dates, a 10-year backfill window.
_LEVEL_MEMO_MAX: Final[int] = 8192


@dataclass(frozen=True)
class _History:
    """``market_prices`` rows dated ≤ ``on`` joined to their instrument (rows of unknown
    instruments dropped), as aligned numpy columns in the input's row order."""

    day: np.ndarray  # datetime64[D]
    iid: np.ndarray  # object
    itype: np.ndarray  # object
    mat: np.ndarray  # datetime64[D], NaT without maturity
    price: np.ndarray  # float64
    rate: np.ndarray  # float64, NaN when not published


def _history_upto(history: pd.DataFrame, instruments: pd.DataFrame,
                  on_d: np.datetime64) -> _History:
    """Point-in-time rows of ``history`` joined to ``instruments``; a (price_date,
    instrument_id) pair twice is an error (which row would be the level?)."""
    days = to_days(history["price_date"])
    rows = np.flatnonzero(days <= on_d)
    ids = history["instrument_id"].to_numpy(dtype=object)[rows]
    days = days[rows]
    codes = pd.factorize(ids)[0].astype(np.int64)
    pair = days.astype(np.int64) * (int(codes.max(initial=0)) + 1) + codes
    dup = np.ones(len(pair), dtype=bool)
    dup[np.unique(pair, return_index=True)[1]] = False
    if dup.any():
        k = rows[np.flatnonzero(dup)[0]]
        x = history.iloc[k]
        raise InvalidInput(f"duplicate market_prices row for {x['instrument_id']} on "
                           f"{x['price_date']}", table="market_prices",
                           row=(x["price_date"], x["instrument_id"]), field="price_date")
    pos = _instrument_rows(instruments, ids)
    ok = pos >= 0
    pos, rows = pos[ok], rows[ok]
    return _History(
        day=days[ok], iid=ids[ok],
        itype=instruments["instrument_type"].to_numpy(dtype=object)[pos],
        mat=to_days(instruments["maturity_date"])[pos],
        price=history["price"].to_numpy(dtype=float)[rows],
        rate=pd.to_numeric(history["rate"], errors="coerce").to_numpy(dtype=float)[rows])


def _interpolate_levels(d: np.ndarray, du: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Vertex rates (one row per distinct date of ``d``, ascending; columns :data:`VERTICES`)
    from knots (date, du > 0, rate). Knots sharing (date, du) are averaged. Flat-forward on
    252 between knots: y(du) = ln(1+r)·du/252 is linear in du, r_v = exp(y_v·252/v) − 1; held
    flat outside them. Vectorized over all dates with a composite (date, du) sort key."""
    order = np.lexsort((du, d))
    kd, kdu, kr = d[order], du[order].astype(np.int64), r[order].astype(float)
    if ((kd[1:] == kd[:-1]) & (kdu[1:] == kdu[:-1])).any():  # shared knots: pandas' mean
        k = pd.DataFrame({"d": d, "du": du, "r": r}).groupby(["d", "du"], as_index=False)["r"]\
            .mean()
        kd, kdu, kr = k["d"].to_numpy(), k["du"].to_numpy(dtype=np.int64), k["r"].to_numpy(float)
    dates, d_idx = np.unique(kd, return_inverse=True)
    ky = np.log1p(kr) * kdu / 252.0
    keys = d_idx.astype(np.int64) * _KEY_STRIDE + kdu  # already sorted by (d, du)
    n, nv = len(keys), len(VERTICES)
    qd = np.repeat(np.arange(len(dates), dtype=np.int64), nv)
    qv = np.tile(np.asarray(VERTICES, dtype=np.int64), len(dates))
    pos = np.searchsorted(keys, qd * _KEY_STRIDE + qv, side="left")
    R, L = np.clip(pos, 0, n - 1), np.clip(pos - 1, 0, n - 1)
    right_ok = (pos < n) & (d_idx[R] == qd)
    left_ok = (pos > 0) & (d_idx[L] == qd)
    exact = right_ok & (kdu[R] == qv)
    both = right_ok & left_ok & ~exact
    w = np.where(both, (qv - kdu[L]) / np.where(both, kdu[R] - kdu[L], 1), 0.0)
    r_interp = np.expm1((ky[L] + w * (ky[R] - ky[L])) * 252.0 / qv)
    lvl = np.select([exact, both, right_ok, left_ok], [kr[R], r_interp, kr[R], kr[L]], np.nan)
    return lvl.reshape(len(dates), nv)


def _curve_levels(h: _History, family: str) -> tuple[np.ndarray, np.ndarray]:
    """(dates, levels): constant-maturity vertex rates of one curve family on every date with
    at least one knot (levels[i] = the :data:`VERTICES` rates of dates[i]).

    Knots: each contract's ``rate`` at its du = calendar.du(price_date, maturity_date) > 0
    (DI1 rows without a rate use r = (100000/PU)^(252/du) − 1, the B3 formula), interpolated by
    :func:`_interpolate_levels` — only for dates whose knots are not in :data:`_LEVEL_MEMO`.
    """
    src = np.isin(h.itype, CURVE_SOURCE_TYPES[family]) & ~np.isnat(h.mat)
    d, rate, price = h.day[src], h.rate[src], h.price[src]
    du = np.asarray(calendar.du(d, h.mat[src]), dtype=np.int64)
    if family == "DI":
        fill = np.isnan(rate) & (du > 0) & (price > 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            derived = (100000.0 / price) ** (252.0 / np.where(du > 0, du, 1)) - 1.0
        rate = np.where(fill, derived, rate)
    ok = (du > 0) & np.isfinite(rate) & (rate > -1.0)
    order = np.flatnonzero(ok)[np.argsort(d[ok], kind="stable")]  # by date, rows in input order
    d, du, rate = d[order], du[order], rate[order]
    dates, first = np.unique(d, return_index=True)
    bounds = np.r_[first, len(d)]
    keys = [du[a:b].tobytes() + rate[a:b].tobytes() for a, b in zip(bounds[:-1], bounds[1:])]
    levels = [_LEVEL_MEMO.get(key) for key in keys]
    todo = [i for i, lv in enumerate(levels) if lv is None]
    if todo:
        rows = np.isin(d, dates[todo])
        for i, lv in zip(todo, _interpolate_levels(d[rows], du[rows], rate[rows]), strict=True):
            levels[i] = _LEVEL_MEMO[keys[i]] = lv
        for old in list(_LEVEL_MEMO)[:max(0, len(_LEVEL_MEMO) - _LEVEL_MEMO_MAX)]:
            del _LEVEL_MEMO[old]
    return dates, (np.vstack(levels) if levels else np.empty((0, len(VERTICES))))


def _equity_returns(h: _History) -> tuple[np.ndarray, np.ndarray]:
    """(dates, returns): IBOV daily relative changes from IND/WIN settlements, free of roll jumps.

    On each date t the front contract (nearest maturity after t, IND before WIN, then by
    instrument_id) that also has a price on the previous index-futures date gives
    r_t = P_t/P_{t−1} − 1 of that same contract. Dates: every index-futures date (NaN where no
    contract qualifies, and on the first).
    """
    x = np.flatnonzero(np.isin(h.itype, EQUITY_INDEX_TYPES) & ~np.isnat(h.mat))
    if not len(x):
        return np.array([], dtype="datetime64[D]"), np.array([], dtype=float)
    codes = np.unique(h.iid[x], return_inverse=True)[1]  # instrument_id order
    order = np.lexsort((h.day[x], codes))  # by (instrument_id, date)
    x, codes = x[order], codes[order]
    d, mat, p = h.day[x], h.mat[x], h.price[x]
    cont = np.r_[False, codes[1:] == codes[:-1]]  # same contract as the row before
    prev_p = np.where(cont, np.r_[np.nan, p[:-1]], np.nan)
    prev_d = np.where(cont, np.r_[_NAT, d[:-1]], _NAT)
    all_d = np.unique(d)
    prev_global = np.r_[_NAT, all_d[:-1]][np.searchsorted(all_d, d)]
    ok = np.flatnonzero((mat > d) & ~np.isnan(prev_p) & (prev_d == prev_global))
    rank = pd.Index(EQUITY_INDEX_TYPES).get_indexer(h.itype[x[ok]])
    ok = ok[np.lexsort((rank, mat[ok], d[ok]))]  # stable: ties keep instrument_id order
    pick = ok[np.unique(d[ok], return_index=True)[1]]
    out = np.full(len(all_d), np.nan)
    out[np.searchsorted(all_d, d[pick])] = p[pick] / prev_p[pick] - 1.0
    return all_d, out


def _align(obs_change: np.ndarray, obs_days: np.ndarray, axis: np.ndarray,
           max_fill: int) -> np.ndarray:
    """Place factor changes observed on ``obs_days`` (rows of ``obs_change``, one column per
    factor sharing those dates) on the common axis.

    A change observed at t covers [previous own observation, t]. Axis dates without an own
    observation get 0 (no market move: e.g. Dec 24, an ANBIMA day without a B3 session) when
    at most ``max_fill`` rows follow the last observation; a change whose own gap spans more
    than ``max_fill`` axis rows, and the rows after, are NaN (missing data → scenario dropped).
    """
    out = np.full((len(axis), obs_change.shape[1]), np.nan)
    if not len(obs_days):
        return out
    pos = np.searchsorted(axis, obs_days)
    chg = obs_change.copy()
    gap = np.diff(pos, prepend=-10**9) - 1
    chg[gap > max_fill] = np.nan
    is_obs = np.zeros(len(axis), dtype=bool)
    is_obs[pos] = True
    last = np.maximum.accumulate(np.where(is_obs, np.arange(len(axis)), -1))
    since = np.arange(len(axis)) - last
    out[(last >= 0) & ~is_obs & (since <= max_fill)] = 0.0
    out[pos] = chg
    return out


def _usd_levels(fx_history: pd.DataFrame, fx_kind: str,
                on_d: np.datetime64) -> tuple[np.ndarray, np.ndarray]:
    """(dates, rates) of the USDBRL ``fx_kind`` fixings dated ≤ ``on``, ascending; one per date."""
    fx = fx_history
    if len(fx):
        fx = fx[(fx["pair"] == FX_FACTOR) & (fx["kind"] == fx_kind)]
    days = to_days(fx["fixing_date"]) if len(fx) else np.array([], dtype="datetime64[D]")
    keep = days <= on_d
    order = np.argsort(days[keep], kind="stable")
    days, rates = days[keep][order], fx["rate"].to_numpy(dtype=float)[keep][order]
    if (np.diff(days) == np.timedelta64(0, "D")).any():
        raise InvalidInput(f"duplicate fx_fixings {FX_FACTOR} {fx_kind} rows",
                           table="fx_fixings", field="fixing_date")
    return days, rates


def factor_changes(
    history: pd.DataFrame,
    instruments: pd.DataFrame,
    fx_history: pd.DataFrame,
    on: date,
    *,
    fx_kind: str = "CLOSE",
    max_fill: int = 1,
) -> pd.DataFrame:
    """Daily risk-factor changes from stored data dated on or before ``on`` (point in time).

    Wide frame: index ``date`` (``datetime.date``, ascending), one column per factor present
    (canonical order of :func:`all_factors`):

    * ``DI_<v>``: change in bp (Δr × 10⁴) of the DI1 curve at constant du v, the curve rebuilt
      each day from the DI1 contracts' ``market_prices.rate`` by flat-forward-252 interpolation
      (flat beyond the first/last contract). ``REAL_<v>`` likewise from NTN-B real yields,
      ``CUPOM_<v>`` from DDI rates (interpolated as quoted, linear-360 rates on the du axis:
      an approximation that only matters for second-order shape effects).
    * ``USDBRL``: relative change S_t/S_{t−1} − 1 of ``fx_fixings`` pair USDBRL, kind ``fx_kind``
      (CLOSE by default, PTAX on request; kinds are never mixed in one series).
    * ``IBOV``: relative change of the front IND (or WIN) contract, same contract both days
      (no roll jumps).

    ``history`` has ``market_prices`` columns, ``fx_history`` ``fx_fixings`` columns. The axis is
    the union of all observation dates ≤ ``on``; see :func:`_align` for dates a factor did not
    trade (zero change up to ``max_fill`` rows, NaN beyond). The first axis date (no previous
    level) is dropped. A date's curve levels are computed once per process (:data:`_LEVEL_MEMO`).
    """
    _require(history, ["price_date", "instrument_id", "price", "rate"], "market_prices")
    _require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    _require(fx_history, ["fixing_date", "pair", "kind", "rate"], "fx_fixings")
    on_d = _day(on)
    h = _history_upto(history, instruments, on_d)
    usd_days, usd = _usd_levels(fx_history, fx_kind, on_d)
    curves = {fam: _curve_levels(h, fam) for fam in RATE_FAMILIES}
    ibov_days, ibov = _equity_returns(h)
    axis = np.unique(np.concatenate([days for days, _ in curves.values()]
                                    + [usd_days, ibov_days]))
    names: list[str] = []
    blocks: list[np.ndarray] = []
    for fam, (days, levels) in curves.items():
        if len(days):
            names += [rate_factor(fam, v) for v in VERTICES]
            blocks.append(_align(np.diff(levels, axis=0, prepend=np.nan) * 1e4, days, axis,
                                 max_fill))
    if len(usd):
        names.append(FX_FACTOR)
        blocks.append(_align((np.r_[np.nan, usd[1:] / usd[:-1]] - 1.0)[:, None], usd_days,
                             axis, max_fill))
    if len(ibov):
        names.append(EQUITY_FACTOR)
        blocks.append(_align(ibov[:, None], ibov_days, axis, max_fill))
    values = np.hstack(blocks)[1:] if blocks else np.empty((max(len(axis) - 1, 0), 0))
    cols = ~np.isnan(values).all(axis=0)  # a factor with no observed change has no history
    rows = ~np.isnan(values[:, cols]).all(axis=1) if cols.any() else np.ones(len(values), bool)
    return pd.DataFrame(values[rows][:, cols], index=_as_dates(axis[1:][rows]),
                        columns=pd.Index(np.array(names, dtype=object)[cols], dtype="str",
                                         name="factor"))


# ------------------------------------------------------------------------------- VaR / ES


def scenario_pnl(exposures: pd.DataFrame, changes: pd.DataFrame,
                 vector: pd.Series | None = None) -> pd.Series:
    """First-order P&L of today's book under each historical day's factor changes.

    P&L_t = Σ_f s_f · Δ_{f,t}, with s_f the net sensitivity per factor (BRL per bp for
    ``abs_bp``, BRL per +100% for ``rel``) and Δ in bp / as a fraction, as :func:`factor_changes`
    produces them. Days where a factor the book is exposed to has no change (NaN) are dropped —
    the series length is the usable scenario count. A factor the book needs that is absent from
    ``changes`` is an error (never a silent zero). Index: the changes' dates; name ``pnl_brl``.
    ``vector``: the exposures' :func:`_factor_vector` when the caller already has it.
    """
    s = _factor_vector(exposures) if vector is None else vector
    missing = [f for f in s.index if f not in changes.columns]
    if missing:
        raise InvalidInput(f"no history for risk factor(s) {missing}", table="factor_changes",
                           field="factor", row=missing[0])
    x = changes[list(s.index)]
    x = x[x.notna().all(axis=1)]
    pnl = x.to_numpy(dtype=float) @ s.to_numpy(dtype=float) if len(s) else np.zeros(len(x))
    return pd.Series(pnl, index=x.index, name="pnl_brl")


def historical_var_es(pnl: pd.Series | np.ndarray | list[float],
                      alpha: float) -> tuple[float, float]:
    """Historical-simulation VaR and ES at confidence ``alpha`` (positive = loss).

    Sort the N scenario P&Ls ascending; k = ⌈N·(1−α)⌉ in Decimal arithmetic
    (:func:`tail_count`); VaR = −(k-th worst), ES = −mean(k worst). Order statistic, no
    interpolation (numpy.quantile's linear rule would give 82/62 instead of 80/100 on the §6
    vector). If even the k-th worst scenario is a gain, VaR is negative: reported as is.
    """
    v = np.asarray(pnl, dtype=float).ravel()
    if not np.isfinite(v).all():
        raise InvalidInput("scenario P&L contains NaN/inf", field="pnl")
    k = tail_count(len(v), alpha)
    worst = np.sort(v, kind="stable")[:k]
    return float(-worst[-1]), float(-worst.mean())


@dataclass(frozen=True)
class ParametricVaR:
    """Delta-normal VaR result (1-day, mean ignored). All money in BRL.

    ``component`` (by factor) and ``component_by_exposure`` (aligned to the exposures rows) are
    Euler allocations that sum to ``var_brl``. ``marginal`` is ∂VaR/∂s_f = z·(Σs)_f/σ_P, BRL of VaR
    per BRL of sensitivity (per bp or per +100%): ΔVaR ≈ Σ_f marginal_f·Δs_f for a small trade.
    """

    alpha: float
    z: float
    sigma_brl: float
    var_brl: float
    es_brl: float
    component: pd.Series
    marginal: pd.Series
    component_by_exposure: pd.Series | None = None


def normal_z(alpha: float) -> float:
    """z_α = Φ⁻¹(α) (stdlib NormalDist): 1.644854 (95%), 1.959964 (97.5%), 2.326348 (99%)."""
    tail_count(1, alpha)  # validates alpha
    return _NORMAL.inv_cdf(float(alpha))


def parametric_var_from_cov(sens: pd.Series, cov: pd.DataFrame, alpha: float) -> ParametricVaR:
    """Delta-normal VaR of sensitivity vector ``sens`` under factor covariance ``cov``.

    σ_P = √(sᵀΣs); VaR = z_α·σ_P; ES = σ_P·φ(z_α)/(1−α); component_i = z_α·s_i(Σs)_i/σ_P;
    marginal_i = z_α·(Σs)_i/σ_P (finance-conventions.md §6). σ_P = 0 gives zero components.
    """
    z = normal_z(alpha)
    idx = list(sens.index)
    c = cov.reindex(index=idx, columns=idx)
    if c.isna().to_numpy().any():
        raise InvalidInput(f"covariance missing for factor(s) of {idx}", field="factor")
    s = sens.to_numpy(dtype=float)
    sig_s = c.to_numpy(dtype=float) @ s
    var_p = float(s @ sig_s)
    sigma = math.sqrt(max(var_p, 0.0))
    if sigma > 0:
        comp, marg = z * s * sig_s / sigma, z * sig_s / sigma
    else:
        comp, marg = np.zeros_like(s), np.zeros_like(s)
    es = sigma * _NORMAL.pdf(z) / (1.0 - float(alpha))
    return ParametricVaR(alpha=float(alpha), z=z, sigma_brl=sigma, var_brl=z * sigma, es_brl=es,
                         component=pd.Series(comp, index=idx, name="component_var_brl"),
                         marginal=pd.Series(marg, index=idx, name="marginal_var"))


def factor_covariance(changes: pd.DataFrame, *, method: str = "sample",
                      lam: float = 0.94) -> pd.DataFrame:
    """Factor covariance of daily changes (bp for rates, fractions for FX/equity).

    ``sample``: unbiased (ddof=1, demeaned), same window as historical VaR.
    ``ewma``: RiskMetrics, zero mean, weights ∝ λ^(age) normalised to 1 (λ = 0.94).
    Rows must be complete (no NaN).
    """
    x = changes.to_numpy(dtype=float)
    if len(x) < 2:
        raise InvalidInput("need at least 2 scenarios for a covariance", field="changes")
    if method == "sample":
        cov = np.cov(x, rowvar=False, ddof=1).reshape(x.shape[1], x.shape[1])
    elif method == "ewma":
        w = lam ** np.arange(len(x) - 1, -1, -1, dtype=float)
        w /= w.sum()
        cov = (x * w[:, None]).T @ x
    else:
        raise InvalidInput(f"unknown covariance method {method!r}", field="method")
    return pd.DataFrame(cov, index=changes.columns, columns=changes.columns)


def parametric_var(exposures: pd.DataFrame, changes: pd.DataFrame, alpha: float, *,
                   method: str = "sample", lam: float = 0.94) -> ParametricVaR:
    """Delta-normal VaR of the book: Σ from :func:`factor_covariance` over the same complete
    scenario rows :func:`scenario_pnl` uses; see :func:`parametric_var_from_cov`.

    ``component_by_exposure`` splits each factor's component across the exposure rows in
    proportion to their sensitivity (z·s_j·(Σs)_f/σ_P), so grouping it by strategy_id gives an
    additive "VaR by strategy" table.
    """
    s = _factor_vector(exposures)
    missing = [f for f in s.index if f not in changes.columns]
    if missing:
        raise InvalidInput(f"no history for risk factor(s) {missing}", table="factor_changes",
                           field="factor", row=missing[0])
    if s.empty:
        zero = pd.Series(dtype=float)
        return ParametricVaR(float(alpha), normal_z(alpha), 0.0, 0.0, 0.0, zero, zero,
                             pd.Series(0.0, index=exposures.index))
    x = changes[list(s.index)]
    x = x[x.notna().all(axis=1)]
    res = parametric_var_from_cov(s, factor_covariance(x, method=method, lam=lam), alpha)
    per_row = exposures["sensitivity_brl"].to_numpy(dtype=float) * \
        exposures["factor"].map(res.marginal).to_numpy(dtype=float)
    return ParametricVaR(res.alpha, res.z, res.sigma_brl, res.var_brl, res.es_brl,
                         res.component, res.marginal,
                         pd.Series(per_row, index=exposures.index, name="component_var_brl"))


# ------------------------------------------------------------------------------- stress


def _check_shock_key(key: str, kind: str, scenario: str) -> None:
    if kind == "bp":
        fam, _, v = key.partition("_")
        ok = fam in RATE_FAMILIES and (v == "*" or (v.isdigit() and int(v) in VERTICES))
    else:
        ok = key in (FX_FACTOR, EQUITY_FACTOR)
    if not ok:
        raise InvalidInput(f"stress scenario {scenario!r}: {key!r} is not a valid {kind} factor "
                           f"(bp: DI_/REAL_/CUPOM_<vertex or *>; pct: USDBRL, IBOV)",
                           table="stress_scenarios", row=scenario, field=kind)


def scenarios_from_dict(obj: Mapping[str, Any] | list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Validate the parsed ``config/stress_scenarios.json`` into a list of scenario dicts.

    Layout: ``{"hypothetical": [{"name", "description", "bp": {factor: bp}, "pct": {factor:
    percent}}], "historical": [{"name", "description", "start", "end"}]}``. ``bp`` keys are curve
    vertices (``DI_252``) or a whole family (``DI_*``; an exact vertex overrides the wildcard);
    ``pct`` keys are ``USDBRL``/``IBOV`` in percent (10 = +10%). Units are explicit so a 0.10
    meant as 10% cannot slip through silently as 0.1%.

    A list of scenarios (this function's own output, or raw entries: historical ones are those
    with ``start``) is accepted too and re-validated, so the function is idempotent.
    """
    if isinstance(obj, list):
        is_hist = [sc.get("kind") == "historical" or "start" in sc for sc in obj]
        obj = {"hypothetical": [sc for sc, h in zip(obj, is_hist) if not h],
               "historical": [sc for sc, h in zip(obj, is_hist) if h]}
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for sc in obj.get("hypothetical", []):
        name = str(sc["name"])
        bp = {str(k): float(v) for k, v in (sc.get("bp") or {}).items()}
        pct = {str(k): float(v) for k, v in (sc.get("pct") or {}).items()}
        for k in bp:
            _check_shock_key(k, "bp", name)
        for k in pct:
            _check_shock_key(k, "pct", name)
        if not bp and not pct:
            raise InvalidInput(f"stress scenario {name!r} has no shocks",
                               table="stress_scenarios", row=name, field="bp")
        out.append({"name": name, "kind": "hypothetical",
                    "description": str(sc.get("description", "")), "bp": bp, "pct": pct})
    for sc in obj.get("historical", []):
        name = str(sc["name"])
        start, end = date.fromisoformat(str(sc["start"])), date.fromisoformat(str(sc["end"]))
        if end < start:
            raise InvalidInput(f"historical scenario {name!r}: end {end} before start {start}",
                               table="stress_scenarios", row=name, field="end")
        out.append({"name": name, "kind": "historical",
                    "description": str(sc.get("description", "")), "start": start, "end": end})
    for sc in out:
        if sc["name"] in seen:
            raise InvalidInput(f"duplicate stress scenario {sc['name']!r}",
                               table="stress_scenarios", row=sc["name"], field="name")
        seen.add(sc["name"])
    return out


def _hypothetical_shocks(sc: dict[str, Any], factors: list[str]) -> np.ndarray:
    """Shock per factor in the factor's own unit: bp for abs_bp, fraction for rel."""
    out = np.zeros(len(factors))
    for i, f in enumerate(factors):
        if factor_kind(f) == ABS_BP:
            fam = f.partition("_")[0]
            out[i] = sc["bp"].get(f, sc["bp"].get(f"{fam}_*", 0.0))
        else:
            out[i] = sc["pct"].get(f, 0.0) / 100.0
    return out


def stress_table(exposures: pd.DataFrame, scenarios: Mapping[str, Any] | list[dict[str, Any]],
                 *, nav: float | None = None, changes: pd.DataFrame | None = None,
                 vector: pd.Series | None = None) -> pd.DataFrame:
    """Stress P&L by risk factor: Σ_f s_f × shock_f (bp × DV01 of the bucket, % × delta).

    Hypothetical scenarios use the configured shocks. Historical replays take the stored factor
    changes over [start, end] from ``changes`` (full history, not just the VaR window): rates
    shock = Σ bp changes, FX/IBOV = Π(1+r) − 1; status ``NO_DATA`` (P&L null, never zero) when
    the window has no rows or an exposed factor is missing there. First order (no convexity).
    Columns ``[scenario, kind, pnl_brl, pnl_bps, status, description]``; pnl_bps = P&L/NAV·10⁴
    when ``nav`` is given. ``vector``: the exposures' :func:`_factor_vector`, when at hand.
    """
    scs = scenarios_from_dict(scenarios)
    s = _factor_vector(exposures) if vector is None else vector
    factors, sv = list(s.index), s.to_numpy(dtype=float)
    rows = []
    for sc in scs:  # a handful of scenarios; the factor algebra is vectorized
        pnl, status = np.nan, "OK"
        if sc["kind"] == "hypothetical":
            pnl = float(sv @ _hypothetical_shocks(sc, factors))
        elif not factors:
            pnl = 0.0
        else:
            w = None
            if changes is not None and len(changes):
                idx = changes.index
                w = changes[(idx >= sc["start"]) & (idx <= sc["end"])]
            if w is None or w.empty or any(f not in w.columns for f in factors) \
                    or w[factors].isna().to_numpy().any():
                status = "NO_DATA"
            else:
                x = w[factors]
                kinds = np.array([factor_kind(f) == ABS_BP for f in factors])
                shock = np.where(kinds, x.sum().to_numpy(),
                                 (1.0 + x).prod().to_numpy() - 1.0)
                pnl = float(sv @ shock)
        rows.append({"scenario": sc["name"], "kind": sc["kind"], "pnl_brl": pnl,
                     "pnl_bps": pnl / nav * 1e4 if nav else np.nan, "status": status,
                     "description": sc["description"]})
    return pd.DataFrame(rows, columns=STRESS_COLUMNS)


# ------------------------------------------------------------------------------- limits


def limits_from_frame(df: pd.DataFrame) -> pd.DataFrame:
    """Validate the limits table (``config/limits.csv`` as read by the task layer).

    Columns: ``limit`` (unique name), ``metric`` (key of the metrics dict, see
    :func:`book_metrics`), ``limit_value`` (> 0, in the metric's unit), ``warn_pct`` (WARNING from
    this % of the limit, in (0, 100]); optional ``unit``, ``description``.
    """
    _require(df, ["limit", "metric", "limit_value", "warn_pct"], "limits")
    out = df.copy()
    for col in ("limit_value", "warn_pct"):
        out[col] = pd.to_numeric(out[col], errors="coerce").astype(float)
    checks = {"limit_value": (out["limit_value"] > 0, "must be > 0"),
              "warn_pct": ((out["warn_pct"] > 0) & (out["warn_pct"] <= 100), "must be in (0, 100]")}
    for field, (ok, rule) in checks.items():
        bad = ~(ok & np.isfinite(out[field]))
        if bad.any():
            i = bad.to_numpy().argmax()
            name = out["limit"].iloc[i]
            raise InvalidInput(f"limit {name!r}: {field} {rule}, got {df[field].iloc[i]!r}",
                               table="limits", row=name, field=field)
    dup = out["limit"].duplicated()
    if dup.any():
        name = out.loc[dup, "limit"].iloc[0]
        raise InvalidInput(f"duplicate limit {name!r}", table="limits", row=name, field="limit")
    return out.reset_index(drop=True)


def limit_status(metrics: Mapping[str, float | None], limits: pd.DataFrame) -> pd.DataFrame:
    """Utilisation of every configured limit.

    utilisation = value / limit_value × 100 (percent; rounded to 9 decimals before classifying,
    so 240/300 is exactly 80). status: ``BREACH`` if > 100, ``WARNING`` if ≥ warn_pct, else
    ``OK``; ``NO_DATA`` (value and utilisation null) when the metric is absent or None — e.g.
    VaR under INSUFFICIENT_HISTORY, or drawdown not supplied. Values are magnitudes (the metrics
    dict already holds |DV01|, |net leverage|, ...).
    """
    return _utilisation(metrics, limits_from_frame(limits))


def _utilisation(metrics: Mapping[str, float | None], lim: pd.DataFrame) -> pd.DataFrame:
    """:func:`limit_status` over limits already validated by :func:`limits_from_frame`."""
    value = lim["metric"].map(lambda k: _finite_or_none(metrics.get(k))).astype(float)
    util = (value / lim["limit_value"] * 100.0).round(9)
    status = np.select([value.isna(), util > 100.0, util >= lim["warn_pct"]],
                       ["NO_DATA", "BREACH", "WARNING"], "OK")
    return pd.DataFrame({"limit": lim["limit"], "metric": lim["metric"], "value": value,
                         "limit_value": lim["limit_value"], "utilisation": util,
                         "status": status})[LIMIT_STATUS_COLUMNS]


def current_drawdown(navs: pd.Series) -> float:
    """Drawdown of the last NAV from its running peak, as a fraction: 1 − NAV_last / max NAV."""
    v = np.asarray(navs, dtype=float)
    if len(v) == 0 or not (np.isfinite(v).all() and (v > 0).all()):
        raise InvalidInput("NAV history must be non-empty, finite and positive", field="nav_brl")
    return float(1.0 - v[-1] / v.max())


def performance_drawdown(pnl_bps: pd.Series) -> float:
    """Drawdown of the flow-neutral performance index, as a fraction (one definition, shared
    with attribution and the pack): index_t = Π(1 + pnl_bps/1e4), anchored at 1 before the
    first day; drawdown = 1 − index_last / max(1, max index). Subscriptions and redemptions
    move NAV but not this index, so a redemption is never mistaken for a loss."""
    r = np.asarray(pnl_bps, dtype=float) / 1e4
    if not np.isfinite(r).all():
        raise InvalidInput("pnl_bps history must be finite", field="pnl_bps")
    index = np.concatenate([[1.0], np.cumprod(1.0 + r)])
    return float(1.0 - index[-1] / index.max())


def book_metrics(marks: pd.DataFrame, exposures: pd.DataFrame, nav: float, *,
                 var95_brl: float | None = None, var99_brl: float | None = None,
                 es975_brl: float | None = None, worst_stress_brl: float | None = None,
                 drawdown: float | None = None) -> dict[str, float | None]:
    """The metrics dict :func:`limit_status` reads (also usable pre-trade on a hypothetical book).

    Keys (units): ``var95_bps``/``var99_bps``/``es975_bps`` (bps of NAV; None if the VaR is None),
    ``gross_leverage`` = Σ|notional_brl|/NAV, ``net_leverage`` = |Σ notional_brl|/NAV (x),
    ``dv01_net_bps_nav`` = |Σ DV01|/NAV·10⁴ and ``dv01_gross_bps_nav`` = Σ_bucket|DV01|/NAV·10⁴
    (bps of NAV per bp), ``fx_delta_pct_nav`` and ``equity_delta_pct_nav`` (|delta| as % of NAV),
    ``concentration_pct.<ASSET_CLASS>`` (Σ|notional| of the class as % of gross; every class of
    :data:`ASSET_CLASSES`, 0 when absent), ``worst_stress_loss_bps`` (max(0, −min stress P&L) in
    bps of NAV), ``drawdown_pct`` (drawdown fraction × 100).
    """
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")
    bps = lambda x: None if _finite_or_none(x) is None else float(x) / nav * 1e4  # noqa: E731
    empty = pd.Series(dtype=float)
    notional = marks["notional_brl"].astype(float) if len(marks) else empty
    gross = float(notional.abs().sum())
    by_ac = notional.abs().groupby(marks["asset_class"]).sum() if len(marks) else empty
    s = exposures.groupby("factor")["sensitivity_brl"].sum() if len(exposures) else empty
    rate = s[[factor_kind(f) == ABS_BP for f in s.index]] if len(s) else s
    out: dict[str, float | None] = {
        "var95_bps": bps(var95_brl), "var99_bps": bps(var99_brl), "es975_bps": bps(es975_brl),
        "gross_leverage": gross / nav,
        "net_leverage": abs(float(notional.sum())) / nav,
        "dv01_net_bps_nav": abs(float(rate.sum())) / nav * 1e4,
        "dv01_gross_bps_nav": float(rate.abs().sum()) / nav * 1e4,
        "fx_delta_pct_nav": abs(float(s.get(FX_FACTOR, 0.0))) / nav * 100.0,
        "equity_delta_pct_nav": abs(float(s.get(EQUITY_FACTOR, 0.0))) / nav * 100.0,
        "worst_stress_loss_bps": None if _finite_or_none(worst_stress_brl) is None
        else max(0.0, -float(worst_stress_brl)) / nav * 1e4,
        "drawdown_pct": None if _finite_or_none(drawdown) is None else float(drawdown) * 100.0,
    }
    for ac in sorted(set(ASSET_CLASSES) | set(by_ac.index)):
        out[f"concentration_pct.{ac}"] = float(by_ac.get(ac, 0.0)) / gross * 100.0 if gross else 0.0
    return out


# ------------------------------------------------------------------------------- snapshot


def _jsonable(x: Any) -> Any:
    """Plain JSON types only: NaN/inf → None (PostgreSQL JSONB rejects NaN), dates → ISO."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return _finite_or_none(x)
    if isinstance(x, (date, datetime, np.datetime64, pd.Timestamp)):
        return pd.Timestamp(x).date().isoformat()
    if x is None or isinstance(x, str):
        return x
    if pd.isna(x):
        return None
    return str(x)


def _records(df: pd.DataFrame) -> list[dict[str, Any]]:
    return _jsonable(df.to_dict(orient="records"))


def _spot_on(fx_history: pd.DataFrame, on: date, kind: str) -> float | None:
    """USDBRL fixing of ``kind`` dated exactly ``on`` (None if absent: no stale spot)."""
    if not len(fx_history):
        return None
    same_day = to_days(fx_history["fixing_date"]) == _day(on)
    x = fx_history.loc[(fx_history["pair"] == FX_FACTOR) & (fx_history["kind"] == kind)
                       & same_day, "rate"]
    return float(x.iloc[0]) if len(x) else None


def risk_snapshot(
    marks: pd.DataFrame,
    instruments: pd.DataFrame,
    history: pd.DataFrame,
    fx_history: pd.DataFrame,
    nav: float,
    on: date,
    limits: pd.DataFrame,
    scenarios: Mapping[str, Any] | list[dict[str, Any]],
    window: int = 252,
    min_history: int = 60,
    drawdown: float | None = None,
    *,
    changes: pd.DataFrame | None = None,
    spot: float | None = None,
    fx_kind: str = "CLOSE",
    nav_history: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """The ``risk_snapshots`` row for ``on`` (all columns but run_id).

    Steps: exposures (:func:`factor_exposures`, spot = the USDBRL ``fx_kind`` fixing dated ``on``
    unless ``spot`` is passed; none → MissingFxFixing when the book has FX delta) → factor
    changes ≤ ``on`` with USDBRL from the same ``fx_kind`` (or the precomputed ``changes``, e.g.
    reused across pre-trade what-ifs) → the last ``window`` axis dates → scenarios complete for
    every exposed factor → historical VaR95/99, ES97.5 and parametric VaR95/99 (sample
    covariance of the same scenarios) → stress table → book metrics → limit status.

    ``status``: ``INSUFFICIENT_HISTORY`` when fewer than ``min_history`` complete scenarios exist
    or an exposed factor has no history at all; the five VaR fields are then None (never 0),
    ``details.missing_factors`` names what is missing, and stress/limits are still reported
    (VaR limits as NO_DATA). A book with no open position (no rows, or only rows closed today,
    quantity 0) is ``OK`` with zero VaR and ``details.empty_book`` true: zero is then the true
    answer. Open positions whose marks carry no DV01/delta at all are listed in
    ``details.unmodelled_positions`` (their risk is not in the VaR; ``empty_book`` is then false
    even if the VaR is zero). ``drawdown`` is a fraction of peak NAV
    (see :func:`current_drawdown`); instead of it the caller may pass ``nav_history``
    (``book_snapshots`` rows with ``business_date`` and ``nav_brl``, today's NAV included): the
    drawdown is then computed from the rows dated ≤ ``on``. Neither → drawdown limit NO_DATA.
    """
    on_d = _day(on)
    _require(marks, ["business_date", "instrument_id", "strategy_id", "asset_class", "quantity",
                     "notional_brl", "dv01_brl", "fx_delta_usd", "equity_delta_brl"],
             "position_marks")
    if len(marks) and (to_days(marks["business_date"]) != on_d).any():
        bad = marks.loc[to_days(marks["business_date"]) != on_d].iloc[0]
        raise InvalidInput(f"position_marks row {bad['instrument_id']}/{bad['strategy_id']} is "
                           f"dated {bad['business_date']}, not {on}", table="position_marks",
                           row=(bad["instrument_id"], bad["strategy_id"]), field="business_date")
    nav = float(nav)
    if not (math.isfinite(nav) and nav > 0):
        raise InvalidInput(f"NAV on {on} must be positive, got {nav!r}", table="book_snapshots",
                           field="nav_brl")
    if window < 2 or min_history < 2:
        raise InvalidInput("window and min_history must be at least 2", field="window")
    scs = scenarios_from_dict(scenarios)
    lim = limits_from_frame(limits)
    dd_source = None if drawdown is None else "argument"
    if nav_history is not None:
        if drawdown is not None:
            raise InvalidInput("pass drawdown or nav_history, not both", field="drawdown")
        _require(nav_history, ["business_date", "nav_brl"], "book_snapshots")
        navs = nav_history.assign(_d=to_days(nav_history["business_date"]))
        navs = navs[navs["_d"] <= on_d].sort_values("_d", kind="stable")
        if len(navs):
            if navs["_d"].duplicated().any():
                raise InvalidInput("nav_history has duplicate business_date rows",
                                   table="book_snapshots", field="business_date")
            if "pnl_bps" in navs:
                drawdown, dd_source = performance_drawdown(navs["pnl_bps"]), "nav_history"
            else:
                drawdown, dd_source = current_drawdown(navs["nav_brl"]), "nav_history"

    spot_kind = "argument" if spot is not None else None
    if spot is None and len(marks) and (marks["fx_delta_usd"].astype(float) != 0).any():
        spot, spot_kind = _spot_on(fx_history, on, fx_kind), f"fx_fixings {fx_kind}"
        if spot is None:
            raise MissingFxFixing(FX_FACTOR, fx_kind, on)
    exposures = factor_exposures(marks, instruments, spot=spot)
    s = _factor_vector(exposures)
    if changes is None:
        changes = factor_changes(history, instruments, fx_history, on, fx_kind=fx_kind)
    else:
        changes = changes[changes.index <= on]

    needed = list(s.index)
    missing = [f for f in needed if f not in changes.columns]
    win = changes.iloc[-window:]
    present = [f for f in needed if f in win.columns]
    complete = win[present].dropna() if present else win.iloc[:, :0]
    n_scen = int(len(complete))
    empty_book = s.empty

    var95 = var99 = es975 = pvar95 = pvar99 = None
    notes: dict[str, Any] = {
        "historical": f"sensitivity-based historical simulation, last {window} factor-change dates "
                      f"<= {on.isoformat()}, scenarios complete for every exposed factor; "
                      "k = ceil(N*(1-alpha)) in Decimal, VaR = -(k-th worst), ES = -mean(k worst)",
        "parametric": "delta-normal, sample covariance (ddof=1) of the same scenarios, "
                      "z from NormalDist, 1-day, mean ignored; component VaR is Euler (additive)",
        "factors": "DI_/REAL_/CUPOM_<du>: constant-maturity vertices, flat-forward 252, abs bp; "
                   f"USDBRL (fx {fx_kind}) and IBOV (front IND, roll-free) relative changes",
        "stress": "first order: bp x DV01 of the bucket, pct x delta; historical replays from "
                  "stored factor changes",
        "spot_usdbrl": spot, "spot_source": spot_kind,
        "drawdown": drawdown, "drawdown_source": dd_source,
    }
    details: dict[str, Any] = {"method": notes, "missing_factors": missing,
                               "window_start": complete.index[0] if n_scen else None,
                               "window_end": complete.index[-1] if n_scen else None}
    if empty_book:
        status = SNAPSHOT_STATUS_OK
        n_scen = int(len(win))
        var95 = var99 = es975 = pvar95 = pvar99 = 0.0
        details["empty_book"] = bool((marks["quantity"].astype(float) == 0).all())
    elif missing or n_scen < min_history:
        status = SNAPSHOT_STATUS_INSUFFICIENT
        details["min_history"] = min_history
    else:
        status = SNAPSHOT_STATUS_OK
        pnl = scenario_pnl(exposures, complete, vector=s)
        var95, _ = historical_var_es(pnl, 0.95)
        var99, _ = historical_var_es(pnl, 0.99)
        _, es975 = historical_var_es(pnl, 0.975)
        # parametric_var(exposures, complete, α) for three α, sharing one covariance: the
        # same s, the same complete rows (every exposed factor present), the same arithmetic.
        cov = factor_covariance(complete[list(s.index)])
        pv95 = parametric_var_from_cov(s, cov, 0.95)
        pv99 = parametric_var_from_cov(s, cov, 0.99)
        pvar95, pvar99 = pv95.var_brl, pv99.var_brl
        worst = pnl.sort_values(kind="stable").head(tail_count(len(pnl), 0.975))
        details["worst_scenarios"] = [{"date": d, "pnl_brl": v} for d, v in worst.items()]
        details["param_es975_brl"] = parametric_var_from_cov(s, cov, 0.975).es_brl
        details["component_var99_by_factor"] = pv99.component.to_dict()
        details["marginal_var99_by_factor"] = pv99.marginal.to_dict()
        by_row = pd.Series(exposures["sensitivity_brl"].to_numpy(dtype=float)
                           * exposures["factor"].map(pv99.marginal).to_numpy(dtype=float),
                           index=exposures.index, name="component_var_brl")
        details["component_var99_by_strategy"] = by_row \
            .groupby(exposures["strategy_id"]).sum().sort_index().to_dict()

    stress = stress_table(exposures, scs, nav=nav, changes=changes, vector=s)
    ok_stress = stress.loc[stress["status"] == "OK", "pnl_brl"]
    metrics = book_metrics(marks, exposures, nav, var95_brl=var95, var99_brl=var99,
                           es975_brl=es975,
                           worst_stress_brl=float(ok_stress.min()) if len(ok_stress) else None,
                           drawdown=drawdown)
    limits_tbl = _utilisation(metrics, lim)

    rate_s = s[[factor_kind(f) == ABS_BP for f in s.index]]
    open_pos = marks[marks["quantity"].astype(float) != 0]
    # (instrument, strategy) pairs as one "iid\0sid" text: set difference and tuple order
    # vectorized (\0 sorts before any character, so text order == tuple order)
    def _pairs(df: pd.DataFrame) -> pd.Index:
        return pd.Index(df["instrument_id"].astype(str).to_numpy(dtype=object) + "\0"
                        + df["strategy_id"].astype(str).to_numpy(dtype=object), dtype=object)

    unmodelled = [p.split("\0") for p in
                  _pairs(open_pos).unique().difference(_pairs(exposures)).sort_values()]
    details.update({
        "n_positions": int(len(open_pos)),
        # open positions with no DV01/delta at all: their risk is NOT in the VaR (data issue)
        "unmodelled_positions": unmodelled,
        "exposures_by_factor": [{"factor": f, "shock_kind": factor_kind(f), "sensitivity_brl": v}
                                for f, v in s.items()],
        "dv01_by_bucket": rate_s.to_dict(),
        "dv01_total_brl": float(rate_s.sum()),
        "var_bps": {"var95": metrics["var95_bps"], "var99": metrics["var99_bps"],
                    "es975": metrics["es975_bps"]},
        "metrics": metrics,
        "stress": _records(stress),
        "limits": _records(limits_tbl),
        "limit_breaches": limits_tbl.loc[limits_tbl["status"] == "BREACH", "limit"].tolist(),
        "limit_warnings": limits_tbl.loc[limits_tbl["status"] == "WARNING", "limit"].tolist(),
    })
    return {
        "business_date": on,
        "status": status,
        "n_scenarios": n_scen,
        "var95_brl": var95,
        "var99_brl": var99,
        "es975_brl": es975,
        "param_var95_brl": pvar95,
        "param_var99_brl": pvar99,
        "details": _jsonable(details),
    }

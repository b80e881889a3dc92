"""Risk factors and the book's sensitivities to them.

Rates, inflation and cupom positions load on constant-maturity vertices of a curve —
``DI_<du>`` (DI1 curve: DI1, LTN, NTN-F), ``REAL_<du>`` (NTN-B real yields), ``CUPOM_<du>``
(DDI rates) for du in :data:`VERTICES` — shocked in **absolute bp**. FX loads on ``USDBRL``
and equity on ``IBOV``, both shocked **relatively**. Shocks apply to today's du (constant
maturity), never to fixed contract codes, which roll down.

Sensitivities come from ``position_marks``: ``dv01_brl`` (BRL P&L for +1 bp of the
position's own yield), ``fx_delta_usd × spot`` (BRL P&L for a +100% USDBRL move) and
``equity_delta_brl`` (BRL P&L for a +100% IBOV move).
"""
from __future__ import annotations

from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require, to_days

#: Constant-maturity vertices, in ANBIMA business days (1 month to 10 years).
VERTICES: Final[tuple[int, ...]] = (21, 63, 126, 252, 504, 756, 1260, 2520)

#: Curve family of a position's ``dv01_brl``, by instrument_type. LTN/NTN-F load on the DI
#: curve (their yield-DI spread is not a factor: basis risk is not modelled).
RATE_FAMILY_BY_TYPE: Final = MappingProxyType({
    "DI1": "DI", "LTN": "DI", "NTNF": "DI", "NTNB": "REAL", "DDI": "CUPOM",
})
#: Instruments whose ``market_prices.rate`` builds each curve family.
CURVE_SOURCE_TYPES: Final = MappingProxyType({
    "DI": ("DI1",), "REAL": ("NTNB",), "CUPOM": ("DDI",),
})
RATE_FAMILIES: Final[tuple[str, ...]] = ("DI", "REAL", "CUPOM")
FX_FACTOR: Final[str] = "USDBRL"
EQUITY_FACTOR: Final[str] = "IBOV"
#: Contracts whose settlement prices give IBOV returns (IND preferred over WIN, same maturity).
EQUITY_INDEX_TYPES: Final[tuple[str, ...]] = ("IND", "WIN")
#: Shock kinds: absolute basis points (curve vertices) and relative changes (USDBRL, IBOV).
ABS_BP: Final[str] = "abs_bp"
REL: Final[str] = "rel"

EXPOSURE_COLUMNS: Final[list[str]] = [
    "instrument_id", "strategy_id", "factor", "shock_kind", "sensitivity_brl",
]
_SENSITIVITY_COLUMNS: Final = ("dv01_brl", "fx_delta_usd", "equity_delta_brl")


def rate_factor(family: str, vertex: int) -> str:
    """Column name of a curve vertex.

    >>> rate_factor("DI", 252)
    'DI_252'
    """
    return f"{family}_{vertex}"


def all_factors() -> list[str]:
    """Every factor this package can produce, in canonical column order.

    >>> all_factors()[:2], all_factors()[-2:], len(all_factors())
    (['DI_21', 'DI_63'], ['USDBRL', 'IBOV'], 26)
    """
    return [rate_factor(f, v) for f in RATE_FAMILIES for v in VERTICES] \
        + [FX_FACTOR, EQUITY_FACTOR]


def factor_kind(factor: str) -> str:
    """How a factor is shocked: ``'abs_bp'`` for curve vertices, ``'rel'`` for USDBRL/IBOV.

    Raises:
        InvalidInput: not a factor of :func:`all_factors`.

    >>> factor_kind("REAL_504"), factor_kind("USDBRL")
    ('abs_bp', 'rel')
    """
    family, _, vertex = factor.partition("_")
    if family in RATE_FAMILIES and vertex.isdigit() and int(vertex) in VERTICES:
        return ABS_BP
    if factor in (FX_FACTOR, EQUITY_FACTOR):
        return REL
    raise InvalidInput(f"unknown risk factor {factor!r} (field factor)", field="factor",
                       row=factor)


def factor_exposures(
    marks: pd.DataFrame, instruments: pd.DataFrame, spot: float | None = None
) -> pd.DataFrame:
    """Map each position's sensitivities to risk factors.

    * ``dv01_brl`` ≠ 0 → factor ``<FAMILY>_<vertex>``, ``abs_bp``, sensitivity = dv01_brl
      (BRL per +1 bp). FAMILY from instrument_type (:data:`RATE_FAMILY_BY_TYPE`: DI1/LTN/NTNF
      → DI, NTNB → REAL, DDI → CUPOM). vertex = the :data:`VERTICES` entry nearest to the
      position's du = ``calendar.du(business_date, maturity_date, as_of=business_date)`` (ANBIMA
      [start, end)); a tie goes to the shorter vertex. NTN-B is bucketed by maturity,
      consistent with the REAL curve, which is built from yields-to-maturity by maturity du.
    * ``fx_delta_usd`` ≠ 0 → ``USDBRL``, ``rel``, sensitivity = fx_delta_usd × spot (BRL per
      +100% USDBRL, so a +1% move is fx_delta_usd·spot·0.01).
    * ``equity_delta_brl`` ≠ 0 → ``IBOV``, ``rel``, sensitivity = equity_delta_brl (beta 1:
      idiosyncratic equity risk is not modelled).

    A position may produce several rows (a DDI has a CUPOM DV01 and a USD delta). Closed
    positions (all sensitivities zero) produce none.

    Args:
        marks: ``position_marks`` rows of one date (business_date, instrument_id,
            strategy_id, dv01_brl, fx_delta_usd, equity_delta_brl; fx_rate optional).
        instruments: the instrument master (instrument_id, instrument_type, maturity_date).
        spot: USDBRL rate for the FX deltas (risk_snapshot passes the CLOSE fixing of the
            date); without it each row's ``position_marks.fx_rate`` is used.

    Returns:
        One row per (instrument_id, strategy_id, factor) with a non-zero sensitivity, sorted
        by those three. Columns: instrument_id, strategy_id, factor, shock_kind,
        sensitivity_brl.

    Raises:
        InvalidInput: a missing column, a null sensitivity, a position twice, an instrument
            not in the master (or listed twice), a DV01 on an instrument without a curve
            family or maturity, an FX delta without a positive spot.
    """
    cols = exposure_columns(marks, instruments, spot)
    return pd.DataFrame({**{c: pd.Series(cols[c], dtype=object, copy=False)
                            for c in EXPOSURE_COLUMNS[:4]},
                         "sensitivity_brl": cols["sensitivity_brl"]}, columns=EXPOSURE_COLUMNS)


def exposure_columns(marks: pd.DataFrame, instruments: pd.DataFrame,
                     spot: float | None = None) -> dict[str, np.ndarray]:
    """:func:`factor_exposures` as columns (object arrays, sensitivity_brl float): the rows a
    daily risk snapshot reads, without building a frame of them.

    Raises:
        InvalidInput: as :func:`factor_exposures`.
    """
    require(marks, ["business_date", "instrument_id", "strategy_id", *_SENSITIVITY_COLUMNS],
            "position_marks")
    require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    if marks.empty:
        return _no_exposure_columns()
    iid = marks["instrument_id"].to_numpy(dtype=object)
    sid = marks["strategy_id"].to_numpy(dtype=object)
    _check_unique_positions(iid, sid)
    dv01, fx_delta, eq_delta = (marks[c].to_numpy(dtype=float) for c in _SENSITIVITY_COLUMNS)
    _check_not_null(marks, np.column_stack([dv01, fx_delta, eq_delta]))
    pos = instrument_rows(instruments, iid)
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
        return _no_exposure_columns()
    factor = np.concatenate([rate_factors, np.full(len(ff), FX_FACTOR, dtype=object),
                             np.full(len(ee), EQUITY_FACTOR, dtype=object)])
    kind = np.repeat(np.array([ABS_BP, REL, REL], dtype=object), [len(rr), len(ff), len(ee)])
    value = np.concatenate([dv01[rr], fx_sens, eq_delta[ee]])
    i, s = iid[rows], sid[rows]
    order = np.lexsort([np.unique(x, return_inverse=True)[1] for x in (factor, s, i)])
    columns = (i[order], s[order], factor[order], kind[order], value[order])
    return dict(zip(EXPOSURE_COLUMNS, columns, strict=True))


def _no_exposure_columns() -> dict[str, np.ndarray]:
    return {c: np.array([], dtype=float if c == "sensitivity_brl" else object)
            for c in EXPOSURE_COLUMNS}


def _check_not_null(marks: pd.DataFrame, sensitivities: np.ndarray) -> None:
    """A null DV01/delta is an error naming the position, date and field (never a zero)."""
    null = np.isnan(sensitivities)
    if null.any():
        k = int(null.any(axis=1).argmax())
        r, field = marks.iloc[k], _SENSITIVITY_COLUMNS[int(null[k].argmax())]
        raise InvalidInput(f"{field} is null for {r['instrument_id']}/{r['strategy_id']} on "
                           f"{r['business_date']}", table="position_marks",
                           row=(r["instrument_id"], r["strategy_id"]), field=field)


def instrument_rows(instruments: pd.DataFrame, ids: np.ndarray) -> np.ndarray:
    """Row of each id in ``instruments`` (−1 when unknown).

    Raises:
        InvalidInput: an instrument_id listed twice (which row would describe it?).
    """
    return instrument_index(instruments["instrument_id"].to_numpy(dtype=object)).get_indexer(ids)


def instrument_index(ids: np.ndarray) -> pd.Index:
    """The instrument master's ids as an index (positions = rows).

    Raises:
        InvalidInput: an instrument_id listed twice (which row would describe it?).
    """
    known = pd.Index(ids)
    if not known.is_unique:
        iid = known[known.duplicated()][0]
        raise InvalidInput(f"instrument {iid} appears twice in instruments",
                           table="instruments", row=iid, field="instrument_id")
    return known


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
    on = to_days(marks["business_date"].to_numpy()[rows])
    du = calendar.du(on, mat, as_of=on)
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


def factor_vector(exposures: pd.DataFrame) -> pd.Series:
    """Net sensitivity per factor (BRL per bp or per +100%), in :func:`all_factors` order.

    Raises:
        InvalidInput: a missing column, or a row whose shock_kind is not its factor's.
    """
    require(exposures, EXPOSURE_COLUMNS, "exposures")
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
    return factor_vector_of(exposures["factor"].to_numpy(dtype=object),
                            exposures["sensitivity_brl"].to_numpy(dtype=float))


def factor_vector_of(factor: np.ndarray, sensitivity: np.ndarray) -> pd.Series:
    """:func:`factor_vector` of exposure columns whose shock kinds are known to be right
    (:func:`exposure_columns` derives them from the factors).

    The per-factor sums group by the factor values with ``sort=False``, as grouping the
    frame by its factor column does: the same group ids, hence the same summation (pandas
    adds a group's rows with ``reduceat`` when the ids are monotonic, else compensated), so
    the same floats.
    """
    if not len(factor):
        return pd.Series(dtype=float, name="sensitivity_brl")
    by_factor = pd.Series(sensitivity).groupby(factor, sort=False).sum().to_dict()
    order = [f for f in all_factors() if f in by_factor]
    return pd.Series([by_factor[f] for f in order], index=pd.Index(order), dtype=float,
                     name="sensitivity_brl")

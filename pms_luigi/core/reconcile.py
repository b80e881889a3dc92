"""Reconciliation: every published price recomputed from its published rate.

B3 and ANBIMA publish, for each rate-quoted instrument, the rate *and* the price, the price
being the publisher's formula of the rate with its own rounding. Recomputing the price with
:mod:`pms_luigi.core.pricing` checks the data (a typo, a shifted column, a file of another
date) and us (a calendar, a convention, a rounding rule) at once: a difference is a finding
about one or the other, and is shown either way.

======  =======================================================  ==========================
type    price from the rate (source)                             equal when
======  =======================================================  ==========================
DI1     round2(100 000 / (1 + r)^(du/252)) — B3's settlement PU   within half a centavo
DAP     the same formula over du to its 15th (B3)                 within half a centavo
DDI     round2(100 000 / (1 + i·dc/360)) — B3, dc calendar days   within half a centavo
LTN     trunc6(1 000 / (1 + y)^trunc14(du/252)) — ANBIMA          within half of 10⁻⁶
NTN-F   trunc6(Σ round9(CF_k / (1 + y)^n_k)) — ANBIMA             within half of 10⁻⁶
NTN-B   cotação trunc4(Σ round10(CF_k / (1 + y)^n_k)), then       within half of 10⁻⁶
        PU trunc6(VNA × cotação / 100) — ANBIMA
======  =======================================================  ==========================

Both figures are written to the publisher's last decimal, so "within half a unit" means
"the same figure". The DI1, DAP and LTN ``du`` counts ANBIMA business days as of the
price's date (``calendar.du(..., as_of=on)``): the count the market made that day; the
NTN-F and NTN-B pricing functions count their cash flows as of the settlement date, which
is the price's date here. The NTN-B's VNA is
the one loaded for the date; without one, the VNA the NTN-B rows themselves imply
(:func:`implied_vna`: ANBIMA's file has each bond's rate and PU, no cotação, and one VNA
is shared by every NTN-B of a date).

Not checked, and why: prices without a rate (DOL, WDO, IND, WIN, equities, NDFs: loaded as
published, no formula to check them against); the LFT (its PU needs the LFT's own VNA, the
Selic-accrued face, which no source lands); a row on or after its maturity (its price is
the final settlement, not a function of the rate).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType
from typing import Final, NamedTuple

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.frames import require, to_days
from pms_luigi.core.pricing import ddi_pu, di1_pu, ltn_pu, ntnb_pu, ntnb_quote, ntnf_pu

__all__ = ["CHECKED_COLUMNS", "RULES", "Reconciliation", "Rule", "VnaFit", "bonds_vna",
           "implied_vna", "reconcile"]


class Rule(NamedTuple):
    """How one instrument type's price follows from its rate."""

    publisher: str
    decimals: int  # the published price's decimals: equal within half a unit of the last
    formula: str


#: The types reconciled, and their rules (see the module docstring).
RULES: Final = MappingProxyType({
    "DI1": Rule("B3", 2, "round2(100000/(1+r)^(du/252))"),
    "DAP": Rule("B3", 2, "round2(100000/(1+r)^(du/252))"),
    "DDI": Rule("B3", 2, "round2(100000/(1+i*dc/360))"),
    "LTN": Rule("ANBIMA", 6, "trunc6(1000/(1+y)^trunc14(du/252))"),
    "NTNF": Rule("ANBIMA", 6, "trunc6(sum round9(CF/(1+y)^n))"),
    "NTNB": Rule("ANBIMA", 6, "trunc6(VNA*trunc4(sum round10(CF/(1+y)^n))/100)"),
})
#: The columns of :attr:`Reconciliation.checked`.
CHECKED_COLUMNS: Final = ("instrument_id", "instrument_type", "maturity_date", "rate",
                          "published", "computed", "difference", "tolerance", "ok", "days",
                          "quote", "formula")
#: Above this many 6-decimal candidates the NTN-B rows do not pin a VNA down (garbage rows).
_MAX_CANDIDATES: Final = 1000


@dataclass(frozen=True)
class VnaFit:
    """What the NTN-B rows of one date say about their VNA.

    Attributes:
        value: the 6-decimal VNA that gives every published PU (the smallest, when several
            do), or None when none does.
        low, high: every VNA in [low, high) gives each bond's PU (low >= high: no VNA gives
            them all).
        bonds: the NTN-B rows read.
    """

    value: float | None
    low: float
    high: float
    bonds: int


def implied_vna(quotes: np.ndarray, pus: np.ndarray) -> VnaFit:
    """The VNA that ANBIMA's NTN-B rows of one date imply.

    PU = trunc6(VNA × cotação / 100) holds for a bond exactly when VNA lies in
    [100·PU/cotação, 100·(PU + 10⁻⁶)/cotação); the VNA of the date lies in every bond's
    interval. The 6-decimal values (ANBIMA publishes the VNA with 6) in the intersection are
    each checked with :func:`pms_luigi.core.pricing.ntnb_pu` itself, so the interval's
    floating-point edges decide nothing.

    Args:
        quotes: each bond's cotação (:func:`pms_luigi.core.pricing.ntnb_quote` of its rate).
        pus: each bond's published PU.

    Returns:
        The :class:`VnaFit` (value None for no row).

    Examples:
        >>> fit = implied_vna(np.array([99.3651, 91.5214]),
        ...                   np.array([4271.864805, ntnb_pu(4299.160173, 91.5214)]))
        >>> fit.value, fit.bonds
        (4299.160173, 2)
    """
    q, p = np.asarray(quotes, dtype=np.float64), np.asarray(pus, dtype=np.float64)
    if not len(q):
        return VnaFit(None, np.nan, np.nan, 0)
    low, high = float(np.max(100.0 * p / q)), float(np.min(100.0 * (p + 1e-6) / q))
    first, last = int(np.floor(low * 1e6)), int(np.ceil(high * 1e6))
    value = None
    if 0 <= last - first <= _MAX_CANDIDATES:  # one unit of margin either side
        candidates = np.arange(first, last + 1) / 1e6
        gives = (np.asarray(ntnb_pu(candidates[:, None], q[None, :])) == p).all(axis=1)
        value = float(candidates[gives][0]) if gives.any() else None
    return VnaFit(value, low, high, len(q))


def bonds_vna(bonds: pd.DataFrame, on: date) -> VnaFit:
    """:func:`implied_vna` of the NTN-B rows of ANBIMA's file of ``on``.

    Args:
        bonds: ``bond_type``, ``maturity``, ``rate`` (decimal), ``pu``, as
            :func:`pms_luigi.ingest.read_tpf` gives them.
        on: the file's reference date (each cotação's settlement).
    """
    require(bonds, ["bond_type", "maturity", "rate", "pu"], "anbima_tpf")
    ntnb = bonds[bonds["bond_type"] == "NTNB"]
    quotes = _per_bond(on, to_days(ntnb["maturity"]), ntnb["rate"].to_numpy(np.float64),
                       ntnb_quote)
    return implied_vna(quotes, ntnb["pu"].to_numpy(np.float64))


@dataclass(frozen=True)
class Reconciliation:
    """The prices of one date recomputed from their rates.

    Attributes:
        on: the price date.
        checked: one row per price reconciled, in instrument order. Columns:
            :data:`CHECKED_COLUMNS` — ``published`` (the price as loaded), ``computed``
            (from ``rate`` by the type's rule; NaN when it cannot be, e.g. an NTN-B without
            VNA), ``difference`` (published − computed), ``tolerance`` (half a unit of the
            published decimals), ``ok``, ``days`` (du, or dc for the DDI), ``quote`` (the
            NTN-B cotação, NaN for the others), ``formula``.
        vna: the NTN-B VNA used (None: no NTN-B row, or no VNA).
        vna_origin: ``loaded``, ``implied`` (by the NTN-B rows, :func:`implied_vna`) or
            ``""`` (none).
        skipped: rows not reconciled, by reason: ``no rate``, ``no rule`` (a type without
            one, e.g. the LFT), ``matured``.
    """

    on: date
    checked: pd.DataFrame
    vna: float | None
    vna_origin: str
    skipped: dict[str, int]

    def findings(self) -> pd.DataFrame:
        """The rows of :attr:`checked` off by more than their tolerance."""
        return self.checked[~self.checked["ok"]].reset_index(drop=True)

    def summary(self) -> dict[str, dict[str, int]]:
        """Per type: rows ``checked`` and ``off`` (the findings)."""
        by = self.checked.groupby("instrument_type", sort=True)["ok"]
        return {str(t): {"checked": int(g.size), "off": int((~g).sum())} for t, g in by}

    def issues(self, step: str) -> pd.DataFrame:
        """The findings as ``data_quality_issues`` rows (minus ``run_id``): one WARNING per
        instrument, ``field`` ``price``, the message naming both figures and the rule."""
        f = self.findings()
        text = [_message(r, self.vna, self.vna_origin) for r in f.itertuples(index=False)]
        return pd.DataFrame({"business_date": [self.on] * len(f), "step": step,
                             "instrument_id": f["instrument_id"].astype(object),
                             "field": "price", "severity": "WARNING", "message": text},
                            columns=["business_date", "step", "instrument_id", "field",
                                     "severity", "message"])


def _message(row: NamedTuple, vna: float | None, origin: str) -> str:
    """One finding's text: the instrument, both figures, the rate, the rule."""
    rule = RULES[row.instrument_type]
    days = "dc" if row.instrument_type == "DDI" else "du"
    head = (f"{row.instrument_id}: published {rule.publisher} price "
            f"{row.published:.{rule.decimals}f} at rate {row.rate * 100:.4f} % "
            f"({days} {row.days})")
    if np.isnan(row.computed):
        return f"{head}: not reproducible: no VNA loaded for the date and the NTN-B rows " \
               "imply none"
    extra = f", VNA {vna:.6f} ({origin}), cotação {row.quote:.4f}" \
        if row.instrument_type == "NTNB" else ""
    return (f"{head}: the rate gives {row.computed:.{rule.decimals}f} by {rule.formula}"
            f"{extra}; off by {row.difference:+.{rule.decimals}f}")


def _per_bond(on: date, mats: np.ndarray, rates: np.ndarray,
              price_of: Callable[[date, date, float], float]) -> np.ndarray:
    """A bond formula of (settlement, maturity, rate) for each row: the bond functions take
    one maturity each (its cash flows), and a date holds a handful of bonds."""
    return np.array([price_of(on, m, r) for m, r in zip(mats.tolist(), rates.tolist(),
                                                        strict=True)], dtype=np.float64)


def _computed(kind: str, on: date, mats: np.ndarray, rates: np.ndarray,
              days: np.ndarray) -> np.ndarray:
    """The price of the rows of one type (not the NTN-B, which needs its VNA)."""
    if kind in ("DI1", "DAP"):
        return np.round(np.asarray(di1_pu(rates, days)), 2)
    if kind == "DDI":
        return np.round(np.asarray(ddi_pu(rates, days)), 2)
    if kind == "LTN":
        return np.asarray(ltn_pu(rates, days), dtype=np.float64)
    return _per_bond(on, mats, rates, ntnf_pu)


def _ntnb(on: date, mats: np.ndarray, rates: np.ndarray, pus: np.ndarray,
          loaded: float | None) -> tuple[np.ndarray, np.ndarray, float | None, str]:
    """(PU, cotação, VNA used, its origin) of the NTN-B rows: the loaded VNA, else the one
    the rows imply; NaN PUs without either."""
    quotes = _per_bond(on, mats, rates, ntnb_quote)
    vna, origin = (loaded, "loaded") if loaded is not None else \
        (implied_vna(quotes, pus).value, "implied")
    if vna is None:
        return np.full(len(quotes), np.nan), quotes, None, ""
    return np.asarray(ntnb_pu(vna, quotes), dtype=np.float64), quotes, vna, origin


def _candidates(prices: pd.DataFrame, instruments: pd.DataFrame, on: date
                ) -> tuple[pd.DataFrame, dict[str, int]]:
    """The rows with a rate, a rule and a maturity after ``on``, and the others counted."""
    kinds = instruments.set_index("instrument_id")
    rows = prices[["instrument_id", "price", "rate"]].join(
        kinds[["instrument_type", "maturity_date"]], on="instrument_id")
    has_rate = rows["rate"].notna().to_numpy()
    has_rule = rows["instrument_type"].isin(RULES).to_numpy()
    mats = to_days(rows["maturity_date"])
    alive = ~np.isnat(mats) & (mats > np.datetime64(on, "D"))
    keep = has_rate & has_rule & alive
    skipped = {"no rate": int((~has_rate).sum()), "no rule": int((has_rate & ~has_rule).sum()),
               "matured": int((has_rate & has_rule & ~alive).sum())}
    out = rows[keep].sort_values("instrument_id", kind="stable").reset_index(drop=True)
    return out, skipped


def reconcile(prices: pd.DataFrame, instruments: pd.DataFrame, on: date,
              vna: float | None = None) -> Reconciliation:
    """Recompute every price of ``on`` that has a rate and a rule (see the module docstring).

    Args:
        prices: ``market_prices`` rows of ``on``: ``instrument_id``, ``price``, ``rate``
            (decimal; NaN where none).
        instruments: ``instrument_id``, ``instrument_type``, ``maturity_date``.
        on: the price date (the count's reference date too).
        vna: the NTN-B VNA loaded for ``on``; None: the one the NTN-B rows imply.

    Returns:
        The :class:`Reconciliation`.

    Raises:
        InvalidInput: a frame lacks a column named above.

    Examples:
        DI1F26 on 2025-02-03 as B3 published it, and the same rate with a typo'd PU:

        >>> inst = pd.DataFrame({"instrument_id": ["DI1F26"], "instrument_type": ["DI1"],
        ...                      "maturity_date": [date(2026, 1, 2)]})
        >>> ok = reconcile(pd.DataFrame({"instrument_id": ["DI1F26"], "price": [88093.23],
        ...                              "rate": [0.14901]}), inst, date(2025, 2, 3))
        >>> ok.checked[["computed", "ok", "days"]].to_dict("records")
        [{'computed': 88093.23, 'ok': True, 'days': 230}]
        >>> bad = reconcile(pd.DataFrame({"instrument_id": ["DI1F26"], "price": [88093.32],
        ...                               "rate": [0.14901]}), inst, date(2025, 2, 3))
        >>> bad.issues("pms.Reconcile")["message"][0]  # doctest: +NORMALIZE_WHITESPACE
        'DI1F26: published B3 price 88093.32 at rate 14.9010 % (du 230): the rate gives
        88093.23 by round2(100000/(1+r)^(du/252)); off by +0.09'
    """
    require(prices, ["instrument_id", "price", "rate"], "market_prices")
    require(instruments, ["instrument_id", "instrument_type", "maturity_date"], "instruments")
    rows, skipped = _candidates(prices, instruments, on)
    mats = to_days(rows["maturity_date"])
    start = np.datetime64(on, "D")
    ddi = (rows["instrument_type"] == "DDI").to_numpy()
    days = np.where(ddi, (mats - start).astype(np.int64),
                    calendar.du(np.full(len(rows), start), mats, as_of=on))
    computed, quote = np.full(len(rows), np.nan), np.full(len(rows), np.nan)
    types = rows["instrument_type"].to_numpy(dtype=object)
    rates, published = rows["rate"].to_numpy(np.float64), rows["price"].to_numpy(np.float64)
    used, origin = None, ""
    for kind in dict.fromkeys(types.tolist()):
        m = types == kind
        if kind == "NTNB":
            computed[m], quote[m], used, origin = _ntnb(on, mats[m], rates[m], published[m],
                                                        vna)
        else:
            computed[m] = _computed(kind, on, mats[m], rates[m], days[m])
    tolerance = np.array([0.5 * 10.0 ** -RULES[k].decimals for k in types.tolist()])
    checked = rows.rename(columns={"price": "published"}).assign(
        computed=computed, difference=published - computed, tolerance=tolerance,
        ok=np.abs(published - computed) < tolerance, days=days, quote=quote,
        formula=[RULES[k].formula for k in types.tolist()])
    return Reconciliation(on, checked[list(CHECKED_COLUMNS)], used, origin, skipped)

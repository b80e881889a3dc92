"""The demo's curves and settlement prices: every instrument priced off the simulated market.

Prices use the published conventions and the functions of :mod:`pms_luigi.core.pricing`, so
MTM, DV01 and VaR can be recomputed from the inputs:

* **DI curve.** r(tau) = CDI*(1 - phi1) + M*phi1 + S*phi2 with tau = du/252,
  phi1 = 1 - exp(-tau/0.25) (short end anchored on CDI) and phi2 = clip((tau - 1)/4, 0, 1).
  DI1 settlement: rate rounded to 3 decimals in percent (B3 quote), PU = di1_pu(rate, du)
  rounded to 2 decimals (B3 publishes the PU de ajuste with 2 decimals).
* **DDI.** cupom c(tau) = C + 0.30 pp*(1 - exp(-dc/365)), 3 decimals in percent;
  PU = ddi_pu(c, dc) rounded to 2 decimals (dc = calendar days to maturity).
* **DOL/WDO and NDF.** Covered interest parity with the same two curves:
  F = S * (1 + r(du))^(du/252) / (1 + c*dc/360), WDO quoted x1000 (R$ per US$1,000, 3 decimals),
  NDF in BRL per USD (4 decimals). (The DDI coupon is "dirty", i.e. against PTAX of t-1; the
  difference is a few bp and ignored in the demo.)
* **IND.** F = IBOV * ((1 + r(du)) / (1 + q))^(du/252), dividend yield q = 6 %, whole points.
* **Bonds** (ANBIMA prices, every ANBIMA day): LTN yield = r(du) + 5 bp, NTN-F = r(du) + 8 bp,
  NTN-B real yield = R + 4 bp per year of tenor beyond 5 years; yields rounded to 4 decimals in
  percent (ANBIMA's taxa indicativa); PU from ltn_pu, ntnf_pu, ntnb_quote/ntnb_pu with the
  day's VNA.
* **Equities.** The simulated close, 2 decimals.
"""
from __future__ import annotations

from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core import pricing
from pms_luigi.core.errors import InvalidInput
from pms_luigi.demo.instruments import EXCHANGE_TYPES, SPECS, Inst, last_price_date
from pms_luigi.demo.market import Market

_DIV_YIELD: Final = 0.06


def di_curve(mk: Market, t: np.ndarray, du: np.ndarray) -> np.ndarray:
    """DI rate (252 business-day compounding) at ``du`` business days on date indices ``t``."""
    tau = du / 252.0
    phi1 = 1.0 - np.exp(-tau / 0.25)
    phi2 = np.clip((tau - 1.0) / 4.0, 0.0, 1.0)
    return mk.cdi[t] * (1.0 - phi1) + mk.m[t] * phi1 + mk.s[t] * phi2


def cupom_curve(mk: Market, t: np.ndarray, dc: np.ndarray) -> np.ndarray:
    """Cupom cambial (linear, 360 days) at ``dc`` calendar days on date indices ``t``."""
    return mk.cupom[t] + 0.0030 * (1.0 - np.exp(-dc / 365.0))


def _rows_for(inst: Inst, mk: Market) -> np.ndarray:
    """Indices of the dates on which the instrument has a price (its life, B3 sessions only for
    exchange instruments)."""
    last = last_price_date(inst.instrument_type, inst.maturity)
    ok = mk.session.copy() if inst.instrument_type in EXCHANGE_TYPES \
        else np.ones(len(mk.d64), dtype=bool)
    if last is not None:
        ok &= mk.d64 <= np.datetime64(last, "D")
    return np.flatnonzero(ok)


def _bond(inst: Inst, dates: list[date], mk: Market, t: np.ndarray, du: np.ndarray
          ) -> tuple[np.ndarray, np.ndarray]:
    """(PU, yield) of an LTN, NTN-F or NTN-B on date indices ``t`` (ANBIMA formulas)."""
    kind = inst.instrument_type
    if kind == "LTN":
        rate = np.round(di_curve(mk, t, du) + 0.0005, 6)
        return np.asarray(pricing.ltn_pu(rate, du), dtype=float), rate
    if kind == "NTNF":
        rate = np.round(di_curve(mk, t, du) + 0.0008, 6)
        pu = np.array([pricing.ntnf_pu(dates[i], inst.maturity, r)
                       for i, r in zip(t, rate, strict=True)], dtype=float)
        return pu, rate
    rate = np.round(mk.real[t] + 0.0004 * (du / 252.0 - 5.0), 6)
    quote = np.array([pricing.ntnb_quote(dates[i], inst.maturity, r)
                      for i, r in zip(t, rate, strict=True)], dtype=float)
    pu = np.array([pricing.ntnb_pu(v, q) for v, q in zip(mk.vna[t], quote, strict=True)],
                  dtype=float)
    return pu, rate


def price_instrument(inst: Inst, dates: list[date], mk: Market
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(date indices, price, rate) of one instrument over its life in the demo window.

    ``rate`` is NaN for instruments without a quoted yield (FX, index futures, stocks).

    Raises:
        InvalidInput: no price model for the instrument's type.
    """
    t = _rows_for(inst, mk)
    kind = inst.instrument_type
    nan = np.full(len(t), np.nan)
    if kind == "EQUITY":
        return t, np.round(mk.equities[inst.instrument_id][t], 2), nan
    mat64 = np.datetime64(inst.maturity, "D")
    du = np.asarray(cal.du(mk.d64[t], np.full(len(t), mat64), as_of=mk.d64[t]), dtype=np.int64)
    dc = (mat64 - mk.d64[t]).astype(np.int64).astype(float)
    if kind == "DI1":
        rate = np.round(di_curve(mk, t, du), 5)
        return t, np.round(np.asarray(pricing.di1_pu(rate, du), dtype=float), 2), rate
    if kind == "DDI":
        rate = np.round(cupom_curve(mk, t, dc), 5)
        return t, np.round(np.asarray(pricing.ddi_pu(rate, dc), dtype=float), 2), rate
    if kind in ("WDO", "NDF"):
        fwd = np.asarray(pricing.ndf_forward(mk.fx[t], di_curve(mk, t, du), du,
                                             cupom_curve(mk, t, dc), dc), dtype=float)
        return t, (np.round(fwd * 1000.0, 3) if kind == "WDO" else np.round(fwd, 4)), nan
    if kind == "IND":
        fut = mk.ibov[t] * ((1.0 + di_curve(mk, t, du)) / (1.0 + _DIV_YIELD)) ** (du / 252.0)
        return t, np.round(fut, 0), nan
    if kind in ("LTN", "NTNF", "NTNB"):
        return (t, *_bond(inst, dates, mk, t, du))
    raise InvalidInput(f"demo: no price model for instrument_type {kind}",  # pragma: no cover
                       table="instruments", row=inst.instrument_id, field="instrument_type")


def market_prices(insts: list[Inst], dates: list[date], mk: Market) -> pd.DataFrame:
    """The ``market_prices`` table: every instrument on every date of its life."""
    frames = []
    darr = np.array(dates, dtype=object)
    for inst in sorted(insts, key=lambda i: i.instrument_id):
        t, price, rate = price_instrument(inst, dates, mk)
        frames.append(pd.DataFrame({
            "price_date": darr[t], "instrument_id": inst.instrument_id, "price": price,
            "rate": rate, "source": SPECS[inst.instrument_type][6],
        }))
    out = pd.concat(frames, ignore_index=True)
    return out.sort_values(["price_date", "instrument_id"], kind="stable").reset_index(drop=True)

"""Valuation: each instrument group of the book through its pricer, once.

The positions are grouped by ``instrument_type`` and every group is handed, as one set of
:class:`~pms_luigi.core.pricing.base.Legs` (:data:`~pms_luigi.core.pricing.base.LEG_COLUMNS`),
to the pricer the registry gives for its type — there is no branch per type here. For each group:

* rates: the published ``rate`` of the mark's price date when present, else the rate implied
  by the price (the exact inverse of the pricing function), for D's and P's marks of the
  rate-quoted types;
* ``fx_rate``: BRL per unit of the price currency on D;
* the daily P&L and its split (:meth:`~pms_luigi.core.pricing.base.Pricer.daily_pnl`);
* the DV01 of the live positions and the exposures.

A type the registry does not know is refused (InvalidInput naming the instrument); so is an
instrument whose contract terms contradict the B3 spec or that lacks a maturity its type
needs.
"""
from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import require, to_days
from pms_luigi.core.mtm.model import num
from pms_luigi.core.mtm.prices import Fixings, PriceHistory
from pms_luigi.core.pricing import CONTRACT_SPECS, PRICERS, Pricer, pricer_for
from pms_luigi.core.pricing.base import Legs, flags

__all__ = ["VALUE_COLUMNS", "instrument_groups", "prepare_instruments", "value_positions"]

#: Columns of :func:`value_positions`: the P&L split before costs (BRL), the DV01 of one unit
#: of quantity × contract_size, and the exposures before the expiry mask.
VALUE_COLUMNS: Final = ("fx_rate", "carry", "market", "fx", "new_trades", "realized", "total",
                        "dv01_unit", "notional", "fx_delta", "equity_delta", "market_value")
_NEEDS_MATURITY: Final = tuple(t for t, p in PRICERS.items() if p.terms.needs_maturity)


def prepare_instruments(instruments: pd.DataFrame) -> pd.DataFrame:
    """The instrument terms the MTM reads, checked.

    A B3 contract's contract_size must be its point value (a wrong multiplier scales every
    P&L); rate instruments and NDFs must have a maturity.

    Returns:
        Columns: instrument_id, asset_class, itype, currency, exchange, mat
        (datetime64[D]), cs (contract_size).

    Raises:
        InvalidInput: a missing column, a contract_size off the B3 spec or a missing
            maturity; names the instrument and the field.
    """
    require(instruments, ["instrument_id", "asset_class", "instrument_type", "currency",
                          "exchange", "maturity_date", "contract_size"], "instruments")
    iid = instruments["instrument_id"].astype(str).to_numpy()
    itype = instruments["instrument_type"].astype(str).to_numpy()
    mat, cs = to_days(instruments["maturity_date"]), num(instruments, "contract_size")
    for typ, spec in CONTRACT_SPECS.items():
        bad = (itype == typ) & ~np.isclose(cs, spec.point_value)
        if bad.any():
            k = int(bad.argmax())
            raise InvalidInput(
                f"instruments: {iid[k]} ({typ}) has contract_size {cs[k]}, "
                f"B3 point value is {spec.point_value}", table="instruments",
                row=iid[k], field="contract_size")
    need_mat = np.isin(itype, _NEEDS_MATURITY) & np.isnat(mat)
    if need_mat.any():
        k = int(need_mat.argmax())
        raise InvalidInput(f"instruments: {iid[k]} needs a maturity_date", table="instruments",
                           row=iid[k], field="maturity_date")
    return pd.DataFrame({
        "instrument_id": iid,
        "asset_class": instruments["asset_class"].astype(str).to_numpy(),
        "itype": itype,
        "currency": instruments["currency"].astype(str).to_numpy(),
        "exchange": instruments["exchange"].astype(str).to_numpy(),
        "mat": mat,
        "cs": cs,
    })


def instrument_groups(itype: np.ndarray, iid: np.ndarray) -> list[tuple[Pricer, np.ndarray]]:
    """(pricer, row numbers) per instrument type present, in the registry's order.

    Raises:
        InvalidInput: a type without a pricer, naming its first instrument.
    """
    codes, types = pd.factorize(np.asarray(itype, dtype=object))
    groups = [(pricer_for(str(t), str(iid[int(np.argmax(codes == k))])),
               np.flatnonzero(codes == k)) for k, t in enumerate(types)]
    order = {t: k for k, t in enumerate(PRICERS)}
    return sorted(groups, key=lambda g: order[g[0].instrument_type])


def value_positions(legs: Legs, groups: list[tuple[Pricer, np.ndarray]],
                    history: PriceHistory, market: Fixings) -> pd.DataFrame:
    """Rates, FX, P&L split, DV01 and exposures of every leg, one pricer call per group.

    Args:
        legs: one row per position with the leg columns up to ``realized_total`` (all but
            ``rate``, ``prev_rate`` and ``fx_rate``, which are found here).
        groups: :func:`instrument_groups` of the legs.
        history: the price history (published rates); market: the fixings.

    Returns:
        A frame aligned with ``legs``, columns :data:`VALUE_COLUMNS`.

    Raises:
        MissingFxFixing / MissingCdi / MissingVna: a fixing a pricer needs is absent.
    """
    n = len(legs)
    out = {c: np.zeros(n) for c in VALUE_COLUMNS}
    out["fx_rate"] = np.full(n, np.nan)
    wanted, wanted_prev = _rate_rows(legs, groups)
    rate = _published(history, legs, wanted, "on")
    prev_rate = _published(history, legs, wanted_prev, "prev_on")
    for pricer, rows in groups:
        group = legs.take(rows)
        group["rate"] = _or_implied(pricer, group, rate[rows], wanted[rows], "price", "on",
                                    market)
        group["prev_rate"] = _or_implied(pricer, group, prev_rate[rows], wanted_prev[rows],
                                         "prev_price", "prev_on", market)
        group["fx_rate"] = pricer.fx_rate(group, market)
        risk = (group["quantity"] != 0) & ~flags(group, "settling")
        dv01 = np.zeros(len(rows))
        if risk.all():
            dv01 = pricer.dv01(group, market)
        elif risk.any():
            dv01[risk] = pricer.dv01(group.take(risk), market)
        out["fx_rate"][rows] = group["fx_rate"]
        out["dv01_unit"][rows] = dv01
        for columns in (pricer.daily_pnl(group, market), pricer.exposures(group)):
            for c, values in columns.items():
                out[c][rows] = values
    return pd.DataFrame(out)


def _rate_rows(legs: Legs, groups: list[tuple[Pricer, np.ndarray]]
               ) -> tuple[np.ndarray, np.ndarray]:
    """The legs whose D mark, and whose P mark, have a rate: rate-quoted types, not settling
    today (the final price needs none), and for P's mark only positions held at P."""
    wanted = np.zeros(len(legs), dtype=bool)
    for pricer, rows in groups:
        wanted[rows] = pricer.terms.rate_quoted
    wanted &= ~flags(legs, "settling")
    return wanted, wanted & (legs["prev_quantity"] != 0)


def _published(history: PriceHistory, legs: Legs, wanted: np.ndarray, on: str) -> np.ndarray:
    """The rate published with the price of date ``on`` of each wanted leg; NaN elsewhere."""
    rate = np.full(len(legs), np.nan)
    rate[wanted] = history.rate_at(legs["instrument_id"][wanted], legs[on][wanted])
    return rate


def _or_implied(pricer: Pricer, legs: Legs, published: np.ndarray, wanted: np.ndarray,
                price: str, on: str, market: Fixings) -> np.ndarray:
    """``published`` where there, else (for wanted legs) the rate the pricer implies from
    the ``price`` column on the ``on`` date: the exact inverse of its pricing formula."""
    rate = published.copy()
    miss = wanted & ~np.isfinite(rate)
    if miss.any():
        quoted = Legs({"price": legs[price][miss], "on": legs[on][miss],
                       "maturity": legs["maturity"][miss]})
        rate[miss] = pricer.rate(quoted, market)
    return rate

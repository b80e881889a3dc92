"""The demo's book and its trades: about 14 positions, rolls and a handful of later events.

The book (R$ 150-500M NAV, gross about 1.9x NAV) is a Brazilian macro fund's: notionals scale
with ``nav`` (listed for R$ 250M). The sovereign CDS (SOV_02, sell protection) is held as a long
NTN-F (sovereign risk proxy) and the global-risk-appetite UST short (CROSS_02) as a long
Brazilian equity, because the instrument master has no CDS or UST types. All initial trades are
done on the first day (or the first B3 session if that day has none) at settlement; later
trades at settlement +- slippage (0.1-0.5 bp in rate for DI1/DDI, 0.5-3 bp of price otherwise,
always adverse), with costs from the one-way bps table :data:`COST_BPS`
(cost = |notional BRL| x bps / 10,000, 2 decimals):

* rolled every month/bimester/quarter by trades (close the old, open the next with the same
  quantity): WDO front (FX_05, short), IND front (CROSS_01, long), USDBRL NDF 3M (FX_02, short)
  and 6M (FX_04, short). WDO rolls 4 sessions before maturity, IND 3 sessions before expiry,
  NDFs 5 business days before maturity into the contract ~3M/6M out;
* later: INF_02 adds NTN-B (23 % of the year), SOV_BR_01 opens a DI1 payer (38 %),
  RATES_BR_01 cuts its DI1 by 40 % (50 %), CUPOM_02 flips its DDI from short to long (62 %),
  CROSS_02 closes PETR4 and buys VALE3 (77 %).
"""
from __future__ import annotations

import math
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core import pricing
from pms_luigi.demo.instruments import SPECS, Inst
from pms_luigi.demo.market import Market, event_day, open_day
from pms_luigi.demo.reference import COLUMNS

#: One-way cost in bps of |notional BRL| by instrument_type (spread + commission + exchange
#: fee); a type not listed costs 2.0.
COST_BPS: Final = MappingProxyType({
    "DI1": 1.0, "DDI": 1.5, "DOL": 0.8, "WDO": 0.8, "NDF": 2.0, "NTNB": 3.0, "LTN": 1.5,
    "NTNF": 2.0, "IND": 1.5, "WIN": 1.5, "EQUITY": 2.0,
})
#: Price tick by instrument type for executions off settlement (bonds: PU to 6 decimals).
_TICKS: Final = MappingProxyType({"WDO": 0.5, "IND": 5.0, "NDF": 1e-4, "EQUITY": 0.01})

#: The opening book: (strategy, role, direction in price terms, notional R$ M at NAV 250M).
_BOOK: Final = (
    ("FX_02", "NDF3M", -1, 45.0),
    ("FX_04", "NDF6M", -1, 25.0),
    ("FX_05", "WDO", -1, 20.0),
    ("RATES_03", "DI0", +1, 60.0),
    ("RATES_BR_01", "DI1", +1, 70.0),
    ("RATES_BR_03", "DI2", -1, 40.0),
    ("RATES_BR_03", "DI4", +1, 0.0),  # sized DV01-neutral against DI2 (flattener)
    ("INF_02", "NTNB_S", +1, 45.0),
    ("INF_03", "NTNB_L", +1, 35.0),
    ("CUPOM_02", "DDI", -1, 25.0),
    ("SOV_02", "NTNF", +1, 20.0),
    ("RATES_06", "LTN", +1, 16.0),
    ("CROSS_01", "IND", +1, 30.0),
    ("CROSS_02", "PETR4", +1, 10.0),
)
#: Later discretionary trades: (fraction of the year, strategy, role, action, arg).
#: action ADD/OPEN arg = notional R$ M at NAV 250M (signed by direction), CUT arg = fraction
#: of the position, FLIP arg = new notional (sign = new direction), CLOSE arg unused.
EVENTS: Final = (
    (0.23, "INF_02", "NTNB_S", "ADD", +15.0),
    (0.38, "SOV_BR_01", "DI4", "OPEN", -15.0),
    (0.50, "RATES_BR_01", "DI1", "CUT", 0.40),
    (0.62, "CUPOM_02", "DDI", "FLIP", +20.0),
    (0.77, "CROSS_02", "PETR4", "CLOSE", 0.0),
    (0.77, "CROSS_02", "VALE3", "OPEN", +10.0),
)


class Book:
    """Positions by (strategy, role) and the trades that built them (a handful: plain Python)."""

    def __init__(self, rng: np.random.Generator, prices: pd.DataFrame, insts: dict[str, Inst],
                 mk: Market, dates: list[date], strategies: pd.DataFrame, scale: float) -> None:
        self.rng, self.insts, self.mk, self.scale = rng, insts, mk, scale
        self.px = prices.set_index(["instrument_id", "price_date"])[["price", "rate"]]
        self.t_of = {d: i for i, d in enumerate(dates)}
        self.systematic = dict(zip(strategies["strategy_id"], strategies["is_systematic"],
                                   strict=True))
        self.pos: dict[tuple[str, str], tuple[str, float]] = {}
        self.trades: list[dict[str, object]] = []

    # -- prices
    def settle(self, iid: str, d: date) -> tuple[float, float]:
        """(settlement price, rate) of ``iid`` on ``d``."""
        price, rate = self.px.loc[(iid, d)]
        return float(price), float(rate)

    def unit_brl(self, iid: str, d: date, price: float) -> float:
        """BRL notional of one unit of quantity at ``price``."""
        kind = self.insts[iid].instrument_type
        size = SPECS[kind][3]
        fx = self.mk.fx[self.t_of[d]] if SPECS[kind][1] == "USD" else 1.0
        return price * size * fx

    def size(self, iid: str, d: date, notional_brl: float) -> float:
        """Signed quantity for a signed BRL notional, rounded to the lot (at least one lot)."""
        lot = SPECS[self.insts[iid].instrument_type][4]
        unit = self.unit_brl(iid, d, self.settle(iid, d)[0]) * lot
        lots = max(1.0, round(abs(notional_brl) / unit))
        return math.copysign(lots * lot, notional_brl)

    def exec_price(self, iid: str, d: date, qty: float, slippage: bool) -> float:
        """Settlement, or with ``slippage`` settlement moved against the trade and rounded to
        the contract's tick (DI1/DDI: in rate, then the PU of that rate)."""
        price, rate = self.settle(iid, d)
        if not slippage:
            return price
        inst = self.insts[iid]
        kind = inst.instrument_type
        side = 1.0 if qty > 0 else -1.0
        if kind in ("DI1", "DDI"):  # adverse by 0.1-0.5 bp in rate: a PU buyer gets a lower rate
            r = rate - side * self.rng.uniform(0.1, 0.5) * 1e-4
            if kind == "DI1":
                du = cal.du(d, inst.maturity, as_of=d)
                return round(float(pricing.di1_pu(r, du)), 2)
            return round(float(pricing.ddi_pu(r, (inst.maturity - d).days)), 2)  # type: ignore
        p = price * (1.0 + side * self.rng.uniform(0.5, 3.0) * 1e-4)
        tick = _TICKS.get(kind)
        if tick is None:  # bonds: PU to 6 decimals
            return round(p, 6)
        return round(round(p / tick) * tick, 6)

    # -- trading
    def trade(self, d: date, strategy: str, iid: str, qty: float, slippage: bool) -> None:
        """Book one trade of ``qty`` (nothing for 0) with its price and cost."""
        if qty == 0:
            return
        price = self.exec_price(iid, d, qty, slippage)
        kind = self.insts[iid].instrument_type
        cost = abs(qty) * self.unit_brl(iid, d, price) * COST_BPS[kind] / 1e4
        self.trades.append({
            "trade_date": d, "instrument_id": iid, "strategy_id": strategy,
            "quantity": float(qty), "price": price, "cost_brl": round(cost, 2),
            "source": "SYSTEMATIC" if self.systematic[strategy] else "DISCRETIONARY",
            "proposal_id": None,
        })

    def set(self, d: date, strategy: str, role: str, iid: str, target: float,
            slippage: bool) -> None:
        """Move the (strategy, role) position to ``target`` units of ``iid``."""
        old_iid, old_q = self.pos.get((strategy, role), (iid, 0.0))
        if old_iid != iid and old_q:
            self.trade(d, strategy, old_iid, -old_q, slippage)
            old_q = 0.0
        self.trade(d, strategy, iid, target - old_q, slippage)
        self.pos[(strategy, role)] = (iid, target)

    def dv01(self, inst: Inst, d: date) -> float:
        """DV01 of one DI1 contract at settlement: du/252 x PU/(1 + r) x 1 bp (the PU's
        derivative in the 252-day compounded rate)."""
        price, rate = self.settle(inst.instrument_id, d)
        du = cal.du(d, inst.maturity, as_of=d)
        return du / 252.0 * price / (1.0 + rate) * 1e-4

    def frame(self) -> pd.DataFrame:
        """The ``trades`` table, ids ``DEMO-<yyyymmdd>-<n>`` in booking order."""
        out = pd.DataFrame(self.trades, columns=list(COLUMNS["trades"][1:]))
        out.insert(0, "trade_id", [f"DEMO-{r['trade_date']:%Y%m%d}-{i + 1:04d}"
                                   for i, r in enumerate(self.trades)])
        out["proposal_id"] = out["proposal_id"].astype(object)
        return out


class _Roles:
    """Which instrument a role holds on a date: a fixed one, or the live contract of a chain."""

    def __init__(self, roles: dict[str, Inst], chains: dict[str, list[tuple[Inst, date]]]) -> None:
        self.roles, self.chains = roles, chains

    def iid(self, role: str, d: date) -> str:
        if role in self.chains:
            return next(i.instrument_id for i, roll in self.chains[role] if roll > d)
        return self.roles[role].instrument_id


def _open_book(book: Book, held: _Roles, day: date) -> None:
    """Day one: the whole book at settlement prices."""
    for strategy, role, direction, notional in _BOOK:
        iid = held.iid(role, day)
        if role == "DI4" and strategy == "RATES_BR_03":  # DV01-neutral leg of the flattener
            q2 = book.pos[(strategy, "DI2")][1]
            dv = {r: book.dv01(held.roles[r], day) for r in ("DI2", "DI4")}
            qty = float(max(1, round(abs(q2) * dv["DI2"] / dv["DI4"]))) * direction
        else:
            qty = book.size(iid, day, direction * notional * 1e6 * book.scale)
        book.set(day, strategy, role, iid, qty, slippage=False)


def _later_actions(dates: list[date], held: _Roles) -> list[tuple[date, int, tuple]]:
    """Rolls and discretionary events in date order (rolls first on a shared day)."""
    actions: list[tuple[date, int, tuple]] = []
    for (strategy, role, _dir, _n) in _BOOK:
        if role in held.chains:
            for _inst, roll in held.chains[role][:-1]:
                actions.append((roll, 0, ("ROLL", strategy, role)))
    for frac, strategy, role, what, arg in EVENTS:
        actions.append((event_day(dates, frac), 1, (what, strategy, role, arg)))
    return sorted(actions, key=lambda a: (a[0], a[1]))


def _act(book: Book, held: _Roles, d: date, act: tuple) -> None:
    """One roll or event: move the position to its new target at settlement +- slippage."""
    what, strategy, role = str(act[0]), str(act[1]), str(act[2])
    iid = held.iid(role, d)
    _, q = book.pos.get((strategy, role), (iid, 0.0))
    lot = SPECS[book.insts[iid].instrument_type][4]
    if what == "ROLL":
        target = q
    elif what in ("ADD", "OPEN"):
        target = q + book.size(iid, d, float(act[3]) * 1e6 * book.scale)
    elif what == "CUT":
        cut = max(lot, round(abs(q) * float(act[3]) / lot) * lot)
        target = q - math.copysign(cut, q)
    elif what == "FLIP":
        target = book.size(iid, d, float(act[3]) * 1e6 * book.scale)
    else:  # CLOSE
        target = 0.0
    book.set(d, strategy, role, iid, target, slippage=True)


def build_trades(rng: np.random.Generator, dates: list[date], hist: list[date], mk: Market,
                 prices: pd.DataFrame, insts: dict[str, Inst], roles: dict[str, Inst],
                 chains: dict[str, list[tuple[Inst, date]]], strategies: pd.DataFrame,
                 nav: float) -> pd.DataFrame:
    """The ``trades`` table: the opening book, then every roll and event in date order.

    Args:
        rng: the demo's generator (slippage draws), after the market's draws.
        dates: the demo's business days; ``hist`` the same with the day before inception
            (the market arrays' dates).
        mk: the simulated market; ``prices`` its ``market_prices`` table.
        insts: every instrument by id; ``roles``/``chains`` the book's fixed instruments and
            roll chains.
        strategies: the ``strategies`` table (systematic or discretionary source).
        nav: the initial NAV the notionals scale with.
    """
    book = Book(rng, prices, insts, mk, hist, strategies, nav / 250e6)
    held = _Roles(roles, chains)
    _open_book(book, held, open_day(dates))
    for d, _prio, act in _later_actions(dates, held):
        _act(book, held, d, act)
    return book.frame()

"""The demo fund: every input table, generated deterministically from a seed.

Capital flows: the initial NAV is not a flow (``DemoData.initial_nav``); one subscription (8 %
of NAV at 35 % of the year) and one redemption (5 % at 70 %), rounded to R$ 100,000.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput
from pms_luigi.demo.book import build_trades
from pms_luigi.demo.instruments import all_instruments, book_instruments, reference
from pms_luigi.demo.market import demo_dates, event_day, fixing_frames, simulate
from pms_luigi.demo.prices import market_prices
from pms_luigi.demo.reference import COLUMNS
from pms_luigi.demo.signals import signals

#: The demo fund's row in the ``fund`` table.
FUND_ID: Final = "default"
FUND_NAME: Final = "PMS Macro FIM"
#: Capital flows: (fraction of the year, kind, share of the initial NAV).
_FLOWS: Final = ((0.35, "SUBSCRIPTION", 0.08), (0.70, "REDEMPTION", -0.05))


@dataclass(frozen=True)
class DemoData:
    """Every input table of the demo fund, columns exactly as a load sets them.

    ``fund`` is the one-row fund table: inception = ``start`` (first business day, no flow),
    ``initial_nav`` = the NAV before the first day's P&L.
    """

    fund: pd.DataFrame
    instruments: pd.DataFrame
    strategies: pd.DataFrame
    instrument_aliases: pd.DataFrame
    market_prices: pd.DataFrame
    fx_fixings: pd.DataFrame
    cdi_fixings: pd.DataFrame
    vna: pd.DataFrame
    trades: pd.DataFrame
    signals: pd.DataFrame
    capital_flows: pd.DataFrame
    start: date  # first business day = fund inception
    end: date
    initial_nav: float
    seed: int = field(default=0)

    def frames(self) -> dict[str, pd.DataFrame]:
        """Table name -> frame, in foreign-key order (reference data first) for a loader."""
        return {name: getattr(self, name) for name in COLUMNS}


def _capital_flows(dates: list[date], nav: float) -> pd.DataFrame:
    rows = [{"flow_date": event_day(dates, frac), "kind": kind,
             "amount_brl": round(nav * share / 1e5) * 1e5}
            for frac, kind, share in _FLOWS]
    return pd.DataFrame(rows, columns=list(COLUMNS["capital_flows"]))


def _fund_frame(inception: date, nav: float) -> pd.DataFrame:
    fund = pd.DataFrame({"fund_id": [FUND_ID], "name": [FUND_NAME], "inception_date": [inception],
                         "initial_nav": [float(nav)]}, columns=list(COLUMNS["fund"]))
    fund["inception_date"] = fund["inception_date"].astype(object)
    return fund


def generate(seed: int, end: date, n_days: int = 260, nav: float = 250e6) -> DemoData:
    """Build the whole demo fund for ``n_days`` ANBIMA business days ending on ``end``.

    Deterministic for ``(seed, end, n_days, nav)``: a single ``numpy.random.Generator(PCG64(seed))``
    drives, in a fixed order, the market factors, COPOM, VNA, equities, slippage and signals.

    Args:
        seed: the generator's seed.
        end: the last demo date (the reference data's maturities all fall after it).
        n_days: how many ANBIMA business days, ending on ``end``.
        nav: the initial NAV (R$); the book's notionals scale with it.

    Returns:
        Every input table of the fund (:class:`DemoData`).

    Raises:
        NotBusinessDay: ``end`` is not an ANBIMA business day.
        InvalidInput: ``n_days`` < 40 or ``nav`` <= 0.
    """
    if not nav > 0:
        raise InvalidInput(f"demo: nav {nav} must be positive", table="demo", field="nav")
    rng = np.random.default_rng(seed)
    dates = demo_dates(end, n_days)
    roles, chains = book_instruments(dates, end)
    ref = reference(roles, chains, end)
    insts = all_instruments(roles, chains)

    # Fixings start one business day before inception: day one's MTM needs PTAX of t-1 (DDI).
    hist = [cal.previous_business_day(dates[0]), *dates]
    mk = simulate(rng, hist)
    prices = market_prices(list(insts.values()), hist, mk)
    prices = prices[prices["price_date"] >= dates[0]].reset_index(drop=True)
    trades = build_trades(rng, dates, hist, mk, prices, insts, roles, chains, ref["strategies"],
                          nav)
    convictions = signals(rng, dates)  # last: the generator's draws come in a fixed order
    return DemoData(
        fund=_fund_frame(dates[0], nav), **ref, market_prices=prices, **fixing_frames(hist, mk),
        trades=trades, signals=convictions, capital_flows=_capital_flows(dates, nav),
        start=dates[0], end=end, initial_nav=float(nav), seed=seed,
    )

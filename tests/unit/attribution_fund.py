"""Generated funds for the attribution tests: centavo-exact facts and books on ANBIMA days.

Shared by ``test_attribution.py``, ``test_attribution_incremental.py`` and the pipeline test
of the attribution step.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal

import numpy as np
import pandas as pd
from hypothesis import strategies as st

from pms_luigi.core import calendar as cal
from pms_luigi.core.attribution import attribute, period_start

EXPLAIN = ["pnl_carry_brl", "pnl_market_brl", "pnl_fx_brl", "pnl_new_trades_brl",
           "pnl_realized_brl", "pnl_costs_brl", "pnl_residual_brl"]
CENT = Decimal("0.01")

INSTRUMENTS = pd.DataFrame({
    "instrument_id": ["DI1F27", "DI1F29", "NTNB_2035", "DOLH26", "DDIF27", "INDG26", "DEB_ABC",
                      "NDF_USD_3M"],
    "asset_class": ["RATES", "RATES", "INFLATION", "FX", "CUPOM", "EQUITY", "CREDIT", "FX"],
    "instrument_type": ["DI1", "DI1", "NTNB", "DOL", "DDI", "IND", "EQUITY", "NDF"],
})
STRATEGIES = pd.DataFrame({
    "strategy_id": ["RATES_BR_01", "FX_MOM_01", "INF_DISC_01", "EQ_DISC_01", "VOL_CARRY_01"],
    "name": ["Juros Brasil", "Moedas momentum", "Inflação", "Bolsa", "Carry"],
    "asset_class": ["RATES", "FX", "INFLATION", "EQUITY", "FX"],
    "factor_tags": [["carry", "relative-value"], ["momentum", "carry", "mean-reversion"],
                    {"macro-discretionary": 0.7, "event-driven": 0.3}, [], '["carry"]'],
    "is_systematic": [True, True, False, False, True],
})
ALL_DAYS = cal.business_days(date(2025, 1, 2), date(2026, 12, 30))


# ============================================================================================
# generated funds


@dataclass
class Fund:
    """Facts (position_marks rows) and books (book_snapshots rows) of [inception, on]."""

    facts: pd.DataFrame
    books: pd.DataFrame
    inception: date
    on: date
    days: list[date]


def make_fund(seed: int, start: int, n_days: int, n_positions: int, *, presence: float = 0.8,
              flows: bool = True, book_gap: bool = True, explain_gap: bool = True) -> Fund:
    """A centavo-exact fund: every money value is an integer number of centavos / 100."""
    rng = np.random.default_rng(seed)
    days = ALL_DAYS[start:start + n_days]
    pairs = [(i, s) for i in INSTRUMENTS["instrument_id"] for s in STRATEGIES["strategy_id"]]
    chosen = [pairs[k] for k in rng.choice(len(pairs), size=n_positions, replace=False)]
    facts, books = [], []
    nav = int(rng.integers(100_000_000_00, 500_000_000_00))  # centavos
    for day in days:
        day_pnl = 0
        for inst, strat in chosen:
            if rng.random() > presence:
                continue
            comps = rng.integers(-50_000_000, 50_000_001, size=7)  # ±R$500k each
            comps[rng.random(7) < 0.3] = 0
            gap = int(rng.integers(-3, 4)) if explain_gap else 0
            pnl = int(comps.sum()) + gap
            day_pnl += pnl
            row = {"business_date": day, "instrument_id": inst, "strategy_id": strat,
                   "asset_class": INSTRUMENTS.set_index("instrument_id").loc[inst, "asset_class"],
                   "pnl_brl": pnl / 100, "run_id": "r1"}
            row.update({c: int(v) / 100 for c, v in zip(EXPLAIN, comps, strict=True)})
            facts.append(row)
        cash = int(rng.integers(-2_000_00, 5_000_000)) if book_gap else 0  # cash yield − fees
        flows_cents = [0, 0, 0, 0, 0, 0, 0, 0, 10_000_000_00, -5_000_000_00]
        flow = int(rng.choice(flows_cents)) if flows else 0
        pnl = day_pnl + cash
        books.append({"business_date": day, "nav_prev_brl": nav / 100, "pnl_brl": pnl / 100,
                      "capital_flow_brl": flow / 100, "nav_brl": (nav + pnl + flow) / 100,
                      "cdi_rate": float(rng.integers(1000, 1600)) / 10_000, "run_id": "r1"})
        nav += pnl + flow
    columns = ["business_date", "instrument_id", "strategy_id", "asset_class", "pnl_brl", *EXPLAIN,
               "run_id"]
    return Fund(pd.DataFrame(facts, columns=columns), pd.DataFrame(books), days[0], days[-1], days)


@st.composite
def funds(draw: st.DrawFn, max_days: int = 70) -> Fund:
    n_days = draw(st.integers(1, max_days))
    start = draw(st.integers(0, len(ALL_DAYS) - n_days))
    return make_fund(
        seed=draw(st.integers(0, 2**32 - 1)),
        start=start,
        n_days=n_days,
        n_positions=draw(st.integers(0, 14)),
        presence=draw(st.sampled_from([0.3, 0.8, 1.0])),
        flows=draw(st.booleans()),
        book_gap=draw(st.booleans()),
        explain_gap=draw(st.booleans()),
    )


def run(fund: Fund, on: date | None = None, **kwargs):
    return attribute(fund.facts, fund.books, STRATEGIES, INSTRUMENTS, on or fund.on, fund.inception,
                     **kwargs)


def window(fund: Fund, period: str, on: date) -> pd.DataFrame:
    start = period_start(period, on, fund.inception)
    when = fund.books["business_date"]
    return fund.books[(when >= start) & (when <= on)]


def cents(x: float) -> Decimal:
    """What the writer stores: NUMERIC(20, 2), rounded half-even."""
    return Decimal(x).quantize(CENT, rounding=ROUND_HALF_EVEN)

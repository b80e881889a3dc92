"""Builders of hand-made MTM inputs: frames with the DB column names.

DI1 prices are B3-style settlement PUs (2 decimals) of the stated rates; DI fixings 14.90 %
(the 2025 DI). Expected amounts in the tests are worked by hand from the B3 and ANBIMA
formulas (docs/methodology/mark-to-market.md) and written as literals.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from pms_luigi.core import calendar, mtm

_I = dict(name="x", lot_size=1.0, underlying=None, is_active=True)
INSTRUMENTS: dict[str, dict[str, Any]] = {
    "DI1F26": dict(asset_class="RATES", instrument_type="DI1", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 1, 2), contract_size=1.0),
    "DI1F27": dict(asset_class="RATES", instrument_type="DI1", currency="BRL", exchange="B3",
                   maturity_date=date(2027, 1, 4), contract_size=1.0),
    "DDIF27": dict(asset_class="CUPOM", instrument_type="DDI", currency="USD", exchange="B3",
                   maturity_date=date(2027, 1, 4), contract_size=0.5),
    "DOLQ25": dict(asset_class="FX", instrument_type="DOL", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 1), contract_size=50.0),
    "DOLG26": dict(asset_class="FX", instrument_type="DOL", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 2, 2), contract_size=50.0),
    "WDOQ25": dict(asset_class="FX", instrument_type="WDO", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 1), contract_size=10.0),
    "INDQ25": dict(asset_class="EQUITY", instrument_type="IND", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 13), contract_size=1.0),
    "WINQ25": dict(asset_class="EQUITY", instrument_type="WIN", currency="BRL", exchange="B3",
                   maturity_date=date(2025, 8, 13), contract_size=0.2),
    "INDG26": dict(asset_class="EQUITY", instrument_type="IND", currency="BRL", exchange="B3",
                   maturity_date=date(2026, 2, 11), contract_size=1.0),
    "LTN_2026": dict(asset_class="RATES", instrument_type="LTN", currency="BRL",
                     exchange="TESOURO", maturity_date=date(2026, 1, 1), contract_size=1.0),
    "LTN_2027": dict(asset_class="RATES", instrument_type="LTN", currency="BRL",
                     exchange="TESOURO", maturity_date=date(2027, 1, 1), contract_size=1.0),
    "NTNF_2031": dict(asset_class="RATES", instrument_type="NTNF", currency="BRL",
                      exchange="TESOURO", maturity_date=date(2031, 1, 1), contract_size=1.0),
    "NTNB_2035": dict(asset_class="INFLATION", instrument_type="NTNB", currency="BRL",
                      exchange="TESOURO", maturity_date=date(2035, 5, 15), contract_size=1.0),
    "PETR4": dict(asset_class="EQUITY", instrument_type="EQUITY", currency="BRL", exchange="B3",
                  maturity_date=None, contract_size=1.0),
    "AAPL": dict(asset_class="EQUITY", instrument_type="EQUITY", currency="USD",
                 exchange="NASDAQ", maturity_date=None, contract_size=1.0),
    "NDF_SEP25": dict(asset_class="FX", instrument_type="NDF", currency="BRL", exchange="OTC",
                      maturity_date=date(2025, 9, 1), contract_size=1.0),
}
P, D = date(2025, 6, 2), date(2025, 6, 3)  # Mon, Tue: two ordinary sessions


def instruments() -> pd.DataFrame:
    return pd.DataFrame([{"instrument_id": k, **_I, **v} for k, v in INSTRUMENTS.items()])


def trade(tid: str, on: date, iid: str, qty: float, px: float, sid: str = "S1",
          cost: float = 0.0) -> dict[str, Any]:
    return dict(trade_id=tid, trade_date=on, instrument_id=iid, strategy_id=sid, quantity=qty,
                price=px, cost_brl=cost, source="DISCRETIONARY", proposal_id=None)


def price(on: date, iid: str, px: float, rate: float | None = None) -> dict[str, Any]:
    return dict(price_date=on, instrument_id=iid, price=px, rate=rate, source="B3")


def mark(on: date, iid: str, qty: float, px: float, price_date: date | None = None,
         sid: str = "S1") -> dict[str, Any]:
    return dict(business_date=on, instrument_id=iid, strategy_id=sid, quantity=qty, price=px,
                price_date=price_date or on, is_stale=False, staleness_bd=0)


def fx(*rows: tuple[date, float], kind: str = "PTAX") -> list[dict[str, Any]]:
    return [dict(fixing_date=d, pair="USDBRL", kind=kind, rate=r) for d, r in rows]


def cdi(*days: date, rate: float = 0.149) -> list[dict[str, Any]]:
    return [dict(fixing_date=d, rate=rate) for d in days]


def inputs(on: date, prev: date | None, trades: list[dict[str, Any]],
           prev_marks: list[dict[str, Any]] | pd.DataFrame, prices: list[dict[str, Any]],
           fx_rows: list[dict[str, Any]] = (), cdi_rows: list[dict[str, Any]] = (),
           vna_rows: list[dict[str, Any]] = (), nav_prev: float = 100_000_000.0,
           flow: float = 0.0, max_stale_bd: int = 0, b3: bool | None = None) -> mtm.MtmInputs:
    pm = prev_marks if isinstance(prev_marks, pd.DataFrame) else pd.DataFrame(
        prev_marks, columns=["business_date", "instrument_id", "strategy_id", "quantity",
                             "price", "price_date", "is_stale", "staleness_bd"])
    return mtm.MtmInputs(
        business_date=on, prev_date=prev, instruments=instruments(),
        trades=pd.DataFrame(trades, columns=list(trade("t", D, "PETR4", 1, 1))),
        prev_marks=pm,
        prices=pd.DataFrame(prices, columns=["price_date", "instrument_id", "price", "rate",
                                             "source"]),
        fx=pd.DataFrame(list(fx_rows), columns=["fixing_date", "pair", "kind", "rate"]),
        cdi=pd.DataFrame(list(cdi_rows), columns=["fixing_date", "rate"]),
        vna=pd.DataFrame(list(vna_rows), columns=["ref_date", "index_name", "value"]),
        nav_prev=nav_prev, capital_flow_brl=flow,
        is_b3_session=calendar.is_b3_session(on) if b3 is None else b3,
        max_stale_bd=max_stale_bd)


def row(result: mtm.MtmResult, iid: str, sid: str = "S1") -> pd.Series:
    m = result.marks
    sel = m[(m["instrument_id"] == iid) & (m["strategy_id"] == sid)]
    assert len(sel) == 1, f"{iid}/{sid} rows: {len(sel)}"
    return sel.iloc[0]


def cents(x: Any) -> np.ndarray:
    return np.round(np.asarray(x, dtype=float) * 100).astype(np.int64)


def assert_explained(result: mtm.MtmResult) -> None:
    """Σ parts + residual == total, exactly in centavos, per row and for the book."""
    m = result.marks
    parts = sum(cents(m[c]) for c in mtm.PNL_PARTS) + cents(m["pnl_residual_brl"])
    assert (parts == cents(m["pnl_brl"])).all()
    assert cents(m["pnl_brl"]).sum() == cents(result.book["pnl_brl"])
    b = result.book
    assert cents(b["nav_brl"]) == cents(b["nav_prev_brl"]) + cents(b["pnl_brl"]) + cents(
        b["capital_flow_brl"])
    assert tuple(m.columns) == mtm.MARK_COLUMNS and tuple(b) == mtm.BOOK_COLUMNS

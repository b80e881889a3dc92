"""Signed notionals: + long, − short in each contract's price terms, and the two leverages.

A long/short book whose gross and net differ: the marks carry the sign, the book sums
Σ|n| and Σ n, and the risk metrics read the same marks (gross leverage = the book's
``leverage``, net leverage = |Σ n| / NAV).
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import mtm, risk
from tests.unit.mtm.builders import D, P, fx, inputs, instruments, price, trade

NAV = 100_000_000.0
#: instrument, quantity (price terms), price, rate, expected sign of the notional
BOOK = (
    ("DI1F27", 300.0, 87_000.0, 0.146, +1),    # long PU ("dado", receives the rate)
    ("DI1F26", -500.0, 93_000.0, 0.148, -1),   # "tomado": bought the rate, short PU
    ("DDIF27", 40.0, 97_000.0, 0.05, +1),      # long PU: long a dollar-linked zero, long US$
    ("DOLQ25", -20.0, 5_500.0, None, -1),      # short US$
    ("INDQ25", 10.0, 130_000.0, None, +1),     # long the index
    ("LTN_2027", 20_000.0, 870.0, 0.145, +1),  # a held bond
    ("PETR4", -100_000.0, 30.0, None, -1),     # short shares
    ("NDF_SEP25", -2_000_000.0, 5.55, None, -1),  # sold US$ forward
)


def _result() -> mtm.MtmResult:
    trades = [trade(f"t{k}", D, iid, q, px) for k, (iid, q, px, _r, _s) in enumerate(BOOK)]
    prices = [price(D, iid, px, rate) for iid, _q, px, rate, _s in BOOK]
    return mtm.mark_to_market(inputs(
        D, P, trades, [], prices, fx_rows=fx((P, 5.50), (D, 5.52)), nav_prev=NAV))


def test_notional_is_signed_like_the_position_in_price_terms() -> None:
    marks = _result().marks.set_index("instrument_id")
    for iid, q, _px, _rate, sign in BOOK:
        n = marks.loc[iid, "notional_brl"]
        assert np.sign(n) == sign == np.sign(q), iid
    # a "dado" DI1 has the sign of a held LTN, and both lose when rates rise
    assert marks.loc["DI1F27", "dv01_brl"] < 0 and marks.loc["LTN_2027", "dv01_brl"] < 0
    assert marks.loc["DI1F26", "dv01_brl"] > 0
    assert marks.loc["DI1F27", "notional_brl"] == pytest.approx(300 * 87_000.0)
    assert marks.loc["DOLQ25", "notional_brl"] == pytest.approx(-20 * 5_500.0 * 50.0)
    assert marks.loc["NDF_SEP25", "notional_brl"] == pytest.approx(-2_000_000 * 5.52)


def test_long_short_book_gross_and_net_leverage_differ() -> None:
    res = _result()
    n = res.marks["notional_brl"].to_numpy()
    book = res.book
    gross, net = np.abs(n).sum(), n.sum()
    assert book["gross_notional_brl"] == gross and book["net_notional_brl"] == net
    assert book["leverage"] == gross / book["nav_brl"]
    assert abs(net) < 0.5 * gross  # the shorts offset the longs

    exposures = risk.factor_exposures(res.marks, instruments(), spot=5.52)
    m = risk.book_metrics(res.marks, exposures, book["nav_brl"])
    assert m["gross_leverage"] == pytest.approx(book["leverage"], rel=1e-12)
    assert m["net_leverage"] == pytest.approx(abs(net) / book["nav_brl"], rel=1e-12)
    assert m["net_leverage"] < 0.5 * m["gross_leverage"]

    limits = pd.DataFrame({"limit": ["GROSS_LEVERAGE", "NET_LEVERAGE"],
                           "metric": ["gross_leverage", "net_leverage"],
                           "limit_value": [m["gross_leverage"] * 1.1,
                                           m["gross_leverage"] * 1.1],
                           "warn_pct": [80.0, 80.0]})
    status = risk.limit_status(m, limits).set_index("limit")["status"]
    assert status["GROSS_LEVERAGE"] == "WARNING" and status["NET_LEVERAGE"] == "OK"

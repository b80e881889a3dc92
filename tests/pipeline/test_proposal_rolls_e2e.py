"""Contracts near expiry roll, end to end on both store pairs: ``TradeProposals(D)`` on a copy
of the session's demo fund ``FUND_11`` with the next DDI listed.

The demo holds the January DDI (DDIF27, maturing 2027-01-04: 24 ANBIMA business days after
D = Fri 2026-11-27) and a strategy has a view on it through the ``DDI`` alias. Its master has
no later DDI, so an operator lists the next January contract, DDIF28, with its settlements
(loaded through the ordinary loader: B3's PU = 100,000 / (1 + i x dc/360) from a coupon
20 bp above DDIF27's), and the module sets ``[pms_proposals] min_days_to_expiry`` to 25 so
the February-like case of the unit tests (5 business days) happens on this fund's dates.
The view must land on DDIF28, the held DDIF27 must get a roll pair, and nothing may add to
DDIF27; every proposal stays within its caps as a share of NAV.
"""
from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import luigi
import pandas as pd
import pytest

from pms_luigi.core import calendar
from pms_luigi.ops import runner
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.store import markers as mk
from pms_luigi.store import readers as rd
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World

END = FUND_11.end
D = calendar.next_business_day(END)
NEXT_MATURITY = date(2028, 1, 3)


def _list_next_ddi(w: World, instruments: pd.DataFrame, prices: pd.DataFrame) -> None:
    """DDIF28 in the master and its settlements on every date DDIF27 has one."""
    near = instruments.loc[instruments["instrument_id"] == "DDIF27"]
    row = near.assign(instrument_id="DDIF28", name="DDI Jan/2028 (cupom cambial future)",
                      maturity_date=NEXT_MATURITY)
    px = prices.loc[prices["instrument_id"] == "DDIF27"].copy()
    dc = (pd.Timestamp(NEXT_MATURITY) - pd.to_datetime(px["price_date"])).dt.days
    px["rate"] = (px["rate"].astype(float) + 0.002).round(5)
    px["price"] = (100_000.0 / (1.0 + px["rate"] * dc / 360.0)).round(2)
    px["instrument_id"] = "DDIF28"
    load_inputs(w.engine, {"instruments": row, "market_prices": px})


@pytest.fixture(scope="module", params=BACKENDS)
def rolled(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
           tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with demo_worlds.copy(FUND_11, request.param, tmp_path_factory.mktemp("rolls")) as (w, data):
        _list_next_ddi(w, data.instruments, data.market_prices)
        conf = luigi.configuration.get_config()
        before = conf.get("pms_proposals", "min_days_to_expiry", None)
        if not conf.has_section("pms_proposals"):
            conf.add_section("pms_proposals")
        conf.set("pms_proposals", "min_days_to_expiry", "25")
        try:
            assert runner.build([TradeProposals(date=D)]) == runner.ExitCode.OK
            yield w
        finally:
            if before is None:
                conf.remove_option("pms_proposals", "min_days_to_expiry")
            else:
                conf.set("pms_proposals", "min_days_to_expiry", before)


def _proposals(w: World) -> pd.DataFrame:
    with w.engine.connect() as conn:
        return rd.proposals_on(conn, D)


def test_the_view_and_the_position_near_expiry_roll_into_the_next_ddi(rolled: World) -> None:
    assert calendar.du(D, date(2027, 1, 4), as_of=D) == 24  # within the floor of 25
    props = _proposals(rolled).set_index("instrument_id")
    with rolled.engine.connect() as conn:
        held = rd.marks_on(conn, END).groupby("instrument_id")["quantity"].sum()
        marker = mk.read_markers(conn, "pms.TradeProposals", [D])[D]
    assert held["DDIF27"] > 0  # CUPOM_02 holds the near contract
    near = props.loc["DDIF27"]
    assert near["action"] in ("CLOSE", "REDUCE") and near["quantity"] < 0
    assert near["risk_impact"]["expiry"]["roll_to"] == "DDIF28"
    assert near["risk_impact"]["expiry"]["days_to_expiry"] == 24
    nxt = props.loc["DDIF28"]
    expiry = nxt["risk_impact"]["expiry"]
    assert expiry["roll_from"] == ["DDIF27"] and expiry["rolled_in_quantity"] > 0
    assert expiry["view_rolled_from"] == ["DDIF27"]  # the DDI alias's view landed here
    assert "Roll:" in near["rationale"] and "DDIF27" in nxt["rationale"]
    assert {"from": "DDIF27", "to": "DDIF28", "days_to_expiry": 24,
            "min_days_to_expiry": 25} in marker.metadata["rolled"]


def test_no_proposal_adds_to_a_contract_near_expiry_or_exceeds_its_caps(rolled: World) -> None:
    props = _proposals(rolled)
    with rolled.engine.connect() as conn:
        nav = float(rd.books_between(conn, END, END)["nav_brl"].iloc[0])
    for r in props.to_dict("records"):
        expiry = r["risk_impact"]["expiry"]
        if expiry is not None and expiry["near"]:
            assert r["action"] in ("CLOSE", "REDUCE"), r["instrument_id"]
        assert float(r["notional_brl"]) <= 0.25 * nav + 0.005, r["instrument_id"]
        assert r["risk_impact"]["risk_1d_brl"] <= 0.0025 * nav, r["instrument_id"]

"""Proposals a desk would send: rolls near expiry, caps as a share of NAV, the score's parts.

The book date P is Fri 2026-01-23 and the trading day D Mon 2026-01-26, so the DDI of February
(DDIG26, 2026-02-02) is 5 ANBIMA business days from expiry: inside the 20-day floor of
``[pms_proposals] min_days_to_expiry``. DDI rolls land in January or a quarterly month
(config/proposal_policy.json ``rolls.liquid_months``), so the next contract of DDIG26 is the
April DDIJ26, not the March one. Prices follow B3's DDI rule PU = 100,000 / (1 + i x dc/360)
with the coupon i in % a.a. and dc calendar days.
"""
from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_luigi.core import calendar as cal
from pms_luigi.core import proposals as pr
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.proposals.lifecycle import modify_quantity

P = date(2026, 1, 23)
D = date(2026, 1, 26)
FX = 5.40
NAV = 200_000_000.0
POLICY = json.loads((Path(__file__).resolve().parents[2] / "config" / "proposal_policy.json")
                    .read_text())

#: the policy with room for the roll examples' DDI sizes (one DDI is ~R$ 270,000 of notional)
WIDE = {**POLICY, "budgets": {**POLICY["budgets"], "CUPOM": {
    **POLICY["budgets"]["CUPOM"], "fat_finger_notional_brl": 2e9}}}

DDI = {"DDIG26": date(2026, 2, 2), "DDIH26": date(2026, 3, 2), "DDIJ26": date(2026, 4, 1),
       "DDIF27": date(2027, 1, 4)}


def _inst(iid, ac, itype, ccy, mat, cs, lot, underlying=None):
    return dict(instrument_id=iid, name=iid, asset_class=ac, instrument_type=itype, currency=ccy,
                exchange="B3", maturity_date=mat, contract_size=cs, lot_size=lot,
                underlying=underlying, is_active=True)


def _ddi_pu(coupon: float, mat: date) -> float:
    return round(100_000.0 / (1.0 + coupon * (mat - P).days / 360.0), 2)


def _market(ddi: tuple[str, ...] = tuple(DDI)) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Instruments and prices at P: the DDIs named, a DI1, two WDOs and an IND."""
    inst = [_inst(i, "CUPOM", "DDI", "USD", DDI[i], 0.5, 1.0, "CUPOM") for i in ddi]
    inst += [_inst("DI1F28", "RATES", "DI1", "BRL", date(2028, 1, 3), 1.0, 1.0, "CDI"),
             _inst("WDOG26", "FX", "WDO", "BRL", date(2026, 2, 2), 10.0, 1.0, "USDBRL"),
             _inst("WDOH26", "FX", "WDO", "BRL", date(2026, 3, 2), 10.0, 1.0, "USDBRL"),
             _inst("INDG26", "EQUITY", "IND", "BRL", date(2026, 2, 18), 1.0, 1.0, "IBOV")]
    px = [dict(price_date=P, instrument_id=i, price=_ddi_pu(0.05, DDI[i]), rate=0.05)
          for i in ddi]
    px += [dict(price_date=P, instrument_id="DI1F28", price=76_276.20, rate=0.145),
           dict(price_date=P, instrument_id="WDOG26", price=5_400.0, rate=None),
           dict(price_date=P, instrument_id="WDOH26", price=5_400.0, rate=None),
           dict(price_date=P, instrument_id="INDG26", price=128_450.0, rate=None)]
    return pd.DataFrame(inst), pd.DataFrame(px)


def _view(iid: str, conviction: float, strategy: str = "CUPOM_02") -> pd.DataFrame:
    return pd.DataFrame([{
        "instrument_id": iid, "conviction": conviction, "strategies": [strategy],
        "weights": {strategy: 1.0}, "factor_tags": ["carry"], "asset_class": "CUPOM",
        "n_signals": 1, "contributions": [{"strategy_id": strategy, "weight": 1.0,
                                           "conviction": conviction, "n_signals": 1,
                                           "factor_tags": ["carry"]}]}])


def _book(*rows: tuple[str, str, float, float]) -> pd.DataFrame:
    """position_marks at P from (instrument, strategy, quantity, dv01 per unit)."""
    return pd.DataFrame([dict(business_date=P, instrument_id=i, strategy_id=s, asset_class="CUPOM",
                              quantity=q, dv01_brl=q * u, fx_delta_usd=0.0, equity_delta_brl=0.0,
                              notional_brl=q * 50_000.0) for i, s, q, u in rows])


def _propose(view, book, inst, px, policy=POLICY, **kw) -> pd.DataFrame:
    return pr.generate_proposals(view, book, inst, px, FX, policy, as_of=P, business_date=D,
                                 **kw)


# ----------------------------------------------------------------------------- expiry


def test_expiry_table_counts_business_days_from_d_and_picks_the_next_liquid_contract():
    inst, px = _market()
    t = pr.expiry_table(inst, px["instrument_id"], D, pr.ProposalPolicy.from_mapping(POLICY), 20)
    assert cal.du(D, DDI["DDIG26"], as_of=D) == 5
    g = t.loc["DDIG26"]
    assert (g["days_to_expiry"], g["min_days"], g["near"]) == (5, 20, True)
    assert g["roll_to"] == "DDIJ26"  # March is not a liquid DDI month; April is
    assert not t.loc["DDIJ26", "near"] and t.loc["DDIJ26", "roll_to"] is None
    # a WDO has its own floor (5 business days): the February one is 5 days out, near
    assert (t.loc["WDOG26", "min_days"], t.loc["WDOG26", "near"]) == (5, True)
    assert t.loc["WDOG26", "roll_to"] == "WDOH26"  # every month is liquid for WDO
    assert not t.loc["DI1F28", "near"]


def test_a_target_five_days_from_expiry_becomes_a_roll_into_the_next_contract():
    inst, px = _market()
    strategies = pd.DataFrame({"strategy_id": ["CUPOM_02", "CUPOM_01"],
                               "factor_tags": [["carry"], ["relative-value"]]})
    signals = pd.DataFrame({"signal_date": [P, P, P], "strategy_id": ["CUPOM_02", "CUPOM_02",
                                                                      "CUPOM_01"],
                            "signal_id": ["DDIG26", "DDIJ26", "DDIG26"],
                            "conviction": [0.9, 0.7, 0.6]})
    pol = pr.ProposalPolicy.from_mapping(POLICY)
    rolled = pr.rolled_contracts(pr.expiry_table(inst, px["instrument_id"], D, pol, 20))
    assert rolled == {"DDIG26": "DDIJ26", "WDOG26": "WDOH26"}
    view = pr.aggregate_signals(signals, strategies, pd.DataFrame(columns=["alias",
                                                                           "instrument_id"]),
                                inst, P, rolled=rolled)
    # CUPOM_02's signals on both contracts are averaged first (0.8), then weighed once
    assert view["instrument_id"].tolist() == ["DDIJ26"]
    assert view["conviction"].iloc[0] == pytest.approx((0.8 + 0.6) / 2)
    assert view["rolled_from"].iloc[0] == ["DDIG26"]

    out = _propose(view, None, inst, px)
    assert out["instrument_id"].tolist() == ["DDIJ26"]  # nothing in the contract near expiry
    r = out.iloc[0]
    assert (r["action"], r["side"]) == ("OPEN", "BUY")
    unit = pr.unit_risk(inst, px, FX).loc["DDIJ26"]
    target = r["risk_impact"]["target_quantity"]  # sized on the April DV01 ...
    assert abs(target * unit["dv01_brl"] - 0.7 * -5_000) <= abs(unit["dv01_brl"])
    # ... and cut by the CUPOM fat finger (R$ 150M; 700 contracts are R$ 187M)
    assert r["quantity"] == min(target, np.floor(150e6 / unit["unit_notional_brl"]))
    assert r["risk_impact"]["expiry"]["view_rolled_from"] == ["DDIG26"]
    assert "The signals on DDIG26" in r["rationale"]
    # a view on the near contract alone is moved by generate_proposals too
    alone = _propose(_view("DDIG26", 0.7), None, inst, px)
    assert alone["instrument_id"].tolist() == ["DDIJ26"]
    assert alone["quantity"].tolist() == out["quantity"].tolist()


def test_a_held_position_near_expiry_gets_a_roll_pair_kept_whatever_the_count_cap():
    inst, px = _market()
    u = pr.unit_risk(inst, px, FX)["dv01_brl"]
    book = _book(("DDIG26", "CUPOM_02", 3_000.0, u["DDIG26"]))
    ind = _view("INDG26", 0.9, "CROSS_01").assign(asset_class="EQUITY")
    di = _view("DI1F28", 0.8, "RATES_BR_01").assign(asset_class="RATES")
    out = _propose(pd.concat([ind, di], ignore_index=True), book, inst, px,
                   {**WIDE, "max_proposals": 1}).set_index("instrument_id")
    # the count cap keeps IND (best score) and drops DI1; both roll legs stay
    assert sorted(out.index) == ["DDIG26", "DDIJ26", "INDG26"]
    near, nxt = out.loc["DDIG26"], out.loc["DDIJ26"]
    assert (near["action"], near["quantity"]) == ("CLOSE", -3_000.0)
    expected = round(3_000.0 * u["DDIG26"] / u["DDIJ26"])
    assert (nxt["action"], nxt["quantity"]) == ("OPEN", float(expected))
    assert near["dv01_brl"] + nxt["dv01_brl"] == pytest.approx(0.0, abs=abs(u["DDIJ26"]))
    assert near["risk_impact"]["expiry"]["roll_to"] == "DDIJ26"
    assert nxt["risk_impact"]["expiry"]["roll_from"] == ["DDIG26"]
    # no strategy has a view: the holders are the contributors, the rank says score 0
    assert nxt["strategies"] == [{"strategy_id": "CUPOM_02", "weight": 1.0, "conviction": None,
                                  "holding": 3_000.0}]
    assert pr.booking_strategy(dict(nxt, proposal_id=1)) == "CUPOM_02"
    assert near["conviction"] == 0.0 and "Roll: DDIG26 is 5 business days" in near["rationale"]
    assert near["risk_impact"]["ranking"]["count_capped"] is False


def test_a_view_on_the_next_contract_resizes_the_rolled_position():
    inst, px = _market()
    u = pr.unit_risk(inst, px, FX)["dv01_brl"]
    book = _book(("DDIG26", "CUPOM_02", 1_000.0, u["DDIG26"]))
    out = _propose(_view("DDIJ26", -0.8), book, inst, px, WIDE).set_index("instrument_id")
    # an opposite view of 0.8 >= flip 0.6: the rolled long becomes the target short
    target = round(-0.8 * 5_000 / abs(u["DDIJ26"]))
    assert out.at["DDIG26", "action"] == "CLOSE"
    assert (out.at["DDIJ26", "action"], out.at["DDIJ26", "quantity"]) == ("OPEN", float(target))
    assert out.at["DDIJ26", "risk_impact"]["post_trade_quantity"] == target


def test_near_expiry_without_a_next_contract_may_only_shrink():
    inst, px = _market(("DDIG26",))
    u = pr.unit_risk(inst, px, FX)["dv01_brl"]
    book = _book(("DDIG26", "CUPOM_02", 100.0, u["DDIG26"]))
    assert _propose(_view("DDIG26", 0.9), None, inst, px).empty  # no new position
    assert _propose(_view("DDIG26", 0.9), book, inst, px).empty  # no increase
    flip = _propose(_view("DDIG26", -0.9), book, inst, px).iloc[0]
    assert (flip["action"], flip["quantity"]) == ("CLOSE", -100.0)  # a flip becomes a close
    assert "close instead of flip" in flip["rationale"]
    assert flip["risk_impact"]["expiry"]["increase_blocked"] is True
    shrink = _propose(_view("DDIG26", 0.2), _book(("DDIG26", "CUPOM_02", 5_000.0,
                                                   u["DDIG26"])), inst, px).iloc[0]
    assert shrink["action"] == "REDUCE" and shrink["quantity"] < 0


def test_a_roll_pair_in_a_decided_contract_is_skipped():
    inst, px = _market()
    u = pr.unit_risk(inst, px, FX)["dv01_brl"]
    book = _book(("DDIG26", "CUPOM_02", 3_000.0, u["DDIG26"]))
    out = _propose(_view("DI1F28", 0.0).iloc[0:0], book, inst, px, skip=["DDIG26"])
    assert out["instrument_id"].tolist() == ["DDIJ26"]  # the approved close is not re-proposed
    assert out["risk_impact"].iloc[0]["expiry"]["rolled_in_quantity"] == round(
        3_000.0 * u["DDIG26"] / u["DDIJ26"])


# ----------------------------------------------------------------------------- caps


def test_caps_cut_the_trade_to_a_share_of_nav_and_say_which_bound():
    inst, px = _market()
    view = pd.concat([_view("DI1F28", 1.0, "RATES_BR_01").assign(asset_class="RATES"),
                      _view("WDOH26", 1.0, "FX_02").assign(asset_class="FX")],
                     ignore_index=True)
    small_nav = 40_000_000.0
    pol = {**POLICY, "caps": {"notional_pct_nav": 25.0, "risk_1d_pct_nav": 0.1}}
    out = _propose(view, None, inst, px, pol, nav=small_nav).set_index("instrument_id")
    di = out.loc["DI1F28"]
    # 1,126 contracts of R$ 76,276 asked (15,000 R$/bp / 13.32): 86M > 25 % of 40M = 10M
    assert di["risk_impact"]["caps"]["capped_by"] == "notional_pct_nav"
    assert di["quantity"] == np.floor(10_000_000 / 76_276.20)
    assert di["notional_brl"] <= 0.25 * small_nav
    assert "Capped by the notional cap R$ 10,000,000.00 (25.00% of NAV)" in di["rationale"]
    # WDO: US$ 10,000 x 1 % x 5.4 = R$ 540 of 1-day risk per contract; 0.1 % of 40M = R$ 40,000
    fx = out.loc["WDOH26"]
    assert fx["risk_impact"]["caps"]["capped_by"] == "risk_1d_pct_nav"
    assert fx["quantity"] == np.floor(40_000 / 540)
    assert fx["risk_impact"]["risk_1d_brl"] <= 0.001 * small_nav
    uncapped = _propose(view, None, inst, px)  # without NAV only the fat finger applies
    assert not uncapped["risk_impact"].map(lambda r: r["caps"]["capped"]).any()


_IDS = ("DDIJ26", "DDIF27", "DI1F28", "INDG26")
_CLASS = {"DDIJ26": "CUPOM", "DDIF27": "CUPOM", "DI1F28": "RATES", "INDG26": "EQUITY"}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(nav=st.floats(5e6, 5e9),
       convictions=st.lists(st.floats(-1.0, 1.0), min_size=4, max_size=4),
       held=st.lists(st.integers(-20_000, 20_000), min_size=4, max_size=4),
       notional_pct=st.floats(1.0, 50.0), risk_pct=st.floats(0.01, 1.0),
       fat_finger=st.floats(1e6, 5e8))
def test_no_proposal_exceeds_its_caps_on_any_book(nav, convictions, held, notional_pct,
                                                   risk_pct, fat_finger):
    inst, px = _market()
    pol = json.loads(json.dumps(POLICY))
    pol["caps"] = {"notional_pct_nav": notional_pct, "risk_1d_pct_nav": risk_pct}
    for b in pol["budgets"].values():
        b["fat_finger_notional_brl"] = fat_finger
    u = pr.unit_risk(inst, px, FX)
    view = pd.concat([_view(i, c).assign(asset_class=_CLASS[i])
                      for i, c in zip(_IDS, convictions, strict=True)], ignore_index=True)
    book = pd.DataFrame([dict(business_date=P, instrument_id=i, strategy_id="S",
                              asset_class=_CLASS[i], quantity=float(q),
                              dv01_brl=q * (u.at[i, "dv01_brl"] if _CLASS[i] != "EQUITY" else 0),
                              fx_delta_usd=0.0, equity_delta_brl=q * u.at[i, "equity_delta_brl"],
                              notional_brl=q * u.at[i, "unit_notional_brl"])
                         for i, q in zip(_IDS, held, strict=True) if q])
    out = _propose(view, book if len(book) else None, inst, px, pol, nav=nav)
    for r in out.to_dict("records"):
        ri = r["risk_impact"]
        assert r["notional_brl"] <= fat_finger * (1 + 1e-12)  # every ticket
        if r["action"] not in ("REDUCE", "CLOSE"):  # the NAV caps bound the risk added
            assert r["notional_brl"] <= notional_pct / 100 * nav * (1 + 1e-12)
            assert ri["risk_1d_brl"] <= risk_pct / 100 * nav * (1 + 1e-12)
        assert abs(r["quantity"]) <= abs(ri["caps"]["uncapped_quantity"])
        assert ri["notional_pct_nav"] == pytest.approx(r["notional_brl"] / nav * 100)
        assert r["quantity"] != 0


def test_modify_refuses_a_size_above_the_caps_it_was_made_under():
    proposal = {"proposal_id": 7, "quantity": 100.0, "notional_brl": 5_000_000.0,
                "dv01_brl": -1_000.0, "delta_brl": 0.0,
                "risk_impact": {"fat_finger_notional_brl": 250e6, "current_quantity": 0.0,
                                "risk_1d_brl": 8_000.0,
                                "caps": {"max_notional_brl": 12_000_000.0,
                                         "max_risk_1d_brl": 500_000.0}}}
    assert modify_quantity(proposal, 200.0, 1.0)["quantity"] == 200.0
    with pytest.raises(InvalidInput, match=r"above the notional cap R\$ 12,000,000\.00"):
        modify_quantity(proposal, 300.0, 1.0)


# ----------------------------------------------------------------------------- ranking


def test_the_score_and_its_parts_are_stored_and_explained():
    inst, px = _market()
    view = pd.concat([_view("INDG26", 0.39, "CROSS_01").assign(asset_class="EQUITY"),
                      _view("DDIJ26", 0.86)], ignore_index=True)
    out = _propose(view, None, inst, px, nav=NAV).set_index("instrument_id")
    # IND: 0.39 x R$ 25M x 1.3 % = R$ 126,750; DDI: 0.86 x 5,000 R$/bp x 10 bp = R$ 43,000
    ind, ddi = out.loc["INDG26"], out.loc["DDIJ26"]
    assert (ind["rank"], ddi["rank"]) == (1, 2)
    parts = ddi["risk_impact"]["ranking"]
    assert parts == {"rank": 2, "of": 2, "score": pytest.approx(43_000.0),
                     "abs_conviction": 0.86, "risk_budget_brl": 50_000.0,
                     "budget_target": 5_000.0, "daily_vol": 10.0, "fx_scale": 1.0,
                     "count_capped": True,
                     "formula": "score = |conviction| x budget_target x daily_vol x fx_scale"}
    assert parts["score"] == pytest.approx(parts["abs_conviction"] * parts["budget_target"]
                                           * parts["daily_vol"] * parts["fx_scale"])
    assert ("Rank 2 of 2: score R$ 43,000 = |view| 0.8600 x R$ 50,000 CUPOM 1-day risk budget "
            "(5,000 R$/bp DV01 x 10 bp)") in ddi["rationale"]
    assert "Rank 1 of 2: score R$ 126,750" in ind["rationale"]


@pytest.mark.parametrize(("key", "value", "field"), [
    ("caps", {"notional_pct_nav": 0}, "caps.notional_pct_nav"),
    ("caps", {"risk_1d_pct_nav": "x"}, "caps.risk_1d_pct_nav"),
    ("rolls", {"liquid_months": {"DDI": [13]}}, "rolls.liquid_months.DDI"),
    ("rolls", {"min_days_to_expiry_by_type": {"WDO": 2.5}},
     "rolls.min_days_to_expiry_by_type.WDO"),
    ("flips", {"signal_medium_change": 0.7}, "flips"),
])
def test_bad_policy_sections_name_the_key(key, value, field):
    with pytest.raises(InvalidInput) as exc:
        pr.ProposalPolicy.from_mapping({**POLICY, key: value})
    assert exc.value.field == field


def test_policy_without_the_new_sections_uses_the_desk_defaults():
    old = {k: v for k, v in POLICY.items() if k not in ("caps", "rolls", "flips")}
    pol = pr.ProposalPolicy.from_mapping(old)
    assert pol.caps == pr.Caps(notional_pct_nav=25.0, risk_1d_pct_nav=0.25)
    assert pol.flips == pr.FlipGrades()
    assert pol.rolls.min_days("DDI", 20) == 20 and pol.rolls.liquid_months == {}


def test_a_reduction_is_cut_only_by_the_fat_finger():
    """Closing or reducing sheds risk: the NAV caps (which bound the risk a proposal adds)
    leave it whole; the fat-finger cap still bounds the ticket. An increase of the same size
    is cut by the notional cap."""
    from pms_luigi.core.proposals.sizing import cap_trades

    pol = pr.ProposalPolicy.from_mapping(
        {**POLICY, "caps": {"notional_pct_nav": 25.0, "risk_1d_pct_nav": 0.25}})
    f = pd.DataFrame({"q0": [1_000.0, 1_000.0, 1_000.0, -1_000.0], "lot": 1.0,
                      "unit_notional": 100_000.0, "u": 1.0, "budget_brl": 1.0, "target": 1.0,
                      "cap_brl": [250e6, 250e6, 50e6, 250e6]})
    trade = np.array([-1_000.0, 1_000.0, -1_000.0, 1_500.0])  # close, increase, close, flip
    out = cap_trades(f, trade, pol, nav=200e6)  # 25 % of NAV = R$ 50M = 500 contracts
    assert out["trade"].tolist() == [-1_000.0, 500.0, -500.0, 500.0]
    assert pd.isna(out["capped_by"].iloc[0])
    assert out["capped_by"].tolist()[1:] == ["notional_pct_nav", "fat_finger",
                                             "notional_pct_nav"]

"""Trade proposals: aggregation, sizing, flips, ranking and pre-trade limits.

Numbers come from the published B3 contract math (DI1: PU = 100,000 / (1 + r)^(du/252); DDI:
PU = 100,000 / (1 + i x dc/360)): DI1 at 13.00 % with 252 du has PU 88,495.58 and DV01
7.8315 R$/bp per contract; DI1 at 14.50 % / 504 du PU 76,276.20, DV01 13.3234; DDI at 5 % /
180 dc PU 97,560.98, DV01 4.7588 points (US$ 0.50 per point). The decisions on a proposal and
the journal chain are tested in test_lifecycle.py.
"""
from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import proposals as pr
from pms_luigi.core.errors import InvalidInput, MissingPrice

P = date(2026, 1, 5)  # Monday, ANBIMA business day (the book date)
D = date(2026, 1, 6)  # trading day of the proposals
FX = 5.40
NAV = 100_000_000.0
POLICY_FILE = Path(__file__).resolve().parents[2] / "config" / "proposal_policy.json"

DV01_F27 = 7.8315  # R$/bp per DI1 contract, 13.00 %, 252 du (published vector)
DV01_F28 = 13.3234  # 14.50 %, 504 du


def _instrument(iid, ac, itype, ccy, mat, cs, lot, underlying=None, active=True):
    return dict(instrument_id=iid, name=iid, asset_class=ac, instrument_type=itype, currency=ccy,
                exchange="B3", maturity_date=mat, contract_size=cs, lot_size=lot,
                underlying=underlying, is_active=active)


@pytest.fixture
def instruments() -> pd.DataFrame:
    return pd.DataFrame([
        _instrument("DI1F27", "RATES", "DI1", "BRL", date(2027, 1, 4), 1.0, 1.0),
        _instrument("DI1F28", "RATES", "DI1", "BRL", date(2028, 1, 3), 1.0, 1.0),
        _instrument("DI1F26", "RATES", "DI1", "BRL", date(2026, 1, 2), 1.0, 1.0, active=False),
        _instrument("DOLG26", "FX", "DOL", "BRL", date(2026, 2, 2), 50.0, 5.0, "USDBRL"),
        _instrument("WDOG26", "FX", "WDO", "BRL", date(2026, 2, 2), 10.0, 1.0, "USDBRL"),
        _instrument("INDG26", "EQUITY", "IND", "BRL", date(2026, 2, 18), 1.0, 1.0, "IBOV"),
        _instrument("DDIF27", "CUPOM", "DDI", "USD", date(2027, 1, 4), 0.5, 1.0),
    ])


@pytest.fixture
def aliases() -> pd.DataFrame:
    return pd.DataFrame({"alias": ["DI_PRE", "DI_PRE_2Y", "USDBRL", "IBOV_FUT", "OLD_DI", "GHOST"],
                         "instrument_id": ["DI1F27", "DI1F28", "WDOG26", "INDG26", "DI1F26",
                                           "DI1X99"]})


@pytest.fixture
def strategies() -> pd.DataFrame:
    return pd.DataFrame({
        "strategy_id": ["RATES_BR_01", "RATES_BR_02", "FX_02", "CROSS_01", "INF_03"],
        "name": ["DI carry", "Taylor", "FX carry-momentum", "Macro regime", "Inflation carry"],
        "asset_class": ["RATES", "RATES", "FX", "CROSS_ASSET", "INFLATION"],
        "factor_tags": [["carry"], ["macro-discretionary"], ["carry", "momentum"],
                        ["macro-discretionary"], '["carry"]'],
        "is_systematic": [True, True, True, True, True],
    })


@pytest.fixture
def prices() -> pd.DataFrame:
    return pd.DataFrame({
        "price_date": [P] * 6,
        "instrument_id": ["DI1F27", "DI1F28", "DOLG26", "WDOG26", "INDG26", "DDIF27"],
        "price": [88_495.58, 76_276.20, 5_400.0, 5_400.0, 128_450.0, 97_560.98],
        "rate": [0.13, 0.145, None, None, None, 0.05],
        "source": ["B3"] * 6,
    })


@pytest.fixture
def policy() -> dict:
    return json.loads(POLICY_FILE.read_text())


def _signals(rows):
    return pd.DataFrame(rows, columns=["signal_date", "strategy_id", "signal_id", "conviction"])


def _mark(iid, qty, dv01=0.0, fxd=0.0, eqd=0.0, notional=0.0, ac="RATES", strategy="RATES_BR_01"):
    return dict(business_date=P, instrument_id=iid, strategy_id=strategy, asset_class=ac,
                quantity=qty, avg_cost=None, price=0.0, price_date=P, is_stale=False,
                staleness_bd=0, fx_rate=FX, market_value_brl=0.0, notional_brl=notional,
                pnl_brl=0.0, dv01_brl=dv01, fx_delta_usd=fxd, equity_delta_brl=eqd)


MARK_COLUMNS = list(_mark("X", 0).keys())


def _book(*rows) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=MARK_COLUMNS)


def _view(instrument_id: str, conviction: float, asset_class: str = "RATES") -> pd.DataFrame:
    return pd.DataFrame([{
        "instrument_id": instrument_id, "conviction": conviction, "strategies": ["CROSS_01"],
        "weights": {"CROSS_01": 1.0}, "factor_tags": ["macro-discretionary"],
        "asset_class": asset_class, "n_signals": 1,
        "contributions": [{"strategy_id": "CROSS_01", "weight": 1.0, "conviction": conviction,
                           "n_signals": 1, "factor_tags": ["macro-discretionary"]}],
    }])


# ----------------------------------------------------------------------------- aggregation


def test_aggregate_weighted_mean_alias_mapping_and_tags(strategies, aliases, instruments):
    sig = _signals([
        (P, "RATES_BR_01", "DI_PRE", 0.8),      # alias -> DI1F27
        (P, "RATES_BR_01", "DI1F27", 0.6),      # same strategy, same contract: averaged first
        (P, "RATES_BR_02", "DI1F27", 0.4),
        (P, "FX_02", "USDBRL", -0.5),
        (P - timedelta(days=3), "CROSS_01", "IBOV_FUT", 0.9),  # stale: outside the window
    ])
    view = pr.aggregate_signals(sig, strategies, aliases, instruments, P,
                                strategy_weights={"RATES_BR_01": 3.0, "RATES_BR_02": 1.0})
    assert list(view.columns) == list(pr.VIEW_COLUMNS)
    assert view["instrument_id"].tolist() == ["DI1F27", "WDOG26"]
    di = view.iloc[0]
    # RATES_BR_01: mean(0.8, 0.6) = 0.7 with weight 3; RATES_BR_02: 0.4 with weight 1
    assert di["conviction"] == pytest.approx((3 * 0.7 + 1 * 0.4) / 4, abs=1e-12)
    assert di["strategies"] == ["RATES_BR_01", "RATES_BR_02"]
    assert di["weights"] == {"RATES_BR_01": 0.75, "RATES_BR_02": 0.25}
    assert di["factor_tags"] == ["carry", "macro-discretionary"]
    assert di["asset_class"] == "RATES"  # from the instrument master, never UNKNOWN
    assert di["n_signals"] == 3
    fx = view.iloc[1]
    assert fx["conviction"] == -0.5 and fx["asset_class"] == "FX"
    assert fx["contributions"] == [{"strategy_id": "FX_02", "weight": 1.0, "conviction": -0.5,
                                    "n_signals": 1, "factor_tags": ["carry", "momentum"]}]

    # a window back to P-3 picks CROSS_01's latest snapshot; equal weights by default
    view2 = pr.aggregate_signals(sig, strategies, aliases, instruments, P,
                                 since=P - timedelta(days=3))
    assert view2.set_index("instrument_id").at["INDG26", "conviction"] == 0.9
    assert view2.set_index("instrument_id").at["DI1F27", "conviction"] == pytest.approx(
        (0.7 + 0.4) / 2, abs=1e-12)


def test_aggregate_latest_snapshot_per_strategy_supersedes_older(strategies, aliases, instruments):
    sig = _signals([
        (P - timedelta(days=1), "RATES_BR_01", "DI_PRE", 0.9),
        (P - timedelta(days=1), "RATES_BR_01", "DI_PRE_2Y", 0.9),
        (P, "RATES_BR_01", "DI_PRE", -0.3),  # P's snapshot has no DI_PRE_2Y view: it is flat
    ])
    view = pr.aggregate_signals(sig, strategies, aliases, instruments, P,
                                since=P - timedelta(days=1))
    assert view["instrument_id"].tolist() == ["DI1F27"]
    assert view["conviction"].tolist() == [-0.3]


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("row, table, key, field", [
    ((P, "RATES_BR_01", "DI_PRE", 1.5), "signals", (P, "RATES_BR_01", "DI_PRE"), "conviction"),
    ((P, "RATES_BR_01", "DI_PRE", -1.01), "signals", (P, "RATES_BR_01", "DI_PRE"), "conviction"),
    ((P, "RATES_BR_01", "DI_PRE", float("nan")), "signals", (P, "RATES_BR_01", "DI_PRE"),
     "conviction"),
    ((P, "NOPE_99", "DI_PRE", 0.5), "signals", (P, "NOPE_99", "DI_PRE"), "strategy_id"),
    ((P, "RATES_BR_01", "DI_XYZ", 0.5), "signals", (P, "RATES_BR_01", "DI_XYZ"), "signal_id"),
    ((D, "RATES_BR_01", "DI_PRE", 0.5), "signals", (D, "RATES_BR_01", "DI_PRE"), "signal_date"),
    ((P, "RATES_BR_01", "GHOST", 0.5), "instrument_aliases", "GHOST", "instrument_id"),
    ((P, "RATES_BR_01", "OLD_DI", 0.5), "instruments", "DI1F26", "is_active"),
])
def test_bad_signal_rows_raise_invalid_input_naming_row_and_field(
        row, table, key, field, strategies, aliases, instruments):
    good = (P, "RATES_BR_02", "DI1F27", 0.2)
    with pytest.raises(InvalidInput) as exc:
        pr.aggregate_signals(_signals([good, row]), strategies, aliases, instruments, P)
    err = exc.value
    assert (err.table, err.row, err.field) == (table, key, field)
    assert field in str(err)
    for part in (key if isinstance(key, tuple) else (key,)):
        assert (part.isoformat() if isinstance(part, date) else part) in str(err)


def test_duplicate_signal_key_and_bad_weight_are_refused(strategies, aliases, instruments):
    dup = _signals([(P, "FX_02", "USDBRL", 0.2), (P, "FX_02", "USDBRL", 0.3)])
    with pytest.raises(InvalidInput) as exc:
        pr.aggregate_signals(dup, strategies, aliases, instruments, P)
    assert exc.value.row == (P, "FX_02", "USDBRL")
    ok = _signals([(P, "FX_02", "USDBRL", 0.2)])
    with pytest.raises(InvalidInput) as exc:
        pr.aggregate_signals(ok, strategies, aliases, instruments, P,
                             strategy_weights={"FX_02": -1})
    assert (exc.value.row, exc.value.field) == ("FX_02", "weight")


def test_bad_view_and_policy_raise(instruments, prices, policy):
    with pytest.raises(InvalidInput) as exc:
        pr.generate_proposals(_view("DI1F27", 1.2), None, instruments, prices, FX, policy)
    assert (exc.value.table, exc.value.row, exc.value.field) == ("view", "DI1F27", "conviction")
    with pytest.raises(InvalidInput) as exc:
        pr.generate_proposals(_view("XXX", 0.5), None, instruments, prices, FX, policy)
    assert (exc.value.row, exc.value.field) == ("XXX", "instrument_id")
    with pytest.raises(MissingPrice) as exc:
        pr.generate_proposals(_view("DI1F27", 0.5), None, instruments,
                              prices[prices["instrument_id"] != "DI1F27"], FX, policy)
    assert exc.value.instruments == ["DI1F27"] and "2026-01-05" in str(exc.value)
    broken = {**policy, "thresholds": {"entry": 0.2, "exit": 0.3, "flip": 0.6}}
    with pytest.raises(InvalidInput) as exc:
        pr.generate_proposals(_view("DI1F27", 0.5), None, instruments, prices, FX, broken)
    assert exc.value.field == "thresholds"


# ----------------------------------------------------------------------------- proposals


def test_short_signals_give_sell_proposals(strategies, aliases, instruments, prices, policy):
    sig = _signals([
        (P, "RATES_BR_01", "DI_PRE", -0.8),   # pay DI = short PU
        (P, "FX_02", "USDBRL", -0.7),         # short USD
        (P, "CROSS_01", "IBOV_FUT", -0.6),    # short index
    ])
    view = pr.aggregate_signals(sig, strategies, aliases, instruments, P)
    out = pr.generate_proposals(view, None, instruments, prices, FX, policy, business_date=D)
    assert list(out.columns) == list(pr.PROPOSAL_COLUMNS)
    assert sorted(out["instrument_id"]) == ["DI1F27", "INDG26", "WDOG26"]
    assert (out["side"] == "SELL").all() and (out["quantity"] < 0).all()
    assert (out["action"] == "OPEN").all()
    assert (out["status"] == "PENDING").all() and (out["origin"] == "PIPELINE").all()
    assert (out["business_date"] == D).all()
    o = out.set_index("instrument_id")
    assert o.at["DI1F27", "dv01_brl"] > 0       # short PU gains when rates rise
    assert o.at["WDOG26", "delta_brl"] < 0 and o.at["INDG26", "delta_brl"] < 0
    # WDO: US$10,000 per contract; -0.7 x US$8M = -560 contracts
    assert o.at["WDOG26", "quantity"] == -560.0
    assert o.at["WDOG26", "delta_brl"] == pytest.approx(-560 * 10_000 * FX)
    assert o.at["DI1F27", "strategies"][0]["factor_tags"] == ["carry"]
    assert "short PU / pay rates" in o.at["DI1F27", "rationale"]


def test_flip_close_and_hold_against_the_book(instruments, prices, policy):
    long_book = _book(_mark("DI1F28", 500.0, dv01=-500 * DV01_F28, notional=500 * 76_276.20))
    flip = pr.generate_proposals(_view("DI1F28", -0.9), long_book, instruments, prices, FX, policy)
    r = flip.iloc[0]
    target = round(-0.9 * 15_000 / DV01_F28)  # -1013 contracts
    assert (r["action"], r["side"], r["quantity"]) == ("FLIP", "SELL", target - 500.0)
    assert r["risk_impact"]["post_trade_quantity"] == target
    assert r["dv01_brl"] == pytest.approx(-(target - 500) * DV01_F28, rel=1e-5)

    # opposite view below the flip threshold: close, do not flip
    close = pr.generate_proposals(_view("DI1F28", -0.5), long_book, instruments, prices, FX, policy)
    assert close[["action", "side", "quantity"]].iloc[0].tolist() == ["CLOSE", "SELL", -500.0]
    # same-side view below exit: close
    close2 = pr.generate_proposals(_view("DI1F28", 0.1), long_book, instruments, prices, FX, policy)
    assert close2["action"].tolist() == ["CLOSE"]
    # same side, target within the rebalance band: nothing to do
    hold_q = round(0.45 * 15_000 / DV01_F28)  # 507 vs 500 held
    assert abs(hold_q - 500) < 0.25 * 500
    hold = pr.generate_proposals(_view("DI1F28", 0.45), long_book, instruments, prices, FX, policy)
    assert hold.empty
    # between exit and entry the position may shrink but never grow
    flat_view = pr.generate_proposals(_view("DI1F28", 0.25), None, instruments, prices, FX, policy)
    assert flat_view.empty
    reduce = pr.generate_proposals(_view("DI1F28", 0.25), long_book, instruments, prices, FX,
                                   policy)
    assert reduce["action"].tolist() == ["REDUCE"]
    assert reduce["quantity"].iloc[0] == round(0.25 * 15_000 / DV01_F28) - 500


def test_sizing_hits_target_dv01_within_one_lot(instruments, prices, policy):
    out = pr.generate_proposals(_view("DI1F27", 0.6), None, instruments, prices, FX, policy)
    q = out["quantity"].iloc[0]
    target = 0.6 * 15_000  # R$/bp
    assert abs(q * DV01_F27 - target) <= 1 * DV01_F27
    assert -out["dv01_brl"].iloc[0] == pytest.approx(q * DV01_F27, rel=1e-5)
    assert out["risk_impact"].iloc[0]["unit_risk"] == pytest.approx(-DV01_F27, abs=1e-4)
    assert out["notional_brl"].iloc[0] == pytest.approx(q * 88_495.58)

    # DOL trades in lots of 5: US$50,000 per contract, target 0.5 x US$8M = US$4M
    view = _view("DOLG26", 0.5, "FX")
    dol = pr.generate_proposals(view, None, instruments, prices, FX, policy).iloc[0]
    assert dol["quantity"] % 5 == 0
    assert abs(dol["quantity"] * 50_000 - 4_000_000) <= 5 * 50_000
    assert dol["delta_brl"] == pytest.approx(dol["quantity"] * 50_000 * FX)

    # DDI: 4.7588 points/bp x US$0.50 x PTAX
    ddi_unit = pr.unit_risk(instruments, prices, FX).at["DDIF27", "dv01_brl"]
    assert ddi_unit == pytest.approx(-4.7588 * 0.5 * FX, rel=1e-4)
    ddi = pr.generate_proposals(_view("DDIF27", -0.9, "CUPOM"), None, instruments, prices, FX,
                                policy).iloc[0]
    assert abs(ddi["dv01_brl"] - 0.9 * 5_000) <= abs(ddi_unit)


def test_fat_finger_caps_the_trade_and_reclassifies(instruments, prices, policy):
    small = json.loads(json.dumps(policy))
    small["budgets"]["RATES"]["fat_finger_notional_brl"] = 10_000_000.0
    out = pr.generate_proposals(_view("DI1F27", 0.6), None, instruments, prices, FX, small).iloc[0]
    assert out["quantity"] == 112.0  # floor(10,000,000 / 88,495.58)
    assert out["notional_brl"] <= 10_000_000.0
    assert out["risk_impact"]["fat_finger_capped"] is True
    assert "fat-finger" in out["rationale"]
    big = _book(_mark("DI1F27", 300.0, dv01=-300 * DV01_F27, notional=300 * 88_495.58))
    cut = pr.generate_proposals(_view("DI1F27", 0.0), big, instruments, prices, FX, small).iloc[0]
    assert (cut["action"], cut["quantity"]) == ("REDUCE", -112.0)  # a capped CLOSE


def test_rank_by_conviction_times_budget_and_cap_count(instruments, prices, policy):
    capped = {**policy, "max_proposals": 2}
    view = pd.concat([_view("DI1F27", 0.5), _view("WDOG26", 0.4, "FX"),
                      _view("INDG26", -0.9, "EQUITY"), _view("DI1F28", 0.05)], ignore_index=True)
    book = _book(_mark("DI1F28", 200.0, dv01=-200 * DV01_F28, notional=200 * 76_276.20))
    out = pr.generate_proposals(view, book, instruments, prices, FX, capped)
    # scores: IND 0.9 x 25M x 1.3% = 292,500; WDO 0.4 x 8M x 1% x 5.4 = 172,800;
    # DI1F27 0.5 x 15,000 x 8 = 60,000 (cut: 3rd risk-adding); DI1F28 CLOSE 0.05 x 120,000 = 6,000
    assert out["instrument_id"].tolist() == ["INDG26", "WDOG26", "DI1F28"]
    assert out["rank"].tolist() == [1, 2, 3]
    assert out["action"].tolist() == ["OPEN", "OPEN", "CLOSE"]
    assert out["risk_impact"].iloc[0]["score"] == pytest.approx(292_500.0)


def test_same_inputs_same_output_in_any_row_order(strategies, aliases, instruments, prices, policy):
    sig = _signals([
        (P, "RATES_BR_01", "DI_PRE", 0.8), (P, "RATES_BR_02", "DI1F27", 0.4),
        (P, "FX_02", "USDBRL", -0.7), (P, "CROSS_01", "IBOV_FUT", 0.5),
        (P, "CROSS_01", "DI_PRE_2Y", -0.9),
    ])
    book = _book(_mark("DI1F28", 500.0, dv01=-500 * DV01_F28, notional=500 * 76_276.20))

    def run(s, i, p):
        v = pr.aggregate_signals(s, strategies, aliases, i, P)
        return pr.generate_proposals(v, book, i, p, FX, policy, business_date=D)

    a = run(sig, instruments, prices)
    b = run(sig.iloc[::-1].reset_index(drop=True), instruments.iloc[::-1],
            prices.sample(frac=1, random_state=7))
    assert len(a) == 4
    assert a.to_json(orient="records", date_format="iso") == b.to_json(orient="records",
                                                                      date_format="iso")
    json.dumps(a.drop(columns="business_date").to_dict("records"), allow_nan=False)


# ----------------------------------------------------------------------------- pre-trade risk


def _changes(n: int = 100) -> pd.DataFrame:
    i = np.arange(n)
    days = pd.bdate_range(end=pd.Timestamp(P), periods=n)
    return pd.DataFrame({"DI_252": ((i * 37) % 81 - 40).astype(float),   # bp, in [-40, +40]
                         "DI_504": ((i * 29) % 61 - 30).astype(float),
                         "USDBRL": ((i * 53) % 41 - 20) / 1000.0},      # fraction, +-2 %
                        index=pd.Index(days.date, name="date"))


LIMITS = pd.DataFrame({
    "limit": ["VAR99", "GROSS_LEVERAGE", "DV01_NET"],
    "metric": ["var99_bps", "gross_leverage", "dv01_net_bps_nav"],
    "limit_value": [30.0, 4.0, 10.0], "unit": ["bps_nav", "x", "bps_nav_per_bp"],
    "warn_pct": [80.0, 80.0, 80.0],
})


def test_breaching_proposal_is_flagged_with_limit_and_headroom(instruments, prices, policy):
    view = pd.concat([_view("DI1F27", 0.6), _view("WDOG26", 0.4, "FX")], ignore_index=True)
    empty = _book()
    ch = _changes()
    out = pr.generate_proposals(
        view, empty, instruments, prices, FX, policy,
        risk_ctx=dict(book_exposures=None, changes=ch, nav=NAV, limits=LIMITS, marks=empty,
                      instruments=instruments, fx_spot=FX, on=P))
    o = out.set_index("instrument_id")
    assert len(out) == 2  # the breaching proposal is kept
    di = o.loc["DI1F27"]
    # VaR99 of 100 scenarios: k = 1, the worst loss = |DV01| x 40 bp (DI_252 bucket)
    var99 = -di["dv01_brl"] * 40.0
    assert di["risk_impact"]["pre_trade"]["var99_brl_after"] == pytest.approx(var99)
    var_bps = var99 / NAV * 1e4
    assert di["breaches"] == [{
        "limit": "VAR99", "metric": "var99_bps", "value": pytest.approx(var_bps),
        "limit_value": 30.0, "headroom": pytest.approx(30.0 - var_bps),
        "utilisation": pytest.approx(var_bps / 30 * 100), "value_before": 0.0, "worsens": True}]
    assert di["breaches"][0]["headroom"] < 0
    assert di["risk_impact"]["pre_trade"]["dv01_by_bucket_after"] == {
        "DI_252": pytest.approx(di["dv01_brl"])}
    # WDO: 320 x US$10,000 x 5.4 = R$17.28M delta; worst USDBRL -2 % -> VaR 345,600 = 34.56 bps
    wdo = o.loc["WDOG26"]
    assert wdo["risk_impact"]["pre_trade"]["var99_brl_after"] == pytest.approx(17_280_000 * 0.02)
    assert [b["limit"] for b in wdo["breaches"]] == ["VAR99"]
    assert wdo["risk_impact"]["pre_trade"]["metrics_after"]["gross_leverage"] == pytest.approx(
        320 * 54_000 / NAV)


def test_risk_reducing_trade_in_a_breached_book_is_flagged_but_not_worsening(
        instruments, prices, policy):
    book = _book(_mark("DI1F27", 2000.0, dv01=-2000 * DV01_F27, notional=2000 * 88_495.58))
    limits = LIMITS.assign(limit_value=[10.0, 1.0, 10.0])
    out = pr.generate_proposals(
        _view("DI1F27", 0.2), book, instruments, prices, FX, policy,
        risk_ctx=dict(book_exposures=None, changes=_changes(), nav=NAV, limits=limits,
                      marks=book, instruments=instruments, fx_spot=FX))
    r = out.iloc[0]
    post_q = round(0.2 * 15_000 / DV01_F27)  # 383
    assert (r["action"], r["quantity"]) == ("REDUCE", post_q - 2000.0)
    pre = r["risk_impact"]["pre_trade"]
    assert pre["var99_brl_before"] == pytest.approx(2000 * DV01_F27 * 40, rel=1e-5)
    post_dv01 = -2000 * DV01_F27 + r["dv01_brl"]  # book + trade, both R$ per +1bp
    assert post_dv01 == pytest.approx(-post_q * DV01_F27, rel=1e-4)
    assert pre["var99_brl_after"] == pytest.approx(-post_dv01 * 40)
    assert [b["limit"] for b in r["breaches"]] == ["VAR99"]  # still above 10 bps
    assert r["breaches"][0]["worsens"] is False
    # leverage nets against the contract: 383 x PU / NAV = 0.34x, below the 1x limit
    assert pre["metrics_before"]["gross_leverage"] == pytest.approx(2000 * 88_495.58 / NAV)
    assert pre["metrics_after"]["gross_leverage"] == pytest.approx(post_q * 88_495.58 / NAV)


def test_short_history_reports_no_data_not_ok(instruments, prices, policy):
    empty = _book()
    out = pr.generate_proposals(
        _view("DI1F27", 0.6), empty, instruments, prices, FX, policy,
        risk_ctx=dict(book_exposures=None, changes=_changes(30), nav=NAV, limits=LIMITS,
                      marks=empty, instruments=instruments, fx_spot=FX, on=P))
    pre = out["risk_impact"].iloc[0]["pre_trade"]
    assert pre["status"] == "INSUFFICIENT_HISTORY" and pre["var99_brl_after"] is None
    assert pre["no_data"] == ["VAR99"]
    assert out["breaches"].iloc[0] == []


def test_worst_stress_limit_is_checked_pre_trade(instruments, prices, policy):
    empty = _book()
    limits = pd.DataFrame({"limit": ["STRESS_WORST"], "metric": ["worst_stress_loss_bps"],
                           "limit_value": [50.0], "warn_pct": [80.0]})
    scenarios = {"hypothetical": [
        {"name": "DI_UP_100", "description": "DI +100bp", "bp": {"DI_*": 100}},
        {"name": "BRL_WEAKER_10", "description": "USDBRL +10%", "pct": {"USDBRL": 10}}]}
    out = pr.generate_proposals(
        _view("DI1F27", 0.6), empty, instruments, prices, FX, policy,
        risk_ctx=dict(book_exposures=None, changes=_changes(), nav=NAV, limits=limits,
                      marks=empty, instruments=instruments, fx_spot=FX, on=P,
                      scenarios=scenarios))
    r = out.iloc[0]
    loss_bps = -r["dv01_brl"] * 100 / NAV * 1e4  # long PU loses |DV01| x 100bp: 89.98 bps
    assert r["breaches"] == [{
        "limit": "STRESS_WORST", "metric": "worst_stress_loss_bps",
        "value": pytest.approx(loss_bps),
        "limit_value": 50.0, "headroom": pytest.approx(50.0 - loss_bps),
        "utilisation": pytest.approx(loss_bps / 50 * 100), "value_before": 0.0, "worsens": True}]


def test_coupon_bond_needs_a_unit_dv01_from_the_book_or_an_override(policy, prices):
    inst = pd.DataFrame([_instrument("NTNB_2035", "INFLATION", "NTNB", "BRL", date(2035, 5, 15),
                                     1.0, 1.0)])
    px = pd.DataFrame({"price_date": [P], "instrument_id": ["NTNB_2035"], "price": [4_300.0],
                       "rate": [0.063]})
    view = _view("NTNB_2035", 0.5, "INFLATION")
    with pytest.raises(InvalidInput) as exc:
        pr.generate_proposals(view, None, inst, px, FX, policy)
    assert (exc.value.row, exc.value.field) == ("NTNB_2035", "dv01_brl")
    # pricing's DV01 per bond (R$/bp, signed: long bond loses when yields rise)
    out = pr.generate_proposals(view, None, inst, px, FX, policy,
                                unit_risk_overrides={"NTNB_2035": -2.95}).iloc[0]
    assert out["quantity"] == round(0.5 * 10_000 / 2.95)  # 1695 bonds
    # held: the MTM's DV01 per bond is used
    book = _book(_mark("NTNB_2035", 1000.0, dv01=-2_950.0, notional=4_300_000.0, ac="INFLATION"))
    held = pr.generate_proposals(_view("NTNB_2035", 0.9, "INFLATION"), book, inst, px, FX, policy)
    assert held[["action", "quantity"]].iloc[0].tolist() == ["INCREASE",
                                                             round(0.9 * 10_000 / 2.95) - 1000.0]


def test_decided_instruments_are_not_proposed_again():
    view = pd.concat([_view("DI1F27", 0.8), _view("DI1F28", 0.5)], ignore_index=True)
    decided = pd.DataFrame({"instrument_id": ["DI1F27", "DI1F28", "WDOG26"],
                            "status": ["APPROVED", "PENDING", "REJECTED"]})
    kept, skipped = pr.without_decided(view, decided)
    assert kept["instrument_id"].tolist() == ["DI1F28"] and skipped == ["DI1F27"]
    assert pr.without_decided(view, None)[0] is view

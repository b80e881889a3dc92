"""Demo fund generator: determinism, referential integrity, conventions and plausibility.

The demo feeds the whole pipeline, so these tests check what every downstream step relies on:
prices exist where (and only where) the instrument lives, B3 futures only on B3 sessions, DI1
PUs consistent with their rates (B3: PU = 100000/(1+r)^(du/252), 2 decimals), lots, signals
resolvable through the alias table, and the reference CSVs agreeing with the generator.
"""
from __future__ import annotations

from datetime import date
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pms_luigi import demo
from pms_luigi.core import calendar as cal
from pms_luigi.core import pricing, validation
from pms_luigi.core.errors import InvalidInput, NotBusinessDay
from pms_luigi.store import schema
from pms_luigi.store.loader import PROVENANCE

CONFIG = Path(__file__).resolve().parents[2] / "config"
END = demo.DEFAULT_END
FUTURES = ("DI1", "DDI", "DOL", "WDO", "IND", "WIN")
EXCHANGE = (*FUTURES, "EQUITY")
KEYS = {
    "fund": ["fund_id"], "instruments": ["instrument_id"], "strategies": ["strategy_id"],
    "instrument_aliases": ["alias"], "market_prices": ["price_date", "instrument_id"],
    "fx_fixings": ["fixing_date", "pair", "kind"], "cdi_fixings": ["fixing_date"],
    "vna": ["ref_date", "index_name"], "trades": ["trade_id"],
    "signals": ["signal_date", "strategy_id", "signal_id"], "capital_flows": ["flow_date", "kind"],
}
# The fund's 24 strategies: id -> factor tags.
STRATEGY_TAGS = {
    "RATES_BR_01": ["carry"], "RATES_BR_02": ["macro-discretionary"],
    "RATES_BR_03": ["momentum", "mean-reversion"], "RATES_BR_04": ["macro-discretionary"],
    "RATES_03": ["relative-value"], "RATES_04": ["carry", "mean-reversion"],
    "RATES_05": ["event-driven"], "RATES_06": ["event-driven"], "INF_BR_01": ["carry"],
    "INF_02": ["event-driven"], "INF_03": ["carry"], "FX_BR_01": ["carry"],
    "FX_02": ["carry", "momentum"], "FX_03": ["momentum"], "FX_04": ["relative-value"],
    "FX_05": ["macro-discretionary"], "CUPOM_01": ["carry", "relative-value"],
    "CUPOM_02": ["relative-value"], "SOV_BR_01": ["macro-discretionary"], "SOV_01": ["momentum"],
    "SOV_02": ["relative-value"], "SOV_03": ["event-driven"], "CROSS_01": ["macro-discretionary"],
    "CROSS_02": ["momentum"],
}


@pytest.fixture(scope="module")
def data() -> demo.DemoData:
    return demo.generate(7, END)


@pytest.fixture(scope="module")
def other_end() -> demo.DemoData:
    """A shorter demo ending mid-2027: the rules must pick a fresh set of contracts."""
    return demo.generate(3, date(2027, 6, 30), n_days=120, nav=400e6)


@pytest.fixture(params=["default", "other_end"])
def any_data(request: pytest.FixtureRequest, data: demo.DemoData,
             other_end: demo.DemoData) -> demo.DemoData:
    return data if request.param == "default" else other_end


def _inst(d: demo.DemoData) -> pd.DataFrame:
    return d.instruments.set_index("instrument_id")


def _positions(d: demo.DemoData) -> pd.DataFrame:
    """Net quantity per (date, instrument, strategy) after each business day's trades."""
    dates = cal.business_days(d.start, d.end)
    q = d.trades.pivot_table(index="trade_date", columns=["instrument_id", "strategy_id"],
                             values="quantity", aggfunc="sum")
    return q.reindex(dates).fillna(0.0).cumsum().round(6)


# ----------------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_frames(data: demo.DemoData) -> None:
    again = demo.generate(7, END)
    for name, frame in data.frames().items():
        pd.testing.assert_frame_equal(frame, again.frames()[name], check_exact=True, obj=name)
    assert (again.start, again.end, again.initial_nav) == (data.start, data.end, data.initial_nav)


def test_different_seed_gives_different_market_and_signals(data: demo.DemoData) -> None:
    other = demo.generate(8, END)
    assert not data.market_prices["price"].equals(other.market_prices["price"])
    assert not data.signals["conviction"].equals(other.signals["conviction"])
    assert not data.fx_fixings["rate"].equals(other.fx_fixings["rate"])
    # Reference data depends only on the end date, not on the seed.
    for name in ("instruments", "strategies", "instrument_aliases"):
        pd.testing.assert_frame_equal(data.frames()[name], other.frames()[name])


# ----------------------------------------------------------------------------- shape and keys


def _loaded_columns(table: str) -> list[str]:
    """The schema's columns a load sets: all but the provenance the landing stage fills."""
    return [c.name for c in schema.metadata.tables[table].columns if c.name not in PROVENANCE]


def test_columns_are_exactly_the_schema_columns(any_data: demo.DemoData) -> None:
    for name, frame in any_data.frames().items():
        assert list(frame.columns) == _loaded_columns(name), name
    for name, cols in demo.REFERENCE_COLUMNS.items():
        assert list(cols) == _loaded_columns(name)


def test_primary_keys_are_unique(any_data: demo.DemoData) -> None:
    for name, frame in any_data.frames().items():
        assert not frame.duplicated(KEYS[name]).any(), name


def test_loader_validation_accepts_every_table(any_data: demo.DemoData) -> None:
    """The same checks the loader runs (pms_luigi.core.validation), with the master as context."""
    known = {"instruments": set(any_data.instruments["instrument_id"]),
             "strategies": set(any_data.strategies["strategy_id"])}
    for name, frame in any_data.frames().items():
        validation.validate(name, frame, known, any_data.instruments, as_of=any_data.end)


def test_dates_are_the_anbima_business_days_ending_on_end(data: demo.DemoData) -> None:
    days = cal.business_days(date(2025, 1, 1), END)[-260:]
    assert data.start == days[0] == date(2025, 11, 12)
    assert data.initial_nav == 250e6
    assert data.fund.to_dict("records") == [{"fund_id": "default", "name": "PMS Macro FIM",
                                             "inception_date": days[0], "initial_nav": 250e6}]
    # fixings also on the business day before inception: day one's DDI settles at PTAX of t-1
    fixing_days = [date(2025, 11, 11), *days]
    assert list(data.cdi_fixings["fixing_date"]) == fixing_days
    assert list(data.vna["ref_date"]) == fixing_days
    for kind in ("PTAX", "CLOSE"):
        fx = data.fx_fixings[data.fx_fixings["kind"] == kind]
        assert list(fx["fixing_date"]) == fixing_days and set(fx["pair"]) == {"USDBRL"}
    assert list(data.signals["signal_date"].drop_duplicates()) == days
    assert data.market_prices["price_date"].min() == data.trades["trade_date"].min() == days[0]


def test_end_must_be_a_business_day() -> None:
    with pytest.raises(NotBusinessDay, match="2026-11-20"):
        demo.generate(1, date(2026, 11, 20))  # Consciência Negra
    with pytest.raises(InvalidInput, match="n_days"):
        demo.generate(1, END, n_days=10)


# ----------------------------------------------------------------------------- instruments


def test_contract_specs_are_the_b3_and_otc_specs(data: demo.DemoData) -> None:
    inst = _inst(data)
    expected = {"DI1": (1.0, 1.0, "BRL"), "DDI": (0.5, 1.0, "USD"), "WDO": (10.0, 1.0, "BRL"),
                "IND": (1.0, 1.0, "BRL"), "LTN": (1.0, 1.0, "BRL"), "NTNF": (1.0, 1.0, "BRL"),
                "NTNB": (1.0, 1.0, "BRL"), "NDF": (1.0, 100_000.0, "BRL"),
                "EQUITY": (1.0, 100.0, "BRL")}
    for itype, (size, lot, ccy) in expected.items():
        rows = inst[inst["instrument_type"] == itype]
        assert len(rows) > 0, itype
        assert (rows["contract_size"] == size).all() and (rows["lot_size"] == lot).all(), itype
        assert (rows["currency"] == ccy).all(), itype
    for itype in ("DI1", "DDI", "WDO", "IND"):  # B3 contract sizes, as pricing.CONTRACT_SPECS
        assert (inst.loc[inst["instrument_type"] == itype, "contract_size"]
                == pricing.POINT_VALUES[itype]).all()
    assert set(inst["asset_class"]) <= {"RATES", "INFLATION", "FX", "CUPOM", "EQUITY", "CREDIT"}
    assert set(inst["exchange"]) <= {"B3", "OTC", "TESOURO"}


def test_default_instrument_ids_and_maturities(data: demo.DemoData) -> None:
    """DI1 maturities = first business day of the contract month (B3), January here."""
    mat = _inst(data)["maturity_date"]
    assert mat["DI1F27"] == date(2027, 1, 4)
    assert mat["DI1F28"] == date(2028, 1, 3)
    assert mat["DI1F29"] == date(2029, 1, 2)
    assert mat["DI1F31"] == date(2031, 1, 2)
    assert mat["DDIF27"] == date(2027, 1, 4)
    assert mat["WDOF26"] == date(2026, 1, 2)  # first business day of January 2026
    assert mat["WDON26"] == date(2026, 7, 1)  # first business day of July 2026
    assert mat["NTNB_2030"] == date(2030, 8, 15)
    assert mat["NTNB_2035"] == date(2035, 5, 15)
    assert mat["NTNF_2031"] == date(2031, 1, 1)
    assert mat["LTN_2027-07-01"] == date(2027, 7, 1)
    # IND: Wednesday nearest the 15th of even months (Feb 15 2026 is a Sunday -> Wed Feb 18,
    # Ash Wednesday, a B3 session; Dec 15 2026 is a Tuesday -> Wed Dec 16).
    assert mat["INDG26"] == date(2026, 2, 18)
    assert mat["INDJ26"] == date(2026, 4, 15)
    assert mat["INDZ26"] == date(2026, 12, 16)
    assert mat["PETR4"] is None and mat["VALE3"] is None


def test_fixed_maturities_after_end_and_active_flags(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    fixed = inst[inst["instrument_type"].isin(["DI1", "DDI", "LTN", "NTNF", "NTNB"])]
    assert (fixed["maturity_date"] > any_data.end).all()
    alive = inst["maturity_date"].map(lambda m: m is None or m > any_data.end)
    assert (inst["is_active"] == alive).all()


def test_no_price_outside_an_instruments_life(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    mp = any_data.market_prices
    last = {i: demo.last_price_date(r.instrument_type, r.maturity_date) for i, r in inst.iterrows()}
    beyond = [(d, i) for d, i in zip(mp["price_date"], mp["instrument_id"], strict=True)
              if last[i] is not None and d > last[i]]
    assert beyond == []
    assert (mp["price_date"] >= any_data.start).all() and (mp["price_date"] <= any_data.end).all()
    assert set(mp["instrument_id"]) == set(inst.index)


def test_exchange_prices_on_every_b3_session_only(any_data: demo.DemoData) -> None:
    """Futures and equities: exactly the B3 sessions of their life; bonds/NDF: every ANBIMA day."""
    inst = _inst(any_data)
    sessions = set(cal.b3_sessions(any_data.start, any_data.end))
    days = cal.business_days(any_data.start, any_data.end)
    if any_data.end == END:
        assert set(days) - sessions == {date(2025, 12, 24), date(2025, 12, 31)}
    for iid, grp in any_data.market_prices.groupby("instrument_id"):
        row = inst.loc[iid]
        last = demo.last_price_date(row["instrument_type"], row["maturity_date"]) or any_data.end
        life = [d for d in days if d <= last]
        if row["instrument_type"] in EXCHANGE:
            assert list(grp["price_date"]) == [d for d in life if d in sessions], iid
            assert (grp["source"] == "B3").all()
        else:
            assert list(grp["price_date"]) == life, iid


def test_held_instruments_are_priced_on_every_date_they_are_held(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    pos = _positions(any_data).T.groupby(level="instrument_id").sum().T
    held = pos.stack()
    held = held[held != 0].reset_index()
    held.columns = ["date", "instrument_id", "quantity"]
    exchange = held["instrument_id"].map(inst["instrument_type"]).isin(EXCHANGE)
    held = held[~exchange | held["date"].map(cal.is_b3_session)]
    mp = any_data.market_prices
    priced = set(zip(mp["price_date"], mp["instrument_id"], strict=True))
    missing = [k for k in zip(held["date"], held["instrument_id"], strict=True) if k not in priced]
    assert missing == []


# ----------------------------------------------------------------------------- pricing


def test_di1_settlement_pu_is_di1_pu_of_its_rate(any_data: demo.DemoData) -> None:
    mp = any_data.market_prices.merge(any_data.instruments, on="instrument_id")
    di = mp[mp["instrument_type"] == "DI1"]
    du = cal.du(np.array(list(di["price_date"]), dtype="datetime64[D]"),
                np.array(list(di["maturity_date"]), dtype="datetime64[D]"))
    model = np.asarray(pricing.di1_pu(di["rate"].to_numpy(), du))
    assert np.abs(model - di["price"].to_numpy()).max() <= 0.005 + 1e-9
    assert np.array_equal(np.round(model, 2), di["price"].to_numpy())
    # rates quoted with 3 decimals in percent (B3), i.e. 5 decimals as a decimal
    assert np.allclose(di["rate"] * 1e5, np.round(di["rate"] * 1e5), atol=1e-6)
    ddi = mp[mp["instrument_type"] == "DDI"]
    dc = [(m - d).days for d, m in zip(ddi["price_date"], ddi["maturity_date"], strict=True)]
    assert np.array_equal(np.round(np.asarray(pricing.ddi_pu(ddi["rate"].to_numpy(), dc)), 2),
                          ddi["price"].to_numpy())


def test_bond_prices_come_from_the_anbima_functions(data: demo.DemoData) -> None:
    mp = data.market_prices.set_index(["instrument_id", "price_date"])
    vna = data.vna.set_index("ref_date")["value"]
    for d in (data.start, date(2026, 2, 13), date(2026, 8, 14), END):
        ltn = mp.loc[("LTN_2027-07-01", d)]
        assert ltn["price"] == pricing.ltn_pu(ltn["rate"], cal.du(d, date(2027, 7, 1)))
        ntnf = mp.loc[("NTNF_2031", d)]
        assert ntnf["price"] == pricing.ntnf_pu(d, date(2031, 1, 1), ntnf["rate"])
        for iid, mat in (("NTNB_2030", date(2030, 8, 15)), ("NTNB_2035", date(2035, 5, 15))):
            b = mp.loc[(iid, d)]
            quote = pricing.ntnb_quote(d, mat, b["rate"])
            assert b["price"] == pricing.ntnb_pu(vna[d], quote)


def test_fx_futures_and_ndf_follow_covered_parity(data: demo.DemoData) -> None:
    """WDO/NDF sit above spot by the DI-cupom differential; WDO is quoted per US$1,000."""
    mp = data.market_prices.merge(data.instruments, on="instrument_id")
    spot = data.fx_fixings[data.fx_fixings["kind"] == "CLOSE"].set_index("fixing_date")["rate"]
    for itype, scale in (("WDO", 1000.0), ("NDF", 1.0)):
        x = mp[mp["instrument_type"] == itype]
        du = np.asarray(cal.du(np.array(list(x["price_date"]), dtype="datetime64[D]"),
                               np.array(list(x["maturity_date"]), dtype="datetime64[D]")))
        ratio = x["price"].to_numpy() / scale / spot.reindex(x["price_date"]).to_numpy()
        # (a few days before maturity a long weekend can invert it: DI accrues per business
        # day, the cupom per calendar day)
        assert (ratio[du >= 21] > 1.0).all(), itype
        carry = ratio[du >= 21] ** (252.0 / du[du >= 21]) - 1.0  # DI minus cupom, annualized
        assert ((carry > 0.05) & (carry < 0.13)).all(), itype


def test_market_levels_are_plausible(any_data: demo.DemoData) -> None:
    mp = any_data.market_prices.merge(any_data.instruments, on="instrument_id")
    cdi = any_data.cdi_fixings["rate"]
    assert cdi.between(0.12, 0.16).all()
    steps = cdi.diff().dropna()
    steps = steps[steps != 0]  # COPOM moves in multiples of 25 bp
    assert np.allclose(steps * 400, np.round(steps * 400), atol=1e-9)
    assert mp.loc[mp["instrument_type"] == "DI1", "rate"].between(0.10, 0.18).all()
    assert mp.loc[mp["instrument_type"] == "NTNB", "rate"].between(0.05, 0.085).all()
    assert mp.loc[mp["instrument_type"] == "DDI", "rate"].between(0.02, 0.09).all()
    assert mp.loc[mp["instrument_type"] == "IND", "price"].between(100_000, 220_000).all()
    assert any_data.fx_fixings["rate"].between(4.3, 6.7).all()
    fx = any_data.fx_fixings.pivot(index="fixing_date", columns="kind", values="rate")
    assert ((fx["PTAX"] / fx["CLOSE"] - 1).abs() < 0.03).all()
    vna = any_data.vna["value"].to_numpy()
    assert 4_000 < vna[0] < 5_500
    step = np.diff(vna) / vna[:-1]
    day15 = [(d.day >= 15 and p.day < 15) or (d.month != p.month and d.day >= 15)
             for p, d in pairwise(any_data.vna["ref_date"])]
    assert (step[~np.array(day15)] >= 0).all()  # pro-rata projection between 15ths
    assert (np.abs(step) < 0.002).all()  # the 15th only corrects the projection
    months = len(vna) / 21.0
    assert 0.0025 < (vna[-1] / vna[0]) ** (1.0 / months) - 1.0 < 0.0055  # ~0.3-0.5 % a month
    assert np.array_equal(np.floor(vna * 1e6 + 1e-6) / 1e6, vna)  # truncated to 6 decimals


def test_factor_correlations_have_the_macro_signs(data: demo.DemoData) -> None:
    """BRL weak with DI up and IBOV down (module docstring's correlation matrix)."""
    sessions = cal.b3_sessions(data.start, END)
    mp = data.market_prices.set_index(["instrument_id", "price_date"])
    di = mp.loc["DI1F29", "rate"].reindex(sessions).diff()
    spot = data.fx_fixings[data.fx_fixings["kind"] == "CLOSE"].set_index("fixing_date")["rate"]
    fx = np.log(spot.reindex(sessions)).diff()
    eq = np.log(mp.loc["PETR4", "price"].reindex(sessions)).diff()
    assert di.corr(fx) > 0.2
    assert fx.corr(eq) < -0.2
    assert 0.004 < fx.std() < 0.014  # ~0.9 % a day


# ----------------------------------------------------------------------------- trades and book


def test_trades_reference_the_master_and_have_a_price(any_data: demo.DemoData) -> None:
    t = any_data.trades
    assert t["instrument_id"].isin(any_data.instruments["instrument_id"]).all()
    assert t["strategy_id"].isin(any_data.strategies["strategy_id"]).all()
    px = t.merge(any_data.market_prices, left_on=["trade_date", "instrument_id"],
                 right_on=["price_date", "instrument_id"], how="left", suffixes=("", "_settle"))
    assert px["price_settle"].notna().all()
    assert (t["quantity"] != 0).all() and (t["price"] > 0).all()
    assert set(t["source"]) <= {"SYSTEMATIC", "DISCRETIONARY"}
    assert t["proposal_id"].isna().all()
    # first day at settlement; later at settlement +- slippage (adverse, a few bp at most)
    first = px["trade_date"] == px["trade_date"].min()
    assert (px.loc[first, "price"] == px.loc[first, "price_settle"]).all()
    later = px[~first]
    dev = later["price"] / later["price_settle"] - 1.0
    assert (dev.abs() < 6e-4).all()
    assert (np.sign(dev[dev != 0]) == np.sign(later.loc[dev != 0, "quantity"])).all()


def test_costs_follow_the_bps_table(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    t = any_data.trades
    spot = any_data.fx_fixings[any_data.fx_fixings["kind"] == "CLOSE"].set_index(
        "fixing_date")["rate"]
    itype = t["instrument_id"].map(inst["instrument_type"])
    fx = np.where(t["instrument_id"].map(inst["currency"]) == "USD",
                  spot.reindex(t["trade_date"]).to_numpy(), 1.0)
    notional = t["quantity"].abs() * t["instrument_id"].map(inst["contract_size"]) * t["price"] * fx
    expected = notional * itype.map(demo.COST_BPS) / 1e4
    assert np.allclose(t["cost_brl"], expected, atol=0.006)
    assert demo.COST_BPS["DI1"] == 1.0 and demo.COST_BPS["NTNB"] == 3.0


def test_quantities_are_multiples_of_lot_size(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    t = any_data.trades
    lots = t["instrument_id"].map(inst["lot_size"])
    ratio = t["quantity"] / lots
    assert np.array_equal(ratio, np.round(ratio))
    fut = t["instrument_id"].map(inst["instrument_type"]).isin(FUTURES)
    assert np.array_equal(t.loc[fut, "quantity"], np.round(t.loc[fut, "quantity"]))
    ndf = t["instrument_id"].map(inst["instrument_type"]) == "NDF"
    assert (t.loc[ndf, "quantity"] % 100_000 == 0).all()


def test_book_size_and_leverage(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    t = any_data.trades
    day1 = t[t["trade_date"] == t["trade_date"].min()]
    spot = any_data.fx_fixings[any_data.fx_fixings["kind"] == "CLOSE"].set_index(
        "fixing_date")["rate"]
    fx = np.where(day1["instrument_id"].map(inst["currency"]) == "USD",
                  spot[day1["trade_date"].iloc[0]], 1.0)
    gross = (day1["quantity"].abs() * day1["instrument_id"].map(inst["contract_size"])
             * day1["price"] * fx).sum()
    assert 1.0 <= gross / any_data.initial_nav <= 4.0
    assert 150e6 <= any_data.initial_nav <= 500e6
    assert 11 <= len(day1) <= 16  # about a dozen positions
    assert day1["strategy_id"].nunique() >= 10


def test_book_has_adds_cuts_one_flip_and_a_full_close(data: demo.DemoData) -> None:
    kinds = []
    pos: dict[tuple[str, str], float] = {}
    for r in data.trades.itertuples():
        key = (r.instrument_id, r.strategy_id)
        q0 = pos.get(key, 0.0)
        q1 = round(q0 + r.quantity, 6)
        pos[key] = q1
        if q0 == 0:
            kinds.append("OPEN")
        elif q1 == 0:
            kinds.append("CLOSE")
        elif np.sign(q1) != np.sign(q0):
            kinds.append("FLIP")
        else:
            kinds.append("ADD" if abs(q1) > abs(q0) else "REDUCE")
    counts = pd.Series(kinds).value_counts()
    assert counts["FLIP"] == 1 and counts["ADD"] >= 1 and counts["REDUCE"] >= 1
    closed_for_good = {k for k, q in pos.items() if q == 0
                       and _inst(data).loc[k[0], "instrument_type"] == "EQUITY"}
    assert closed_for_good == {("PETR4", "CROSS_02")}


def test_rolled_series_keep_exposure_and_never_pass_expiry(any_data: demo.DemoData) -> None:
    inst = _inst(any_data)
    pos = _positions(any_data)
    sessions = cal.b3_sessions(any_data.start, any_data.end)
    opened = any_data.trades["trade_date"].min()
    for strategy, itype in (("FX_05", "WDO"), ("CROSS_01", "IND"), ("FX_02", "NDF"),
                            ("FX_04", "NDF")):
        cols = [c for c in pos.columns if c[1] == strategy and inst.loc[c[0], "instrument_type"]
                == itype]
        assert len(cols) >= 2, (strategy, "rolled at least once")
        net = pos[cols].sum(axis=1).reindex([d for d in sessions if d >= opened])
        assert net.nunique() == 1 and net.iloc[0] != 0, strategy
        for iid, _ in cols:
            held = pos[(iid, strategy)]
            held_dates = held.index[held != 0]
            last = demo.last_price_date(inst.loc[iid, "instrument_type"],
                                        inst.loc[iid, "maturity_date"])
            assert len(held_dates) == 0 or held_dates.max() < last, iid
    # whatever is held at the end matures after the end
    final = pos.iloc[-1]
    held_ids = {iid for (iid, _), q in final.items() if q != 0}
    assert all(inst.loc[i, "maturity_date"] is None or inst.loc[i, "maturity_date"] > any_data.end
               for i in held_ids)


def test_capital_flows(any_data: demo.DemoData) -> None:
    f = any_data.capital_flows
    assert list(f["kind"]) == ["SUBSCRIPTION", "REDEMPTION"]
    assert f.loc[0, "amount_brl"] > 0 > f.loc[1, "amount_brl"]
    assert (f["flow_date"] > any_data.start).all() and (f["flow_date"] <= any_data.end).all()
    assert (f["amount_brl"].abs() < 0.2 * any_data.initial_nav).all()


# ----------------------------------------------------------------------------- strategies, signals


def test_the_24_strategies_with_factor_tags(any_data: demo.DemoData) -> None:
    s = any_data.strategies.set_index("strategy_id")
    assert len(s) == 24
    assert {k: list(v) for k, v in s["factor_tags"].items()} == STRATEGY_TAGS
    prefix = s.index.str.split("_").str[0].value_counts().to_dict()
    assert prefix == {"RATES": 8, "INF": 3, "FX": 5, "CUPOM": 2, "SOV": 4, "CROSS": 2}
    assert s["is_systematic"].dtype == bool
    assert set(s["asset_class"]) == {"RATES", "INFLATION", "FX", "CUPOM", "CREDIT",
                                     "CROSS_ASSET"}


def test_signals_in_range_and_resolvable(any_data: demo.DemoData) -> None:
    sig = any_data.signals
    assert sig["conviction"].between(-1.0, 1.0).all()
    aliases = any_data.instrument_aliases.set_index("alias")["instrument_id"]
    assert sig["signal_id"].isin(aliases.index).all()
    inst = _inst(any_data)
    assert aliases.isin(inst.index).all()
    assert not aliases.index.isin(inst.index).any()  # an alias is never an instrument id
    targets = inst.loc[aliases.to_numpy()]
    assert targets["is_active"].all()
    assert (targets["maturity_date"].map(lambda m: m is None or m > any_data.end)).all()
    # every strategy with a tradeable generic id emits every business day; RATES_05 (UST only)
    # emits nothing
    days = cal.business_days(any_data.start, any_data.end)
    per_day = sig.groupby("signal_date")["strategy_id"].nunique()
    assert list(per_day.index) == days and (per_day == 23).all()
    assert "RATES_05" not in set(sig["strategy_id"])


def test_signals_are_smooth_and_flip_occasionally(data: demo.DemoData) -> None:
    wide = data.signals.pivot(index="signal_date", columns=["strategy_id", "signal_id"],
                              values="conviction")
    assert wide.diff().abs().median().median() < 0.15  # AR(1): small daily changes
    flips = (np.sign(wide).diff().abs() > 0).sum()
    assert flips.sum() > 0 and flips.median() < 20
    ddi = wide[("CUPOM_02", "DDI")]
    flip_day = data.trades.loc[(data.trades["strategy_id"] == "CUPOM_02"), "trade_date"].iloc[-1]
    assert ddi[ddi.index < flip_day].mean() < 0 < ddi[ddi.index >= flip_day].mean()
    fx = wide[("FX_05", "USDBRL")]
    assert fx.mean() < 0  # the strategy behind the short WDO is bearish USD on average


# ----------------------------------------------------------------------------- reference CSVs


def test_config_csvs_are_the_default_demo_reference(data: demo.DemoData) -> None:
    ref = demo.load_reference(CONFIG)
    assert set(ref) == {"instruments", "strategies", "instrument_aliases"}
    for name, frame in ref.items():
        assert list(frame.columns) == _loaded_columns(name)
        pd.testing.assert_frame_equal(frame, data.frames()[name], obj=name)
    assert all(isinstance(t, list) for t in ref["strategies"]["factor_tags"])


def test_load_reference_refuses_bad_files(tmp_path: Path) -> None:
    for name, frame in demo.reference_tables().items():
        demo.reference_csv(frame).to_csv(tmp_path / f"{name}.csv", index=False)
    assert len(demo.load_reference(tmp_path)["instruments"]) > 0
    bad = pd.read_csv(tmp_path / "strategies.csv", dtype=str)
    bad.loc[0, "factor_tags"] = "carry"
    bad.to_csv(tmp_path / "strategies.csv", index=False)
    with pytest.raises(InvalidInput, match="factor_tags"):
        demo.load_reference(tmp_path)
    pd.read_csv(tmp_path / "instrument_aliases.csv").rename(columns={"alias": "generic"}).to_csv(
        tmp_path / "instrument_aliases.csv", index=False)
    demo.reference_csv(demo.reference_tables()["strategies"]).to_csv(
        tmp_path / "strategies.csv", index=False)
    with pytest.raises(InvalidInput, match="columns"):
        demo.load_reference(tmp_path)


def test_other_end_picks_contracts_alive_after_it(other_end: demo.DemoData) -> None:
    ids = set(other_end.instruments["instrument_id"])
    assert {"DI1F28", "DI1F29", "DI1F30", "DI1F32", "DDIF28"} <= ids
    assert other_end.initial_nav == 400e6
    assert len(other_end.cdi_fixings) == 121  # 120 days + the day before inception
    assert other_end.signals["signal_date"].nunique() == 120

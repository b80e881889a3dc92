"""Tests for pms_luigi.core.risk: the worked VaR vectors, exact quantile rule, factor history
point in time, stress signs by factor, limit statuses and the snapshot statuses."""
from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar, risk
from pms_luigi.core.errors import InvalidInput, MissingFxFixing
from pms_luigi.core.risk.factors import exposure_columns, factor_vector, factor_vector_of
from pms_luigi.core.risk.limits import limit_columns, utilisation, utilisation_columns
from pms_luigi.core.risk.stress import stress_rows
from pms_luigi.core.risk.var import DeltaNormal, sample_covariance, var_es_of_sorted

ROOT = Path(__file__).resolve().parents[2]

# ----------------------------------------------------------------------------- fixtures

INSTRUMENTS = pd.DataFrame([
    # instrument_id, asset_class, instrument_type, maturity_date, contract_size, underlying
    ("DI1F27", "RATES", "DI1", date(2027, 1, 4), 1.0, None),
    ("DI1F28", "RATES", "DI1", date(2028, 1, 3), 1.0, None),
    ("DI1F31", "RATES", "DI1", date(2031, 1, 2), 1.0, None),
    ("DI1F36", "RATES", "DI1", date(2036, 1, 2), 1.0, None),
    ("NTNB_2030", "INFLATION", "NTNB", date(2030, 8, 15), 1.0, None),
    ("NTNB_2035", "INFLATION", "NTNB", date(2035, 5, 15), 1.0, None),
    ("DOLH26", "FX", "DOL", date(2026, 3, 2), 50.0, "USDBRL"),
    ("INDG26", "EQUITY", "IND", date(2026, 2, 18), 1.0, "IBOV"),
    ("INDJ26", "EQUITY", "IND", date(2026, 4, 15), 1.0, "IBOV"),
], columns=["instrument_id", "asset_class", "instrument_type", "maturity_date", "contract_size",
            "underlying"])

LIMITS = pd.read_csv(ROOT / "config" / "limits.csv")
SCENARIOS = json.loads((ROOT / "config" / "stress_scenarios.json").read_text())

MARK_DEFAULTS = {
    "asset_class": "RATES", "quantity": 1.0, "avg_cost": 1.0, "price": 1.0, "is_stale": False,
    "staleness_bd": 0, "fx_rate": None, "market_value_brl": 0.0, "notional_brl": 0.0,
    "pnl_brl": 0.0, "pnl_carry_brl": 0.0, "pnl_market_brl": 0.0, "pnl_fx_brl": 0.0,
    "pnl_new_trades_brl": 0.0, "pnl_realized_brl": 0.0, "pnl_costs_brl": 0.0,
    "pnl_residual_brl": 0.0, "pnl_bps": 0.0, "dv01_brl": 0.0, "fx_delta_usd": 0.0,
    "equity_delta_brl": 0.0,
}


def make_marks(on: date, rows: list[dict]) -> pd.DataFrame:
    """position_marks rows (schema columns minus run_id) with neutral defaults."""
    out = [{"business_date": on, "price_date": on, **MARK_DEFAULTS, **r} for r in rows]
    return pd.DataFrame(out)


def exposures(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    """(instrument_id, strategy_id, factor, sensitivity_brl) → an exposures frame."""
    return pd.DataFrame([(i, s, f, risk.factor_kind(f), v) for i, s, f, v in rows],
                        columns=risk.EXPOSURE_COLUMNS)


def synthetic_market(start: date, end: date, seed: int = 7):
    """B3 sessions in [start, end] with DI1, NTN-B, IND settlement rows and USDBRL fixings.

    Deterministic random walks; rates as decimals, IND in points, USDBRL in BRL per USD.
    """
    sessions = calendar.b3_sessions(start, end)
    rng = np.random.default_rng(seed)
    n = len(sessions)
    di_lvl = {"DI1F27": 0.1450, "DI1F28": 0.1400, "DI1F31": 0.1380, "DI1F36": 0.1370}
    real_lvl = {"NTNB_2030": 0.0750, "NTNB_2035": 0.0720}
    level_shock = np.cumsum(rng.normal(0.0, 0.0008, n))  # parallel, decimal
    slope_shock = np.cumsum(rng.normal(0.0, 0.0004, n))
    real_shock = np.cumsum(rng.normal(0.0, 0.0005, n))
    ibov = 160_000 * np.exp(np.cumsum(rng.normal(0.0, 0.012, n)))
    usd = 5.40 * np.exp(np.cumsum(rng.normal(0.0, 0.009, n)))
    rows, fx = [], []
    for t, d in enumerate(sessions):
        for j, (iid, r0) in enumerate(di_lvl.items()):
            rows.append((d, iid, 50_000.0, r0 + level_shock[t] + slope_shock[t] * j / 3))
        for iid, r0 in real_lvl.items():
            rows.append((d, iid, 4_300.0, r0 + real_shock[t]))
        for iid, mat in (("INDG26", date(2026, 2, 18)), ("INDJ26", date(2026, 4, 15))):
            if d < mat:
                basis = 1.0 if iid == "INDG26" else 1.02
                rows.append((d, iid, round(ibov[t] * basis, 0), None))
        fx.append((d, "USDBRL", "CLOSE", usd[t]))
        fx.append((d, "USDBRL", "PTAX", usd[t] * 1.001))
    history = pd.DataFrame(rows, columns=["price_date", "instrument_id", "price", "rate"])
    history["source"] = "B3"
    fx_history = pd.DataFrame(fx, columns=["fixing_date", "pair", "kind", "rate"])
    return sessions, history, fx_history


# ----------------------------------------------------------------------------- quantile rule

def test_tail_count_avoids_the_float_ceil_trap():
    assert 20 * (1 - 0.95) == 1.0000000000000009  # the float trap
    assert math.ceil(20 * (1 - 0.95)) == 2
    assert risk.tail_count(20, 0.95) == 1
    assert risk.tail_count(20, 0.90) == 2
    assert risk.tail_count(252, 0.95) == 13
    assert risk.tail_count(252, 0.99) == 3
    assert risk.tail_count(252, 0.975) == 7
    assert risk.tail_count(100, 0.99) == 1
    assert risk.tail_count(3, 0.99) == 1
    with pytest.raises(InvalidInput):
        risk.tail_count(20, 1.0)
    with pytest.raises(InvalidInput):
        risk.tail_count(0, 0.95)


SEC6_PNL = [-120, -80, -60, -50, -40, -30, -20, -10, 0, 5, 10, 15, 20, 25, 30, 40, 50, 60, 70, 100]


def test_historical_var_es_section6_vectors():
    assert risk.historical_var_es(SEC6_PNL, 0.95) == (120.0, 120.0)
    assert risk.historical_var_es(SEC6_PNL, 0.90) == (80.0, 100.0)
    shuffled = pd.Series(np.random.default_rng(1).permutation(SEC6_PNL), dtype=float)
    assert risk.historical_var_es(shuffled, 0.90) == (80.0, 100.0)
    # numpy's linear quantile is NOT our convention: it says 82 (95%) and 62 (90%)
    assert -np.quantile(SEC6_PNL, 0.05) == pytest.approx(82.0)
    assert -np.quantile(SEC6_PNL, 0.10) == pytest.approx(62.0)
    with pytest.raises(InvalidInput):
        risk.historical_var_es([1.0, float("nan")], 0.95)


# ----------------------------------------------------------------------------- parametric

def test_parametric_one_factor_section6_vector():
    sens = pd.Series([1.0], index=["IBOV"])
    cov = pd.DataFrame([[1_000_000.0 ** 2]], index=["IBOV"], columns=["IBOV"])
    v95 = risk.parametric_var_from_cov(sens, cov, 0.95)
    v99 = risk.parametric_var_from_cov(sens, cov, 0.99)
    v975 = risk.parametric_var_from_cov(sens, cov, 0.975)
    assert v95.sigma_brl == 1_000_000.0
    assert round(v95.var_brl) == 1_644_854
    assert round(v99.var_brl) == 2_326_348
    assert round(v975.es_brl) == 2_337_803
    assert round(v95.es_brl) == 2_062_713
    assert round(v99.es_brl) == 2_665_214
    assert round(risk.normal_z(0.975), 6) == 1.959964


def test_parametric_two_factor_section6_vector_and_euler_components():
    s1, s2, rho = 600_000.0, 800_000.0, -0.3
    sens = pd.Series([1.0, 1.0], index=["USDBRL", "IBOV"])
    cov = pd.DataFrame([[s1 * s1, rho * s1 * s2], [rho * s1 * s2, s2 * s2]],
                       index=sens.index, columns=sens.index)
    v = risk.parametric_var_from_cov(sens, cov, 0.99)
    assert round(v.sigma_brl, 2) == 843_800.92
    assert round(v.var_brl, 2) == 1_962_974.49
    shares = v.component / v.var_brl
    assert round(shares["USDBRL"] * 100, 2) == 30.34
    assert round(shares["IBOV"] * 100, 2) == 69.66
    assert v.component.sum() == pytest.approx(v.var_brl, rel=1e-12)
    # marginal VaR is the derivative of VaR in the sensitivity: check by a finite difference
    h = pd.Series([1e-4, 0.0], index=sens.index)
    up = risk.parametric_var_from_cov(sens + h, cov, 0.99).var_brl
    down = risk.parametric_var_from_cov(sens - h, cov, 0.99).var_brl
    assert (up - down) / 2e-4 == pytest.approx(v.marginal["USDBRL"], rel=1e-6)


def test_parametric_var_from_changes_components_sum_to_var_by_strategy():
    # changes with an exact sample covariance: sd 1bp on DI_252, sd 1% on USDBRL, rho -0.3
    u = np.array([1.0, -1.0, 1.0, -1.0]) * math.sqrt(3 / 4)  # mean 0, sample var 1 (ddof=1)
    w = np.array([1.0, 1.0, -1.0, -1.0]) * math.sqrt(3 / 4)  # orthogonal to u
    rho = -0.3
    di = 1.0 * u
    fx = 0.01 * (rho * u + math.sqrt(1 - rho * rho) * w)
    idx = pd.Index([date(2026, 1, d) for d in (5, 6, 7, 8)], name="date")
    changes = pd.DataFrame({"DI_252": di, "USDBRL": fx}, index=idx)
    # DV01 -600k split over two strategies; USD delta worth 80M BRL (800k per 1%)
    exp = exposures([("DI1F27", "RATES_A", "DI_252", -400_000.0),
                     ("DI1F27", "RATES_B", "DI_252", -200_000.0),
                     ("DOLH26", "FX_A", "USDBRL", 80_000_000.0)])
    v = risk.parametric_var(exp, changes, 0.99)
    # sigma_DI = 600k, sigma_FX = 800k, correlation of P&Ls = +0.3 (short DV01 flips the sign)
    expected_sigma = math.sqrt(600e3 ** 2 + 800e3 ** 2 + 2 * 0.3 * 600e3 * 800e3)
    assert v.sigma_brl == pytest.approx(expected_sigma, rel=1e-12)
    assert v.var_brl == pytest.approx(risk.normal_z(0.99) * expected_sigma, rel=1e-12)
    by_strategy = v.component_by_exposure.groupby(exp["strategy_id"]).sum()
    assert by_strategy.sum() == pytest.approx(v.var_brl, rel=1e-12)
    assert by_strategy["RATES_A"] == pytest.approx(2 * by_strategy["RATES_B"], rel=1e-12)
    assert v.component.sum() == pytest.approx(v.var_brl, rel=1e-12)


def test_delta_normal_and_sorted_tail_match_the_per_call_functions_bit_for_bit():
    # risk_snapshot computes Σs and the P&L sort once for every confidence: same floats
    rng = np.random.default_rng(11)
    factors = ["DI_252", "DI_504", "REAL_756", "USDBRL", "IBOV"]
    x = rng.standard_normal((250, len(factors))) * [5.0, 7.0, 4.0, 0.01, 0.015]
    changes = pd.DataFrame(x, columns=factors)
    s = pd.Series([-4e4, 2.5e4, -1e4, 3e7, -2e7], index=factors)
    cov = risk.factor_covariance(changes)
    dn = DeltaNormal.of(s.to_numpy(), sample_covariance(np.asfortranarray(x)))
    for alpha in (0.95, 0.975, 0.99):
        pv = risk.parametric_var_from_cov(s, cov, alpha)
        assert (pv.var_brl, pv.es_brl) == (dn.var(alpha), dn.es(alpha))
        assert pv.component.tolist() == dn.component(alpha).tolist()
        assert pv.marginal.tolist() == dn.marginal(alpha).tolist()
        pnl = x @ s.to_numpy()
        assert risk.historical_var_es(pnl, alpha) == var_es_of_sorted(
            np.sort(pnl, kind="stable"), alpha)


# ----------------------------------------------------------------------------- exposures

def test_factor_exposures_buckets_signs_and_spot():
    on = date(2026, 1, 5)
    marks = make_marks(on, [
        {"instrument_id": "DI1F27", "strategy_id": "RATES_BR", "quantity": 100.0,
         "dv01_brl": -720.0},  # long PU pays when rates fall
        {"instrument_id": "DI1F31", "strategy_id": "RATES_BR", "quantity": -50.0,
         "dv01_brl": 1_150.0},
        {"instrument_id": "NTNB_2035", "strategy_id": "INFL_BR", "asset_class": "INFLATION",
         "quantity": 1_000.0, "dv01_brl": -2_800.0},
        {"instrument_id": "DOLH26", "strategy_id": "FX_BR", "asset_class": "FX",
         "quantity": -10.0, "fx_delta_usd": -500_000.0},
        {"instrument_id": "INDG26", "strategy_id": "EQ_BR", "asset_class": "EQUITY",
         "quantity": 5.0, "equity_delta_brl": 800_000.0},
        {"instrument_id": "DI1F28", "strategy_id": "RATES_BR", "quantity": 0.0},  # closed today
    ])
    ex = risk.factor_exposures(marks, INSTRUMENTS, spot=5.5)
    got = {(r.instrument_id, r.factor): (r.shock_kind, r.sensitivity_brl) for r in ex.itertuples()}
    du_f27 = calendar.du(on, date(2027, 1, 4))
    du_f31 = calendar.du(on, date(2031, 1, 2))
    du_b35 = calendar.du(on, date(2035, 5, 15))
    nearest = lambda d: min(risk.VERTICES, key=lambda v: (abs(d - v), v))  # noqa: E731
    assert got[("DI1F27", f"DI_{nearest(du_f27)}")] == ("abs_bp", -720.0)
    assert got[("DI1F31", f"DI_{nearest(du_f31)}")] == ("abs_bp", 1_150.0)
    assert got[("NTNB_2035", f"REAL_{nearest(du_b35)}")] == ("abs_bp", -2_800.0)
    assert got[("DOLH26", "USDBRL")] == ("rel", -500_000.0 * 5.5)
    assert got[("INDG26", "IBOV")] == ("rel", 800_000.0)
    assert len(ex) == 5  # the closed DI1F28 row has no exposure
    assert list(ex.columns) == ["instrument_id", "strategy_id", "factor", "shock_kind",
                                "sensitivity_brl"]
    # without spot the mark's own fx_rate is used; without either it is an error naming the row
    marks_fx = marks.assign(fx_rate=np.where(marks["instrument_id"] == "DOLH26", 5.25, np.nan))
    ex2 = risk.factor_exposures(marks_fx, INSTRUMENTS)
    assert ex2.loc[ex2["factor"] == "USDBRL", "sensitivity_brl"].item() == -500_000.0 * 5.25
    with pytest.raises(InvalidInput, match="DOLH26"):
        risk.factor_exposures(marks, INSTRUMENTS)
    with pytest.raises(InvalidInput, match="NOPE"):
        risk.factor_exposures(make_marks(on, [{"instrument_id": "NOPE", "strategy_id": "X",
                                               "dv01_brl": 1.0}]), INSTRUMENTS)


def test_factor_exposures_vertex_is_nearest_du():
    on = date(2026, 1, 5)
    # DI1F27: du from 2026-01-05 to 2027-01-04 is a year of business days → DI_252
    m = make_marks(on, [{"instrument_id": "DI1F27", "strategy_id": "S", "dv01_brl": -1.0}])
    assert risk.factor_exposures(m, INSTRUMENTS)["factor"].item() == "DI_252"
    m = make_marks(on, [{"instrument_id": "DI1F36", "strategy_id": "S", "dv01_brl": -1.0}])
    assert calendar.du(on, date(2036, 1, 2)) > (1260 + 2520) / 2
    assert risk.factor_exposures(m, INSTRUMENTS)["factor"].item() == "DI_2520"


def test_factor_exposures_bucket_by_the_count_of_the_marks_date():
    """DI1Z25 on 2023-06-01: du 631 as counted that day (Nov 20 2024 and 2025 business days),
    629 with today's calendar; the DI_504/DI_756 midpoint is 630, so the bucket depends on it."""
    on, maturity = date(2023, 6, 1), date(2025, 12, 1)
    assert (calendar.du(on, maturity, as_of=on), calendar.du(on, maturity)) == (631, 629)
    ins = pd.DataFrame([("DI1Z25", "RATES", "DI1", maturity, 1.0, None)],
                       columns=INSTRUMENTS.columns)
    m = make_marks(on, [{"instrument_id": "DI1Z25", "strategy_id": "S", "dv01_brl": -1.0}])
    assert risk.factor_exposures(m, ins)["factor"].item() == "DI_756"


# ----------------------------------------------------------------------------- stress

def test_stress_by_factor_signs():
    ex = exposures([("DI1F27", "RATES_BR", "DI_252", -1_000.0)])  # long PU: loses if rates rise
    st = risk.stress_table(ex, SCENARIOS, nav=100_000_000.0).set_index("scenario")
    assert st.loc["DI_PARALLEL_UP_100", "pnl_brl"] == -100_000.0
    assert st.loc["DI_PARALLEL_DOWN_100", "pnl_brl"] == 100_000.0
    assert st.loc["DI_PARALLEL_UP_100", "pnl_bps"] == pytest.approx(-10.0)
    assert st.loc["DI_BEAR_STEEPENER", "pnl_brl"] == -50_000.0  # short end +50
    assert st.loc["BRL_WEAKER_10", "pnl_brl"] == 0.0
    # a payer (short PU, DV01 +1,000) gains when rates rise
    payer = exposures([("DI1F27", "RATES_BR", "DI_252", 1_000.0)])
    assert risk.stress_table(payer, SCENARIOS).set_index("scenario") \
        .loc["DI_PARALLEL_UP_100", "pnl_brl"] == 100_000.0


def test_stress_fx_equity_breakeven_and_combo():
    ex = exposures([
        ("DI1F31", "RATES_BR", "DI_1260", -2_000.0),
        ("NTNB_2030", "INFL_BR", "REAL_1260", -3_000.0),
        ("DOLH26", "FX_BR", "USDBRL", 1_000_000.0 * 5.0),  # long US$1M at 5.00
        ("INDG26", "EQ_BR", "IBOV", 10_000_000.0),
    ])
    st = risk.stress_table(ex, SCENARIOS, nav=200_000_000.0).set_index("scenario")
    assert st.loc["BRL_WEAKER_10", "pnl_brl"] == pytest.approx(500_000.0)
    assert st.loc["BRL_STRONGER_10", "pnl_brl"] == pytest.approx(-500_000.0)
    assert st.loc["IBOV_DOWN_15", "pnl_brl"] == pytest.approx(-1_500_000.0)
    assert st.loc["BREAKEVEN_UP_50", "pnl_brl"] == pytest.approx(-100_000.0)  # real yields 0
    assert st.loc["DI_BEAR_STEEPENER", "pnl_brl"] == pytest.approx(-300_000.0)  # 1260 → +150
    fiscal = -2_000 * 200 - 3_000 * 100 + 5_000_000 * 0.10 - 10_000_000 * 0.15
    assert st.loc["FISCAL_CRISIS", "pnl_brl"] == pytest.approx(fiscal)
    assert st.loc["FISCAL_CRISIS", "pnl_bps"] == pytest.approx(fiscal / 200_000_000.0 * 1e4)
    # replays without history are reported as NO_DATA, never as a zero P&L
    assert (st.loc[st["kind"] == "historical", "status"] == "NO_DATA").all()
    assert st.loc[st["kind"] == "historical", "pnl_brl"].isna().all()


def test_stress_historical_replay_from_stored_changes():
    idx = pd.Index([date(2017, 5, 17), date(2017, 5, 18), date(2017, 5, 19)], name="date")
    changes = pd.DataFrame({"DI_252": [2.0, 150.0, -20.0], "IBOV": [0.001, -0.088, 0.017]},
                           index=idx)
    ex = exposures([("DI1F27", "R", "DI_252", -1_000.0), ("INDG26", "E", "IBOV", 1_000_000.0)])
    st = risk.stress_table(ex, SCENARIOS, changes=changes).set_index("scenario")
    assert st.loc["JOESLEY_DAY", "status"] == "OK"
    assert st.loc["JOESLEY_DAY", "pnl_brl"] == pytest.approx(-150_000.0 - 88_000.0)
    scen = {"historical": [{"name": "W", "start": "2017-05-17", "end": "2017-05-19"}]}
    w = risk.stress_table(ex, scen, changes=changes).iloc[0]
    ibov = (1.001 * 0.912 * 1.017) - 1.0  # compounded, rates summed
    assert w["pnl_brl"] == pytest.approx(-1_000.0 * 132.0 + 1_000_000.0 * ibov)


def test_stress_rows_are_the_stress_table_rows():
    idx = pd.Index([date(2017, 5, 17), date(2017, 5, 18), date(2017, 5, 19)], name="date")
    changes = pd.DataFrame({"DI_252": [2.0, 150.0, -20.0], "IBOV": [0.001, -0.088, 0.017]},
                           index=idx)
    ex = exposures([("DI1F27", "R", "DI_252", -1_000.0), ("INDG26", "E", "IBOV", 1_000_000.0)])
    table = risk.stress_table(ex, SCENARIOS, nav=5e6, changes=changes)
    rows = stress_rows(factor_vector(ex), risk.scenarios_from_dict(SCENARIOS),
                            nav=5e6, changes=changes)
    assert pd.DataFrame(rows, columns=risk.STRESS_COLUMNS).equals(table)
    assert table.set_index("scenario").loc["JOESLEY_DAY", "status"] == "OK"  # a replay with data


def test_stress_scenario_validation():
    with pytest.raises(InvalidInput, match="DI_300"):
        risk.scenarios_from_dict({"hypothetical": [{"name": "X", "bp": {"DI_300": 10}}]})
    with pytest.raises(InvalidInput, match="USDBRL"):
        risk.scenarios_from_dict({"hypothetical": [{"name": "X", "bp": {"USDBRL": 10}}]})
    once = risk.scenarios_from_dict(SCENARIOS)
    assert risk.scenarios_from_dict(once) == once  # idempotent on its own output
    assert {s["name"] for s in risk.scenarios_from_dict(SCENARIOS)} >= {
        "DI_PARALLEL_UP_100", "DI_PARALLEL_DOWN_100", "DI_BEAR_STEEPENER", "BRL_WEAKER_10",
        "BRL_STRONGER_10", "IBOV_DOWN_15", "BREAKEVEN_UP_50", "FISCAL_CRISIS", "JOESLEY_DAY"}


# ----------------------------------------------------------------------------- limits

def test_limit_status_thresholds():
    limits = pd.DataFrame({"limit": ["VAR99", "LEV", "DD", "FX", "EQ"],
                           "metric": ["var99_bps", "gross_leverage", "drawdown_pct",
                                      "fx_delta_pct_nav", "equity_delta_pct_nav"],
                           "limit_value": [300.0, 4.0, 10.0, 100.0, 50.0],
                           "warn_pct": [80.0, 80.0, 50.0, 80.0, 80.0]})
    out = risk.limit_status({"var99_bps": 240.0, "gross_leverage": 4.0, "drawdown_pct": 10.5,
                             "fx_delta_pct_nav": 79.9, "equity_delta_pct_nav": None},
                            limits).set_index("limit")
    assert out.loc["VAR99", "status"] == "WARNING"  # exactly 80% of the limit
    assert out.loc["VAR99", "utilisation"] == 80.0
    assert out.loc["LEV", "status"] == "WARNING"  # at 100%: at the limit, not above it
    assert out.loc["DD", "status"] == "BREACH"
    assert out.loc["FX", "status"] == "OK"
    assert out.loc["EQ", "status"] == "NO_DATA" and pd.isna(out.loc["EQ", "utilisation"])
    assert list(out.reset_index().columns) == ["limit", "metric", "value", "limit_value",
                                               "utilisation", "status"]
    with pytest.raises(InvalidInput, match="limit_value"):
        risk.limits_from_frame(limits.assign(limit_value=[300.0, 0.0, 1.0, 1.0, 1.0]))
    assert len(risk.limits_from_frame(LIMITS)) == len(LIMITS)


def test_exposure_columns_and_vector_of_are_the_frame_results():
    marks = make_marks(date(2026, 1, 5), [
        {"instrument_id": "DI1F27", "strategy_id": "R", "dv01_brl": -3e4},
        {"instrument_id": "DI1F28", "strategy_id": "R", "dv01_brl": 0.1},
        {"instrument_id": "DI1F27", "strategy_id": "Q", "dv01_brl": 0.2},
        {"instrument_id": "DOLH26", "strategy_id": "F", "fx_delta_usd": -2e7},
        {"instrument_id": "INDG26", "strategy_id": "E", "equity_delta_brl": 1e6},
    ])
    frame = risk.factor_exposures(marks, INSTRUMENTS, spot=5.0)
    cols = exposure_columns(marks, INSTRUMENTS, spot=5.0)
    assert {c: list(v) for c, v in cols.items()} == {c: frame[c].tolist() for c in frame}
    vector = factor_vector(frame)
    assert vector.equals(factor_vector_of(cols["factor"], cols["sensitivity_brl"]))
    assert vector["DI_252"] == frame.groupby("factor")["sensitivity_brl"].sum()["DI_252"]
    assert factor_vector_of(np.array([], dtype=object), np.array([])).empty


def test_group_sums_keep_the_frame_groupings_group_ids():
    # pandas sums a group with reduceat when the group ids are monotonic, else compensated:
    # DI_252 below sums to ...0.23 by first-seen ids (sort=False) and ...0.2300000001 by
    # sorted ids, so each array path must group as the frame path it replaces
    factor = np.array(["USDBRL"] * 5 + ["DI_252"] * 5, dtype=object)
    sens = np.array([27677.17, -0.0, 333507.17, 0.0, -19760.4,
                     0.14, 765399.03, 707.19, -3.51, -80.62])
    frame = pd.DataFrame({"instrument_id": "X", "strategy_id": "S", "factor": factor,
                          "shock_kind": [risk.factor_kind(f) for f in factor],
                          "sensitivity_brl": sens})
    vector = factor_vector_of(factor, sens)
    assert vector["DI_252"] == frame.groupby("factor", sort=False)["sensitivity_brl"].sum()[
        "DI_252"] == 766022.23
    marks = make_marks(date(2026, 1, 5), [{"instrument_id": "X", "strategy_id": "S"}])
    m = risk.book_metrics(marks, frame, 1e4)
    by_factor = frame.groupby("factor")["sensitivity_brl"].sum()  # sorted ids: ...0.2300000001
    assert m["dv01_net_bps_nav"] == abs(by_factor["DI_252"]) / 1e4 * 1e4 != 766022.23
    assert risk.book_metrics(marks, {c: frame[c].to_numpy() for c in frame}, 1e4) == m


def test_limit_columns_and_book_metrics_columns_agree_with_the_frame_paths():
    cols = limit_columns(LIMITS)
    frame = risk.limits_from_frame(LIMITS)
    assert cols["limit"] == frame["limit"].tolist()
    assert cols["limit_value"].tolist() == frame["limit_value"].tolist()
    with pytest.raises(InvalidInput, match="duplicate limit"):
        limit_columns(pd.concat([LIMITS, LIMITS.iloc[:1]]))
    on = date(2026, 1, 5)
    marks = make_marks(on, [
        {"instrument_id": "DI1F27", "strategy_id": "R", "notional_brl": 3e8, "dv01_brl": -3e4},
        {"instrument_id": "DI1F31", "strategy_id": "R", "notional_brl": -1e8, "dv01_brl": 2e4},
        {"instrument_id": "DOLH26", "strategy_id": "F", "asset_class": "FX",
         "notional_brl": -1e8, "fx_delta_usd": -2e7},
    ])
    ex = risk.factor_exposures(marks, INSTRUMENTS, spot=5.0)
    m = risk.book_metrics(marks, ex, 1e8, var99_brl=2.5e6)
    assert risk.book_metrics(marks, exposure_columns(marks, INSTRUMENTS, spot=5.0), 1e8,
                             var99_brl=2.5e6) == m
    table = utilisation(m, frame)
    assert pd.DataFrame(utilisation_columns(m, cols)).equals(table)


def test_book_metrics_leverage_concentration_and_deltas():
    on = date(2026, 1, 5)
    marks = make_marks(on, [
        {"instrument_id": "DI1F27", "strategy_id": "R", "notional_brl": 300e6, "dv01_brl": -30e3},
        {"instrument_id": "DOLH26", "strategy_id": "F", "asset_class": "FX",
         "notional_brl": -100e6, "fx_delta_usd": -20e6},
    ])
    ex = risk.factor_exposures(marks, INSTRUMENTS, spot=5.0)
    m = risk.book_metrics(marks, ex, 100e6, var99_brl=2.5e6, worst_stress_brl=-3e6,
                          drawdown=0.04)
    assert m["gross_leverage"] == 4.0 and m["net_leverage"] == 2.0
    assert m["concentration_pct.RATES"] == 75.0 and m["concentration_pct.FX"] == 25.0
    assert m["concentration_pct.EQUITY"] == 0.0
    assert m["dv01_net_bps_nav"] == pytest.approx(3.0)  # 30k per bp on 100M
    assert m["fx_delta_pct_nav"] == pytest.approx(100.0)  # US$20M × 5.00 on 100M
    assert m["var99_bps"] == 250.0 and m["var95_bps"] is None
    assert m["worst_stress_loss_bps"] == 300.0 and m["drawdown_pct"] == 4.0
    assert risk.current_drawdown(pd.Series([100.0, 120.0, 108.0])) == pytest.approx(0.10)


# ----------------------------------------------------------------------------- factor history

@pytest.mark.parametrize("d0, d1, near, far, between", [
    (date(2026, 1, 5), date(2026, 1, 6), "DI1F27", "DI1F28", 504),
    # Before Lei 14.759 reached the counts, Nov 20 of 2024-2030 are business days: the knots
    # sit at du 1,154 and 1,906 of that date (today's calendar: 1,151 and 1,900), and the
    # 1,260 vertex between them is interpolated with the count of the day.
    (date(2023, 6, 1), date(2023, 6, 2), "DI1F28", "DI1F31", 1260),
])
def test_factor_changes_flat_forward_vertices_and_bp_units(d0, d1, near, far, between):
    hist = pd.DataFrame([
        (d0, near, 87_000.0, 0.1400), (d0, far, 76_000.0, 0.1350),
        (d1, near, 87_000.0, 0.1410), (d1, far, 76_000.0, 0.1355),
    ], columns=["price_date", "instrument_id", "price", "rate"])
    fx = pd.DataFrame(columns=["fixing_date", "pair", "kind", "rate"])
    ch = risk.factor_changes(hist, INSTRUMENTS, fx, d1)
    assert list(ch.index) == [d1]
    mat = INSTRUMENTS.set_index("instrument_id")["maturity_date"]

    def vertex(d, v, ra, rb):
        a, b = (calendar.du(d, mat[i], as_of=d) for i in (near, far))
        if v <= a:
            return ra
        if v >= b:
            return rb
        ya, yb = math.log1p(ra) * a / 252, math.log1p(rb) * b / 252
        return math.expm1((ya + (v - a) / (b - a) * (yb - ya)) * 252 / v)

    for v in risk.VERTICES:
        change = vertex(d1, v, 0.1410, 0.1355) - vertex(d0, v, 0.1400, 0.1350)
        assert ch.loc[d1, f"DI_{v}"] == pytest.approx(change * 1e4, abs=1e-9)
    assert ch.loc[d1, "DI_21"] == pytest.approx(10.0)  # flat before the first contract
    assert ch.loc[d1, "DI_2520"] == pytest.approx(5.0)  # flat beyond the last contract
    assert 5.0 < ch.loc[d1, f"DI_{between}"] < 10.0  # interpolated between the two knots


def test_factor_changes_point_in_time_ignores_later_rows():
    sessions, hist, fx = synthetic_market(date(2025, 11, 3), date(2025, 12, 5))
    on = sessions[-3]
    later = hist["price_date"] > on
    poisoned = hist.copy()
    poisoned.loc[later, "rate"] = 0.99  # absurd values after `on`
    poisoned.loc[later, "price"] = 1.0
    fx_p = fx.copy()
    fx_p.loc[fx_p["fixing_date"] > on, "rate"] = 99.0
    a = risk.factor_changes(poisoned, INSTRUMENTS, fx_p, on)
    b = risk.factor_changes(hist[~later], INSTRUMENTS, fx[fx["fixing_date"] <= on], on)
    pd.testing.assert_frame_equal(a, b)
    assert max(a.index) == on
    assert {"DI_252", "REAL_1260", "USDBRL", "IBOV"} <= set(a.columns)
    # USDBRL is the relative change of the CLOSE series
    close = fx[fx["kind"] == "CLOSE"].set_index("fixing_date")["rate"]
    assert a.loc[on, "USDBRL"] == pytest.approx(close[on] / close[sessions[-4]] - 1.0)


def test_factor_changes_ibov_is_roll_free():
    days = [date(2026, 2, 12), date(2026, 2, 13), date(2026, 2, 18), date(2026, 2, 19)]
    hist = pd.DataFrame([
        (days[0], "INDG26", 100_000.0, None), (days[0], "INDJ26", 102_000.0, None),
        (days[1], "INDG26", 101_000.0, None), (days[1], "INDJ26", 103_020.0, None),
        # INDG26 expires on 2026-02-18 (Ash Wednesday session): the front is INDJ26 from then
        (days[2], "INDG26", 99_000.0, None), (days[2], "INDJ26", 101_989.8, None),
        (days[3], "INDJ26", 102_499.749, None),
    ], columns=["price_date", "instrument_id", "price", "rate"])
    fx = pd.DataFrame(columns=["fixing_date", "pair", "kind", "rate"])
    ch = risk.factor_changes(hist, INSTRUMENTS, fx, days[3])
    assert ch["IBOV"].tolist() == pytest.approx([0.01, -0.01, 0.005])
    assert list(ch.index) == days[1:]


def test_factor_changes_zero_move_on_a_day_without_b3_session():
    # 2025-12-24 is an ANBIMA business day without a B3 session: FX fixes, DI does not trade
    d = [date(2025, 12, 22), date(2025, 12, 23), date(2025, 12, 24), date(2025, 12, 26)]
    hist = pd.DataFrame([(x, "DI1F28", 80_000.0, r) for x, r in
                         zip([d[0], d[1], d[3]], [0.1400, 0.1410, 0.1430], strict=True)],
                        columns=["price_date", "instrument_id", "price", "rate"])
    fx = pd.DataFrame([(x, "USDBRL", "CLOSE", s)
                       for x, s in zip(d, [5.5, 5.6, 5.6, 5.5], strict=True)],
                      columns=["fixing_date", "pair", "kind", "rate"])
    ch = risk.factor_changes(hist, INSTRUMENTS, fx, d[3])
    assert ch.loc[d[2], "DI_504"] == 0.0
    assert ch.loc[d[3], "DI_504"] == pytest.approx(20.0)
    assert ch.loc[d[2], "USDBRL"] == 0.0


# ----------------------------------------------------------------------------- snapshot

def book(on: date) -> pd.DataFrame:
    return make_marks(on, [
        {"instrument_id": "DI1F27", "strategy_id": "RATES_BR", "quantity": 500.0,
         "notional_brl": 43e6, "dv01_brl": -3_900.0},
        {"instrument_id": "DI1F31", "strategy_id": "RATES_BR", "quantity": -300.0,
         "notional_brl": -15e6, "dv01_brl": 7_000.0},
        {"instrument_id": "DOLH26", "strategy_id": "FX_BR", "asset_class": "FX",
         "quantity": 40.0, "notional_brl": 11e6, "fx_delta_usd": 2_000_000.0},
        {"instrument_id": "INDG26", "strategy_id": "EQ_BR", "asset_class": "EQUITY",
         "quantity": 50.0, "notional_brl": 8e6, "equity_delta_brl": 8_000_000.0},
    ])


def test_risk_snapshot_ok_matches_the_pieces():
    sessions, hist, fx = synthetic_market(date(2025, 8, 1), date(2026, 1, 30))
    on = sessions[-1]
    snap = risk.risk_snapshot(book(on), INSTRUMENTS, hist, fx, 100e6, on, LIMITS, SCENARIOS,
                              window=100, min_history=60, drawdown=0.03)
    assert set(snap) == {c.name for c in __import__("pms_luigi.store.schema", fromlist=["x"])
                         .risk_snapshots.columns} - {"run_id"}
    assert snap["status"] == "OK" and snap["business_date"] == on
    assert snap["n_scenarios"] == 100
    # the same numbers from the public pieces
    spot = fx[(fx["fixing_date"] == on) & (fx["kind"] == "CLOSE")]["rate"].item()
    ex = risk.factor_exposures(book(on), INSTRUMENTS, spot=spot)
    ch = risk.factor_changes(hist, INSTRUMENTS, fx, on).iloc[-100:]
    pnl = risk.scenario_pnl(ex, ch)
    assert len(pnl) == 100
    assert snap["var99_brl"] == risk.historical_var_es(pnl, 0.99)[0]
    assert snap["var95_brl"] == risk.historical_var_es(pnl, 0.95)[0]
    assert snap["es975_brl"] == risk.historical_var_es(pnl, 0.975)[1]
    assert snap["es975_brl"] >= risk.historical_var_es(pnl, 0.975)[0]
    assert snap["var99_brl"] > snap["var95_brl"] > 0
    assert snap["param_var99_brl"] == pytest.approx(risk.parametric_var(ex, ch, 0.99).var_brl)
    d = snap["details"]
    json.dumps(d, allow_nan=False)  # JSON-able for JSONB: no NaN, no numpy types
    comp = d["component_var99_by_strategy"]
    assert set(comp) == {"RATES_BR", "FX_BR", "EQ_BR"}
    assert sum(comp.values()) == pytest.approx(snap["param_var99_brl"], rel=1e-9)
    assert d["dv01_total_brl"] == pytest.approx(3_100.0)
    assert {r["limit"]: r["status"] for r in d["limits"]}["DRAWDOWN"] == "OK"
    stress = {r["scenario"]: r["pnl_brl"] for r in d["stress"]}
    assert stress["DI_PARALLEL_UP_100"] == pytest.approx(310_000.0)


def test_risk_snapshot_insufficient_history_reports_none_not_zero():
    sessions, hist, fx = synthetic_market(date(2025, 11, 3), date(2025, 12, 19))
    on = sessions[-1]
    snap = risk.risk_snapshot(book(on), INSTRUMENTS, hist, fx, 100e6, on, LIMITS, SCENARIOS)
    assert snap["status"] == "INSUFFICIENT_HISTORY"
    assert snap["n_scenarios"] == len(sessions) - 1 < 60
    for k in ("var95_brl", "var99_brl", "es975_brl", "param_var95_brl", "param_var99_brl"):
        assert snap[k] is None
    lim = {r["limit"]: r for r in snap["details"]["limits"]}
    assert lim["VAR99"]["status"] == "NO_DATA" and lim["VAR99"]["value"] is None
    assert lim["DRAWDOWN"]["status"] == "NO_DATA"  # drawdown not supplied
    assert len(snap["details"]["stress"]) == len(risk.scenarios_from_dict(SCENARIOS))
    json.dumps(snap["details"], allow_nan=False)


def test_risk_snapshot_drawdown_from_nav_history_is_point_in_time():
    sessions, hist, fx = synthetic_market(date(2025, 8, 1), date(2026, 1, 30))
    on = sessions[-2]
    navs = pd.DataFrame({"business_date": [sessions[-5], sessions[-4], sessions[-3], on,
                                           sessions[-1]],
                         "nav_brl": [100e6, 125e6, 110e6, 112.5e6, 200e6]})  # last row: after on
    snap = risk.risk_snapshot(book(on), INSTRUMENTS, hist, fx, 112.5e6, on, LIMITS, SCENARIOS,
                              nav_history=navs)
    assert snap["details"]["metrics"]["drawdown_pct"] == pytest.approx(10.0)
    dd = {r["limit"]: r for r in snap["details"]["limits"]}["DRAWDOWN"]
    assert dd["status"] == "WARNING" and dd["utilisation"] == pytest.approx(100.0)
    with pytest.raises(InvalidInput, match="only one of"):
        risk.risk_snapshot(book(on), INSTRUMENTS, hist, fx, 112.5e6, on, LIMITS, SCENARIOS,
                           drawdown=0.1, nav_history=navs)


def test_risk_snapshot_missing_factor_history_is_insufficient():
    sessions, hist, fx = synthetic_market(date(2025, 8, 1), date(2026, 1, 30))
    on = sessions[-1]
    marks = make_marks(on, [{"instrument_id": "NTNB_2035", "strategy_id": "INFL",
                             "asset_class": "INFLATION", "notional_brl": 40e6,
                             "dv01_brl": -25_000.0}])
    no_ntnb = hist[~hist["instrument_id"].str.startswith("NTNB")]
    snap = risk.risk_snapshot(marks, INSTRUMENTS, no_ntnb, fx, 100e6, on, LIMITS, SCENARIOS)
    assert snap["status"] == "INSUFFICIENT_HISTORY" and snap["var99_brl"] is None
    assert snap["details"]["missing_factors"] == ["REAL_2520"]


def test_risk_snapshot_empty_book_is_ok_with_zero():
    sessions, hist, fx = synthetic_market(date(2025, 11, 3), date(2025, 11, 28))
    on = sessions[-1]
    empty = make_marks(on, [{"instrument_id": "DI1F27", "strategy_id": "R"}]).iloc[0:0]
    snap = risk.risk_snapshot(empty, INSTRUMENTS, hist, fx, 100e6, on, LIMITS, SCENARIOS)
    assert snap["status"] == "OK" and snap["var99_brl"] == 0.0 and snap["details"]["empty_book"]
    # positions closed today (quantity 0, realized P&L only) are no risk either
    closed = make_marks(on, [{"instrument_id": "DI1F27", "strategy_id": "R", "quantity": 0.0,
                              "pnl_realized_brl": 1_234.56}])
    snap = risk.risk_snapshot(closed, INSTRUMENTS, hist, fx, 100e6, on, LIMITS, SCENARIOS)
    assert snap["status"] == "OK" and snap["param_var99_brl"] == 0.0
    assert snap["details"]["empty_book"] and snap["details"]["n_positions"] == 0


def test_risk_snapshot_lists_unmodelled_positions_as_instrument_strategy_pairs():
    sessions, hist, fx = synthetic_market(date(2025, 11, 3), date(2025, 11, 28))
    on = sessions[-1]
    marks = make_marks(on, [{"instrument_id": "DI1F27", "strategy_id": "R", "dv01_brl": -1e3},
                            {"instrument_id": "DI1F28", "strategy_id": "R"},
                            {"instrument_id": "DI1F27", "strategy_id": "Q"}])
    snap = risk.risk_snapshot(marks, INSTRUMENTS, hist, fx, 100e6, on, LIMITS, SCENARIOS)
    # [instrument_id, strategy_id], sorted (until this release the two ids ran together in
    # a one-element list: "DI1F27Q")
    assert snap["details"]["unmodelled_positions"] == [["DI1F27", "Q"], ["DI1F28", "R"]]
    assert snap["details"]["n_positions"] == 3


def test_risk_snapshot_fx_exposure_without_fixing_fails_naming_the_date():
    sessions, hist, fx = synthetic_market(date(2025, 8, 1), date(2025, 12, 19))
    on = sessions[-1]
    with pytest.raises(MissingFxFixing, match=on.isoformat()):
        risk.risk_snapshot(book(on), INSTRUMENTS, hist, fx[fx["fixing_date"] < on], 100e6, on,
                           LIMITS, SCENARIOS)

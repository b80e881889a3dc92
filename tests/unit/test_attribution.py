"""Tests of pms_luigi.core.attribution: additivity to the centavo, linking, periods and statistics.

Reference numbers:
* the worked linking vector (day 1: A +1.0 %, B +0.5 %; day 2: A −0.4 %, B +0.6 %): total
  1.703 %; Frongello A 0.5940 %, B 1.1090 %; Carino k = (0.992574, 0.999001), K = 0.991580,
  A 0.59801 %, B 1.10499 %.
* empyrical-reloaded (independent implementation) for Sharpe, Sortino, volatility, max
  drawdown, cumulative returns and the drawdown series, to 1e-9.
* ANBIMA 2026 calendar: Carnival on Feb 16-17, Labour Day on Friday May 1.

The chained (incremental) pass is tested in ``test_attribution_incremental.py``.
"""
from __future__ import annotations

import json
import math
from datetime import date
from decimal import Decimal

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_luigi.core.attribution import (
    DIMENSIONS,
    PERIODS,
    RESIDUAL,
    STATS_PERIODS,
    attribute,
    cdi_daily_returns,
    drawdown,
    link,
    linking_multipliers,
    performance_stats,
    period_start,
)
from pms_luigi.core.errors import InvalidInput, MissingCdi, NotBusinessDay
from tests.unit.attribution_fund import (
    ALL_DAYS,
    EXPLAIN,
    INSTRUMENTS,
    STRATEGIES,
    Fund,
    cents,
    funds,
    make_fund,
    run,
    window,
)

# ============================================================================================
# invariants on generated books


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds())
def test_every_dimension_and_period_sums_to_the_total(fund: Fund) -> None:
    result = run(fund)
    rows = result.rows
    assert set(rows["period"]) == set(PERIODS)
    assert (rows["business_date"] == fund.on).all()
    for period in PERIODS:
        books = window(fund, period, fund.on)
        total_pnl = sum(Decimal(str(x)) for x in books["pnl_brl"])
        total_return = math.prod(1 + p / n for p, n in zip(books["pnl_brl"],
                                                            books["nav_prev_brl"],
                                                            strict=True)) - 1
        for dimension in DIMENSIONS:
            part = rows[(rows["period"] == period) & (rows["dimension"] == dimension)]
            assert not part.empty
            assert not part["bucket"].duplicated().any()
            if dimension == "total":
                assert list(part["bucket"]) == ["total"]
            else:
                assert RESIDUAL in set(part["bucket"])
            # R$: within a centavo in float, and exactly after the writer's rounding of rows
            assert abs(part["pnl_brl"].sum() - float(total_pnl)) <= 0.01
            assert sum(cents(x) for x in part["pnl_brl"]) == total_pnl
            # bps: linked contributions sum to the linked (geometric) period return
            assert abs(part["contribution_bps"].sum() / 1e4 - total_return) <= 1e-10


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds(max_days=50))
def test_daily_rows_add_up_to_mtd_and_link_to_the_mtd_contribution(fund: Fund) -> None:
    """Σ DAY rows of every date in the month == MTD on the last date; linked DAY bps == MTD bps."""
    on = fund.on
    month_days = [d for d in fund.days if (d.year, d.month) == (on.year, on.month)]
    daily = pd.concat([run(fund, on=d).rows.query("period == 'DAY'") for d in month_days])
    mtd = run(fund).rows.query("period == 'MTD'").set_index(["dimension", "bucket"])

    sums = daily.groupby(["dimension", "bucket"])["pnl_brl"].sum()
    assert set(sums.index) == set(mtd.index)
    for key, value in sums.items():
        assert cents(value) == cents(mtd.loc[key, "pnl_brl"])

    books = window(fund, "MTD", on)
    assert list(books["business_date"]) == month_days
    returns = (books["pnl_brl"] / books["nav_prev_brl"]).to_numpy()
    matrix = (daily.assign(c=daily["contribution_bps"] / 1e4)
              .pivot_table(index="business_date", columns=["dimension", "bucket"], values="c",
                           aggfunc="sum", fill_value=0.0)
              .reindex(month_days, fill_value=0.0))
    linked = link(matrix.to_numpy(), returns)
    for key, value in zip(matrix.columns, linked, strict=True):
        assert abs(value - mtd.loc[key, "contribution_bps"] / 1e4) <= 1e-10
    for dimension in DIMENSIONS:
        assert abs(sum(v for k, v in zip(matrix.columns, linked, strict=True)
                       if k[0] == dimension)
                   - (np.prod(1 + returns) - 1)) <= 1e-10


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds(max_days=40), st.randoms(use_true_random=False))
def test_row_order_and_later_rows_do_not_change_the_result(fund: Fund, rnd) -> None:
    """Shuffled inputs, and inputs dated after ``on``, give the same rows (point in time)."""
    cut = fund.days[len(fund.days) // 2]
    base = run(fund, on=cut).rows
    order = list(range(len(fund.facts)))
    rnd.shuffle(order)
    shuffled = Fund(fund.facts.iloc[order], fund.books.iloc[::-1], fund.inception, fund.on,
                    fund.days)
    again = run(shuffled, on=cut).rows
    pd.testing.assert_frame_equal(base[["period", "dimension", "bucket"]],
                                  again[["period", "dimension", "bucket"]])
    assert [cents(x) for x in base["pnl_brl"]] == [cents(x) for x in again["pnl_brl"]]
    np.testing.assert_allclose(base["contribution_bps"], again["contribution_bps"], rtol=0,
                               atol=1e-9)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds())
def test_stats_and_equity_curve_match_empyrical(fund: Fund) -> None:
    result = run(fund)
    for period in STATS_PERIODS:
        books = window(fund, period, fund.on)
        r = (books["pnl_brl"] / books["nav_prev_brl"]).to_numpy()
        rf = cdi_daily_returns(books["cdi_rate"].to_numpy())
        stats = result.stats.set_index("period").loc[period, "stats"]
        assert stats["n_days"] == len(r)
        assert stats["start"] == books["business_date"].iloc[0].isoformat()
        assert math.isclose(stats["return"], empyrical.cum_returns_final(r), rel_tol=0,
                            abs_tol=1e-12)
        check_against_empyrical(stats, r, rf)
    r = (fund.books["pnl_brl"] / fund.books["nav_prev_brl"]).to_numpy()
    curve = result.equity_curve
    assert list(curve["business_date"]) == fund.days
    np.testing.assert_allclose(curve["nav_brl"], fund.books["nav_brl"], rtol=0, atol=0)
    np.testing.assert_allclose(curve["cumulative_return"], empyrical.cum_returns(r), rtol=0,
                               atol=1e-12)
    np.testing.assert_allclose(curve["drawdown"], empyrical.stats.drawdown_series(r), rtol=0,
                               atol=1e-12)
    itd = result.stats.set_index("period").loc["ITD", "stats"]
    assert itd["max_drawdown"] == pytest.approx(curve["drawdown"].min(), abs=1e-15)


def check_against_empyrical(stats: dict, r: np.ndarray, rf: np.ndarray) -> None:
    """Our stats vs empyrical-reloaded on the same series; None where empyrical is not finite."""
    pairs = {
        "volatility": empyrical.annual_volatility(r),
        "sharpe": empyrical.sharpe_ratio(r, risk_free=rf),
        "sortino": empyrical.sortino_ratio(r, required_return=rf),
        "max_drawdown": empyrical.max_drawdown(r),
    }
    for name, expected in pairs.items():
        if np.isfinite(expected):
            assert stats[name] is not None, name
            assert math.isclose(stats[name], expected, rel_tol=1e-9, abs_tol=1e-9), name
        else:
            assert stats[name] is None, name


returns_lists = st.lists(st.integers(-500, 500).map(lambda x: x / 10_000), min_size=1, max_size=300)


@settings(max_examples=200, deadline=None)
@given(st.data(), returns_lists)
def test_performance_stats_match_empyrical(data: st.DataObject, r: list[float]) -> None:
    cdi = data.draw(st.lists(st.integers(0, 2000).map(lambda x: x / 10_000), min_size=len(r),
                             max_size=len(r)))
    stats = performance_stats(r, cdi)
    check_against_empyrical(stats, np.array(r), cdi_daily_returns(cdi))
    assert stats["n_days"] == len(r)
    assert math.isclose(stats["return"], empyrical.cum_returns_final(np.array(r)), abs_tol=1e-12)


# ============================================================================================
# linking: the worked example


DAY1, DAY2 = date(2026, 3, 2), date(2026, 3, 3)


def two_day_fund() -> Fund:
    """The worked example on a R$100M fund: day 1 A +1.0 %, B +0.5 %; day 2 A −0.4 %,
    B +0.6 % of NAV_{t−1}."""
    def fact(day, strategy, pnl):
        row = {"business_date": day,
               "instrument_id": "DI1F27" if strategy == "RATES_BR_01" else "DOLH26",
               "strategy_id": strategy, "pnl_brl": pnl}
        row.update({c: 0.0 for c in EXPLAIN})
        row["pnl_market_brl"] = pnl
        return row
    facts = pd.DataFrame([fact(DAY1, "RATES_BR_01", 1_000_000.0),
                          fact(DAY1, "FX_MOM_01", 500_000.0),
                          fact(DAY2, "RATES_BR_01", -406_000.0),
                          fact(DAY2, "FX_MOM_01", 609_000.0)])
    books = pd.DataFrame({"business_date": [DAY1, DAY2], "nav_prev_brl": [100e6, 101.5e6],
                          "pnl_brl": [1.5e6, 203_000.0], "nav_brl": [101.5e6, 101.703e6],
                          "cdi_rate": [0.149, 0.149]})
    return Fund(facts, books, DAY1, DAY2, [DAY1, DAY2])


def test_linking_hand_example_from_finance_conventions() -> None:
    contributions = np.array([[0.010, 0.005], [-0.004, 0.006]])
    returns = np.array([0.015, 0.002])
    frongello = link(contributions, returns, "frongello")
    np.testing.assert_allclose(frongello, [0.005940, 0.011090], rtol=0, atol=1e-12)
    carino = link(contributions, returns, "carino")
    np.testing.assert_allclose(carino, [0.0059801, 0.0110499], rtol=0, atol=5e-8)
    # Carino's smoothing coefficients as published: k_t / K with K = 0.991580
    k = linking_multipliers(returns, "carino") * 0.991580
    np.testing.assert_allclose(k, [0.992574, 0.999001], rtol=0, atol=1e-6)
    for linked in (frongello, carino):
        assert linked.sum() == pytest.approx(0.01703, abs=1e-15)
    # a zero-return day takes the limit k = 1 and does not divide by zero
    np.testing.assert_allclose(linking_multipliers([0.0, 0.0], "carino"), [1.0, 1.0])
    np.testing.assert_allclose(link([[0.01, -0.01], [0.0, 0.0]], [0.0, 0.0], "carino"),
                               [0.01, -0.01])


@pytest.mark.parametrize(("linking", "a_bps", "b_bps", "tol"), [
    ("frongello", 59.40, 110.90, 1e-9),
    ("carino", 59.801, 110.499, 5e-4),
])
def test_attribute_reproduces_the_hand_example(linking: str, a_bps: float, b_bps: float,
                                               tol: float) -> None:
    fund = two_day_fund()
    rows = run(fund, linking=linking).rows.set_index(["period", "dimension", "bucket"])
    bps = rows["contribution_bps"]
    assert bps[("MTD", "strategy", "RATES_BR_01")] == pytest.approx(a_bps, abs=tol)
    assert bps[("MTD", "strategy", "FX_MOM_01")] == pytest.approx(b_bps, abs=tol)
    assert bps[("MTD", "total", "total")] == pytest.approx(170.30, abs=1e-9)
    assert bps[("MTD", "strategy", RESIDUAL)] == pytest.approx(0.0, abs=1e-12)
    assert rows.loc[("MTD", "strategy", "RATES_BR_01"), "pnl_brl"] == pytest.approx(594_000.0)
    assert bps[("DAY", "strategy", "RATES_BR_01")] == pytest.approx(-40.0, abs=1e-9)
    # asset class and risk factor views of the same rows
    assert rows.loc[("MTD", "asset_class", "FX"), "pnl_brl"] == pytest.approx(1_109_000.0)
    assert rows.loc[("MTD", "risk_factor", "rates"), "pnl_brl"] == pytest.approx(594_000.0)


def test_frongello_contribution_is_pnl_over_the_nav_at_period_start_without_flows() -> None:
    fund = make_fund(seed=7, start=ALL_DAYS.index(date(2026, 3, 2)), n_days=22, n_positions=10,
                     flows=False)
    rows = run(fund).rows
    for period in PERIODS:
        nav0 = window(fund, period, fund.on)["nav_prev_brl"].iloc[0]
        part = rows[rows["period"] == period]
        np.testing.assert_allclose(part["contribution_bps"], part["pnl_brl"] / nav0 * 1e4,
                                   rtol=1e-12, atol=1e-9)


# ============================================================================================
# periods on the ANBIMA calendar


@pytest.mark.parametrize(("period", "on", "inception", "expected"), [
    ("DAY", date(2026, 2, 20), date(2025, 1, 2), date(2026, 2, 20)),
    ("WTD", date(2026, 2, 20), date(2025, 1, 2), date(2026, 2, 18)),  # Carnival Mon/Tue
    ("WTD", date(2026, 2, 18), date(2025, 1, 2), date(2026, 2, 18)),  # Ash Wednesday is open
    ("MTD", date(2026, 5, 15), date(2025, 1, 2), date(2026, 5, 4)),   # May 1 is a Friday holiday
    ("MTD", date(2026, 3, 20), date(2026, 3, 10), date(2026, 3, 10)),  # clipped at inception
    ("QTD", date(2026, 5, 15), date(2025, 1, 2), date(2026, 4, 1)),
    ("QTD", date(2026, 12, 30), date(2025, 1, 2), date(2026, 10, 1)),
    ("YTD", date(2026, 1, 5), date(2025, 1, 2), date(2026, 1, 2)),    # Jan 1 holiday
    ("ITD", date(2026, 1, 5), date(2025, 11, 15), date(2025, 11, 17)),  # Saturday -> Monday
])
def test_period_start(period: str, on: date, inception: date, expected: date) -> None:
    assert period_start(period, on, inception) == expected


def test_attribute_uses_business_days_only() -> None:
    fund = make_fund(seed=3, start=ALL_DAYS.index(date(2026, 2, 9)), n_days=8, n_positions=6)
    assert fund.on == date(2026, 2, 20)
    assert date(2026, 2, 16) not in fund.days and date(2026, 2, 17) not in fund.days
    result = run(fund)
    assert result.metadata["period_starts"]["WTD"] == "2026-02-18"
    wtd = result.stats  # stats exist for MTD/YTD/ITD only
    assert list(wtd["period"]) == list(STATS_PERIODS)
    mtd = wtd.set_index("period").loc["MTD", "stats"]
    assert mtd["n_days"] == 8 and mtd["start"] == "2026-02-09"


# ============================================================================================
# dimensions


def single_day(rows: list[dict], *, book_extra: float = 0.0, strategies=STRATEGIES, day=DAY1,
               **kwargs):
    facts = pd.DataFrame(rows)
    for c in ["pnl_brl", *EXPLAIN]:
        facts[c] = facts[c].fillna(0.0) if c in facts else 0.0
    facts["business_date"] = day
    pnl = float(facts["pnl_brl"].sum()) + book_extra
    books = pd.DataFrame({"business_date": [day], "nav_prev_brl": [100e6], "pnl_brl": [pnl],
                          "nav_brl": [100e6 + pnl], "cdi_rate": [0.149]})
    result = attribute(facts, books, strategies, INSTRUMENTS, day, day, **kwargs)
    return result.rows.query("period == 'DAY'").set_index(["dimension", "bucket"])["pnl_brl"]


def test_factor_tags_split_equally_in_whole_centavos_or_by_given_weights() -> None:
    day = single_day([
        {"instrument_id": "DOLH26", "strategy_id": "FX_MOM_01", "pnl_brl": 1.00,
         "pnl_market_brl": 1.00},
        {"instrument_id": "NTNB_2035", "strategy_id": "INF_DISC_01", "pnl_brl": 100.01,
         "pnl_carry_brl": 100.01},
        {"instrument_id": "INDG26", "strategy_id": "EQ_DISC_01", "pnl_brl": -5.00,
         "pnl_market_brl": -5.00},
    ])
    tags = day.loc["factor_tag"]
    # FX_MOM_01: three tags, R$1.00 -> 0.34 / 0.33 / 0.33 (largest remainder, ties by name)
    assert tags["carry"] == pytest.approx(0.34, abs=1e-12)
    assert tags["mean-reversion"] == pytest.approx(0.33, abs=1e-12)
    assert tags["momentum"] == pytest.approx(0.33, abs=1e-12)
    # INF_DISC_01: {"macro-discretionary": 0.7, "event-driven": 0.3} of R$100.01
    assert tags["macro-discretionary"] == pytest.approx(70.01, abs=1e-12)
    assert tags["event-driven"] == pytest.approx(30.00, abs=1e-12)
    assert tags["untagged"] == pytest.approx(-5.00)  # EQ_DISC_01 has no tags
    assert tags[RESIDUAL] == pytest.approx(0.0, abs=1e-12)
    assert day.loc[("style", "systematic")] == pytest.approx(1.00)
    assert day.loc[("style", "discretionary")] == pytest.approx(95.01)


def test_risk_factor_maps_cupom_to_fx_and_takes_fx_translation_out_of_every_row() -> None:
    day = single_day([
        {"instrument_id": "DDIF27", "strategy_id": "FX_MOM_01", "pnl_brl": 300.0,
         "pnl_carry_brl": 100.0, "pnl_fx_brl": 200.0},
        {"instrument_id": "NTNB_2035", "strategy_id": "INF_DISC_01", "pnl_brl": 50.0,
         "pnl_carry_brl": 40.0, "pnl_fx_brl": 10.0},
        {"instrument_id": "DI1F27", "strategy_id": "RATES_BR_01", "pnl_brl": -20.0,
         "pnl_market_brl": -20.0},
    ], book_extra=7.5)
    rf = day.loc["risk_factor"]
    assert rf["fx"] == pytest.approx(310.0)
    assert rf["inflation"] == pytest.approx(40.0)
    assert rf["rates"] == pytest.approx(-20.0)
    assert rf[RESIDUAL] == pytest.approx(7.5)  # fund P&L not carried by any position
    assert day.loc[("asset_class", "CUPOM")] == pytest.approx(300.0)


def test_explain_residual_takes_unexplained_row_pnl_and_the_book_residual() -> None:
    day = single_day([
        {"instrument_id": "DI1F27", "strategy_id": "RATES_BR_01", "pnl_brl": 100.00,
         "pnl_carry_brl": 60.00, "pnl_market_brl": 39.98, "pnl_costs_brl": -1.00,
         "pnl_residual_brl": 0.50},
    ], book_extra=-12.34)
    explain = day.loc["explain"]
    assert list(explain.index) == ["carry", "costs", "fx", "market", "new_trades", "realized",
                                   RESIDUAL]
    assert explain["carry"] == pytest.approx(60.00)
    assert explain["costs"] == pytest.approx(-1.00)
    # 0.50 explicit + (100.00 − 99.48) unexplained in the row + (−12.34) outside positions
    assert explain[RESIDUAL] == pytest.approx(0.50 + 0.52 - 12.34)
    assert explain.sum() == pytest.approx(day.loc[("total", "total")])


def test_shared_position_is_split_by_explicit_weights_in_centavos() -> None:
    weights = pd.DataFrame({"instrument_id": ["DI1F27", "DI1F27"],
                            "strategy_id": ["RATES_BR_01"] * 2,
                            "share_strategy_id": ["RATES_BR_01", "VOL_CARRY_01"],
                            "weight": [2 / 3, 1 / 3]})
    day = single_day([
        {"instrument_id": "DI1F27", "strategy_id": "RATES_BR_01", "pnl_brl": 100.00,
         "pnl_market_brl": 100.00},
        {"instrument_id": "DI1F27", "strategy_id": "VOL_CARRY_01", "pnl_brl": 1.00,
         "pnl_carry_brl": 1.00},
    ], weights=weights)
    assert day.loc[("strategy", "RATES_BR_01")] == pytest.approx(66.67, abs=1e-12)
    assert day.loc[("strategy", "VOL_CARRY_01")] == pytest.approx(33.33 + 1.00, abs=1e-12)
    assert day.loc[("instrument", "DI1F27")] == pytest.approx(101.00)
    assert day.loc[("explain", "market")] == pytest.approx(100.00)
    assert day.loc[("strategy", RESIDUAL)] == pytest.approx(0.0, abs=1e-12)


def test_a_flat_book_reports_the_fund_pnl_as_residual() -> None:
    fund = make_fund(seed=1, start=10, n_days=3, n_positions=0, book_gap=True)
    assert fund.facts.empty
    rows = run(fund).rows.query("period == 'DAY'")
    total = rows.query("dimension == 'total'")["pnl_brl"].iloc[0]
    for dimension in DIMENSIONS[1:]:
        part = rows[rows["dimension"] == dimension]
        assert list(part["bucket"]) == [RESIDUAL]
        assert part["pnl_brl"].iloc[0] == pytest.approx(total)


# ============================================================================================
# statistics: definitions and undefined cases


def test_stats_of_a_single_day_are_null_where_undefined() -> None:
    stats = performance_stats([0.001], [0.149], dates=[DAY1], pnl=[100_000.0])
    assert stats["n_days"] == 1 and stats["return"] == pytest.approx(0.001)
    assert stats["volatility"] is None and stats["sharpe"] is None and stats["sortino"] is None
    assert stats["max_drawdown"] == 0.0
    assert stats["hit_rate"] == 1.0
    assert stats["best_day_date"] == stats["worst_day_date"] == "2026-03-02"


def test_drawdown_is_peak_to_trough_of_the_return_index() -> None:
    np.testing.assert_allclose(drawdown([0.10, -0.20, 0.05]), [0.0, -0.20, -0.16], atol=1e-15)
    # a loss on day one counts
    np.testing.assert_allclose(drawdown([-0.01, 0.02]), [-0.01, 0.0], atol=1e-15)
    stats = performance_stats([0.10, -0.20, 0.05], [0.10] * 3)
    assert stats["max_drawdown"] == pytest.approx(-0.20, abs=1e-15)


def test_cdi_compounds_on_base_252_and_a_fund_earning_cdi_is_100_pct_of_cdi() -> None:
    cdi = [0.1490] * 252
    r = cdi_daily_returns(cdi)
    stats = performance_stats(r, cdi)
    assert stats["cdi_return"] == pytest.approx(0.1490, abs=1e-12)  # one year of 252 du
    assert stats["pct_of_cdi"] == pytest.approx(1.0, abs=1e-12)
    assert stats["excess_return"] == pytest.approx(0.0, abs=1e-12)
    assert stats["sharpe"] is None and stats["sortino"] is None  # zero excess dispersion
    assert stats["volatility"] == pytest.approx(0.0, abs=1e-15)
    double = performance_stats(2 * r, cdi)
    assert double["pct_of_cdi"] == pytest.approx(((1 + 2 * r[0]) ** 252 - 1) / 0.149, abs=1e-12)


def test_hit_rate_ignores_flat_days_and_best_worst_days_are_dated() -> None:
    days = [date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4), date(2026, 3, 5)]
    stats = performance_stats([0.002, 0.0, -0.001, 0.003], [0.149] * 4, dates=days)
    assert stats["hit_rate"] == pytest.approx(2 / 3)
    assert (stats["positive_days"], stats["negative_days"]) == (2, 1)
    assert stats["best_day_date"] == "2026-03-05" and stats["best_day_return"] == 0.003
    assert stats["worst_day_date"] == "2026-03-04" and stats["worst_day_return"] == -0.001
    assert performance_stats([0.0, 0.0], [0.1, 0.1])["hit_rate"] is None


def test_stats_rows_are_json_able_and_metadata_names_the_run() -> None:
    fund = two_day_fund()
    result = run(fund)
    for stats in result.stats["stats"]:
        assert json.loads(json.dumps(stats, allow_nan=False)) == stats
    meta = result.metadata
    assert json.loads(json.dumps(meta, allow_nan=False)) == meta
    assert meta["total_pnl_brl"] == pytest.approx(203_000.0)
    assert meta["total_bps"] == pytest.approx(203_000.0 / 101.5e6 * 1e4)
    assert meta["dimensions"] == list(DIMENSIONS) and meta["periods"] == list(PERIODS)
    assert meta["linking"] == "frongello"
    assert meta["unallocated_pnl_brl"] == pytest.approx(0.0)


# ============================================================================================
# bad input: clear errors naming the date, row and field


def test_refuses_a_holiday() -> None:
    fund = two_day_fund()
    with pytest.raises(NotBusinessDay, match="Carnival"):
        attribute(fund.facts, fund.books, STRATEGIES, INSTRUMENTS, date(2026, 2, 16), DAY1)


def test_missing_book_day_is_named() -> None:
    fund = make_fund(seed=2, start=ALL_DAYS.index(date(2026, 3, 2)), n_days=5, n_positions=3)
    books = fund.books[fund.books["business_date"] != date(2026, 3, 4)]
    with pytest.raises(InvalidInput, match="2026-03-04") as err:
        attribute(fund.facts, books, STRATEGIES, INSTRUMENTS, fund.on, fund.inception)
    assert err.value.table == "book_snapshots" and err.value.field == "business_date"


def test_missing_cdi_raises_missing_cdi_with_the_date() -> None:
    fund = two_day_fund()
    fund.books.loc[1, "cdi_rate"] = None
    with pytest.raises(MissingCdi, match="2026-03-03"):
        run(fund)


def test_broken_nav_chain_is_refused() -> None:
    fund = two_day_fund()
    fund.books.loc[1, "nav_prev_brl"] = 101_400_000.0
    with pytest.raises(InvalidInput, match="nav_prev_brl") as err:
        run(fund)
    assert err.value.field == "nav_prev_brl"


@pytest.mark.parametrize(("column", "value", "field", "needle"), [
    ("strategy_id", "NOT_A_STRATEGY", "strategy_id", "strategies table"),
    ("instrument_id", "XYZ99", "instrument_id", "instrument master"),
    ("pnl_brl", float("nan"), "pnl_brl", "pnl_brl is missing"),
    ("pnl_carry_brl", None, "pnl_carry_brl", "pnl_carry_brl is missing"),
])
def test_bad_fact_rows_are_named(column: str, value, field: str, needle: str) -> None:
    fund = two_day_fund()
    fund.facts[column] = fund.facts[column].astype(object)
    fund.facts.loc[3, column] = value
    with pytest.raises(InvalidInput, match=needle) as err:
        run(fund)
    assert err.value.field == field and err.value.table == "position_marks"
    assert "2026-03-03" in str(err.value)


def test_duplicate_position_row_is_refused() -> None:
    fund = two_day_fund()
    facts = pd.concat([fund.facts, fund.facts.iloc[[0]]], ignore_index=True)
    with pytest.raises(InvalidInput, match="DI1F27 / RATES_BR_01 on 2026-03-02"):
        attribute(facts, fund.books, STRATEGIES, INSTRUMENTS, fund.on, fund.inception)


def test_bad_reference_data_is_refused() -> None:
    fund = two_day_fund()
    instruments = INSTRUMENTS.assign(
        asset_class=INSTRUMENTS["asset_class"].replace("CREDIT", "CRYPTO"))
    with pytest.raises(InvalidInput, match="CRYPTO"):
        attribute(fund.facts, fund.books, STRATEGIES, instruments, fund.on, fund.inception)
    strategies = STRATEGIES.copy()
    strategies.loc[0, "factor_tags"] = '{"carry": -1}'
    with pytest.raises(InvalidInput, match="factor_tags"):
        attribute(fund.facts, fund.books, strategies, INSTRUMENTS, fund.on, fund.inception)
    weights = pd.DataFrame({"instrument_id": ["DI1F27"], "strategy_id": ["RATES_BR_01"],
                            "share_strategy_id": ["VOL_CARRY_01"], "weight": [0.9]})
    with pytest.raises(InvalidInput, match=r"sum to 0\.9"):
        run(fund, weights=weights)
    with pytest.raises(InvalidInput, match="linking"):
        run(fund, linking="menchero")

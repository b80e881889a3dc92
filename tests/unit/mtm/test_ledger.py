"""Positions from the trade ledger (average cost) and the ledger checks of the MTM."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pms_luigi.core import frames, mtm
from pms_luigi.core.errors import InvalidInput
from tests.unit.mtm.builders import D, P, cdi, inputs, instruments, mark, price, row, trade

# ------------------------------------------------------------------------------- positions


@pytest.mark.parametrize("values", [
    [date(2024, 2, 29), None, date(1969, 12, 31), date(2024, 3, 1)],  # the DB drivers' dates
    [datetime(2024, 3, 1, 23, 59), date(2024, 3, 4), pd.Timestamp("2024-03-05 06:00")],
    ["2024-03-01", "2024-03-04", None],  # strings: the parser
    np.array(["2024-03-01", "NaT"], dtype="datetime64[s]"),
    [],
])
def test_to_days_gives_the_parsers_days(values: Any) -> None:
    """``to_days`` skips the parser for date objects; the days are the parser's (floor)."""
    parsed = pd.to_datetime(pd.Series(values, dtype=object)).to_numpy().astype("datetime64[D]")
    got = frames.to_days(values)
    assert got.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(got, parsed)
    np.testing.assert_array_equal(frames.to_days(pd.Series(values, dtype=object)), parsed)


def test_positions_average_cost_partial_close_and_flip() -> None:
    t = pd.DataFrame([
        trade("a1", date(2025, 5, 26), "LTN_2027", 1000, 800.0, cost=10),
        trade("a2", date(2025, 5, 27), "LTN_2027", 1000, 810.0),  # avg -> 805
        trade("a3", date(2025, 5, 28), "LTN_2027", -500, 820.0),  # realize 500 x 15
        trade("a4", date(2025, 5, 29), "LTN_2027", -2000, 815.0),  # close 1500 x 10, flip
        trade("b1", date(2025, 5, 26), "LTN_2027", 300, 790.0, sid="S2"),
        trade("b2", date(2025, 5, 28), "LTN_2027", -300, 780.0, sid="S2"),  # flat
    ])
    pos = mtm.positions_as_of(t, date(2025, 5, 29)).set_index("strategy_id")
    assert pos.loc["S1", "quantity"] == -500
    assert pos.loc["S1", "avg_cost"] == 815.0  # the flip restarts the cost at its price
    assert pos.loc["S1", "realized_pnl"] == pytest.approx(500 * 15 + 1500 * 10, abs=1e-9)
    assert pos.loc["S1", "cost_brl"] == 10 and pos.loc["S1", "n_trades"] == 4
    assert pos.loc["S2", "quantity"] == 0 and np.isnan(pos.loc["S2", "avg_cost"])
    assert pos.loc["S2", "realized_pnl"] == pytest.approx(-3000, abs=1e-9)
    mid = mtm.positions_as_of(t, date(2025, 5, 28)).set_index("strategy_id")
    assert mid.loc["S1", "quantity"] == 1500 and mid.loc["S1", "avg_cost"] == 805.0
    # input row order does not matter
    again = mtm.positions_as_of(t.sample(frac=1, random_state=7), date(2025, 5, 29))
    pd.testing.assert_frame_equal(again, mtm.positions_as_of(t, date(2025, 5, 29)))


def test_positions_short_side_and_expiry_drop() -> None:
    t = pd.DataFrame([
        trade("1", date(2025, 12, 1), "DI1F26", -10, 98_000.0),
        trade("2", date(2025, 12, 2), "DI1F26", -10, 98_100.0),  # short avg 98 050
        trade("3", date(2025, 12, 3), "DI1F26", 5, 98_000.0),  # short covered below cost: +250
    ])
    pos = mtm.positions_as_of(t, date(2025, 12, 3))
    assert pos["quantity"].item() == -15 and pos["avg_cost"].item() == 98_050.0
    assert pos["realized_pnl"].item() == pytest.approx(250.0)
    inst = instruments()
    assert len(mtm.positions_as_of(t, date(2025, 12, 30), inst)) == 1
    assert mtm.positions_as_of(t, date(2026, 1, 2), inst).empty  # matured on Jan 2


def _reference_ledger(rows: list[tuple[float, float]]) -> tuple[float, float, float]:
    """Plain per-trade loop of the average-cost rules, to check the vectorized scan."""
    q = cost = realized = 0.0
    for dq, px in rows:
        if q == 0 or np.sign(q) == np.sign(dq):
            cost += dq * px
            q += dq
        elif abs(dq) <= abs(q):
            avg = cost / q
            realized += -dq * (px - avg)
            q = round(q + dq, 6)
            cost = avg * q
        else:
            avg = cost / q
            realized += q * (px - avg)
            q = round(q + dq, 6)
            cost = q * px
    return q, (cost / q if q else float("nan")), realized


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.tuples(st.integers(-50, 50).filter(bool),
                                   st.integers(90, 110)), min_size=1, max_size=12),
                min_size=1, max_size=4))
def test_positions_match_a_reference_loop(groups: list[list[tuple[int, int]]]) -> None:
    rows = []
    for g, seq in enumerate(groups):
        for k, (dq, px) in enumerate(seq):
            rows.append(trade(f"{k:03d}", date(2025, 5, 1 + k), "PETR4", dq, float(px),
                              sid=f"S{g}"))
    pos = mtm.positions_as_of(pd.DataFrame(rows), date(2025, 6, 30)).set_index("strategy_id")
    for g, seq in enumerate(groups):
        q, avg, realized = _reference_ledger([(float(a), float(b)) for a, b in seq])
        got = pos.loc[f"S{g}"]
        assert got["quantity"] == q
        assert got["realized_pnl"] == pytest.approx(realized, abs=1e-6)
        if q:
            assert got["avg_cost"] == pytest.approx(avg, rel=1e-12)
        else:
            assert np.isnan(got["avg_cost"])

# ------------------------------------------------------------------------------- ledger checks


def test_ledger_must_agree_with_previous_marks() -> None:
    with pytest.raises(InvalidInput, match="rerun MarkToMarket"):
        mtm.mark_to_market(inputs(
            D, P, [trade("t1", P, "DI1F27", 120, 80_700.0)], [mark(P, "DI1F27", 100, 80_703.30)],
            [price(D, "DI1F27", 80_635.43, 0.146)], cdi_rows=cdi(P)))
    with pytest.raises(InvalidInput, match="has no mark"):
        mtm.mark_to_market(inputs(
            D, P, [trade("t1", P, "DI1F27", 100, 80_700.0)], [],
            [price(D, "DI1F27", 80_635.43, 0.146)], cdi_rows=cdi(P)))
    with pytest.raises(InvalidInput, match="on or after the contract's maturity"):
        mtm.mark_to_market(inputs(
            date(2026, 1, 2), date(2025, 12, 31),
            [trade("t1", date(2026, 1, 2), "DI1F26", 1, 100_000.0)], [], []))

def test_first_day_refuses_older_trades() -> None:
    with pytest.raises(InvalidInput, match="predate the fund's first business date"):
        mtm.mark_to_market(inputs(D, None, [trade("t", P, "PETR4", 10, 30.0)], [],
                                  [price(D, "PETR4", 30.5)]))
    first = mtm.mark_to_market(inputs(D, None, [trade("t", D, "PETR4", 10, 30.0, cost=1.0)], [],
                                      [price(D, "PETR4", 30.5)]))
    r = row(first, "PETR4")
    assert r["pnl_new_trades_brl"] == 5.0 and r["pnl_costs_brl"] == -1.0 and r["pnl_brl"] == 4.0

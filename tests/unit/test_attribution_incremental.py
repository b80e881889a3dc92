"""Tests of the chained attribution (``attribute_incremental``) and of the reference data.

The chained result equals the full recomputation bit for bit (with the base's running sums)
or to the centavo (from the stored rows); a prepared ``Reference`` gives the same results as
none and is refused when it does not describe the frames passed.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pms_luigi.core.attribution import Reference, attribute_incremental, reference_digest
from pms_luigi.core.errors import InvalidInput
from tests.unit.attribution_fund import (
    ALL_DAYS,
    INSTRUMENTS,
    STRATEGIES,
    Fund,
    cents,
    funds,
    make_fund,
    run,
)


def persisted(rows: pd.DataFrame) -> pd.DataFrame:
    """What the writer stores and the reader returns: R$ in centavos, bps to 10 decimals."""
    return rows.assign(pnl_brl=[float(cents(x)) for x in rows["pnl_brl"]],
                       contribution_bps=np.round(rows["contribution_bps"].to_numpy(), 10))


def assert_same_attribution(incremental, full, *, exact: bool = True) -> None:
    """Exact: identical frames bit for bit. Otherwise (chained on stored rows without the
    state): same buckets and order, R$ equal to the centavo, bps within 1e-7."""
    a, b = incremental.rows, full.rows
    if exact:
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    else:
        keys = ["business_date", "period", "dimension", "bucket"]
        assert a[keys].to_dict("records") == b[keys].to_dict("records")
        assert [cents(x) for x in a["pnl_brl"]] == [cents(x) for x in b["pnl_brl"]]
        np.testing.assert_allclose(a["contribution_bps"], b["contribution_bps"], rtol=0,
                                   atol=1e-7)
    pd.testing.assert_frame_equal(incremental.stats, full.stats)
    pd.testing.assert_frame_equal(incremental.equity_curve, full.equity_curve)
    ignore = {"method", "base_date"}
    assert {k: v for k, v in incremental.metadata.items() if k not in ignore} == \
        {k: v for k, v in full.metadata.items() if k not in ignore}


def chain(fund: Fund, base_result, base: date, on: date, *, with_state: bool = True):
    gap = fund.facts[(fund.facts["business_date"] > base) & (fund.facts["business_date"] <= on)]
    return attribute_incremental(
        persisted(base_result.rows), base, gap, fund.books, STRATEGIES, INSTRUMENTS, on,
        fund.inception, base_state=base_result.metadata["chain_state"] if with_state else None)


@pytest.mark.parametrize("with_state", [True, False], ids=["exact-state", "stored-rows"])
def test_incremental_chain_equals_full_recomputation_across_period_boundaries(
        with_state: bool) -> None:
    # Nov 2025 .. Feb 2026: week, month, quarter and year boundaries, Carnival, capital flows.
    start = ALL_DAYS.index(date(2025, 11, 3))
    fund = make_fund(seed=42, start=start, n_days=80, n_positions=12, presence=0.7)
    assert fund.days[0] < date(2026, 1, 1) < fund.days[-1]
    chained = None
    for i, on in enumerate(fund.days):
        full = run(fund, on)
        if i == 0:
            chained = full
        else:
            chained = chain(fund, chained, fund.days[i - 1], on, with_state=with_state)
            assert chained.metadata["method"] == "incremental"
        if with_state:
            assert_same_attribution(chained, full)
        else:  # chained on stored rows: the chain_state would differ in the last bits
            chained.metadata["chain_state"] = full.metadata["chain_state"]
            assert_same_attribution(chained, full, exact=False)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(funds(max_days=45), st.data())
def test_incremental_from_any_earlier_base_equals_full(fund: Fund, data: st.DataObject) -> None:
    if len(fund.days) < 2:
        return
    j = data.draw(st.integers(0, len(fund.days) - 2))
    k = data.draw(st.integers(j + 1, len(fund.days) - 1))
    base, on = fund.days[j], fund.days[k]
    assert_same_attribution(chain(fund, run(fund, base), base, on), run(fund, on))


def test_incremental_refuses_incomplete_base_rows_and_a_bad_base() -> None:
    fund = make_fund(seed=3, start=10, n_days=5, n_positions=4)
    base, on = fund.days[2], fund.days[3]
    rows = persisted(run(fund, base).rows)
    today = fund.facts[fund.facts["business_date"] == on]
    with pytest.raises(InvalidInput, match="no ITD rows"):
        attribute_incremental(rows[rows["period"] != "ITD"], base, today, fund.books,
                              STRATEGIES, INSTRUMENTS, on, fund.inception)
    with pytest.raises(InvalidInput, match="listed twice"):
        attribute_incremental(pd.concat([rows, rows.iloc[:1]]), base, today, fund.books,
                              STRATEGIES, INSTRUMENTS, on, fund.inception)
    with pytest.raises(InvalidInput, match="base"):
        attribute_incremental(rows, on, today, fund.books, STRATEGIES, INSTRUMENTS, on,
                              fund.inception)
    state = run(fund, fund.days[1]).metadata["chain_state"]  # another date's state
    with pytest.raises(InvalidInput, match="chain_state"):
        attribute_incremental(rows, base, today, fund.books, STRATEGIES, INSTRUMENTS, on,
                              fund.inception, base_state=state)


def test_reference_digest_changes_with_a_reclassification() -> None:
    digest = reference_digest(STRATEGIES, INSTRUMENTS)
    assert digest == reference_digest(STRATEGIES.iloc[::-1], INSTRUMENTS.iloc[::-1])
    moved = INSTRUMENTS.assign(asset_class=INSTRUMENTS["asset_class"].replace("CUPOM", "FX"))
    assert reference_digest(STRATEGIES, moved) != digest
    retagged = STRATEGIES.assign(is_systematic=~STRATEGIES["is_systematic"])
    assert reference_digest(retagged, INSTRUMENTS) != digest


def test_a_prepared_reference_gives_the_same_results_as_none() -> None:
    """The Reference a run prepares once: full and chained passes identical bit for bit."""
    fund = make_fund(seed=11, start=ALL_DAYS.index(date(2025, 12, 22)), n_days=12,
                     n_positions=9)
    ref = Reference.of(STRATEGIES, INSTRUMENTS)
    assert ref.digest == reference_digest(STRATEGIES, INSTRUMENTS)
    base, on = fund.days[5], fund.days[-1]
    full = run(fund, base)
    assert_same_attribution(run(fund, base, reference=ref), full)
    gap = fund.facts[(fund.facts["business_date"] > base) & (fund.facts["business_date"] <= on)]
    state = full.metadata["chain_state"]
    chained = [attribute_incremental(full.rows, base, gap, fund.books, STRATEGIES, INSTRUMENTS,
                                     on, fund.inception, base_state=state, **kw)
               for kw in ({}, {"reference": ref})]
    assert_same_attribution(chained[1], chained[0])


def test_a_reference_of_other_rows_is_refused() -> None:
    fund = make_fund(seed=5, start=30, n_days=4, n_positions=5)
    ref = Reference.of(STRATEGIES, INSTRUMENTS)
    moved = INSTRUMENTS.assign(asset_class=INSTRUMENTS["asset_class"].replace("CUPOM", "FX"))
    assert ref.matches(STRATEGIES, INSTRUMENTS) and not ref.matches(STRATEGIES, moved)
    with pytest.raises(InvalidInput, match="Reference"):
        run(fund, reference=Reference.of(STRATEGIES, moved))

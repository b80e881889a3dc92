"""The attribution step's write and payload, on both store pairs.

``PerformanceAttribution`` writes its rows through the bulk path and builds the payload from
the result; the engine's own tests are in ``tests/unit/test_attribution*.py``.
"""
from __future__ import annotations

import pandas as pd
import sqlalchemy as sa

from pms_luigi.core.frames import canonical_json
from pms_luigi.pipeline.steps.attribution import (
    BOOK_COLUMNS,
    AttributionInputs,
    PerformanceAttribution,
)
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import insert_frame, replace_on
from tests.conftest import World
from tests.unit.attribution_fund import INSTRUMENTS, STRATEGIES, make_fund


def test_step_writes_the_generic_values_and_its_payload_equals_the_republish(
        world: World) -> None:
    """``PerformanceAttribution`` writes its rows through the bulk path and builds the
    payload from the result (the equity curve from the books read for the computation):
    the stored rows are those the generic writer stores, and the text is byte for byte
    the republish from the database and the canonical JSON of the payload's definition."""
    fund = make_fund(seed=8, start=40, n_days=30, n_positions=10)
    zeros = dict.fromkeys(["gross_notional_brl", "net_notional_brl", "leverage", "dv01_brl",
                           "fx_delta_usd", "equity_delta_brl", "n_positions"], 0)
    books = fund.books.assign(pnl_bps=fund.books["pnl_brl"] / fund.books["nav_prev_brl"] * 1e4,
                              is_b3_session=True, **zeros)
    with world.engine.begin() as conn:
        conn.execute(sa.insert(s.fund).values(fund_id="default", name="t",
                                              inception_date=fund.inception,
                                              initial_nav=float(books["nav_prev_brl"].iloc[0])))
        insert_frame(conn, s.book_snapshots, books)
    task, run_id = PerformanceAttribution(date=fund.on), "r" * 32
    with world.engine.connect() as conn:
        result = task.compute(AttributionInputs(
            fund.facts, rd.columns_between(conn, s.book_snapshots, fund.inception, fund.on,
                                           BOOK_COLUMNS), STRATEGIES, INSTRUMENTS,
            inception=fund.inception))
    with world.engine.connect() as conn:  # what the generic writer stores (rolled back)
        tx = conn.begin()
        replace_on(conn, s.attribution, fund.on,
                   result.frames[s.attribution].assign(run_id=run_id))
        generic = rd.rows_on(conn, s.attribution, fund.on)
        tx.rollback()
    with world.engine.begin() as conn:
        task.write(conn, result, run_id)
        texts = task.payload_texts(conn, result)
    keys = ["period", "dimension", "bucket"]
    with world.engine.connect() as conn:
        assert task.payload_texts(conn) == texts
        stored = rd.rows_on(conn, s.attribution, fund.on)
        stats = rd.rows_on(conn, s.performance_stats, fund.on)
        curve = rd.books_between(conn, fund.inception, fund.on)
    pd.testing.assert_frame_equal(stored.sort_values(keys).reset_index(drop=True),
                                  generic.sort_values(keys).reset_index(drop=True),
                                  check_exact=True)
    assert texts == {"attribution": canonical_json({
        "date": fund.on.isoformat(),
        "rows": stored.drop(columns=["run_id"]).sort_values(keys).to_dict("records"),
        "stats": {r["period"]: r["stats"] for r in stats.to_dict("records")},
        "equity_curve": curve[["business_date", "nav_brl", "pnl_bps"]].to_dict("records"),
    })}

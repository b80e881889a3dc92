"""Writers and readers on both store pairs: bulk paths (INSERT and PostgreSQL COPY) round-trip
the same values, money is rounded half-even to centavos once, NULLs stay NULL."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import COPY_THRESHOLD, replace_on


def _marks(n: int, on: date) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame({
        "business_date": on, "instrument_id": [f"I{i % 97:03d}" for i in range(n)],
        "strategy_id": [f"S{i // 97:04d}" for i in range(n)], "asset_class": "RATES",
        "quantity": rng.integers(-50, 50, n).astype(float), "avg_cost": np.nan,
        "price": rng.uniform(50_000, 99_000, n), "price_date": on, "is_stale": i_stale(n),
        "staleness_bd": 0, "fx_rate": None, "market_value_brl": 0.0,
        "notional_brl": rng.uniform(1e5, 1e7, n), "pnl_brl": rng.normal(0, 1e4, n),
        "pnl_carry_brl": 0.005, "pnl_market_brl": 0.015, "pnl_fx_brl": 0.025,
        "pnl_new_trades_brl": 0.0, "pnl_realized_brl": 0.0, "pnl_costs_brl": 0.0,
        "pnl_residual_brl": 0.0, "pnl_bps": 0.1, "dv01_brl": -12.5, "fx_delta_usd": 0.0,
        "equity_delta_brl": 0.0, "run_id": "r1"})


def i_stale(n: int) -> list[bool]:
    return [i % 7 == 0 for i in range(n)]


def test_bulk_insert_round_trips_on_both_paths(world) -> None:  # noqa: ANN001
    on = date(2026, 11, 26)
    for n in (3, COPY_THRESHOLD + 100):  # executemany, then COPY on PostgreSQL
        frame = _marks(n, on)
        with world.engine.begin() as conn:
            assert replace_on(conn, s.position_marks, on, frame) == n
        with world.engine.connect() as conn:
            back = rd.marks_on(conn, on).sort_values(["instrument_id", "strategy_id"])
        assert len(back) == n
        exp = frame.sort_values(["instrument_id", "strategy_id"])
        np.testing.assert_allclose(back["price"].to_numpy(float), exp["price"].to_numpy(), rtol=1e-12)
        np.testing.assert_array_equal(back["is_stale"].astype(bool), exp["is_stale"])
        assert back["avg_cost"].isna().all() and back["fx_rate"].isna().all()
        # money columns: half-even to centavos at the boundary (0.005 -> 0.00, 0.015 -> 0.02)
        assert set(back["pnl_carry_brl"]) == {0.0} and set(back["pnl_market_brl"]) == {0.02}
        assert set(back["pnl_fx_brl"]) == {0.02}


def test_replace_on_touches_only_that_date(world) -> None:  # noqa: ANN001
    d1, d2 = date(2026, 11, 25), date(2026, 11, 26)
    with world.engine.begin() as conn:
        replace_on(conn, s.position_marks, d1, _marks(4, d1))
        replace_on(conn, s.position_marks, d2, _marks(5, d2))
        replace_on(conn, s.position_marks, d2, _marks(2, d2))
    with world.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(s.position_marks.c.business_date, sa.func.count())
                                   .group_by(s.position_marks.c.business_date)).all())
    assert counts == {d1: 4, d2: 2}

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


def test_bulk_insert_round_trips_on_both_paths(world) -> None:
    on = date(2026, 11, 26)
    for n in (3, COPY_THRESHOLD + 100):  # executemany, then COPY on PostgreSQL
        frame = _marks(n, on)
        with world.engine.begin() as conn:
            assert replace_on(conn, s.position_marks, on, frame) == n
        with world.engine.connect() as conn:
            back = rd.marks_on(conn, on).sort_values(["instrument_id", "strategy_id"])
        assert len(back) == n
        exp = frame.sort_values(["instrument_id", "strategy_id"])
        np.testing.assert_allclose(back["price"].to_numpy(float), exp["price"].to_numpy(),
                                   rtol=1e-12)
        np.testing.assert_array_equal(back["is_stale"].astype(bool), exp["is_stale"])
        assert back["avg_cost"].isna().all() and back["fx_rate"].isna().all()
        # money columns: half-even to centavos at the boundary (0.005 -> 0.00, 0.015 -> 0.02)
        assert set(back["pnl_carry_brl"]) == {0.0} and set(back["pnl_market_brl"]) == {0.02}
        assert set(back["pnl_fx_brl"]) == {0.02}


def test_replace_on_touches_only_that_date(world) -> None:
    d1, d2 = date(2026, 11, 25), date(2026, 11, 26)
    with world.engine.begin() as conn:
        replace_on(conn, s.position_marks, d1, _marks(4, d1))
        replace_on(conn, s.position_marks, d2, _marks(5, d2))
        replace_on(conn, s.position_marks, d2, _marks(2, d2))
    with world.engine.connect() as conn:
        counts = dict(conn.execute(sa.select(s.position_marks.c.business_date, sa.func.count())
                                   .group_by(s.position_marks.c.business_date)).all())
    assert counts == {d1: 4, d2: 2}


def test_typed_rows_read_back_byte_identical_on_every_path(world) -> None:
    """The MTM payload contract: a typed frame written (COPY, executemany or Core INSERT) reads
    back — numerics as floats — to the same canonical JSON text, so a payload built from the
    frame just written equals a republish from the DB."""
    from pms_luigi.cache.payloads import records_json
    from pms_luigi.store.writers import insert_typed, replace_typed, typed_frame

    on = date(2026, 11, 26)
    for n in (3, COPY_THRESHOLD + 100):
        frame = _marks(n, on)
        rng = np.random.default_rng(n)
        frame["price"] = rng.uniform(0.5, 150_000, n) + 1e-9 / 3  # more decimals than scale 8
        frame["avg_cost"] = np.where(np.arange(n) % 3 == 0, np.nan, frame["price"] * 1.0000000037)
        frame["fx_rate"] = np.where(np.arange(n) % 2 == 0, None, 5.123456789)
        frame["quantity"] = rng.integers(-5, 5, n) * 1e5 + 1e-7  # below the qty scale (6)
        frame["pnl_brl"] = rng.normal(0, 1e9, n)
        frame.loc[0, "pnl_brl"] = -0.0
        frame.loc[1, "pnl_brl"] = 1.0e12 + 0.005
        frame["pnl_bps"] = rng.normal(0, 1, n) / 7.0
        frame["staleness_bd"] = np.arange(n) % 4
        typed = typed_frame(s.position_marks, frame).sort_values(
            ["instrument_id", "strategy_id"], kind="mergesort").reset_index(drop=True)
        with world.engine.begin() as conn:
            assert replace_typed(conn, s.position_marks, on, typed) == n
        with world.engine.connect() as conn:
            back = typed_frame(s.position_marks, rd.marks_typed(conn, on)).sort_values(
                ["instrument_id", "strategy_id"], kind="mergesort").reset_index(drop=True)
        assert records_json(back) == records_json(typed)
        assert back["avg_cost"].isna().sum() == typed["avg_cost"].isna().sum() > 0
    with world.engine.begin() as conn:  # the generic fallback (Core INSERT) keeps it too
        conn.execute(sa.delete(s.position_marks))
        tiny = typed.iloc[:2]
        from pms_luigi.store.writers import insert_frame
        dates = {c: pd.to_datetime(tiny[c]).dt.date for c in ("business_date", "price_date")}
        insert_frame(conn, s.position_marks, tiny.assign(**dates))
    with world.engine.connect() as conn:
        back = typed_frame(s.position_marks, rd.marks_typed(conn, on)).sort_values(
            ["instrument_id", "strategy_id"], kind="mergesort").reset_index(drop=True)
    assert records_json(back) == records_json(tiny)
    assert insert_typed is not None


def test_records_json_is_canonical_json_of_the_records() -> None:
    from pms_luigi.cache.payloads import records_json
    from pms_luigi.core.frames import canonical_json
    from pms_luigi.store.writers import typed_frame

    frame = typed_frame(s.position_marks, _marks(50, date(2026, 11, 26)))
    expected = [{k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
                for r in frame.astype(object).to_dict("records")]
    assert records_json(frame) == canonical_json(expected)


def test_typed_columns_are_the_typed_frame_without_the_frame(world) -> None:
    """The MTM step's array path: ``typed_columns`` with a constant is ``typed_frame`` of the
    frame with that column assigned (values and dtypes), ``sorted_columns`` is the stable
    ``sort_values``, and written through ``replace_typed`` the arrays read back to the same
    payload text as the frame."""
    from pms_luigi.cache.payloads import records_json
    from pms_luigi.store.writers import (
        float_texts,
        replace_typed,
        sorted_columns,
        typed_columns,
        typed_frame,
    )

    on, keys = date(2026, 11, 26), ["instrument_id", "strategy_id"]
    for n in (0, 1, 3, COPY_THRESHOLD + 100):  # empty, executemany, COPY on PostgreSQL
        marks = _marks(n, on).drop(columns=["run_id"]).sample(frac=1, random_state=3)
        marks["staleness_bd"] = marks["staleness_bd"].astype("Int64")  # a nullable dtype too
        frame = typed_frame(s.position_marks, marks.assign(run_id="r9"))
        cols = typed_columns(s.position_marks, marks, {"run_id": "r9"})
        assert list(cols) == list(frame.columns)
        for name, values in cols.items():
            assert values.dtype == frame[name].to_numpy().dtype, name
            assert repr(values.tolist()) == repr(frame[name].tolist()), name
        ordered = sorted_columns(cols, keys)
        expected = frame.sort_values(keys, kind="mergesort").reset_index(drop=True)
        assert records_json(ordered) == records_json(expected)
        if not n:
            continue
        with world.engine.begin() as conn:
            assert replace_typed(conn, s.position_marks, on, ordered,
                                 reprs=float_texts(ordered)) == n
        with world.engine.connect() as conn:
            back = sorted_columns(typed_columns(s.position_marks, rd.marks_typed(conn, on)), keys)
        assert records_json(back, float_texts(back)) == records_json(expected)


def test_config_files_reparse_when_their_bytes_change(tmp_path) -> None:
    """The run context's reference files parse a file once per content: a same-size edit
    is seen at once (no timestamp involved) and a caller's changes to what it got never
    reach the next caller."""
    from pms_luigi.pipeline.context import ReferenceFiles

    files = ReferenceFiles(tmp_path)
    path = tmp_path / "limits.csv"
    path.write_text("limit,metric,limit_value,warn_pct\nVAR95,var95_bps,200,80\n")
    first = files.limits()
    first.loc[0, "limit_value"] = -1.0  # the caller's copy
    assert files.limits().loc[0, "limit_value"] == 200
    path.write_text("limit,metric,limit_value,warn_pct\nVAR95,var95_bps,300,80\n")  # same size
    assert files.limits().loc[0, "limit_value"] == 300
    (tmp_path / "stress_scenarios.json").write_text('{"a": [1]}')
    got = files.stress_scenarios()
    got["a"].append(2)
    assert files.stress_scenarios() == {"a": [1]}

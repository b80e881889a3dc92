"""The pipelined backfill (``--workers 2`` on the local scheduler), on both store pairs.

MTM of chunk k+1 runs in the backfill process while the consumer process builds attribution of
chunk k. One demo world per backend: a date in the middle has no prices yet, so the first
backfill stops there with exit 3 (everything before it built, nothing after, no child left
running); the prices then arrive and a second backfill finishes the range. Tests run in
file order.
"""
from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import date

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core import calendar
from pms_luigi.ops import backfill as backfills
from pms_luigi.ops import runner
from pms_luigi.pipeline import context, graph
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, World, make_world

END = date(2026, 11, 26)
EOD = list(graph.EOD_FAMILIES)
CHUNK = 6


@pytest.fixture(scope="module", params=BACKENDS)
def late(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[World, demo.DemoData, date]]:
    """A 40-day demo world whose prices of one mid-range B3 session are not loaded yet."""
    with make_world(request.param, tmp_path_factory.mktemp("pipeline")) as w:
        data = demo.generate(seed=3, end=END, n_days=40)
        days = calendar.business_days(data.start, END)
        hole = next(d for d in days[20:] if calendar.is_b3_session(d))
        frames = data.frames()
        frames["market_prices"] = data.market_prices[data.market_prices["price_date"] != hole]
        load_inputs(w.engine, frames)
        context.forget()
        yield w, data, hole


def _done_runs(w: World) -> pd.DataFrame:
    with w.engine.connect() as conn:
        return pd.read_sql(sa.select(s.task_runs.c.family, s.task_runs.c.business_date)
                           .where(s.task_runs.c.status == "DONE"), conn)


def _built(w: World, family: str, days: list[date]) -> list[date]:
    with w.engine.connect() as conn:
        return sorted(mk.read_markers(conn, family, days))


def test_missing_prices_stop_the_pipeline_after_what_can_be_built(late) -> None:
    w, data, hole = late
    days = calendar.business_days(data.start, END)
    before = [d for d in days if d < hole]
    assert backfills.backfill(data.start, END, EOD, chunk=CHUNK, workers=2,
                           progress=None) == runner.ExitCode.MISSING_DATA
    assert multiprocessing.active_children() == []  # the child of the last chunk was joined
    for fam in EOD:  # every date before the hole, attribution included; nothing from it on
        assert _built(w, fam, days) == before, fam


def test_resumed_pipeline_builds_every_step_once_and_chains_attribution(late) -> None:
    w, data, hole = late
    days = calendar.business_days(data.start, END)
    load_inputs(w.engine, {"market_prices":
                           data.market_prices[data.market_prices["price_date"] == hole]})
    assert backfills.backfill(data.start, END, EOD, chunk=CHUNK, workers=2,
                           progress=None) == runner.ExitCode.OK
    runs = _done_runs(w)
    counts = runs.groupby(["family", "business_date"]).size()
    assert len(counts) == len(EOD) * len(days) and (counts == 1).all()
    with w.engine.connect() as conn:
        attr = mk.read_markers(conn, "pms.PerformanceAttribution", days)
    methods = [attr[d].metadata["method"] for d in days]
    # each chunk's attribution ran after the previous chunk's: all chained but the first
    assert methods == ["full"] + ["incremental"] * (len(days) - 1)
    assert backfills.missing(EOD, days) == {fam: [] for fam in EOD}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_consumer_killed_mid_chunk_fails_the_backfill_and_a_rerun_finishes(
        backend: str, tmp_path_factory: pytest.TempPathFactory,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The consumer process (attribution) is SIGKILLed in its first step: the backfill ends
    with exit 1 instead of waiting for an answer that never comes, leaves no process behind,
    and a rerun builds what is missing, every step once."""
    with make_world(backend, tmp_path_factory.mktemp("consumer")) as w:
        data = demo.generate(seed=5, end=END, n_days=40)
        load_inputs(w.engine, data.frames())
        context.forget()
        days = calendar.business_days(data.start, END)
        monkeypatch.setenv("PMS_FAULT", "pms.PerformanceAttribution:after_read")
        assert backfills.backfill(data.start, END, EOD, chunk=CHUNK, workers=2,
                                  progress=None) == runner.ExitCode.FAILED
        assert multiprocessing.active_children() == []
        assert _built(w, "pms.PerformanceAttribution", days) == []
        monkeypatch.delenv("PMS_FAULT")
        assert backfills.backfill(data.start, END, EOD, chunk=CHUNK, workers=2,
                                  progress=None) == runner.ExitCode.OK
        runs = _done_runs(w)
        assert (runs.groupby(["family", "business_date"]).size() == 1).all()
        assert all(_built(w, fam, days) == days for fam in EOD)

"""Signed notionals end to end: the stored marks, the book payload and the risk snapshot agree.

On the shared demo fund ``FUND_11`` (a long/short macro book), for its last built close:
every mark's ``notional_brl`` has the sign of its quantity (shorts negative), the ``book``
payload publishes the stored values, the book row sums them (gross Σ|n|, net Σ n, leverage =
gross / NAV) and the risk snapshot's gross and net leverage — and its NET_LEVERAGE and
GROSS_LEVERAGE limit rows — are those same two numbers.
"""
from __future__ import annotations

import json
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.store import schema as s
from tests.conftest import BACKENDS, FUND_11, DemoWorlds, World

ON = FUND_11.through


@pytest.fixture(scope="module", params=BACKENDS)
def built(request: pytest.FixtureRequest, demo_worlds: DemoWorlds,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, demo.DemoData]]:
    with demo_worlds.copy(FUND_11, request.param, tmp_path_factory.mktemp("signed")) as w:
        yield w


def _stored(w: World) -> tuple[pd.DataFrame, dict, dict]:
    with w.engine.connect() as conn:
        marks = pd.DataFrame(conn.execute(sa.select(s.position_marks).where(
            s.position_marks.c.business_date == ON)).mappings().all())
        book = dict(conn.execute(sa.select(s.book_snapshots).where(
            s.book_snapshots.c.business_date == ON)).mappings().one())
        snap = dict(conn.execute(sa.select(s.risk_snapshots).where(
            s.risk_snapshots.c.business_date == ON)).mappings().one())
    details = snap["details"] if isinstance(snap["details"], dict) else json.loads(
        snap["details"])
    return marks, book, details


def test_marks_payload_book_and_risk_share_the_signed_notionals(built) -> None:
    w, _ = built
    marks, book, details = _stored(w)
    n = marks["notional_brl"].astype(float).to_numpy()
    q = marks["quantity"].astype(float).to_numpy()
    assert (n < 0).any() and (n > 0).any()  # a long/short book
    assert (np.sign(n[n != 0]) == np.sign(q[n != 0])).all()

    payload = json.loads(w.redis.get(f"{w.namespace}:book:{ON.isoformat()}"))["data"]
    published = {(p["instrument_id"], p["strategy_id"]): p["notional_brl"]
                 for p in payload["positions"]}
    assert published == {(r.instrument_id, r.strategy_id): float(r.notional_brl)
                         for r in marks.itertuples()}
    for field in ("gross_notional_brl", "net_notional_brl", "leverage", "nav_brl"):
        assert payload[field] == pytest.approx(float(book[field]), abs=1e-9)

    cents = 0.005 * len(n)  # marks are stored in whole centavos, the book sums the floats
    gross, net, nav = float(book["gross_notional_brl"]), float(book["net_notional_brl"]), \
        float(book["nav_brl"])
    assert gross == pytest.approx(np.abs(n).sum(), abs=cents)
    assert net == pytest.approx(n.sum(), abs=cents)
    assert abs(net) < 0.8 * gross
    assert float(book["leverage"]) == pytest.approx(gross / nav, rel=1e-9)

    metrics = details["metrics"]
    assert metrics["gross_leverage"] == pytest.approx(float(book["leverage"]), rel=1e-9)
    assert metrics["net_leverage"] == pytest.approx(abs(net) / nav, rel=1e-9)
    limits = {row["limit"]: row for row in details["limits"]}
    assert limits["GROSS_LEVERAGE"]["value"] == metrics["gross_leverage"]
    assert limits["NET_LEVERAGE"]["value"] == metrics["net_leverage"]

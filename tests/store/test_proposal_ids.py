"""A proposal keeps its id across reruns (``writers.replace_pending_proposals``), on both
store pairs; decisions already taken are never lost or re-keyed.

A pipeline proposal is named by (business date, instrument, side, action): an id quoted from
the 06:30 pack must still name the same proposal after a rerun of ``TradeProposals(D)``.
"""
from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import sqlalchemy as sa

from pms_luigi.ops import workflow
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import replace_pending_proposals
from tests.conftest import World

D = date(2026, 11, 27)


def _frame(rows: list[tuple[str, str, str, float]], run: str) -> pd.DataFrame:
    """Pipeline proposals for D from (instrument, side, action, quantity), ranked in order."""
    now = datetime.now(UTC)
    return pd.DataFrame([dict(
        business_date=D, instrument_id=i, side=side, action=action, quantity=q,
        notional_brl=abs(q) * 1_000.0, dv01_brl=-q, delta_brl=0.0, conviction=0.5,
        strategies=[{"strategy_id": "RATES_BR_01", "weight": 1.0, "conviction": 0.5}],
        rationale=f"{action} {i}", risk_impact={"score": 1.0}, breaches=[], rank=n + 1,
        status="PENDING", origin="PIPELINE", run_id=run, created_at=now, updated_at=now)
        for n, (i, side, action, q) in enumerate(rows)])


def _write(w: World, frame: pd.DataFrame) -> pd.DataFrame:
    with w.engine.begin() as conn:
        replace_pending_proposals(conn, D, frame)
    with w.engine.connect() as conn:
        return rd.proposals_on(conn, D).set_index("instrument_id")


ROWS = [("DI1F31", "BUY", "INCREASE", 390.0), ("WDOF27", "BUY", "CLOSE", 373.0),
        ("NTNB_2030", "SELL", "CLOSE", -12_970.0)]


def test_a_rerun_with_unchanged_inputs_keeps_every_id_and_created_at(world: World) -> None:
    first = _write(world, _frame(ROWS, "a" * 32))
    again = _write(world, _frame(ROWS, "b" * 32))
    assert again["proposal_id"].to_dict() == first["proposal_id"].to_dict()
    assert (again["created_at"] == first["created_at"]).all()
    assert set(again["run_id"]) == {"b" * 32}  # the values come from the new run
    assert len(again) == 3


def test_a_changed_key_gets_a_new_id_and_the_old_one_goes(world: World) -> None:
    first = _write(world, _frame(ROWS, "a" * 32))
    changed = [ROWS[0], ("WDOF27", "SELL", "FLIP", -500.0), ROWS[2]]
    after = _write(world, _frame(changed, "b" * 32))
    assert after.at["DI1F31", "proposal_id"] == first.at["DI1F31", "proposal_id"]
    assert after.at["NTNB_2030", "proposal_id"] == first.at["NTNB_2030", "proposal_id"]
    assert after.at["WDOF27", "action"] == "FLIP"
    assert after.at["WDOF27", "proposal_id"] > first["proposal_id"].max()  # never reused
    with world.engine.connect() as conn:
        gone = conn.execute(sa.select(s.proposals).where(
            s.proposals.c.proposal_id == int(first.at["WDOF27", "proposal_id"]))).first()
    assert gone is None


def test_decisions_are_never_lost_or_rekeyed_by_a_rerun(world: World) -> None:
    first = _write(world, _frame(ROWS, "a" * 32))
    approved = int(first.at["DI1F31", "proposal_id"])
    rejected = int(first.at["WDOF27", "proposal_id"])
    workflow.approve(world.engine, approved, actor="pm.silva", reason="fits the book")
    workflow.reject(world.engine, rejected, reason="no", actor="pm.silva")
    head = workflow.verify(world.engine).head
    # a rerun that (racing the decisions) still proposes the decided keys
    after = _write(world, _frame(ROWS, "c" * 32))
    assert len(after) == 3  # no second row for a decided key
    assert after.at["DI1F31", "proposal_id"] == approved
    assert after.at["DI1F31", "status"] == "APPROVED" and after.at["DI1F31", "run_id"] == "a" * 32
    assert after.at["WDOF27", "status"] == "REJECTED"
    assert after.at["NTNB_2030", "proposal_id"] == first.at["NTNB_2030", "proposal_id"]
    # a rerun that proposes nothing keeps the decisions and drops only the PENDING row
    empty = _write(world, _frame([], "d" * 32).iloc[0:0])
    assert sorted(empty["proposal_id"]) == sorted([approved, rejected])
    report = workflow.verify(world.engine)
    assert report.ok and report.head == head  # the journal is untouched
    _, entries, _ = workflow.show(world.engine, approved)
    assert entries["action"].tolist() == ["APPROVE"]

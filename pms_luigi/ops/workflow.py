"""The human side of trade proposals: approve, reject, modify and book, with an audit trail.

Why outside the pipeline: decisions are made by people at any time of the day, not by the
scheduler; they only need the store. This module sequences them and reads what the pure
rules cannot — the clock and ``$USER``. Every operation is ONE transaction that

1. takes the decision journal's chain lock (``store.journal.chain_transaction``) and, on
   PostgreSQL, the proposal's row lock, so a concurrent proposal-step rerun for the same
   date either rewrites the PENDING row first (updated in place under the same id, or
   deleted when no longer proposed: the decision then acts on the new values or finds it
   gone) or waits and then skips it (its UPDATE and DELETE re-check ``status =
   'PENDING'``);
2. checks the transition (``lifecycle.next_status``: an illegal one names the proposal and
   both states);
3. updates the proposal (status, and for MODIFY the re-sized fields), inserts the trade for
   BOOK, and appends the hash-chained journal entry (payload = the proposal before and
   after, plus the trade) — all committed together or not at all.

The rules (reasons, actors, re-sizing, the booked trade and its cost) are
:mod:`pms_luigi.core.proposals.lifecycle`; the queries :mod:`pms_luigi.store.decisions`.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from sqlalchemy.engine import Connection, Engine

from pms_luigi.core.frames import json_safe
from pms_luigi.core.proposals import lifecycle
from pms_luigi.core.proposals.chain import GENESIS_HASH
from pms_luigi.core.proposals.lifecycle import WorkflowError
from pms_luigi.store import decisions, journal
from pms_luigi.store import readers as rd

__all__ = ["ChainReport", "Decision", "WorkflowError", "approve", "book", "latest_date",
           "list_proposals", "modify", "reject", "resolve_actor", "show", "verify"]

#: The step whose marks a booked trade changes: booking into a marked date warns to rerun it.
MTM_FAMILY = "pms.MarkToMarket"

#: (columns to write, extra journal payload, the trade booked, warnings) of one decision.
Outcome = tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, list[str]]
Change = Callable[[Connection, dict[str, Any], datetime, str], Outcome]


@dataclass(frozen=True)
class Decision:
    """What one operation committed: the proposal after it, its journal row, the trade."""

    proposal: dict[str, Any]
    entry: dict[str, Any]
    before_status: str
    trade: dict[str, Any] | None = None
    warnings: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ChainReport:
    """Result of walking the journal: broken entry ids with a description of each."""

    n_entries: int
    head: str
    broken: list[int]
    details: list[str]

    @property
    def ok(self) -> bool:
        return not self.broken


def resolve_actor(actor: str | None) -> str:
    """The named actor, else ``$USER`` / ``$LOGNAME`` (``lifecycle.checked_actor`` rules)."""
    return lifecycle.checked_actor(actor or os.environ.get("USER")
                                   or os.environ.get("LOGNAME") or "")


def _load(conn: Connection, proposal_id: int, lock: bool = False) -> dict[str, Any]:
    row = decisions.load_proposal(conn, proposal_id, lock)
    if row is None:
        raise WorkflowError(f"proposal {proposal_id}: not found (a rerun of TradeProposals "
                            "replaces PENDING proposals; list them again)", table="proposals",
                            row=proposal_id, field="proposal_id")
    return row


def _no_change(_conn: Connection, _before: dict[str, Any], _at: datetime, _actor: str,
               ) -> Outcome:
    return {}, {}, None, []


def _decide(engine: Engine, proposal_id: int, action: str, actor: str | None,
            reason: str | None, change: Change = _no_change) -> Decision:
    """The one transaction every decision is: lock, check, change, journal, commit."""
    who = resolve_actor(actor)
    why = lifecycle.checked_reason(proposal_id, action, reason)
    at = datetime.now(UTC)
    pid = int(proposal_id)
    with journal.chain_transaction(engine) as conn:
        before = _load(conn, pid, lock=True)
        status = str(before["status"])
        new_status = lifecycle.next_status(before, action)
        values, extra, trade, warnings = change(conn, before, at, who)
        if decisions.update_proposal(conn, pid, status, {**values, "status": new_status},
                                     at) != 1:  # pragma: no cover - impossible under the locks
            raise WorkflowError(f"{lifecycle.label(before)} changed concurrently",
                                table="proposals", row=pid, field="status")
        after = _load(conn, pid)
        payload = {"before": json_safe(before), "after": json_safe(after), **extra}
        entry = journal.append(conn, proposal_id=pid, action=action, actor=who, reason=why,
                               at=at, payload=payload)
    return Decision(proposal=after, entry=entry, before_status=status, trade=trade,
                    warnings=tuple(warnings))


def approve(engine: Engine, proposal_id: int, actor: str | None = None,
            reason: str | None = None) -> Decision:
    """PENDING → APPROVED (reason optional)."""
    return _decide(engine, proposal_id, "APPROVE", actor, reason)


def reject(engine: Engine, proposal_id: int, reason: str, actor: str | None = None) -> Decision:
    """PENDING → REJECTED; the reason is mandatory (why a system idea was turned down)."""
    return _decide(engine, proposal_id, "REJECT", actor, reason)


def modify(engine: Engine, proposal_id: int, quantity: float, reason: str,
           actor: str | None = None) -> Decision:
    """PENDING/MODIFIED → MODIFIED at a new signed quantity (re-rounded to lots, notional and
    DV01/delta rescaled by ``lifecycle.modify_quantity``); status MODIFIED keeps it out of
    the pipeline's PENDING replacement. Reason mandatory."""

    def change(conn: Connection, before: dict[str, Any], at: datetime, who: str) -> Outcome:
        lot = decisions.lot_size(conn, before["instrument_id"])
        if lot is None:
            raise WorkflowError(f"{lifecycle.label(before)}: instrument not in the master",
                                table="instruments", row=before["instrument_id"],
                                field="instrument_id")
        values = lifecycle.modified_values(before, quantity, lot, who, at)
        return values, {"requested_quantity": float(quantity)}, None, []

    return _decide(engine, proposal_id, "MODIFY", actor, reason, change)


def book(engine: Engine, proposal_id: int, actor: str | None = None, reason: str | None = None,
         price: float | None = None, strategy_id: str | None = None,
         cost_brl: float | None = None) -> Decision:
    """APPROVED/MODIFIED → BOOKED, inserting trade ``P<proposal_id>`` in the same transaction.

    price = ``price`` or the last settlement on or before the proposal's date; strategy =
    ``strategy_id`` or ``lifecycle.booking_strategy``; cost = ``cost_brl`` or
    ``lifecycle.booking_cost_brl`` (USD contracts converted at the last USDBRL CLOSE). A
    second booking is refused (status BOOKED is final, and the trade id is unique). If the
    mark-to-market of that date is already done, a warning says to rerun it.
    """

    def change(conn: Connection, before: dict[str, Any], _at: datetime, _who: str) -> Outcome:
        on, iid = before["business_date"], before["instrument_id"]
        trade_id = f"P{int(before['proposal_id'])}"
        clash = decisions.booked_as(conn, trade_id, int(before["proposal_id"]))
        if clash is not None:
            raise WorkflowError(f"{lifecycle.label(before)} is already booked as trade {clash}",
                                table="trades", row=trade_id, field="proposal_id")
        instruments = rd.instruments(conn)
        inst = instruments.set_index("instrument_id")
        if iid not in inst.index:
            raise WorkflowError(f"{lifecycle.label(before)}: instrument not in the master",
                                table="instruments", row=iid, field="instrument_id")
        if price is None:
            px, px_date = decisions.last_settlement(conn, iid, on)
            extra: dict[str, Any] = {"price_source": f"settlement {px_date.isoformat()}"}
        else:
            px = lifecycle.checked_amount(before, price, "price", zero_ok=False)
            extra = {"price_source": "given"}
        known = set(rd.strategies(conn)["strategy_id"])
        strategy = lifecycle.trade_strategy(before, known, strategy_id)
        cost, extra["cost_source"], extra["fx"] = _booking_cost(
            conn, before, inst.loc[iid], px, cost_brl)
        trade, frame = lifecycle.booking_trade(before, instruments, known, strategy_id=strategy,
                                               price=px, cost_brl=cost)
        decisions.insert_trade(conn, frame)
        warnings = []
        if decisions.is_marked(conn, MTM_FAMILY, on):
            warnings.append(f"{MTM_FAMILY} {on} is already marked: run `pms-luigi rerun --task "
                            f"MarkToMarket --date {on} --downstream` to include trade {trade_id}")
        return {}, {"trade": json_safe(trade), **extra}, trade, warnings

    return _decide(engine, proposal_id, "BOOK", actor, reason, change)


def _booking_cost(conn: Connection, before: dict[str, Any], inst: pd.Series, px: float,
                  cost_brl: float | None) -> tuple[float, str, str | None]:
    """(cost of a booking, its source, the USDBRL fixing used or None)."""
    if cost_brl is not None:
        return lifecycle.checked_amount(before, cost_brl, "cost", zero_ok=True), "given", None
    fx_rate, fx_note = 1.0, None
    if str(inst["currency"]).upper() == "USD":
        fx_rate, fx_date = decisions.last_usdbrl_close(conn, before["business_date"])
        fx_note = f"USDBRL CLOSE {fx_date.isoformat()}"
    cost = lifecycle.booking_cost_brl(before["quantity"], px, inst["contract_size"],
                                      inst["instrument_type"], fx_rate)
    return cost, "COST_BPS", fx_note


def latest_date(engine: Engine) -> date | None:
    """The last business date with proposals."""
    with engine.connect() as conn:
        return decisions.latest_proposal_date(conn)


def list_proposals(engine: Engine, on: date | None = None,
                   status: str | None = None) -> tuple[date | None, pd.DataFrame]:
    """(date, proposals of that date by rank); the latest date with proposals by default."""
    on = on or latest_date(engine)
    if on is None:
        return None, decisions.empty_proposals()
    with engine.connect() as conn:
        frame = rd.proposals_on(conn, on)
    if status:
        frame = frame[frame["status"] == status.upper()].reset_index(drop=True)
    return on, frame


def show(engine: Engine, proposal_id: int) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """(proposal, its journal entries, its trades)."""
    with engine.connect() as conn:
        row = _load(conn, proposal_id)
        entries = journal.entries(conn, proposal_id)
        trades = decisions.trades_of(conn, proposal_id)
    return row, entries, trades


def verify(engine: Engine, expected_head: str | None = None) -> ChainReport:
    """Walk the whole journal from the database (``chain.verify_chain``)."""
    with engine.connect() as conn:
        broken, frame = journal.verify(conn, expected_head)
    by_id = frame.set_index("entry_id") if len(frame) else frame
    details = []
    for eid in broken:
        if eid in by_id.index:
            r = by_id.loc[eid]
            details.append(f"entry {eid} (proposal {r['proposal_id']}, {r['action']} by "
                           f"{r['actor']} at {r['at']}): hash or link does not match")
        else:
            details.append(f"entry {eid}: journal is empty but a head was expected")
    head = str(frame["hash"].iloc[-1]) if len(frame) else GENESIS_HASH
    return ChainReport(n_entries=len(frame), head=head, broken=broken, details=details)

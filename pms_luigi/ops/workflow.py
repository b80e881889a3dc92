"""The human side of trade proposals: approve, reject, modify and book, with an audit trail.

Why a separate module (no luigi): decisions are made by people at any time of the day, not by
the scheduler; they only need the store. Every operation is ONE transaction that

1. takes the decision journal's chain lock (``store.journal.chain_transaction``) and, on
   PostgreSQL, the proposal's row lock (``SELECT … FOR UPDATE``), so a concurrent
   ``TradeProposals(D)`` rerun either deletes the PENDING row first (the decision then finds
   it gone) or waits and then skips it (its DELETE re-checks ``status = 'PENDING'``);
2. checks the transition with :func:`proposals.transition` (illegal ones name the proposal
   and both states);
3. updates the proposal (status, and for MODIFY the re-sized fields), inserts the trade for
   BOOK, and appends the hash-chained journal entry (payload = the proposal before and after,
   plus the trade) — all committed together or not at all.

Rules: REJECT and MODIFY need a reason; every action needs an actor (argument or ``$USER``).
APPROVED and MODIFIED proposals can be booked, once: the trade is ``P<proposal_id>`` dated
the proposal's business date, source PROPOSAL, at the given price or the last settlement on
or before that date, with the original bps cost table (``proposals.COST_BPS``).
"""
from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pms_luigi.core import proposals, validation
from pms_luigi.core.errors import InvalidInput, MissingFxFixing, MissingPrice
from pms_luigi.store import journal
from pms_luigi.store import readers as rd
from pms_luigi.store import schema as s
from pms_luigi.store.writers import insert_frame

NEEDS_REASON = ("REJECT", "MODIFY")
MTM_FAMILY = "pms.MarkToMarket"


class WorkflowError(InvalidInput):
    """A refused decision (unknown proposal, illegal transition, missing reason/actor, a
    second booking). An InvalidInput, so the CLI exits 3 and nothing is written."""


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


# ----------------------------------------------------------------------------- helpers


def resolve_actor(actor: str | None) -> str:
    """The named actor, else ``$USER`` / ``$LOGNAME``; an audit trail without a who is refused."""
    name = (actor or os.environ.get("USER") or os.environ.get("LOGNAME") or "").strip()
    if not name:
        raise WorkflowError("no actor: pass --actor NAME or set $USER", table="decision_journal",
                            field="actor")
    if len(name) > 80:
        raise WorkflowError(f"actor {name[:20]!r}…: longer than 80 characters",
                            table="decision_journal", field="actor")
    return name


def _plain(row: Mapping[str, Any]) -> dict[str, Any]:
    """A proposal/trade row as plain JSON (dates ISO, NaN None): what is hashed is stored."""
    return proposals._json_safe(dict(row))  # noqa: SLF001 - same package, one JSON rule


def _load(conn: Connection, proposal_id: int, lock: bool = False) -> dict[str, Any]:
    p = s.proposals
    stmt = sa.select(p).where(p.c.proposal_id == proposal_id)
    if lock:
        stmt = stmt.with_for_update()  # PostgreSQL row lock; SQLite is serialised already
    row = conn.execute(stmt).mappings().first()
    if row is None:
        raise WorkflowError(f"proposal {proposal_id}: not found (a rerun of TradeProposals "
                            "replaces PENDING proposals; list them again)", table="proposals",
                            row=proposal_id, field="proposal_id")
    return dict(row)


def _label(row: Mapping[str, Any]) -> str:
    return f"proposal {row['proposal_id']} ({row['instrument_id']} for {row['business_date']})"


def allowed_actions(status: str) -> list[str]:
    out = []
    for action in proposals.WORKFLOW_ACTIONS:
        try:
            proposals.transition(status, action)
        except InvalidInput:
            continue
        out.append(action)
    return out


Change = Callable[[Connection, dict[str, Any], datetime, str],
                  tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, list[str]]]


def _no_change(_conn: Connection, _before: dict[str, Any], _at: datetime, _actor: str,
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None, list[str]]:
    return {}, {}, None, []


def _decide(engine: Engine, proposal_id: int, action: str, actor: str | None, reason: str | None,
            change: Change = _no_change) -> Decision:
    """The one transaction every decision is: lock, check, change, journal, commit."""
    who = resolve_actor(actor)
    why = (reason or "").strip()
    if action in NEEDS_REASON and not why:
        raise WorkflowError(f"proposal {proposal_id}: {action} needs a reason (--reason)",
                            table="decision_journal", row=proposal_id, field="reason")
    at = datetime.now(timezone.utc)
    with journal.chain_transaction(engine) as conn:
        before = _load(conn, int(proposal_id), lock=True)
        status = str(before["status"])
        try:
            new_status = proposals.transition(status, action)
        except InvalidInput as exc:
            allowed = allowed_actions(status)
            raise WorkflowError(
                f"{_label(before)} is {status}: {action} is not allowed "
                f"(from {status}: {', '.join(allowed) if allowed else 'none, it is final'})",
                table="proposals", row=int(proposal_id), field="status") from exc
        values, extra, trade, warnings = change(conn, before, at, who)
        p = s.proposals
        done = conn.execute(sa.update(p).where(p.c.proposal_id == before["proposal_id"],
                                               p.c.status == status)
                            .values(**values, status=new_status, updated_at=at))
        if done.rowcount != 1:  # pragma: no cover - impossible under the locks
            raise WorkflowError(f"{_label(before)} changed concurrently", table="proposals",
                                row=int(proposal_id), field="status")
        after = _load(conn, int(proposal_id))
        payload = {"before": _plain(before), "after": _plain(after), **extra}
        entry = journal.append(conn, proposal_id=int(proposal_id), action=action, actor=who,
                               reason=why, at=at, payload=payload)
    return Decision(proposal=after, entry=entry, before_status=status, trade=trade,
                    warnings=tuple(warnings))


# ----------------------------------------------------------------------------- operations


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
    DV01/delta rescaled by :func:`proposals.modify_quantity`); status MODIFIED keeps it out of
    the pipeline's PENDING replacement. Reason mandatory."""

    def change(conn: Connection, before: dict[str, Any], at: datetime, who: str,
               ) -> tuple[dict[str, Any], dict[str, Any], None, list[str]]:
        lot = conn.execute(sa.select(s.instruments.c.lot_size).where(
            s.instruments.c.instrument_id == before["instrument_id"])).scalar_one_or_none()
        if lot is None:
            raise WorkflowError(f"{_label(before)}: instrument not in the master",
                                table="instruments", row=before["instrument_id"],
                                field="instrument_id")
        try:
            values = proposals.modify_quantity(before, quantity, float(lot))
        except InvalidInput as exc:
            raise WorkflowError(f"{_label(before)}: {exc}", table="proposals",
                                row=int(proposal_id), field="quantity") from exc
        values["rationale"] = (f"{before['rationale']} [MODIFIED by {who} at "
                               f"{at:%Y-%m-%d %H:%M} UTC: quantity {before['quantity']:+,g} -> "
                               f"{values['quantity']:+,g}; pre-trade risk was computed for the "
                               f"original quantity.]")
        return values, {"requested_quantity": float(quantity)}, None, []

    return _decide(engine, proposal_id, "MODIFY", actor, reason, change)


def _last_settlement(conn: Connection, instrument_id: str, on: date) -> tuple[float, date]:
    mp = s.market_prices
    row = conn.execute(sa.select(mp.c.price, mp.c.price_date).where(
        mp.c.instrument_id == instrument_id, mp.c.price_date <= on)
        .order_by(mp.c.price_date.desc()).limit(1)).first()
    if row is None:
        raise MissingPrice([instrument_id], on, field="market_prices.price (last settlement)")
    return float(row.price), row.price_date


def _usdbrl(conn: Connection, on: date) -> tuple[float, date]:
    fx = s.fx_fixings
    row = conn.execute(sa.select(fx.c.rate, fx.c.fixing_date).where(
        fx.c.pair == "USDBRL", fx.c.kind == "CLOSE", fx.c.fixing_date <= on)
        .order_by(fx.c.fixing_date.desc()).limit(1)).first()
    if row is None:
        raise MissingFxFixing("USDBRL", "CLOSE", on)
    return float(row.rate), row.fixing_date


def book(engine: Engine, proposal_id: int, actor: str | None = None, reason: str | None = None,
         price: float | None = None, strategy_id: str | None = None,
         cost_brl: float | None = None) -> Decision:
    """APPROVED/MODIFIED → BOOKED, inserting trade ``P<proposal_id>`` in the same transaction.

    trade_date = the proposal's business date; price = ``price`` or the last settlement on or
    before that date; strategy = ``strategy_id`` or :func:`proposals.booking_strategy`; cost =
    ``cost_brl`` or :func:`proposals.booking_cost_brl` (USD contracts converted at the last
    USDBRL CLOSE). The trade goes through ``validation.validate('trades')`` like a loaded
    file. A second booking is refused (status BOOKED is final, and the trade id is unique).
    If MarkToMarket of that date is already marked, a warning says to rerun it.
    """

    def change(conn: Connection, before: dict[str, Any], _at: datetime, _who: str,
               ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any], list[str]]:
        pid, on, iid = int(before["proposal_id"]), before["business_date"], before["instrument_id"]
        trade_id = f"P{pid}"
        t = s.trades
        clash = conn.execute(sa.select(t.c.trade_id).where(
            sa.or_(t.c.trade_id == trade_id, t.c.proposal_id == pid))).first()
        if clash is not None:
            raise WorkflowError(f"{_label(before)} is already booked as trade {clash.trade_id}",
                                table="trades", row=trade_id, field="proposal_id")
        instruments = rd.instruments(conn)
        inst = instruments.set_index("instrument_id")
        if iid not in inst.index:
            raise WorkflowError(f"{_label(before)}: instrument not in the master",
                                table="instruments", row=iid, field="instrument_id")
        if price is None:
            px, px_date = _last_settlement(conn, iid, on)
            price_source = f"settlement {px_date.isoformat()}"
        else:
            px = float(price)
            if not (math.isfinite(px) and px > 0):
                raise WorkflowError(f"{_label(before)}: price {price!r} must be > 0",
                                    table="trades", row=trade_id, field="price")
            price_source = "given"
        strategies = rd.strategies(conn)
        known = set(strategies["strategy_id"])
        if strategy_id is None:
            try:
                strat = proposals.booking_strategy(before, known)
            except InvalidInput as exc:
                raise WorkflowError(f"{_label(before)}: {exc}", table="proposals", row=pid,
                                    field="strategies") from exc
        else:
            strat = strategy_id
        currency = str(inst.at[iid, "currency"]).upper()
        fx_rate, fx_note = 1.0, None
        if cost_brl is None:
            if currency == "USD":
                fx_rate, fx_date = _usdbrl(conn, on)
                fx_note = f"USDBRL CLOSE {fx_date.isoformat()}"
            cost = proposals.booking_cost_brl(before["quantity"], px, inst.at[iid, "contract_size"],
                                              inst.at[iid, "instrument_type"], fx_rate)
            cost_source = "COST_BPS"
        else:
            cost, cost_source = float(cost_brl), "given"
            if not (math.isfinite(cost) and cost >= 0):
                raise WorkflowError(f"{_label(before)}: cost {cost_brl!r} must be >= 0",
                                    table="trades", row=trade_id, field="cost_brl")
        trade = {"trade_id": trade_id, "trade_date": on, "instrument_id": iid,
                 "strategy_id": strat, "quantity": float(before["quantity"]), "price": px,
                 "cost_brl": cost, "source": "PROPOSAL", "proposal_id": pid}
        frame = validation.validate(
            "trades", pd.DataFrame([trade]),
            {"instruments": set(instruments["instrument_id"]), "strategies": known}, instruments)
        frame["proposal_id"] = pid  # validate keeps it; make sure it stays an int
        insert_frame(conn, t, frame)
        warnings = []
        marked = conn.execute(sa.select(s.task_markers.c.run_id).where(
            s.task_markers.c.family == MTM_FAMILY,
            s.task_markers.c.business_date == on)).first()
        if marked is not None:
            warnings.append(f"{MTM_FAMILY} {on} is already marked: run `pms-luigi rerun --task "
                            f"MarkToMarket --date {on} --downstream` to include trade {trade_id}")
        extra = {"trade": _plain(trade), "price_source": price_source,
                 "cost_source": cost_source, "fx": fx_note}
        return {}, extra, trade, warnings

    return _decide(engine, proposal_id, "BOOK", actor, reason, change)


# ----------------------------------------------------------------------------- reading


def latest_date(engine: Engine) -> date | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.max(s.proposals.c.business_date))).scalar_one()


def list_proposals(engine: Engine, on: date | None = None,
                   status: str | None = None) -> tuple[date | None, pd.DataFrame]:
    """(date, proposals of that date by rank); the latest date with proposals by default."""
    on = on or latest_date(engine)
    if on is None:
        return None, pd.DataFrame(columns=[c.name for c in s.proposals.columns])
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
        trades = rd.fetch(conn, sa.select(s.trades).where(s.trades.c.proposal_id == proposal_id))
    return row, entries, trades


def verify(engine: Engine, expected_head: str | None = None) -> ChainReport:
    """Walk the whole journal from the database (``proposals.verify_chain``)."""
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
    head = str(frame["hash"].iloc[-1]) if len(frame) else proposals.GENESIS_HASH
    return ChainReport(n_entries=int(len(frame)), head=head, broken=broken, details=details)

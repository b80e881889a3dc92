"""The queries behind a decision on a proposal: load and lock it, update it, look up the
instrument, settlement and USDBRL a booking needs, insert the trade.

Each function runs on the caller's connection, inside the one transaction a decision is
(:func:`pms_luigi.store.journal.chain_transaction`), so the new status, the trade and the
journal entry commit together or not at all. The rules of a decision are pure and live in
:mod:`pms_luigi.core.proposals.lifecycle`; the sequence is :mod:`pms_luigi.ops.workflow`.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.core.errors import MissingFxFixing, MissingPrice
from pms_luigi.store import schema as s
from pms_luigi.store.readers import fetch
from pms_luigi.store.writers import insert_frame


def load_proposal(conn: Connection, proposal_id: int, lock: bool = False,
                  ) -> dict[str, Any] | None:
    """The ``proposals`` row, or None; ``lock`` takes the row lock on PostgreSQL (``FOR
    UPDATE``; SQLite is serialised by the chain transaction already)."""
    p = s.proposals
    stmt = sa.select(p).where(p.c.proposal_id == proposal_id)
    if lock:
        stmt = stmt.with_for_update()
    row = conn.execute(stmt).mappings().first()
    return None if row is None else dict(row)


def update_proposal(conn: Connection, proposal_id: int, from_status: str,
                    values: dict[str, Any], at: datetime) -> int:
    """Write ``values`` (status included) if the proposal is still ``from_status``; returns
    the rows changed (1, or 0 if it changed in between)."""
    p = s.proposals
    done = conn.execute(sa.update(p).where(p.c.proposal_id == proposal_id,
                                           p.c.status == from_status)
                        .values(**values, updated_at=at))
    return int(done.rowcount)


def lot_size(conn: Connection, instrument_id: str) -> float | None:
    """The instrument's lot size, None when it is not in the master."""
    i = s.instruments
    lot = conn.execute(sa.select(i.c.lot_size).where(i.c.instrument_id == instrument_id)
                       ).scalar_one_or_none()
    return None if lot is None else float(lot)


def last_settlement(conn: Connection, instrument_id: str, on: date) -> tuple[float, date]:
    """(price, its date) of the last settlement on or before ``on``.

    Raises:
        MissingPrice: the instrument has no price on or before ``on``.
    """
    mp = s.market_prices
    row = conn.execute(sa.select(mp.c.price, mp.c.price_date).where(
        mp.c.instrument_id == instrument_id, mp.c.price_date <= on)
        .order_by(mp.c.price_date.desc()).limit(1)).first()
    if row is None:
        raise MissingPrice([instrument_id], on, field="market_prices.price (last settlement)")
    return float(row.price), row.price_date


def last_usdbrl_close(conn: Connection, on: date) -> tuple[float, date]:
    """(rate, its date) of the last USDBRL CLOSE fixing on or before ``on``.

    Raises:
        MissingFxFixing: there is none.
    """
    fx = s.fx_fixings
    row = conn.execute(sa.select(fx.c.rate, fx.c.fixing_date).where(
        fx.c.pair == "USDBRL", fx.c.kind == "CLOSE", fx.c.fixing_date <= on)
        .order_by(fx.c.fixing_date.desc()).limit(1)).first()
    if row is None:
        raise MissingFxFixing("USDBRL", "CLOSE", on)
    return float(row.rate), row.fixing_date


def booked_as(conn: Connection, trade_id: str, proposal_id: int) -> str | None:
    """The trade_id already booked for this proposal (by id or by proposal_id), or None."""
    t = s.trades
    row = conn.execute(sa.select(t.c.trade_id).where(
        sa.or_(t.c.trade_id == trade_id, t.c.proposal_id == proposal_id))).first()
    return None if row is None else str(row.trade_id)


def insert_trade(conn: Connection, frame: pd.DataFrame) -> int:
    """Insert validated ``trades`` rows; returns the count."""
    return insert_frame(conn, s.trades, frame)


def is_marked(conn: Connection, family: str, on: date) -> bool:
    """Whether the task family has a completion marker for ``on``."""
    m = s.task_markers
    return conn.execute(sa.select(m.c.run_id).where(
        m.c.family == family, m.c.business_date == on)).first() is not None


def latest_proposal_date(conn: Connection) -> date | None:
    """The last business date with proposals, None when there are none."""
    return conn.execute(sa.select(sa.func.max(s.proposals.c.business_date))).scalar_one()


def empty_proposals() -> pd.DataFrame:
    """A ``proposals`` frame with every column and no row."""
    return pd.DataFrame(columns=[c.name for c in s.proposals.columns])


def trades_of(conn: Connection, proposal_id: int) -> pd.DataFrame:
    """The trades booked from a proposal."""
    return fetch(conn, sa.select(s.trades).where(s.trades.c.proposal_id == proposal_id))

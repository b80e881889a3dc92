"""The decision journal: an append-only, hash-chained audit trail of proposal decisions.

Why a chain: every APPROVE / REJECT / MODIFY / BOOK row stores ``prev_hash`` (the hash of the
row before it) and ``hash = journal_hash(prev_hash, row)`` over every field (the pure rule,
:mod:`pms_luigi.core.proposals.chain`), so an edited, deleted or re-ordered row is detected
by walking the chain (``verify``). The row is written complete — its ``proposal_id`` known up
front — in the caller's transaction, the one that changes the proposal's status, so the
status and its audit entry commit or fail together and nothing is changed after hashing.

Concurrency: two decisions at once must not both read the same head and fork the chain.
``chain_transaction`` opens the transaction with the chain lock held until commit:

* PostgreSQL — ``pg_advisory_xact_lock`` on one fixed key (works on an empty journal, where
  ``SELECT … FOR UPDATE`` on the last row would lock nothing), released by COMMIT/ROLLBACK;
* SQLite — ``BEGIN IMMEDIATE``: the write lock is taken before the head is read, so a second
  writer waits (busy_timeout) instead of reading a head that is about to change.

``entry_id`` is assigned here (last + 1) under that lock because it is part of the hash.
"""
from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from pms_luigi.core.proposals.chain import GENESIS_HASH, journal_hash, verify_chain
from pms_luigi.core.proposals.lifecycle import WORKFLOW_ACTIONS
from pms_luigi.store.readers import fetch
from pms_luigi.store.schema import decision_journal as dj

CHAIN_LOCK_KEY = int.from_bytes(hashlib.sha256(b"pms.decision_journal").digest()[:8], "big",
                                signed=True)


@contextlib.contextmanager
def chain_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction holding the journal's chain lock from its first statement to COMMIT.

    Everything done on the yielded connection commits together when the block exits
    normally and rolls back on an exception.
    """
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": CHAIN_LOCK_KEY})
        else:
            # pysqlite starts no transaction before a SELECT; begin one that owns the write lock
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.rollback()
            raise
        conn.commit()


def head(conn: Connection) -> tuple[int, str]:
    """(last entry_id, its hash); (0, genesis) for an empty journal."""
    row = conn.execute(sa.select(dj.c.entry_id, dj.c.hash)
                       .order_by(dj.c.entry_id.desc()).limit(1)).first()
    return (0, GENESIS_HASH) if row is None else (int(row.entry_id), str(row.hash))


def append(conn: Connection, *, proposal_id: int, action: str, actor: str, reason: str,
           at: datetime, payload: Mapping[str, Any]) -> dict[str, Any]:
    """Insert the next journal row, chained on the current head; returns the row written.

    Must run inside :func:`chain_transaction` (the head read and the insert are only atomic
    under its lock). ``at`` must be timezone-aware UTC; ``payload`` must already be plain
    JSON (what is hashed is exactly what is stored and read back).
    """
    if action not in WORKFLOW_ACTIONS:
        raise ValueError(f"decision_journal: unknown action {action!r}")
    if at.tzinfo is None:
        raise ValueError("decision_journal: 'at' must be timezone-aware (UTC)")
    last_id, prev = head(conn)
    entry = {"entry_id": last_id + 1, "proposal_id": int(proposal_id), "action": action,
             "actor": actor, "reason": reason, "at": at, "payload": dict(payload)}
    row = {**entry, "prev_hash": prev, "hash": journal_hash(prev, entry)}
    conn.execute(sa.insert(dj), [row])
    return row


def entries(conn: Connection, proposal_id: int | None = None) -> pd.DataFrame:
    """Journal rows in chain order (all, or those of one proposal)."""
    stmt = sa.select(dj).order_by(dj.c.entry_id)
    if proposal_id is not None:
        stmt = stmt.where(dj.c.proposal_id == proposal_id)
    return fetch(conn, stmt)


def verify(conn: Connection, expected_head: str | None = None) -> tuple[list[int], pd.DataFrame]:
    """(broken entry_ids, the journal) after walking the whole chain from the database."""
    frame = entries(conn)
    if frame.empty:
        frame = pd.DataFrame({c.name: pd.Series(dtype=object) for c in dj.columns})
    return verify_chain(frame, expected_head=expected_head), frame

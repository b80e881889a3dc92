"""The reads behind the desk console (``pms_luigi.web``) that no other module makes.

One step's marker with its times and metadata, its run history, the runs still open, the
stored morning packs (an index without their bodies, one pack, the summaries of a few) and
the data-quality issues of a date range. Each is one SELECT with bound parameters on the
caller's connection; nothing here writes.
"""
from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store import schema as s


def _rows(conn: Connection, stmt: sa.Select) -> list[dict[str, Any]]:
    """The rows of ``stmt`` as dicts (None stays None: the pages show what is absent)."""
    return [dict(row) for row in conn.execute(stmt).mappings()]


def marker_row(conn: Connection, family: str, on: date) -> dict[str, Any] | None:
    """The whole ``task_markers`` row of (family, on): run_id, version, started/finished,
    duration, rows written, digest, upstream run_ids and metadata; None when absent."""
    m = s.task_markers
    row = conn.execute(sa.select(m).where(m.c.family == family, m.c.business_date == on)
                       ).mappings().first()
    return None if row is None else dict(row)


def run_history(conn: Connection, family: str, on: date,
                limit: int = 50) -> list[dict[str, Any]]:
    """The last ``limit`` runs of (family, on), newest first (every column of ``task_runs``:
    status, attempts, host, error and its failure class)."""
    r = s.task_runs
    return _rows(conn, sa.select(r).where(r.c.family == family, r.c.business_date == on)
                 .order_by(r.c.started_at.desc()).limit(limit))


def open_runs(conn: Connection, families: list[str], start: date,
              end: date) -> dict[tuple[str, date], str]:
    """{(family, date): run_id} of the runs still RUNNING in a date range."""
    r = s.task_runs
    rows = conn.execute(sa.select(r.c.family, r.c.business_date, r.c.run_id).where(
        r.c.status == "RUNNING", r.c.family.in_(families),
        r.c.business_date.between(start, end)))
    return {(row.family, row.business_date): row.run_id for row in rows}


def pack_index(conn: Connection, start: date | None = None,
               end: date | None = None) -> list[dict[str, Any]]:
    """The stored packs, newest first: business_date, digest and run_id (not the bodies)."""
    p = s.morning_packs
    stmt = sa.select(p.c.business_date, p.c.digest, p.c.run_id).order_by(
        p.c.business_date.desc())
    if start is not None:
        stmt = stmt.where(p.c.business_date >= start)
    if end is not None:
        stmt = stmt.where(p.c.business_date <= end)
    return _rows(conn, stmt)


def pack_row(conn: Connection, on: date) -> dict[str, Any] | None:
    """The stored pack of ``on``: payload, html, digest, run_id; None when there is none."""
    p = s.morning_packs
    row = conn.execute(sa.select(p).where(p.c.business_date == on)).mappings().first()
    return None if row is None else dict(row)


def pack_payloads(conn: Connection, dates: list[date]) -> dict[date, dict[str, Any]]:
    """{date: payload} of the stored packs of ``dates`` (those that exist)."""
    p = s.morning_packs
    rows = conn.execute(sa.select(p.c.business_date, p.c.payload).where(
        p.c.business_date.in_(dates)))
    return {row.business_date: dict(row.payload) for row in rows}


def dq_issues_between(conn: Connection, start: date, end: date) -> list[dict[str, Any]]:
    """The data-quality issues dated in [start, end], newest first, errors before warnings."""
    d = s.data_quality_issues
    return _rows(conn, sa.select(d).where(d.c.business_date.between(start, end))
                 .order_by(d.c.business_date.desc(), d.c.severity, d.c.step,
                           d.c.instrument_id, d.c.field))


def strategy_names(conn: Connection) -> dict[str, str]:
    """{strategy_id: name} of the strategy master."""
    st = s.strategies
    return {row.strategy_id: row.name
            for row in conn.execute(sa.select(st.c.strategy_id, st.c.name))}


def proposal_dates(conn: Connection, limit: int = 30) -> list[date]:
    """The last ``limit`` business dates with proposals, newest first."""
    p = s.proposals
    rows = conn.execute(sa.select(p.c.business_date).distinct()
                        .order_by(p.c.business_date.desc()).limit(limit))
    return [row.business_date for row in rows]


def journal_of(conn: Connection, proposal_ids: list[int]) -> list[dict[str, Any]]:
    """The decision-journal entries of some proposals, in chain order (without payloads)."""
    j = s.decision_journal
    return _rows(conn, sa.select(j.c.entry_id, j.c.proposal_id, j.c.action, j.c.actor,
                                 j.c.reason, j.c.at, j.c.hash)
                 .where(j.c.proposal_id.in_(proposal_ids)).order_by(j.c.entry_id))

"""Run-history reads the operator's views need besides :mod:`.markers`' (bulk, one SELECT)."""
from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store.schema import task_runs


def runs_started_since(conn: Connection, families: Iterable[str], start: date, end: date,
                       since: datetime) -> dict[str, datetime]:
    """``started_at`` (UTC) of every run of ``families`` dated in [start, end] that started
    at or after ``since``, by run_id: one SELECT over a bounded range (no list of ids)."""
    rows = conn.execute(sa.select(task_runs.c.run_id, task_runs.c.started_at).where(
        task_runs.c.family.in_(sorted(set(families))),
        task_runs.c.business_date.between(start, end), task_runs.c.started_at >= since))
    return {r.run_id: _utc(r.started_at) for r in rows}


def _utc(moment: datetime) -> datetime:
    """SQLite hands back the stored UTC time without its zone; PostgreSQL with it."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)

"""What the status page shows besides a cell's state, for a whole range: the markers, the
run history and the data-quality issues — one SELECT per table, never one per cell.

A 5-year page is about 1,260 dates × 4–6 families: the markers and runs come back as a few
thousand rows each, keyed by ``(family, business_date)``. A marker's ``metadata`` (the
attribution step's holds its ~9 kB chain state) is read, as JSON text, only for the cells
the page shows in full — the recent dates and the cells named — and decoded only there.
"""
from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store.schema import data_quality_issues, task_markers, task_runs

Key = tuple[str, date]


@dataclass(frozen=True)
class RangeDetails:
    """The rows behind a range's cells, as plain dicts keyed like the grid's cells.

    ``markers``: the marker columns, ``metadata_json`` the metadata's JSON text (None where
    it was not asked for).
    ``last_runs``: the latest run of each cell (``runs``: how many it has had).
    ``last_failures``: the latest FAILED run of each cell that ever failed.
    ``dq_issues``: the range's data-quality rows (all are open: a step's rerun replaces the
    rows it wrote for its date), newest date first, then ERROR before WARNING, at most
    ``dq_limit`` of them; ``dq_counts``: every date's count per severity, whatever the limit.
    """

    markers: dict[Key, dict[str, Any]]
    last_runs: dict[Key, dict[str, Any]]
    last_failures: dict[Key, dict[str, Any]]
    dq_issues: list[dict[str, Any]]
    dq_counts: dict[date, dict[str, int]]


def range_details(conn: Connection, families: Iterable[str], start: date, end: date, *,
                  metadata_from: date | None = None, metadata_of: Collection[Key] = (),
                  dq_limit: int | None = None) -> RangeDetails:
    """Markers, run history and data-quality issues of ``families`` over [start, end]:
    one SELECT of the markers, one of the runs, two of the issues (the rows, the counts).

    The markers' metadata is read for the dates from ``metadata_from`` on (default: every
    date) and for the cells ``metadata_of``; at most ``dq_limit`` issues are listed.
    """
    families = list(families)
    latest: dict[Key, dict[str, Any]] = {}
    failures: dict[Key, dict[str, Any]] = {}
    for run in _runs(conn, families, start, end):
        key = (run["family"], run["business_date"])
        if run.pop("rn") == 1:
            latest[key] = run
        if run.pop("rn_status") == 1 and run["status"] == "FAILED":
            failures[key] = run
    return RangeDetails(
        markers=_markers(conn, families, start, end, metadata_from or start, metadata_of),
        last_runs=latest, last_failures=failures,
        dq_issues=_dq_issues(conn, start, end, dq_limit), dq_counts=_dq_counts(conn, start, end))


def _markers(conn: Connection, families: list[str], start: date, end: date,
             metadata_from: date, metadata_of: Collection[Key]) -> dict[Key, dict[str, Any]]:
    m = task_markers.c
    wanted = m.business_date >= metadata_from
    if metadata_of:
        wanted = sa.or_(wanted, sa.tuple_(m.family, m.business_date).in_(sorted(metadata_of)))
    rows = conn.execute(
        sa.select(m.family, m.business_date, m.version, m.run_id, m.started_at, m.finished_at,
                  m.duration_s, m.rows_written, m.payload_digest, m.upstream,
                  sa.case((wanted, sa.cast(m.metadata, sa.Text))).label("metadata_json"))
        .where(m.family.in_(families), m.business_date.between(start, end))).mappings()
    return {(r["family"], r["business_date"]): dict(r) for r in rows}


def _runs(conn: Connection, families: list[str], start: date,
          end: date) -> list[dict[str, Any]]:
    """The latest run of every cell and the latest run of each status, in one SELECT: two
    window functions rank a cell's runs newest first (started_at, then run_id for a tie)."""
    r = task_runs.c
    cell = (r.family, r.business_date)
    newest = (r.started_at.desc(), r.run_id.desc())
    ranked = (
        sa.select(r.run_id, r.family, r.business_date, r.started_at, r.finished_at, r.status,
                  r.attempts, r.host, r.error, r.failure,
                  sa.func.count().over(partition_by=cell).label("runs"),
                  sa.func.row_number().over(partition_by=cell, order_by=newest).label("rn"),
                  sa.func.row_number().over(partition_by=(*cell, r.status),
                                            order_by=newest).label("rn_status"))
        .where(r.family.in_(families), r.business_date.between(start, end))
        .subquery())
    rows = conn.execute(
        sa.select(ranked).where(sa.or_(ranked.c.rn == 1,
                                       sa.and_(ranked.c.status == "FAILED",
                                               ranked.c.rn_status == 1)))).mappings()
    return [dict(row) for row in rows]


def _dq_issues(conn: Connection, start: date, end: date,
               limit: int | None) -> list[dict[str, Any]]:
    d = data_quality_issues.c
    errors_first = sa.case((d.severity == "ERROR", 0), else_=1)
    stmt = (sa.select(d.business_date, d.step, d.instrument_id, d.field, d.severity, d.message,
                      d.run_id)
            .where(d.business_date.between(start, end))
            .order_by(d.business_date.desc(), errors_first, d.step, d.instrument_id, d.field))
    if limit is not None:
        stmt = stmt.limit(limit)
    return [dict(r) for r in conn.execute(stmt).mappings()]


def _dq_counts(conn: Connection, start: date, end: date) -> dict[date, dict[str, int]]:
    d = data_quality_issues.c
    rows = conn.execute(sa.select(d.business_date, d.severity, sa.func.count())
                        .where(d.business_date.between(start, end))
                        .group_by(d.business_date, d.severity))
    out: dict[date, dict[str, int]] = {}
    for on, severity, n in rows:
        out.setdefault(on, {})[severity] = int(n)
    return out

"""The marker table (when a step is done) and the run-history table, in SQLAlchemy 2 Core.

A marker row is keyed by (family, business_date) — never by Luigi's task_id hash, so
adding a parameter does not orphan history. It is upserted on the step's own connection,
inside the transaction that writes the step's rows: both commit or neither does.
"""
from __future__ import annotations

import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.core.errors import ExitCode, exit_code_of
from pms_luigi.store.engine import CONNECTION_ERRORS, write_fence
from pms_luigi.store.schema import task_markers, task_runs
from pms_luigi.store.writers import dialect_insert


@dataclass(frozen=True)
class Marker:
    family: str
    business_date: date
    version: int
    run_id: str
    upstream: dict[str, str]
    metadata: dict
    payload_digest: str
    finished_at: datetime


def upstream_key(family: str, on: date) -> str:
    """How a consumed marker is named in ``upstream``: ``pms.MarkToMarket@2026-01-02``."""
    return f"{family}@{on.isoformat()}"


def parse_upstream_key(key: str) -> tuple[str, date]:
    family, _, iso = key.partition("@")
    return family, date.fromisoformat(iso)


def upsert_marker(conn: Connection, *, family: str, business_date: date, version: int,
                  run_id: str, started_at: datetime, rows_written: int, payload_digest: str,
                  upstream: Mapping[str, str], metadata: Mapping) -> None:
    """INSERT … ON CONFLICT (family, business_date) DO UPDATE, in the caller's transaction."""
    finished = datetime.now(UTC)
    values = dict(
        family=family, business_date=business_date, version=version, run_id=run_id,
        started_at=started_at, finished_at=finished,
        duration_s=(finished - started_at).total_seconds(), rows_written=rows_written,
        payload_digest=payload_digest, upstream=dict(upstream), metadata=dict(metadata),
    )
    stmt = dialect_insert(conn)(task_markers).values(**values)
    update = {k: stmt.excluded[k] for k in values if k not in ("family", "business_date")}
    conn.execute(stmt.on_conflict_do_update(index_elements=["family", "business_date"],
                                            set_=update))


def _to_marker(row: sa.Row) -> Marker:
    return Marker(row.family, row.business_date, row.version, row.run_id, dict(row.upstream),
                  dict(row.metadata), row.payload_digest, row.finished_at)


#: Above this many dates, bulk reads select the date range and filter in Python instead of
#: binding one parameter per date (a 5-year status check is 1,260 dates per family).
RANGE_READ_MIN = 32


def _date_filter(column: sa.Column, dates: list[date]) -> sa.ColumnElement[bool]:
    if len(dates) >= RANGE_READ_MIN:
        return column.between(min(dates), max(dates))
    return column.in_(dates)


def read_markers(conn: Connection, family: str, dates: Iterable[date]) -> dict[date, Marker]:
    """Markers of one family for many dates: one SELECT."""
    dates = list(dates)
    if not dates:
        return {}
    wanted = set(dates)
    rows = conn.execute(sa.select(task_markers).where(
        task_markers.c.family == family, _date_filter(task_markers.c.business_date, dates)))
    return {row.business_date: _to_marker(row) for row in rows if row.business_date in wanted}


_STATE_COLUMNS = (task_markers.c.family, task_markers.c.business_date, task_markers.c.version,
                  task_markers.c.run_id, task_markers.c.upstream, task_markers.c.payload_digest,
                  task_markers.c.finished_at)


def read_marker_states(conn: Connection, family: str,
                       dates: Iterable[date]) -> dict[date, Marker]:
    """Like :func:`read_markers` without the ``metadata`` column (left empty): what the bulk
    status check needs (version, run_id, upstream, digest), without decoding every step's
    metadata JSON. One SELECT."""
    dates = list(dates)
    if not dates:
        return {}
    wanted = set(dates)
    rows = conn.execute(sa.select(*_STATE_COLUMNS).where(
        task_markers.c.family == family, _date_filter(task_markers.c.business_date, dates)))
    return {r.business_date: Marker(r.family, r.business_date, r.version, r.run_id,
                                    dict(r.upstream), {}, r.payload_digest, r.finished_at)
            for r in rows if r.business_date in wanted}


def current_run_ids(conn: Connection, keys: Iterable[str]) -> dict[str, str]:
    """run_id now recorded for each ``family@date`` key: one SELECT for any number of keys."""
    by_family: dict[str, list[date]] = {}
    for key in set(keys):
        family, on = parse_upstream_key(key)
        by_family.setdefault(family, []).append(on)
    if not by_family:
        return {}
    cond = sa.or_(*[sa.and_(task_markers.c.family == fam,
                            _date_filter(task_markers.c.business_date, ds))
                    for fam, ds in by_family.items()])
    rows = conn.execute(sa.select(task_markers.c.family, task_markers.c.business_date,
                                  task_markers.c.run_id).where(cond))
    wanted = {(fam, d) for fam, ds in by_family.items() for d in ds}
    return {upstream_key(r.family, r.business_date): r.run_id for r in rows
            if (r.family, r.business_date) in wanted}


def delete_markers(conn: Connection, family: str, dates: Iterable[date]) -> int:
    result = conn.execute(sa.delete(task_markers).where(
        task_markers.c.family == family, task_markers.c.business_date.in_(list(dates))))
    return result.rowcount


def markers_from(conn: Connection, start: date) -> list[Marker]:
    """Every marker dated on or after ``start`` (one SELECT): the invalidation walk's graph.
    Without the metadata column (left empty): the walk needs only the upstream keys."""
    rows = conn.execute(sa.select(*_STATE_COLUMNS).where(task_markers.c.business_date >= start))
    return [Marker(r.family, r.business_date, r.version, r.run_id, dict(r.upstream), {},
                   r.payload_digest, r.finished_at) for r in rows]


#: Connection-level database errors: a step that raised one failed because the store went
#: away, whatever it was doing.
STORE_ERRORS = CONNECTION_ERRORS


def failure_of(exc: BaseException) -> ExitCode:
    """The exit-code class a run that raised ``exc`` is recorded with (``task_runs.failure``).

    A :class:`~pms_luigi.core.errors.PmsError`'s own code (``MissingPrice``: MISSING_DATA,
    ``InvalidInput``: BAD_INPUT, ...), STORE_UNAVAILABLE for a lost database connection,
    FAILED for anything else (a bug).
    """
    if isinstance(exc, STORE_ERRORS):
        return ExitCode.STORE_UNAVAILABLE
    return exit_code_of(exc) or ExitCode.FAILED


def start_run(conn: Connection, *, run_id: str, family: str, business_date: date) -> None:
    """Open the run-history row of a step (status RUNNING) in the caller's transaction."""
    conn.execute(sa.insert(task_runs).values(
        run_id=run_id, family=family, business_date=business_date,
        started_at=datetime.now(UTC), status="RUNNING", attempts=1,
        host=socket.gethostname()))


def finish_run(conn: Connection, *, run_id: str, status: str, attempts: int = 1,
               error: str | None = None, failure: ExitCode | None = None) -> None:
    """Close a run-history row: its status (DONE, FAILED, REPUBLISHED), attempts and, for a
    FAILED run, the error text and its class in the exit-code table (see :func:`failure_of`),
    which the runner reads to choose the command's exit code."""
    conn.execute(sa.update(task_runs).where(task_runs.c.run_id == run_id).values(
        finished_at=datetime.now(UTC), status=status, attempts=attempts,
        error=error, failure=failure.name if failure is not None else None))


def last_runs(conn: Connection, families: Iterable[str], start: date,
              end: date) -> dict[tuple[str, date], str]:
    """Latest run status per (family, date) in a range: feeds the status grid."""
    rows = conn.execute(
        sa.select(task_runs.c.family, task_runs.c.business_date, task_runs.c.status)
        .where(task_runs.c.family.in_(list(families)),
               task_runs.c.business_date.between(start, end))
        .order_by(task_runs.c.started_at))
    return {(r.family, r.business_date): r.status for r in rows}


def fence(conn: Connection, family: str, business_date: date) -> str | None:
    """The run_id of (family, date)'s marker now, read after taking the pair's write
    fence (:func:`pms_luigi.store.engine.write_fence`) in the caller's transaction.

    A step compares it with the run_id it read under its step lock (or its own, when an
    earlier attempt of this write committed without the answer reaching it): anything else
    means another run wrote the pair meanwhile — the step lock was lost — and the step must
    not commit over it. Until the transaction ends no other writer can get past the fence.
    """
    write_fence(conn, family, business_date)
    return conn.execute(sa.select(task_markers.c.run_id).where(
        task_markers.c.family == family, task_markers.c.business_date == business_date)
    ).scalar_one_or_none()


def running_pairs(conn: Connection) -> list[tuple[str, date]]:
    """The (family, date) pairs with a run-history row still RUNNING: one SELECT."""
    rows = conn.execute(sa.select(task_runs.c.family, task_runs.c.business_date)
                        .where(task_runs.c.status == "RUNNING").distinct())
    return [(r.family, r.business_date) for r in rows]


def close_dead_runs(conn: Connection, family: str, business_date: date, closer: str) -> int:
    """Close the run-history rows of (family, date) a dead process left RUNNING.

    Only called holding the pair's step lock, under which every run of the pair writes its
    history: a RUNNING row seen there has no live process. A row whose run_id is the
    marker's committed its work (killed after the commit: before publishing, or outside
    the cache window where nothing else would ever run the step again): DONE, finished when
    the marker was written. Any other never committed: ABANDONED. ``error`` records who
    found it and how (``closed by <closer>: marker committed, process gone``). Looked for
    with a read first: almost always there is none, and a read costs no write.

    Returns:
        How many rows were closed.
    """
    dead = (task_runs.c.family == family, task_runs.c.business_date == business_date,
            task_runs.c.status == "RUNNING")
    if not conn.execute(sa.select(sa.exists().where(*dead))).scalar_one():
        return 0
    marker = conn.execute(sa.select(task_markers.c.run_id, task_markers.c.finished_at).where(
        task_markers.c.family == family, task_markers.c.business_date == business_date)).first()
    closed = 0
    if marker is not None:
        closed += conn.execute(sa.update(task_runs).where(
            *dead, task_runs.c.run_id == marker.run_id).values(
            status="DONE", finished_at=marker.finished_at,
            error=f"closed by {closer}: marker committed, process gone")).rowcount
    closed += conn.execute(sa.update(task_runs).where(*dead).values(
        status="ABANDONED", finished_at=datetime.now(UTC),
        error=f"closed by {closer}: no marker of this run (never committed), process gone"
    )).rowcount
    return closed


def failure_kinds(conn: Connection, since: datetime) -> set[ExitCode]:
    """The exit-code classes (``failure``) of the runs that failed since ``since``; a row
    without one (written before the column existed) counts as FAILED."""
    found = conn.execute(sa.select(task_runs.c.failure).where(
        task_runs.c.status == "FAILED", task_runs.c.started_at >= since)).scalars()
    return {ExitCode.__members__.get(name or "", ExitCode.FAILED) for name in found}


def failed_pairs(conn: Connection, since: datetime, failure: ExitCode) -> list[tuple[str, date]]:
    """The (family, date) pairs with a run that failed with ``failure`` since ``since``."""
    rows = conn.execute(sa.select(task_runs.c.family, task_runs.c.business_date).where(
        task_runs.c.status == "FAILED", task_runs.c.started_at >= since,
        task_runs.c.failure == failure.name).distinct())
    return [(r.family, r.business_date) for r in rows]

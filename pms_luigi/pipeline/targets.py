"""Luigi targets for a step's two outputs, and the bulk status that backs both.

``DbMarkerTarget`` (source of truth) exists when the marker row for (family, date) is at the
class's current version and every upstream run_id it recorded is still the current one —
otherwise the step is *stale*. ``RedisCacheTarget`` exists when the cached marker's run_id
equals the DB marker's and every payload key is present, or when the date is older than the
cache window (history needs no cache). ``step_status`` answers many dates with one query
per concern (markers, upstream run_ids, reference date) plus one Redis pipeline, which is
what ``bulk_complete``, the backfill planner and the status grid use.

Neither target builds a client: both take the shared ``Stores`` of the process, so tasks stay
picklable for ``--parallel-scheduling`` and no connection is opened per check.
"""
from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date

import luigi

from pms_luigi.cache.publish import Cache
from pms_luigi.core import calendar
from pms_luigi.store import markers as mk
from pms_luigi.store.readers import latest_price_date


class State(enum.Enum):
    DONE = "done"
    MISSING = "missing"
    STALE = "stale"
    CACHE_MISSING = "cache-missing"


@dataclass(frozen=True)
class StepStatus:
    """A step's status: its state, its marker (None when missing) and why it is not done.

    ``cause``: for a *transitive* status (:func:`pms_luigi.pipeline.status.deep_statuses`)
    whose own marker is valid, the step upstream (``family@date``) that makes it stale;
    empty when the step's own status is the answer.
    """

    state: State
    marker: mk.Marker | None
    reason: str = ""
    cause: str = ""

    @property
    def db_valid(self) -> bool:
        return self.state in (State.DONE, State.CACHE_MISSING)


@dataclass(frozen=True)
class StepSpec:
    """What the status check needs to know about a family, independent of Luigi.

    ``kinds``: the Redis payload kinds the step publishes; empty: no cache output (the DB
    marker alone says the step is done). ``input_digest``: for a step without cache output
    whose input is a file, the digest of that input now (None: nothing to compare, e.g. the
    file was cleared away after its ingestion); a marker recording another digest is stale.
    """

    family: str
    version: int
    kinds: tuple[str, ...]
    upstream_keys: Callable[[date], Sequence[str]]
    input_digest: Callable[[date], str | None] | None = None


def cache_required(on: date, reference: date | None, window_bd: int) -> bool:
    """Dates within ``window_bd`` business days of the newest market data need a cache."""
    if reference is None or on >= reference:
        return True
    return int(calendar.du(on, reference)) <= window_bd


def cache_required_many(dates: Sequence[date], reference: date | None,
                        window_bd: int) -> list[bool]:
    """:func:`cache_required` of many dates with one vectorised business-day count."""
    if reference is None or not dates:
        return [True] * len(dates)
    # du is signed (end before start counts negative): dates on or after the reference are
    # never more than window_bd business days before it.
    return (calendar.du(list(dates), reference) <= window_bd).tolist()


def step_status(engine, cache: Cache, spec: StepSpec, dates: Sequence[date],  # noqa: ANN001
                window_bd: int) -> dict[date, StepStatus]:
    """Status of one family over many dates: 3 SELECTs and 1 Redis pipeline in total (no
    Redis call for a family without cache output).

    The markers are read without their metadata column (``StepStatus.marker.metadata`` is
    empty here; :func:`pms_luigi.store.markers.read_markers` has it).
    """
    dates = list(dates)
    with engine.connect() as conn:
        found = mk.read_marker_states(conn, spec.family, dates)
        recorded = [k for m in found.values() for k in m.upstream]
        current = mk.current_run_ids(conn, recorded)
        reference = latest_price_date(conn)
    out: dict[date, StepStatus] = {}
    need_cache: list[date] = []
    for on, required in zip(dates, cache_required_many(dates, reference, window_bd),
                            strict=True):
        marker = found.get(on)
        if marker is None:
            out[on] = StepStatus(State.MISSING, None, "no marker")
        elif marker.version != spec.version:
            out[on] = StepStatus(State.STALE, marker, f"version {marker.version} != {spec.version}")
        elif set(marker.upstream) != set(spec.upstream_keys(on)):
            out[on] = StepStatus(State.STALE, marker, "upstream set changed")
        elif any(current.get(k) != rid for k, rid in marker.upstream.items()):
            changed = sorted(k for k, rid in marker.upstream.items() if current.get(k) != rid)
            out[on] = StepStatus(State.STALE, marker, "upstream rerun: " + ", ".join(changed))
        elif _input_changed(spec, on, marker):
            out[on] = StepStatus(State.STALE, marker, "input changed since its run")
        elif not spec.kinds:
            out[on] = StepStatus(State.DONE, marker, "no cache output")
        elif required:
            need_cache.append(on)
        else:
            out[on] = StepStatus(State.DONE, marker, "outside cache window")
    if need_cache:
        published = cache.published_run_ids(spec.family, spec.kinds, need_cache)
        for on in need_cache:
            marker = found[on]
            ok = published[on] == marker.run_id
            out[on] = StepStatus(State.DONE if ok else State.CACHE_MISSING, marker,
                                 "" if ok else "cache missing or from another run")
    return out


def _input_changed(spec: StepSpec, on: date, marker: mk.Marker) -> bool:
    """The step's input now has another digest than the one its marker recorded."""
    now = spec.input_digest(on) if spec.input_digest is not None else None
    return now is not None and now != marker.payload_digest


class DbMarkerTarget(luigi.Target):
    """The marker row of (family, date): exists when present, current and not stale."""

    def __init__(self, status: Callable[[], StepStatus]) -> None:
        self._status = status

    def exists(self) -> bool:
        return self._status().db_valid


class RedisCacheTarget(luigi.Target):
    """The published payload + marker hash, tied to the DB marker's run_id."""

    def __init__(self, status: Callable[[], StepStatus]) -> None:
        self._status = status

    def exists(self) -> bool:
        return self._status().state is State.DONE


class DataReadyTarget(luigi.Target):
    """Input data for a date is loaded (the input tasks' output).

    ``missing`` lists what is absent (table, series, date); the target exists when it is
    empty. Asked afresh on every check: data loaded a moment ago counts at once.
    """

    def __init__(self, missing: Callable[[], list[str]]) -> None:
        self._missing = missing

    def exists(self) -> bool:
        return not self._missing()

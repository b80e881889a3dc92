"""Running the graph: exit codes, the chunked backfill, invalidation.

Luigi's own exit codes are 0 for everything; ``build`` maps the run summary (and the run
history, for the Redis-down case) onto the library's codes:

    0 success · 1 a step failed · 3 input data missing · 4 already running
    5 results in the DB but Redis unavailable · 7 scheduling error
"""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Sequence
from datetime import date, datetime, timezone

import luigi
import sqlalchemy as sa
from luigi.execution_summary import LuigiStatusCode

from pms_luigi import calendar
from pms_luigi.errors import NotBusinessDay
from pms_luigi.store import markers as mk
from pms_luigi.store.schema import task_runs
from pms_luigi.targets import State
from pms_luigi.tasks.attribution import PerformanceAttribution
from pms_luigi.tasks.base import MEMO, PmsTask, get_stores
from pms_luigi.tasks.mark_to_market import MarkToMarket
from pms_luigi.tasks.morning_pack import MorningPack
from pms_luigi.tasks.proposals import TradeProposals
from pms_luigi.tasks.wrappers import EndOfDay, PreOpen

log = logging.getLogger("pms_luigi")

EXIT_OK, EXIT_FAILED, EXIT_MISSING_DATA, EXIT_RUNNING = 0, 1, 3, 4
EXIT_CACHE, EXIT_SCHEDULING = 5, 7

FAMILIES: dict[str, type[PmsTask]] = {cls.family(): cls for cls in
                                      (MarkToMarket, PerformanceAttribution, TradeProposals,
                                       MorningPack)}
# Who consumes whom: the invalidation walk goes forward along these edges.
CONSUMERS: dict[str, tuple[str, ...]] = {
    "pms.MarkToMarket": ("pms.MarkToMarket", "pms.PerformanceAttribution",
                         "pms.TradeProposals", "pms.MorningPack"),
    "pms.PerformanceAttribution": ("pms.MorningPack",),
    "pms.TradeProposals": ("pms.MorningPack",),
    "pms.MorningPack": (),
}


def _failure_kinds(since: datetime) -> set[str]:
    with get_stores().engine.connect() as conn:
        errors = conn.execute(sa.select(task_runs.c.error).where(
            task_runs.c.status == "FAILED", task_runs.c.started_at >= since)).scalars()
        return {(e or "").split(":", 1)[0] for e in errors}


def build(tasks: Sequence[luigi.Task], workers: int = 1, local_scheduler: bool = True,
          **kwargs: object) -> int:
    """``luigi.build`` with a detailed summary, mapped to our exit codes."""
    started = datetime.now(timezone.utc)
    MEMO.clear()
    result = luigi.build(list(tasks), workers=workers, local_scheduler=local_scheduler,
                         detailed_summary=True, **kwargs)
    status = result.status
    if status in (LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY):
        return EXIT_OK
    if status is LuigiStatusCode.MISSING_EXT:
        return EXIT_MISSING_DATA
    if status is LuigiStatusCode.SCHEDULING_FAILED:
        return EXIT_SCHEDULING
    if status is LuigiStatusCode.FAILED:
        if _failure_kinds(started) == {"CacheUnavailable"}:
            return EXIT_CACHE
        return EXIT_FAILED
    if status is LuigiStatusCode.NOT_RUN:
        return EXIT_RUNNING if "already running" in result.summary_text.lower() else EXIT_FAILED
    return EXIT_FAILED


def run_kind(kind: str, on: date, workers: int = 1, local_scheduler: bool = True,
             **kwargs: object) -> int:
    root = {"eod": EndOfDay, "preopen": PreOpen}[kind]
    return build([root(date=on)], workers=workers, local_scheduler=local_scheduler, **kwargs)


def missing(families: Sequence[str], dates: Sequence[date]) -> dict[str, list[date]]:
    """Per family, the dates whose step is not DONE: one bulk status call per family."""
    stores = get_stores()
    out: dict[str, list[date]] = {}
    for fam in families:
        statuses = FAMILIES[fam].statuses(list(dates), stores)
        out[fam] = [d for d in dates if statuses[d].state is not State.DONE]
    return out


def backfill(start: date, end: date, families: Sequence[str] | None = None, chunk: int = 20,
             workers: int = 1, local_scheduler: bool = True, progress=sys.stderr) -> int:  # noqa: ANN001
    """Build every missing (family, date) in [start, end], oldest first, ``chunk`` dates per
    ``luigi.build`` so the scheduler's per-call cost stays linear in the range.

    No silent clamping: the whole range is planned. Resumable: the markers are the state.
    """
    families = list(families or ["pms.MarkToMarket", "pms.PerformanceAttribution"])
    dates = calendar.business_days(start, end)
    todo = missing(families, dates)
    pending = sorted({d for ds in todo.values() for d in ds})
    total, done, code = len(pending), 0, EXIT_OK
    t0 = time.monotonic()
    for i in range(0, total, chunk):
        batch = pending[i:i + chunk]
        tasks = [FAMILIES[f](date=d) for f in families for d in batch if d in set(todo[f])]
        rc = build(tasks, workers=workers, local_scheduler=local_scheduler)
        code = code or rc
        done += len(batch)
        elapsed = time.monotonic() - t0
        eta = elapsed / done * (total - done) if done else 0.0
        print(f"backfill {done}/{total} dates  {elapsed:6.1f}s  eta {eta:6.1f}s  "
              f"last={batch[-1]} rc={rc}", file=progress)
        if rc not in (EXIT_OK, EXIT_CACHE):
            break
    return code


def invalidate(family: str, on: date, downstream: bool = True,
               dry_run: bool = False) -> list[tuple[str, date]]:
    """Delete the marker of (family, on) and, with ``downstream``, of every marker that
    consumed it — transitively, following the recorded upstream run_ids, so later dates that
    chained on it are included. Two statements in all. Returns what was (or would be)
    invalidated, in walk order."""
    if not calendar.is_business_day(on):
        raise NotBusinessDay(on, calendar.holiday_name(on) or "not a business day")
    stores = get_stores()
    with stores.engine.begin() as conn:
        graph = mk.markers_from(conn, on)
        by_key = {mk.upstream_key(m.family, m.business_date): m for m in graph}
        consumers: dict[tuple[str, str], list[str]] = {}
        for m in graph:
            for key, run_id in m.upstream.items():
                consumers.setdefault((key, run_id), []).append(
                    mk.upstream_key(m.family, m.business_date))
        todo, seen = [mk.upstream_key(family, on)], []
        while todo:
            key = todo.pop()
            if key in seen:
                continue
            seen.append(key)
            marker = by_key.get(key)
            if downstream and marker is not None:
                todo.extend(consumers.get((key, marker.run_id), []))
        result = [mk.parse_upstream_key(k) for k in seen]
        if not dry_run:
            MEMO.forget_from(on)
            for fam in {f for f, _ in result}:
                mk.delete_markers(conn, fam, [d for f, d in result if f == fam])
    return result

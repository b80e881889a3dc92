"""Invalidation and reruns: delete a step's marker (and its consumers'), build again."""
from __future__ import annotations

from datetime import date
from typing import IO

from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode, NotBusinessDay
from pms_luigi.ops import DEFAULT_CHUNK
from pms_luigi.ops.backfill import STDERR, run_chunks
from pms_luigi.ops.runner import build_context
from pms_luigi.pipeline import context
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.store import markers as mk


def invalidate(family: str, on: date, downstream: bool = True,
               dry_run: bool = False) -> list[tuple[str, date]]:
    """Delete the marker of (family, on) and, with ``downstream``, of every marker that
    consumed it — transitively, following the recorded upstream keys, so later dates that
    chained on it are included. A consumer that recorded an *older* run of the step is
    included too: it is stale already and must rerun anyway. Two statements in all.
    Returns what was (or would be) invalidated, in walk order."""
    if not calendar.is_business_day(on):
        raise NotBusinessDay(on, calendar.holiday_name(on) or "not a business day")
    ctx = context.current()
    with ctx.stores.engine.begin() as conn:
        graph = mk.markers_from(conn, on)
        by_key = {mk.upstream_key(m.family, m.business_date): m for m in graph}
        consumers: dict[str, list[str]] = {}
        for m in graph:
            for key in m.upstream:
                consumers.setdefault(key, []).append(mk.upstream_key(m.family, m.business_date))
        todo, seen = [mk.upstream_key(family, on)], []
        seen_set: set[str] = set()
        while todo:
            key = todo.pop()
            if key in seen_set:
                continue
            seen.append(key)
            seen_set.add(key)
            if downstream and key in by_key:
                todo.extend(consumers.get(key, []))
        result = [mk.parse_upstream_key(k) for k in seen]
        if not dry_run:
            ctx.memo.forget_from(on)
            for fam in {f for f, _ in result}:
                mk.delete_markers(conn, fam, [d for f, d in result if f == fam])
    return result


def rerun(family: str, on: date, downstream: bool = False, dry_run: bool = False,
          chunk: int = DEFAULT_CHUNK, workers: int = 1, local_scheduler: bool = True,
          progress: IO[str] | str | None = STDERR,
          **kwargs: object) -> tuple[int, list[tuple[str, date]]]:
    """Invalidate (family, on) [and its consumers] and build them again, oldest first in
    chunks (an old MTM rerun with ``--downstream`` can touch every later date)."""
    with build_context():
        hit = invalidate(family, on, downstream=downstream, dry_run=dry_run)
        if dry_run:
            return ExitCode.OK, hit
        todo: dict[str, list[date]] = {}
        for fam, d in sorted(hit, key=lambda fd: (fd[1], FAMILIES[fd[0]].rank)):
            todo.setdefault(fam, []).append(d)
        code, _ = run_chunks(todo, chunk=chunk, workers=workers, local_scheduler=local_scheduler,
                             progress=progress, **kwargs)
        return code, hit

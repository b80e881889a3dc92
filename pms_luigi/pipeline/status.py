"""When a step is done: its own status, many dates at once, and the transitive check.

A step of D is *complete* when its own marker is valid and published (:class:`StepStatus`
from :func:`pms_luigi.pipeline.targets.step_status`) **and** every step upstream of it,
transitively, has a valid marker. The transitive part is what makes Luigi schedule a
consumer whose input is about to be recomputed in the same build (Luigi stops its walk at
complete nodes).

Statuses are answered in bulk (one query per family over many dates) and memoised for the
build in the run context's :class:`~pms_luigi.pipeline.memo.StatusMemo`.
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Protocol

import sqlalchemy as sa

from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.memo import StepKey
from pms_luigi.pipeline.targets import StepSpec, StepStatus, step_status
from pms_luigi.store.engine import db_unavailable


class StepClass(Protocol):
    """What the status walk needs of a step class (``PmsTask`` subclasses)."""

    rank: int

    @classmethod
    def family(cls) -> str: ...

    @classmethod
    def spec(cls, ctx: RunContext) -> StepSpec: ...

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[StepClass], date]]: ...


def statuses(cls: type[StepClass], dates: Sequence[date], ctx: RunContext
             ) -> dict[date, StepStatus]:
    """Fresh own status of ``cls`` on many dates (bulk), recorded in the build's memo."""
    stores = ctx.stores
    try:
        found = step_status(stores.engine, stores.cache, cls.spec(ctx), dates,
                            stores.cache_window_bd)
    except sa.exc.OperationalError as exc:  # the first DB touch of a run: say where
        raise db_unavailable(ctx.settings.database_url, exc) from exc
    ctx.memo.own.update({(cls.family(), d): st for d, st in found.items()})
    return found


def status_of(cls: type[StepClass], on: date, ctx: RunContext) -> StepStatus:
    """Own status of one step, from the memo when the build has seen it."""
    key = (cls.family(), on)
    if key not in ctx.memo.own:
        statuses(cls, [on], ctx)
    return ctx.memo.own[key]


def deep_valid(cls: type[StepClass], on: date, ctx: RunContext) -> bool:
    """True when every step upstream of (cls, on), transitively, has a valid DB marker.

    Iterative over the closure (the MTM chain runs back to inception: no recursion limit),
    with one bulk status query per family for the statuses not yet memoised; walks the
    classes' ``upstream_for`` rather than Luigi's ``requires()``, so no Luigi task is built.
    """
    memo = ctx.memo
    roots = [(c, d) for c, d in cls.upstream_for(on, ctx)]
    ups: dict[StepKey, list[StepKey]] = {}
    classes: dict[str, type[StepClass]] = {}
    stack, pending = list(roots), []
    while stack:
        c, d = stack.pop()
        key = (c.family(), d)
        if key in memo.deep or key in ups:
            continue
        classes[key[0]] = c
        upstream = c.upstream_for(d, ctx)
        ups[key] = [(u.family(), ud) for u, ud in upstream]
        pending.append(key)
        stack.extend(upstream)
    by_family: dict[str, list[date]] = {}
    for fam, d in pending:
        if (fam, d) not in memo.own:
            by_family.setdefault(fam, []).append(d)
    for fam, dates in by_family.items():
        statuses(classes[fam], dates, ctx)
    for key in sorted(pending, key=lambda k: (k[1], classes[k[0]].rank)):
        memo.deep[key] = memo.own[key].db_valid and all(memo.deep[u] for u in ups[key])
    return all(memo.deep[(c.family(), d)] for c, d in roots)

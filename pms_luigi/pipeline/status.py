"""When a step is done: its own status, many dates at once, and the transitive check.

A step of D is *complete* when its own marker is valid and published (:class:`StepStatus`
from :func:`pms_luigi.pipeline.targets.step_status`) **and** every step upstream of it,
transitively, has a valid marker. The transitive part is what makes Luigi schedule a
consumer whose input is about to be recomputed in the same build (Luigi stops its walk at
complete nodes).

Statuses are answered in bulk (one query per family over many dates) and memoised for the
build in the run context's :class:`StatusMemo`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Protocol

import sqlalchemy as sa

from pms_luigi.pipeline.targets import StepSpec, StepStatus, step_status
from pms_luigi.store.engine import db_unavailable

if TYPE_CHECKING:
    from pms_luigi.pipeline.context import RunContext

#: (family, business date) of one step.
StepKey = tuple[str, date]


class StepClass(Protocol):
    """What the status walk needs of a step class (``PmsTask`` subclasses)."""

    rank: int

    @classmethod
    def family(cls) -> str: ...

    @classmethod
    def spec(cls, ctx: RunContext) -> StepSpec: ...

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[StepClass], date]]: ...


@dataclass
class StatusMemo:
    """The statuses a build has seen, so Luigi's many completeness checks cost no query.

    Emptied when a build starts (unless a backfill keeps it between its chunks); entries
    from a date on are dropped when the build writes or invalidates a step of that date.
    Another process's writes are caught by the fresh status check each step makes under
    its lock before running.
    """

    own: dict[StepKey, StepStatus] = field(default_factory=dict)
    deep: dict[StepKey, bool] = field(default_factory=dict)

    def clear(self) -> None:
        self.own.clear()
        self.deep.clear()

    def forget_negative(self) -> None:
        """Drop missing/stale/not-deep-valid entries, keep positive ones.

        Called when a step starts: another process (a second worker against luigid, or a
        ``workers > 1`` sibling) may have built an upstream step since scheduling, and a step
        that then finds itself done under its lock must not fail Luigi's
        ``check_complete_on_run`` on a stale "missing". Positive entries stay: only an
        invalidation revokes them, and that clears the memo.
        """
        for key in [k for k, st in self.own.items() if not st.db_valid]:
            del self.own[key]
        for key in [k for k, ok in self.deep.items() if not ok]:
            del self.deep[key]

    def forget_from(self, on: date, family: str | None = None) -> None:
        """Forget what writing ``family`` on ``on`` (or invalidating from ``on``) can change.

        Dropped: the step's own entry, every *valid* own entry from ``on`` on (a consumer of
        the rewritten step is stale now) and every deep entry from ``on`` on. Kept: the
        missing/stale own entries of other steps — a write elsewhere never makes them valid
        (a rerun gets a new run_id) — so a backfill chunk's prefetched statuses of its later
        dates survive each step it runs instead of being queried again one by one.
        """
        for key in [k for k, st in self.own.items()
                    if k[1] >= on and (st.db_valid or k == (family, on))]:
            del self.own[key]
        for key in [k for k in self.deep if k[1] >= on]:
            del self.deep[key]


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

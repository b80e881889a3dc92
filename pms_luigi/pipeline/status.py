"""When a step is done: its own status, many dates at once, and the transitive status.

A step's *own* status (:class:`StepStatus` from :func:`pms_luigi.pipeline.targets.step_status`)
looks at its marker alone: present, at the class's version, recording the upstream run_ids
that are current now, published. A step is *complete* when its own status is done **and**
every step upstream of it, transitively, has a valid marker: rerunning MTM(D) without its
consumers makes MTM(D+1) stale by its own marker (the run_id it recorded is gone), and every
later MTM and what consumes them stale through it, although their own markers still look
fine. Luigi needs the transitive answer (it stops its walk at complete nodes, so a consumer
whose input is about to be rebuilt must not look complete), and so does every operator
view: :func:`deep_statuses` is the one function the tasks (``complete()``, via
:func:`deep_valid`), the status grid, ``pms-luigi check`` and the backfill planner ask.

Statuses are answered in bulk (one query per family over many dates) and memoised for the
build in the run context's :class:`~pms_luigi.pipeline.memo.StatusMemo`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Protocol

import sqlalchemy as sa

from pms_luigi.core import calendar
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.memo import StepKey
from pms_luigi.pipeline.targets import State, StepSpec, StepStatus, step_status
from pms_luigi.store import markers as mk
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


Step = tuple[type[StepClass], date]


def statuses(cls: type[StepClass], dates: Sequence[date], ctx: RunContext
             ) -> dict[date, StepStatus]:
    """Fresh own status of ``cls`` on many dates (bulk), recorded in the build's memo."""
    stores = ctx.stores
    try:
        found = step_status(stores.engine, stores.cache, cls.spec(ctx), dates,
                            stores.cache_window_bd)
    except sa.exc.OperationalError as exc:  # the first DB touch of a run: say where
        raise db_unavailable(ctx.settings.database_url, exc) from exc
    for d, st in found.items():
        ctx.memo.put_own((cls.family(), d), st)
    return found


def status_of(cls: type[StepClass], on: date, ctx: RunContext) -> StepStatus:
    """Own status of one step, from the memo when the build has seen it."""
    key = (cls.family(), on)
    if key not in ctx.memo.own:
        statuses(cls, [on], ctx)
    return ctx.memo.own[key]


def deep_statuses(steps: Iterable[Step], ctx: RunContext, *, fresh: bool = False
                  ) -> dict[StepKey, StepStatus]:
    """The transitive status of each (step class, date): the one completeness answer.

    - the step's own status when that is not valid (missing, or stale by its own marker);
    - else STALE when a step upstream of it, transitively, has no valid marker: ``cause``
      names the first such step (``family@date``, the earliest) and ``reason`` says why
      (``upstream pms.MarkToMarket@2026-12-03 is stale: upstream rerun: …``);
    - else its own status (DONE, or CACHE_MISSING: re-published from the database, nothing
      recomputed).

    So ``state is DONE`` exactly when the task's ``complete()`` is true. Bulk: one status
    query per family for everything the answer depends on (the MTM chain back to the fund's
    inception included), so a 5-year grid is a handful of queries. Answers come from the
    build's memo where it has them; ``fresh`` asks the stores again for every step the
    answer depends on (the grid, ``check`` and the planner: another process may have
    written since).
    """
    walk = _Walk(ctx, fresh)
    keys = [walk.key(c, d) for c, d in steps]
    ups = walk.closure(keys)
    memo = ctx.memo
    for key in sorted(ups, key=lambda k: (k[1], walk.classes[k[0]].rank)):  # upstream first
        memo.put_deep(key, _transitive(memo.own[key], [(u, memo.deep[u]) for u in ups[key]]))
    return {key: memo.deep[key] for key in keys}


def deep_valid(cls: type[StepClass], on: date, ctx: RunContext) -> bool:
    """True when every step upstream of (cls, on), transitively, has a valid DB marker: the
    upstream half of :func:`deep_statuses` (``complete()`` is "own status DONE and this")."""
    upstream = cls.upstream_for(on, ctx)
    found = deep_statuses(upstream, ctx)
    return all(found[(c.family(), d)].db_valid for c, d in upstream)


def _transitive(own: StepStatus, upstream: list[tuple[StepKey, StepStatus]]) -> StepStatus:
    """A step's transitive status from its own and its upstream steps' transitive ones."""
    if not own.db_valid:
        return own
    bad = [(st.cause or mk.upstream_key(*key), st) for key, st in upstream if not st.db_valid]
    if not bad:
        return own
    cause, st = min(bad, key=lambda b: (mk.parse_upstream_key(b[0])[1], b[0]))
    why = st.reason if st.cause else f"upstream {cause} is {st.state.value}: {st.reason}"
    return StepStatus(State.STALE, own.marker, why, cause)


class _Walk:
    """One walk over the steps a transitive answer depends on (see :meth:`closure`)."""

    def __init__(self, ctx: RunContext, fresh: bool) -> None:
        self.ctx, self.fresh = ctx, fresh
        self.classes: dict[str, type[StepClass]] = {}  # family -> class, as met
        self.fetched: set[StepKey] = set()
        self.chained: set[str] = set()  # families that consume their own earlier dates (MTM)

    def key(self, cls: type[StepClass], on: date) -> StepKey:
        fam = cls.family()
        self.classes.setdefault(fam, cls)
        return fam, on

    def known(self, key: StepKey) -> bool:
        return key in self.fetched or (not self.fresh and key in self.ctx.memo.own)

    def closure(self, keys: list[StepKey]) -> dict[StepKey, list[StepKey]]:
        """Each step whose transitive status must be worked out, with its upstream keys.

        Iterative (the MTM chain runs back to inception: no recursion limit). A step whose
        own status is not valid is its own answer: its upstream is not walked (nor is it for
        a date before the fund's inception, which has none). A valid step's upstream is the
        one its marker recorded — equal to its class's ``upstream_for`` (a marker recording
        another set is stale) — so the walk builds no Luigi task and calls ``upstream_for``
        only to learn a family's class the first time it meets it. Own statuses are fetched
        in bulk, one query per family, whenever nothing known is left to expand.
        """
        memo = self.ctx.memo
        ups: dict[StepKey, list[StepKey]] = {}
        stack, unknown = list(keys), []
        while stack or unknown:
            if not stack:
                self._fetch(unknown)
                stack, unknown = unknown, []
            key = stack.pop()
            if key in ups or (not self.fresh and key in memo.deep):
                continue
            if not self.known(key):
                unknown.append(key)
                continue
            own = memo.own[key]
            up = [mk.parse_upstream_key(k) for k in own.marker.upstream] if own.db_valid else []
            if any(fam not in self.classes for fam, _ in up):
                for cls, on in self.classes[key[0]].upstream_for(key[1], self.ctx):
                    self.key(cls, on)
            if any(fam == key[0] and on < key[1] for fam, on in up):
                self.chained.add(key[0])
            ups[key] = up
            stack.extend(up)
        return ups

    def _fetch(self, unknown: list[StepKey]) -> None:
        """Own statuses of ``unknown``, one bulk query per family. A family that consumes its
        own earlier dates (the MTM chain) is read back to the fund's inception in the same
        query, since the walk goes there anyway: one query, not one per date of the chain."""
        by_family: dict[str, set[date]] = {}
        for fam, on in unknown:
            by_family.setdefault(fam, set()).add(on)
        for fam, dates in by_family.items():
            if fam in self.chained:
                dates |= {d for d in calendar.business_days(self.ctx.fund.inception, max(dates))
                          if not self.known((fam, d))}
            statuses(self.classes[fam], sorted(dates), self.ctx)
            self.fetched.update((fam, d) for d in dates)

"""The base of every step: completeness from markers, and the run skeleton.

Every step reads the same way:

1. take the (family, date) lock and close the history rows a killed run of the pair left
   RUNNING (:func:`close_dead_runs`); if the DB marker is valid and only the cache is
   missing, re-publish from the DB and stop (no recompute);
2. ``read_inputs(ctx)`` does all the step's I/O (database reads and the reference files)
   and ``compute(inputs)`` calls the pure code (validation happens here, so a bad input
   fails before anything is written);
3. ``write`` the rows, build the payload from what the transaction wrote, upsert the marker
   — all in one transaction, fenced: it commits only if the marker is still the one read
   under the lock (a run whose lock connection died while another run took the lock and
   wrote the pair fails with ``AlreadyRunning`` instead of writing over it);
4. after the commit, ``publish`` the payload and the cache marker to Redis in one
   MULTI/EXEC, then ``write_files`` (the morning pack's files) atomically.

The graph is declared once per class by :meth:`PmsTask.upstream_for` (the steps a step
consumes) and :meth:`PmsTask.external_requires` (the ExternalTasks on its inputs);
``requires()`` is built from them and touches no store. Every store access of a step — the
lock, its status checks, its run history, the reads, the write, the publish — is retried
in-process on a transient error (``[pms_retry]``, :class:`pms_luigi.pipeline.retry.Guard`),
every attempt counted in the marker metadata and the run history.
"""
from __future__ import annotations

import abc
import contextlib
import gc
import hashlib
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, ClassVar

import luigi
import sqlalchemy as sa

from pms_luigi.cache.payloads import envelopes
from pms_luigi.core.errors import AlreadyRunning, CacheUnavailable, UpstreamNotDone
from pms_luigi.core.frames import canonical_json
from pms_luigi.faults import fault_point
from pms_luigi.pipeline import context, retry
from pms_luigi.pipeline import status as st
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.params import BusinessDateParameter
from pms_luigi.pipeline.targets import (
    DbMarkerTarget,
    RedisCacheTarget,
    State,
    StepSpec,
    StepStatus,
    cache_required,
)
from pms_luigi.store import markers as mk
from pms_luigi.store.engine import step_lock
from pms_luigi.store.readers import latest_price_date
from pms_luigi.store.writers import replace_on

log = logging.getLogger("pms_luigi")


@dataclass
class StepResult:
    """What a step computed: rows per table, plus metadata for the marker and the log line."""

    frames: dict[sa.Table, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: what ``write`` stored, per table, exactly as the database holds it (typed columns,
    #: ``writers.typed_columns``): a step may build its payload from these instead of
    #: reading the rows back.
    written: dict[Any, Any] = field(default_factory=dict)
    #: what ``write_files`` puts on disk after the commit (the morning pack's renderings)
    files: dict[str, Any] = field(default_factory=dict)
    #: a step without cache output: the digest its marker records in place of a payload's —
    #: the identity of the input it consumed (an ingestion: the sha256 of the file it read),
    #: compared with :meth:`PmsTask.input_digest` by the status check
    digest: str = ""


class PmsTask(luigi.Task):
    """A business-date step with a DB marker and a Redis cache output (none when ``kinds``
    is empty: the marker alone then says the step is done, and nothing is published)."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    version: ClassVar[int] = 1
    kinds: ClassVar[tuple[str, ...]] = ()
    rank: ClassVar[int] = 0  # order among steps of one date (upstream first)
    #: pause Python's cyclic GC from read to commit (see :func:`gc_paused`): for steps that
    #: allocate 10⁵–10⁶ short-lived objects (MTM's rows).
    pause_gc: ClassVar[bool] = False

    # ---------------------------------------------------------------- the graph
    @classmethod
    def family(cls) -> str:
        return cls.get_task_family()

    @classmethod
    def upstream_for(cls, on: date, ctx: RunContext) -> list[tuple[type[PmsTask], date]]:
        """The steps (class, date) that the step of ``on`` consumes. Default: none."""
        return []

    def external_requires(self) -> list[luigi.Task]:
        """The ExternalTasks on the step's input data. Default: none."""
        return []

    def requires(self) -> list[luigi.Task]:
        ups = [cls(date=on) for cls, on in self.upstream_for(self.date, self.ctx)]
        return [*self.external_requires(), *ups]

    @classmethod
    def upstream_keys_for(cls, on: date, ctx: RunContext) -> list[str]:
        return [mk.upstream_key(c.family(), d) for c, d in cls.upstream_for(on, ctx)]

    @classmethod
    def input_digest(cls, on: date, ctx: RunContext) -> str | None:
        """A step without cache output: the digest of its input now (see
        :attr:`StepResult.digest`); None: no input to compare. Default: None."""
        return None

    @classmethod
    def spec(cls, ctx: RunContext) -> StepSpec:
        return StepSpec(cls.family(), cls.version, cls.kinds,
                        lambda on: cls.upstream_keys_for(on, ctx),
                        lambda on: cls.input_digest(on, ctx))

    # ---------------------------------------------------------------- completeness
    @property
    def ctx(self) -> RunContext:
        """The build's run context, looked up on each use — never stored on the task,
        which Luigi caches across builds and may pickle."""
        return context.current()

    @classmethod
    def statuses(cls, dates: Sequence[date], ctx: RunContext | None = None
                 ) -> dict[date, StepStatus]:
        """Fresh own status of many dates (bulk), recorded in the build's memo."""
        return st.statuses(cls, dates, ctx or context.current())

    def status(self) -> StepStatus:
        """Own status (marker, upstream run_ids, cache), memoised for the current build."""
        return st.status_of(type(self), self.date, self.ctx)

    def output(self) -> list[luigi.Target]:
        return [DbMarkerTarget(self.status), RedisCacheTarget(self.status)]

    def complete(self) -> bool:
        """Done = own marker valid and cached, and every step upstream (transitively) has a
        valid marker (see :mod:`pms_luigi.pipeline.status`). Retried like every store
        access of a step (``[pms_retry]``)."""
        ctx = self.ctx
        return retry.call(ctx.settings.retry, "status", {}, lambda: (
            self.status().state is State.DONE and st.deep_valid(type(self), self.date, ctx)))

    @classmethod
    def bulk_complete(cls, parameter_tuples: Iterable[Any]) -> list[Any]:
        """Luigi's range hook: the complete ones among many dates, in one bulk status call."""
        ctx = context.current()
        params = list(parameter_tuples)
        dates = [p if isinstance(p, date) else p[0] for p in params]

        def complete_ones() -> list[Any]:
            done = cls.statuses(dates, ctx)
            return [p for p, d in zip(params, dates, strict=True)
                    if done[d].state is State.DONE and st.deep_valid(cls, d, ctx)]

        return retry.call(ctx.settings.retry, "status", {}, complete_ones)

    # ---------------------------------------------------------------- the step
    @abc.abstractmethod
    def read_inputs(self, ctx: RunContext) -> Any:
        """Read everything the step needs for ``self.date`` (as-of reads, reference files,
        settings): all of the step's input I/O happens here."""

    @abc.abstractmethod
    def compute(self, inputs: Any) -> StepResult:
        """Call the pure code on the inputs; validation errors raise here, before anything
        is written. No I/O."""

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Default: replace exactly this step's rows for the date in each of its tables."""
        total = 0
        for tbl, frame in result.frames.items():
            total += replace_on(conn, tbl, self.date, frame.assign(run_id=run_id))
        return total

    @abc.abstractmethod
    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        """The JSON-able payload per Redis kind, built from the rows in the database."""

    def payload_texts(self, conn: sa.Connection, result: StepResult | None = None
                      ) -> dict[str, str]:
        """The payload text per kind — what goes under ``data`` in the published envelope
        (:func:`pms_luigi.cache.payloads.envelope`). ``result`` is the step's just-written
        result (inside the write transaction), None when re-publishing a committed run from
        the DB.

        Contract: for the same committed rows both calls return the same texts byte for byte
        (the marker's digest covers the enveloped texts). Default: canonical JSON of
        :meth:`payloads`, read back from the DB in both cases.
        """
        return {kind: canonical_json(body) for kind, body in self.payloads(conn).items()}

    def write_files(self, result: StepResult) -> None:
        """Files the step leaves on disk, written after the commit. Default: none."""

    def run(self) -> None:
        """Under the (family, date) lock: close the history a killed run left RUNNING, then
        skip (done), re-publish (only the cache is missing) or :meth:`execute`. Every store
        access is retried by the ``[pms_retry]`` policy (:mod:`pms_luigi.pipeline.retry`)."""
        ctx = self.ctx
        stores = ctx.stores
        guard = retry.Guard(ctx.settings.retry)
        run_id = uuid.uuid4().hex  # named before the lock: it signs what this run closes
        with contextlib.ExitStack() as held:
            guard("lock", lambda: held.enter_context(
                step_lock(stores.engine, stores.lock_dir, self.family(), self.date)))
            guard("history", close_dead_runs, stores.engine, self.family(), self.date,
                  f"run {run_id}")
            status = guard("status", lambda: self.statuses([self.date], ctx)[self.date])
            if status.state is State.DONE:
                log.info("%s %s already complete (run %s)", self.family(), self.date,
                         status.marker.run_id if status.marker else "-")
                return
            if status.state is State.CACHE_MISSING:
                self.republish(status.marker, guard, run_id)
                return
            ctx.memo.forget_negative()  # fresh statuses for what another process built
            if not guard("status", st.deep_valid, type(self), self.date, ctx):
                raise UpstreamNotDone(f"{self.family()} {self.date}: a step it consumes is not "
                                      "done (missing or stale); run it first")
            self.execute(ctx, guard, run_id, status.marker.run_id if status.marker else None)

    def execute(self, ctx: RunContext, guard: retry.Guard, run_id: str,
                seen: str | None) -> None:
        """Read, compute, write (fenced on ``seen``: the marker's run_id read under the
        lock), publish and write the files, with the run's history row around it."""
        stores = ctx.stores
        started = datetime.now(UTC)
        for phase in ("read", "write", "publish"):  # the marker's attempts always name these
            guard.attempts.setdefault(phase, 0)
        guard("history", self._history, stores.engine, mk.start_run,
              dict(run_id=run_id, family=self.family(), business_date=self.date))
        try:
            with gc_paused(self.pause_gc):
                self.set_status_message("reading inputs")
                self.set_progress_percentage(10)
                inputs = guard("read", self.read_inputs, ctx)
                fault_point("after_read", self.family())
                self.set_status_message("computing")
                result = self.compute(inputs)
                self.set_progress_percentage(50)
                self.set_status_message("writing")
                upstream = guard("status", self._upstream_run_ids, ctx)
                texts, digest, publish = guard("write", self._write, ctx, result, run_id,
                                               seen, started, upstream, guard.attempts)
            self.set_progress_percentage(80)
            fault_point("after_commit", self.family())
            self.set_status_message("publishing")
            if publish:
                self._publish(ctx, guard, texts, run_id, digest)
            elif self.kinds:
                log.info("%s %s is older than the cache window: not published", self.family(),
                         self.date)
            self.write_files(result)
        except BaseException as exc:
            ctx.memo.forget_from(self.date, self.family())
            self._record_failure(ctx, guard, run_id, exc)
            raise
        ctx.memo.forget_from(self.date, self.family())
        guard("history", self._history, stores.engine, mk.finish_run,
              dict(run_id=run_id, status="DONE", attempts=guard.most))
        self.set_progress_percentage(100)
        meta = ", ".join(f"{k}={v}" for k, v in result.metadata.items()
                         if not isinstance(v, dict | list))
        self.set_status_message(f"done: {meta}")
        log.info("%s %s done run=%s %s", self.family(), self.date, run_id, meta)

    @staticmethod
    def _history(engine: sa.Engine, record: Any, values: dict[str, Any]) -> None:
        """One run-history write (``mk.start_run`` / ``mk.finish_run``) in its own
        transaction."""
        with engine.begin() as conn:
            record(conn, **values)

    def _record_failure(self, ctx: RunContext, guard: retry.Guard, run_id: str,
                        exc: BaseException) -> None:
        """Record the run FAILED with its exit-code class (what ``runner.build`` reports).

        After a store failure one attempt only (the policy's attempts were just spent on
        that store); when the record cannot be written the row stays RUNNING and the next
        run of the pair closes it (:func:`close_dead_runs`). The step's own error is what
        propagates, never the record's."""
        policy = retry.single(guard.policy) if isinstance(exc, retry.TRANSIENT) \
            else guard.policy
        values = dict(run_id=run_id, status="FAILED", attempts=guard.most,
                      error=f"{type(exc).__name__}: {exc}"[:4000], failure=mk.failure_of(exc))
        try:
            retry.call(policy, "history", guard.attempts, self._history, ctx.stores.engine,
                       mk.finish_run, values)
        except retry.TRANSIENT as lost:
            log.warning("%s %s: run %s failed and could not be recorded (%s); the next run "
                        "closes its history", self.family(), self.date, run_id,
                        retry.brief(lost))

    def _upstream_run_ids(self, ctx: RunContext) -> dict[str, str]:
        keys = self.upstream_keys_for(self.date, ctx)
        with ctx.stores.engine.connect() as conn:
            current = mk.current_run_ids(conn, keys)
        missing = [k for k in keys if k not in current]
        if missing:
            raise RuntimeError(f"{self.family()} {self.date}: upstream not complete: {missing}")
        return current

    def _write(self, ctx: RunContext, result: StepResult, run_id: str, seen: str | None,
               started: datetime, upstream: dict[str, str], attempts: dict[str, int],
               ) -> tuple[dict[str, str], str, bool]:
        cached = bool(self.kinds)  # no cache output: no payload, no fund, the result's digest
        fund = ctx.fund.name if cached else ""  # known before the transaction opens
        with ctx.stores.engine.begin() as conn:
            self._check_fence(conn, run_id, seen)
            publish = cached and cache_required(self.date, latest_price_date(conn),
                                                ctx.stores.cache_window_bd)
            rows = self.write(conn, result, run_id)
            texts = envelopes(self.payload_texts(conn, result), self.date, run_id, fund) \
                if cached else {}
            # over the enveloped bytes Redis will hold
            digest = payload_digest(texts) if cached else result.digest
            metadata = {**result.metadata, "attempts": dict(attempts)}
            mk.upsert_marker(conn, family=self.family(), business_date=self.date,
                             version=self.version, run_id=run_id, started_at=started,
                             rows_written=rows, payload_digest=digest, upstream=upstream,
                             metadata=metadata)
            fault_point("before_commit", self.family())
        return texts, digest, publish

    def _check_fence(self, conn: sa.Connection, run_id: str, seen: str | None) -> None:
        """Refuse to commit over another run's marker (see :func:`pms_luigi.store.markers.
        fence`): the marker must still be the one read under the lock (``seen``), or this
        run's own when an earlier attempt of this write committed unacknowledged."""
        now = mk.fence(conn, self.family(), self.date)
        if now not in (seen, run_id):
            raise AlreadyRunning(
                f"{self.family()} {self.date}: run {now} wrote it while this run ({run_id}) "
                "was working: this run's step lock was lost (its database connection "
                "closed); nothing written, the other run's result stands")

    def _publish(self, ctx: RunContext, guard: retry.Guard, texts: dict[str, str],
                 run_id: str, digest: str) -> None:
        try:
            guard("publish", ctx.stores.cache.publish, self.family(), self.date, texts, run_id,
                  digest)
        except retry.TRANSIENT as exc:
            raise CacheUnavailable(
                f"{self.family()} {self.date}: results committed to the database (run {run_id})"
                f" but Redis is unavailable: {type(exc).__name__}; rerun to re-publish") from exc

    def republish(self, marker: mk.Marker, guard: retry.Guard, rid: str) -> None:
        """Cache lost (expired, flushed, Redis was down): publish again from the DB rows;
        the history row ``rid`` records it (REPUBLISHED, or FAILED with Redis's class)."""
        ctx = self.ctx
        engine = ctx.stores.engine
        texts = guard("read", self._committed_texts, ctx, marker)
        if payload_digest(texts) != marker.payload_digest:
            log.warning("%s %s: payload rebuilt from DB differs from the marker's digest",
                        self.family(), self.date)
        opened = dict(run_id=rid, family=self.family(), business_date=self.date)
        try:
            self._publish(ctx, guard, texts, marker.run_id, marker.payload_digest)
        except CacheUnavailable as exc:  # recorded, so the build's exit code says "Redis" (5)
            guard("history", self._history, engine, mk.start_run, opened)
            self._record_failure(ctx, guard, rid, exc)
            raise
        ctx.memo.forget_from(self.date, self.family())
        guard("history", self._history, engine, mk.start_run, opened)
        guard("history", self._history, engine, mk.finish_run,
              dict(run_id=rid, status="REPUBLISHED", attempts=guard.most))
        log.info("%s %s re-published from DB (run %s), nothing recomputed", self.family(),
                 self.date, marker.run_id)

    def _committed_texts(self, ctx: RunContext, marker: mk.Marker) -> dict[str, str]:
        """The enveloped payload texts of the committed run ``marker`` names, from the DB."""
        with ctx.stores.engine.connect() as conn:
            return envelopes(self.payload_texts(conn), self.date, marker.run_id,
                             ctx.fund.name)


def close_dead_runs(engine: sa.Engine, family: str, on: date, closer: str) -> int:
    """Close (family, on)'s history rows that a dead process left RUNNING (the caller holds
    the pair's step lock): see :func:`pms_luigi.store.markers.close_dead_runs`."""
    with engine.begin() as conn:
        return mk.close_dead_runs(conn, family, on, closer)


@contextlib.contextmanager
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk phase, restore it afterwards.

    Building and writing 10⁴–10⁵ rows allocates millions of short-lived containers (row
    tuples, per-column lists); every 700 allocations start a GC pass and some of them a full
    one over all the worker's long-lived objects (pandas, SQLAlchemy, luigi), none of it
    reclaiming anything (reference counting frees these objects). Only the *cyclic*
    collector pauses: memory is freed as usual; the few cycles made meanwhile are collected
    when it resumes. Nested or already-disabled GC is left as found.
    """
    if not enabled or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


class PmsWrapperTask(luigi.WrapperTask):
    """A root that only groups steps (EndOfDay, PreOpen, a backfill chunk).

    Its own START handler matters with several local workers: each task then runs in a
    forked child whose memo is the parent's copy from fork time, and Luigi's check that a
    finished wrapper is complete would read its steps' stale "missing" entries."""

    task_namespace = "pms"


@PmsTask.event_handler(luigi.Event.START)
@PmsWrapperTask.event_handler(luigi.Event.START)
def _refresh_memo_on_start(_task: luigi.Task) -> None:
    """Luigi fires START before it re-checks a task's dependencies (or, for a wrapper, its
    completeness) in the worker: drop the memo's negative entries there, so a step another
    process finished meanwhile is seen as done (see ``StatusMemo.forget_negative``)."""
    context.current().memo.forget_negative()


def payload_digest(texts: dict[str, str]) -> str:
    """SHA-256 over the published texts in kind order: what Redis holds, byte for byte."""
    digest = hashlib.sha256()
    for kind in sorted(texts):
        digest.update(kind.encode() + b"\0" + texts[kind].encode() + b"\0")
    return digest.hexdigest()

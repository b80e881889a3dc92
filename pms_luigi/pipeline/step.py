"""The base of every step: business-date parameter, stores, completeness, the run skeleton.

A step's ``run()`` is always the same four moves (DESIGN.md §4–§6):

1. take the (family, date) lock; if the DB marker is valid and only the cache is missing,
   re-publish from the DB and stop (no recompute);
2. ``read_inputs`` (one connection) and ``compute`` (pure code; validation happens here, so a
   bad input fails before anything is written);
3. ``write`` the rows, build the payload from what the transaction wrote, upsert the marker —
   all in one transaction (``payload_texts``: by default read back from the DB; a step that
   writes typed frames builds it from them, byte-identical to a later republish-from-DB);
4. publish payload + cache marker to Redis in one MULTI/EXEC.

Transient DB/Redis errors are retried in-process with tenacity (``[pms_retry]``), every
attempt counted in the marker metadata and the run history.
"""
from __future__ import annotations

import abc
import contextlib
import gc
import hashlib
import os
import logging
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, ClassVar

import luigi
import redis
import sqlalchemy as sa
import tenacity

from pms_luigi.core import calendar
from pms_luigi.pipeline import config as cfg
from pms_luigi.cache.payloads import Cache, canonical_json, get_redis
from pms_luigi.core.errors import (CacheUnavailable, NotBusinessDay, TransientStoreError,
                              UpstreamNotDone)
from pms_luigi.faults import fault_point
from pms_luigi.store import markers as mk
from pms_luigi.store.engine import get_engine, mask_url, step_lock
from pms_luigi.store.readers import latest_price_date
from pms_luigi.pipeline.targets import (DbMarkerTarget, RedisCacheTarget, State, StepSpec, StepStatus,
                               cache_required, step_status)

log = logging.getLogger("pms_luigi")

TRANSIENT = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError,
             redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


@dataclass(frozen=True)
class Stores:
    """The process's engine and cache, chosen once from the environment/config."""

    engine: sa.Engine
    cache: Cache
    cache_window_bd: int

    @property
    def lock_dir(self):  # noqa: ANN201 - Path
        return cfg.data_dir() / "locks"


_STORES: dict[tuple[str, str, str, int], Stores] = {}


def get_stores() -> Stores:
    """The stores for the current environment, built once per (URLs, namespace, process)."""
    key = (cfg.database_url(), cfg.redis_url(), cfg.namespace(), os.getpid())
    if key not in _STORES:
        store_cfg = cfg.pms_store()
        cache = Cache(get_redis(key[1]), key[2], store_cfg.cache_ttl_days * 86_400)
        _STORES[key] = Stores(get_engine(key[0]), cache, store_cfg.cache_window_bd)
    return _STORES[key]


def retrying(what: str):  # noqa: ANN201 - tenacity Retrying
    """In-process retry policy for transient store errors, from ``[pms_retry]``."""
    policy = cfg.pms_retry()
    wait = tenacity.wait_exponential(multiplier=policy.wait_seconds, exp_base=policy.backoff) \
        if policy.backoff > 1 else tenacity.wait_fixed(policy.wait_seconds)
    if policy.jitter_seconds > 0:
        wait = wait + tenacity.wait_random(0, policy.jitter_seconds)

    def _log(state: tenacity.RetryCallState) -> None:
        log.warning("transient error during %s (attempt %d): %s", what, state.attempt_number,
                    state.outcome.exception() if state.outcome else "")

    return tenacity.Retrying(
        stop=tenacity.stop_after_attempt(policy.attempts), wait=wait,
        retry=tenacity.retry_if_exception_type(TRANSIENT), before_sleep=_log, reraise=True)


@dataclass
class StatusMemo:
    """Per-process memo of step statuses for one build.

    Cleared when a build starts (``tasks.runner.build``); entries from a date on are dropped
    when this process writes or invalidates a step of that date. Another process's writes
    are caught by the fresh status check each step makes under its lock before running.
    """

    own: dict[tuple[str, date], StepStatus] = field(default_factory=dict)
    deep: dict[tuple[str, date], bool] = field(default_factory=dict)

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


MEMO = StatusMemo()


#: (family, business date) of one step.
StepKey = tuple[str, date]


def deep_valid(task: PmsTask) -> bool:
    """True when every step upstream of ``task`` (transitively) has a valid DB marker.

    Iterative over the closure (the MTM chain runs back to inception: no recursion limit),
    with one bulk status query per family for the statuses not yet memoised. Walks the
    class-level ``upstream_keys_for`` rather than ``requires()``: no Luigi task is built
    (each costs ~0.3 ms of parameter handling, and Luigi asks this several times per step).
    """
    roots: list[StepKey] = [mk.parse_upstream_key(k) for k in task.upstream_keys_for(task.date)]
    ups: dict[StepKey, list[StepKey]] = {}
    stack, pending = list(roots), []
    while stack:
        key = stack.pop()
        if key in MEMO.deep or key in ups:
            continue
        ups[key] = [mk.parse_upstream_key(k)
                    for k in step_class(key[0]).upstream_keys_for(key[1])]
        pending.append(key)
        stack.extend(ups[key])
    by_family: dict[str, list[date]] = {}
    for fam, on in pending:
        if (fam, on) not in MEMO.own:
            by_family.setdefault(fam, []).append(on)
    for fam, dates in by_family.items():
        step_class(fam).statuses(dates, task.stores)
    for key in sorted(pending, key=lambda k: (k[1], step_class(k[0]).rank)):
        MEMO.deep[key] = MEMO.own[key].db_valid and all(MEMO.deep[u] for u in ups[key])
    return all(MEMO.deep[k] for k in roots)


_STEP_CLASSES: dict[str, type[PmsTask]] = {}


def step_class(family: str) -> type[PmsTask]:
    """The step class of a family name (``pms.MarkToMarket``), from Luigi's task registry."""
    cls = _STEP_CLASSES.get(family)
    if cls is None:
        cls = _STEP_CLASSES[family] = luigi.task_register.Register.get_task_cls(family)
    return cls


class BusinessDateParameter(luigi.DateParameter):
    """A date that must be an ANBIMA business day; anything else is refused by name."""

    def normalize(self, x: Any) -> Any:
        value = super().normalize(x)
        if isinstance(value, date) and not calendar.is_business_day(value):
            raise NotBusinessDay(value, calendar.holiday_name(value) or "not a business day")
        return value


@dataclass(frozen=True)
class Fund:
    name: str
    inception: date
    initial_nav: float


_FUNDS: dict[str, Fund] = {}


def db_unavailable(url: str, exc: sa.exc.OperationalError) -> TransientStoreError:
    """A connection failure as operations need it: which database (password masked), why."""
    reason = (str(exc.orig or exc).strip().splitlines() or ["connection failed"])[0]
    return TransientStoreError(f"database unavailable at {mask_url(url)}: {reason}")


def fund() -> Fund:
    """The fund's settings: the ``fund`` table, overridden by ``[pms_fund]`` when set."""
    url = cfg.database_url()
    if url not in _FUNDS:
        from pms_luigi.store.schema import fund as fund_table

        try:
            with get_engine(url).connect() as conn:
                row = conn.execute(sa.select(fund_table)).mappings().first()
        except sa.exc.OperationalError as exc:
            raise db_unavailable(url, exc) from exc
        conf = cfg.pms_fund()
        if row is None and not conf.inception_date:
            raise RuntimeError("no fund configured: load data (pms-luigi demo / load) or set "
                               "[pms_fund] inception_date and initial_nav")
        inception = date.fromisoformat(conf.inception_date) if conf.inception_date \
            else row["inception_date"]
        nav = float(conf.initial_nav) if conf.initial_nav else float(row["initial_nav"])
        _FUNDS[url] = Fund(row["name"] if row else conf.name, inception, nav)
    return _FUNDS[url]


def forget_fund() -> None:
    """Drop the per-process fund and stores caches (tests, or after loading a new fund)."""
    _FUNDS.clear()
    _STORES.clear()


@dataclass
class StepResult:
    """What a step computed: rows per table, plus metadata for the marker and the log line."""

    frames: dict[sa.Table, Any]
    metadata: dict[str, Any] = field(default_factory=dict)
    #: what ``write`` stored, per table, exactly as the database holds it (typed frames):
    #: a step may build its payload from these instead of reading the rows back.
    written: dict[Any, Any] = field(default_factory=dict)


class PmsTask(luigi.Task):
    """A business-date step with a DB marker and a Redis cache output."""

    task_namespace = "pms"
    date = BusinessDateParameter()

    version: ClassVar[int] = 1
    kinds: ClassVar[tuple[str, ...]] = ()
    rank: ClassVar[int] = 0  # order among steps of one date (upstream first)
    #: pause Python's cyclic GC from read to commit (see :func:`gc_paused`): for steps that
    #: allocate 10⁵–10⁶ short-lived objects (MTM's rows).
    pause_gc: ClassVar[bool] = False

    # ---------------------------------------------------------------- graph helpers
    @classmethod
    def family(cls) -> str:
        return cls.get_task_family()

    def upstream_steps(self) -> list[PmsTask]:
        return [t for t in luigi.task.flatten(self.requires()) if isinstance(t, PmsTask)]

    @classmethod
    def upstream_keys_for(cls, on: date) -> list[str]:
        return [mk.upstream_key(t.family(), t.date) for t in cls(date=on).upstream_steps()]

    @classmethod
    def spec(cls) -> StepSpec:
        return StepSpec(cls.family(), cls.version, cls.kinds, cls.upstream_keys_for)

    # ---------------------------------------------------------------- completeness
    @property
    def stores(self) -> Stores:
        """Resolved on each use (cheap: engines and clients are cached per URL and process),
        never stored on the task, which Luigi caches and may pickle."""
        return get_stores()

    @classmethod
    def statuses(cls, dates: Sequence[date], stores: Stores | None = None) -> dict[date, StepStatus]:
        """Fresh own status of many dates (bulk); also refreshes the process memo."""
        stores = stores or get_stores()
        try:
            found = step_status(stores.engine, stores.cache, cls.spec(), dates,
                                stores.cache_window_bd)
        except sa.exc.OperationalError as exc:  # the first DB touch of a run: say where
            raise db_unavailable(cfg.database_url(), exc) from exc
        MEMO.own.update({(cls.family(), d): st for d, st in found.items()})
        return found

    def status(self) -> StepStatus:
        """Own status (marker, upstream run_ids, cache), memoised for the current build."""
        key = (self.family(), self.date)
        if key not in MEMO.own:
            self.statuses([self.date], self.stores)
        return MEMO.own[key]

    def output(self) -> list[luigi.Target]:
        return [DbMarkerTarget(self.status), RedisCacheTarget(self.status)]

    def complete(self) -> bool:
        """Done = own marker valid and cached, and every step upstream (transitively) has a
        valid marker. The transitive part is what makes Luigi schedule a consumer whose input
        is about to be recomputed in the same build (Luigi stops its walk at complete nodes)."""
        return self.status().state is State.DONE and deep_valid(self)

    @classmethod
    def bulk_complete(cls, parameter_tuples: Iterable[Any]) -> list[Any]:
        """Luigi's range hook: the complete ones among many dates, in one bulk status call."""
        params = list(parameter_tuples)
        dates = [p if isinstance(p, date) else p[0] for p in params]
        done = cls.statuses(dates)
        return [p for p, d in zip(params, dates, strict=True)
                if done[d].state is State.DONE and deep_valid(cls(date=d))]

    # ---------------------------------------------------------------- the step
    @abc.abstractmethod
    def read_inputs(self, conn: sa.Connection) -> Any:
        """Read everything the step needs for ``self.date`` on one connection (as-of reads)."""

    @abc.abstractmethod
    def compute(self, inputs: Any) -> StepResult:
        """Call the pure code; validation errors raise here, before anything is written."""

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """Default: replace exactly this step's rows for the date in each of its tables."""
        from pms_luigi.store.writers import replace_on

        total = 0
        for tbl, frame in result.frames.items():
            total += replace_on(conn, tbl, self.date, frame.assign(run_id=run_id))
        return total

    @abc.abstractmethod
    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        """The JSON-able payload per Redis kind, built from the rows in the database."""

    def payload_texts(self, conn: sa.Connection, result: StepResult | None = None
                      ) -> dict[str, str]:
        """The published text per kind. ``result`` is the step's just-written result (inside
        the write transaction), None when re-publishing a committed run from the DB.

        Contract: for the same committed rows both calls return the same texts byte for byte
        (the marker's digest covers them). Default: canonical JSON of :meth:`payloads`, read
        back from the DB in both cases.
        """
        return {kind: canonical_json(body) for kind, body in self.payloads(conn).items()}

    def run(self) -> None:
        stores = self.stores
        with step_lock(stores.engine, stores.lock_dir, self.family(), self.date):
            self._close_dead_runs()
            status = self.statuses([self.date], stores)[self.date]
            if status.state is State.DONE:
                log.info("%s %s already complete (run %s)", self.family(), self.date,
                         status.marker.run_id if status.marker else "-")
                return
            if status.state is State.CACHE_MISSING:
                self.republish(status.marker)
                return
            MEMO.forget_negative()  # fresh statuses for what another process built meanwhile
            if not deep_valid(self):
                raise UpstreamNotDone(f"{self.family()} {self.date}: a step it consumes is not "
                                      "done (missing or stale); run it first")
            self.execute()

    def _close_dead_runs(self) -> None:
        """Mark run-history rows left RUNNING by a killed process as ABANDONED.

        Only called under the (family, date) lock, and every run of that pair writes its
        history row under the same lock: a RUNNING row seen here has no live process.
        Its data never committed (or committed whole with its marker): only history is fixed.
        Looked for with a read first: almost always there is none, and a read costs no write
        transaction (a commit per step, contending with the other backfill process's writes).
        """
        from pms_luigi.store.schema import task_runs

        dead = (task_runs.c.family == self.family(), task_runs.c.business_date == self.date,
                task_runs.c.status == "RUNNING")
        with self.stores.engine.connect() as conn:
            if conn.execute(sa.select(sa.exists().where(*dead))).scalar_one():
                conn.execute(sa.update(task_runs).where(*dead).values(
                    status="ABANDONED", finished_at=datetime.now(timezone.utc),
                    error="process died before finishing (found by the next run under the lock)"))
                conn.commit()

    def execute(self) -> None:
        stores = self.stores
        run_id = uuid.uuid4().hex
        started = datetime.now(timezone.utc)
        attempts = {"read": 0, "write": 0, "publish": 0}
        with stores.engine.begin() as conn:
            mk.start_run(conn, run_id=run_id, family=self.family(), business_date=self.date)
        try:
            with gc_paused(self.pause_gc):
                self.set_status_message("reading inputs")
                self.set_progress_percentage(10)
                inputs = self._retry("read", attempts, self._read)
                fault_point("after_read", self.family())
                self.set_status_message("computing")
                result = self.compute(inputs)
                self.set_progress_percentage(50)
                self.set_status_message("writing")
                upstream = self._upstream_run_ids()
                written = self._retry("write", attempts, self._write, result, run_id, started,
                                      upstream, attempts)
            self.set_progress_percentage(80)
            fault_point("after_commit", self.family())
            self.set_status_message("publishing")
            payload_text, digest, publish = written
            if publish:
                self._publish(payload_text, run_id, digest, attempts)
            else:
                log.info("%s %s is older than the cache window: not published", self.family(),
                         self.date)
        except BaseException as exc:
            MEMO.forget_from(self.date, self.family())
            with stores.engine.begin() as conn:
                # "<ErrorClass>: message": runner.build maps the class onto an exit code.
                mk.finish_run(conn, run_id=run_id, status="FAILED",
                              attempts=max(attempts.values()) or 1,
                              error=f"{type(exc).__name__}: {exc}"[:4000])
            raise
        MEMO.forget_from(self.date, self.family())
        with stores.engine.begin() as conn:
            mk.finish_run(conn, run_id=run_id, status="DONE", attempts=max(attempts.values()))
        self.set_progress_percentage(100)
        meta = ", ".join(f"{k}={v}" for k, v in result.metadata.items()
                         if not isinstance(v, dict | list))
        self.set_status_message(f"done: {meta}")
        log.info("%s %s done run=%s %s", self.family(), self.date, run_id, meta)

    def _retry(self, what: str, attempts: dict[str, int], fn, *args):  # noqa: ANN001, ANN202
        for attempt in retrying(what):
            with attempt:
                attempts[what] = attempt.retry_state.attempt_number
                return fn(*args)
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self) -> Any:
        with self.stores.engine.connect() as conn:
            return self.read_inputs(conn)

    def _upstream_run_ids(self) -> dict[str, str]:
        keys = self.upstream_keys_for(self.date)
        with self.stores.engine.connect() as conn:
            current = mk.current_run_ids(conn, keys)
        missing = [k for k in keys if k not in current]
        if missing:
            raise RuntimeError(f"{self.family()} {self.date}: upstream not complete: {missing}")
        return current

    def _write(self, result: StepResult, run_id: str, started: datetime,
               upstream: dict[str, str], attempts: dict[str, int],
               ) -> tuple[dict[str, str], str, bool]:
        with self.stores.engine.begin() as conn:
            publish = cache_required(self.date, latest_price_date(conn),
                                     self.stores.cache_window_bd)
            rows = self.write(conn, result, run_id)
            texts = self.payload_texts(conn, result)
            digest = payload_digest(texts)
            metadata = {**result.metadata, "attempts": dict(attempts)}
            mk.upsert_marker(conn, family=self.family(), business_date=self.date,
                             version=self.version, run_id=run_id, started_at=started,
                             rows_written=rows, payload_digest=digest, upstream=upstream,
                             metadata=metadata)
            fault_point("before_commit", self.family())
        return texts, digest, publish

    def _publish(self, texts: dict[str, str], run_id: str, digest: str,
                 attempts: dict[str, int]) -> None:
        try:
            self._retry("publish", attempts, self.stores.cache.publish, self.family(), self.date,
                        texts, run_id, digest)
        except TRANSIENT as exc:
            raise CacheUnavailable(
                f"{self.family()} {self.date}: results committed to the database (run {run_id})"
                f" but Redis is unavailable: {type(exc).__name__}; rerun to re-publish") from exc

    def republish(self, marker: mk.Marker) -> None:
        """Cache lost (expired, flushed, Redis was down): publish again from the DB rows."""
        with self.stores.engine.connect() as conn:
            texts = self.payload_texts(conn)
        if payload_digest(texts) != marker.payload_digest:
            log.warning("%s %s: payload rebuilt from DB differs from the marker's digest",
                        self.family(), self.date)
        rid = uuid.uuid4().hex
        try:
            self._publish(texts, marker.run_id, marker.payload_digest, {"publish": 0})
        except CacheUnavailable as exc:  # recorded, so the build's exit code says "Redis" (5)
            with self.stores.engine.begin() as conn:
                mk.start_run(conn, run_id=rid, family=self.family(), business_date=self.date)
                mk.finish_run(conn, run_id=rid, status="FAILED",
                              error=f"{type(exc).__name__}: {exc}"[:4000])
            raise
        MEMO.forget_from(self.date, self.family())
        with self.stores.engine.begin() as conn:
            mk.start_run(conn, run_id=rid, family=self.family(), business_date=self.date)
            mk.finish_run(conn, run_id=rid, status="REPUBLISHED")
        log.info("%s %s re-published from DB (run %s), nothing recomputed", self.family(),
                 self.date, marker.run_id)


@contextlib.contextmanager
def gc_paused(enabled: bool = True) -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk phase, restore it afterwards.

    Building and writing 10⁴–10⁵ rows allocates millions of short-lived containers (row
    tuples, per-column lists); each 700 allocations start a GC pass and every tenth of tenth
    a full one over all the worker's long-lived objects (pandas, SQLAlchemy, luigi) — measured
    at 0.1–0.2 s of a 10k-position MTM, none of it reclaiming anything (reference counting
    frees these objects). Only the *cyclic* collector pauses: memory is freed as usual; the
    few cycles made meanwhile are collected when it resumes. Nested or already-disabled GC
    is left as found.
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
    MEMO.forget_negative()


def payload_digest(texts: dict[str, str]) -> str:
    """SHA-256 over the published texts in kind order: what Redis holds, byte for byte."""
    digest = hashlib.sha256()
    for kind in sorted(texts):
        digest.update(kind.encode() + b"\0" + texts[kind].encode() + b"\0")
    return digest.hexdigest()


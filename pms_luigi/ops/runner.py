"""Running a build: the run context around it, Luigi's worker settings, the exit code.

Luigi's own exit codes are 0 for everything; :func:`build` maps the run summary, and the
classes of the failed runs recorded in ``task_runs.failure``, onto the exit-code table
(:class:`pms_luigi.core.errors.ExitCode`). Backfills (:mod:`pms_luigi.ops.backfill`) and
reruns (:mod:`pms_luigi.ops.invalidate`) are made of such builds.
"""
from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime

import luigi
import luigi.rpc
from luigi.execution_summary import LuigiStatusCode

from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import logs
from pms_luigi.pipeline import config as cfg
from pms_luigi.pipeline import context, graph, retry, step
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.wrappers import EndOfDay, PreOpen
from pms_luigi.store import markers as mk
from pms_luigi.store.engine import step_lock_if_free

log = logging.getLogger("pms_luigi")

#: A keep-alive worker (only used against luigid, to wait for steps another worker holds)
#: gives up after this long without work: a missing ExternalTask stays PENDING forever in
#: luigid's eyes, and keep-alive must never mean "loop forever".
KEEP_ALIVE_IDLE_SECONDS = 120


def scheduler_kwargs(use_scheduler: bool) -> dict[str, object]:
    """``luigi.build`` keyword arguments for the local scheduler or the configured luigid.

    The URL comes from ``PMS_SCHEDULER_URL`` / ``[pms_cron] scheduler_url``; with
    ``use_scheduler`` and no URL, Luigi's ``[core] scheduler_host/port`` apply.
    """
    if not use_scheduler:
        return {"local_scheduler": True}
    url = cfg.scheduler_url()
    return {"local_scheduler": False, **({"scheduler_url": url} if url else {})}


@contextlib.contextmanager
def _worker_config(remote: bool, workers: int = 1) -> Iterator[None]:
    """Worker settings for builds where another process may finish a step's dependency.

    Against luigid, keep the worker alive while steps it scheduled are held by another
    worker (so two backfills over one range share the work instead of one giving up), but
    bounded by ``KEEP_ALIVE_IDLE_SECONDS``.

    Against luigid or with ``workers > 1`` (each step then runs in a forked child, whose
    status memo is the parent's copy from fork time), Luigi's own ``check_unfulfilled_deps``
    is turned off: in 3.8.1 it runs *before* the START event, on that memo, so a dependency
    finished a moment ago by another process reads as missing and the step fails.
    ``PmsTask.run`` makes the same check under the step's lock with fresh statuses instead
    (``UpstreamNotDone``). One local worker changes nothing."""
    wanted: dict[str, str] = {}
    if remote or workers > 1:
        wanted["check_unfulfilled_deps"] = "false"
    if remote:
        wanted.update(keep_alive="true",
                      max_keep_alive_idle_duration=f"{KEEP_ALIVE_IDLE_SECONDS} seconds")
    if not wanted:
        yield
        return
    conf = luigi.configuration.get_config()
    saved = {k: conf.get("worker", k, None) for k in wanted}
    if not conf.has_section("worker"):
        conf.add_section("worker")
    for key, value in wanted.items():
        conf.set("worker", key, value)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                conf.remove_option("worker", key)
            else:
                conf.set("worker", key, value)


def _reachable(ctx: RunContext) -> None:
    """Connect to the database under the retry policy (raises when it stays unreachable)."""
    def ping() -> None:
        ctx.stores.engine.connect().close()  # opening a connection is the whole check

    retry.call(ctx.settings.retry, "status", {}, ping)


def failure_kinds(ctx: RunContext, since: datetime) -> set[ExitCode]:
    """The exit-code classes (``task_runs.failure``) of the runs that failed since ``since``
    (retried: the database may be what failed)."""
    def read() -> set[ExitCode]:
        with ctx.stores.engine.connect() as conn:
            return mk.failure_kinds(conn, since)

    return retry.call(ctx.settings.retry, "status", {}, read)


def close_dead_runs(ctx: RunContext, pairs: Sequence[tuple[str, date]] | None = None) -> int:
    """Close the run-history rows killed processes left RUNNING, wherever no run holds the
    pair's step lock now (a live run holds it from its first to its last history write).

    A step closes its own pair's rows when it runs; this also reaches the pairs no step of
    the build runs — a step killed after its commit outside the cache window is complete,
    so nothing would ever run it again and its row would stay RUNNING. ``pairs``: only these
    (family, date) pairs (default: every pair with a RUNNING row: one SELECT). Retried like
    every store access; returns how many rows were closed.
    """
    stores, policy = ctx.stores, ctx.settings.retry
    closer = f"pid {os.getpid()} on {socket.gethostname()}"

    def running() -> list[tuple[str, date]]:
        with stores.engine.connect() as conn:
            found = mk.running_pairs(conn)
        return found if pairs is None else [p for p in found if p in set(pairs)]

    def close(family: str, on: date) -> int:
        with step_lock_if_free(stores.engine, stores.lock_dir, family, on) as free:
            return step.close_dead_runs(stores.engine, family, on, closer) if free else 0

    closed = sum(retry.call(policy, "history", {}, close, family, on)
                 for family, on in retry.call(policy, "history", {}, running))
    if closed:
        log.info("closed %d run-history row(s) a killed process left RUNNING", closed)
    return closed


def _store_unavailable(ctx: RunContext, exc: BaseException, after_failures: bool = False,
                       ) -> ExitCode:
    """One line naming the database (password masked) and why; STORE_UNAVAILABLE.

    ``after_failures``: steps failed in the build, each already reported in its own line —
    the store's among them when it is what failed them — so this line is a warning: the
    reason for the code, not one more error."""
    text = logs.describe(exc, ctx.settings.database_url)
    if after_failures:
        log.warning("%s", logs.with_code(f"the failed steps' classes cannot be read: {text}",
                                         ExitCode.STORE_UNAVAILABLE))
    else:
        log.error("%s", logs.with_code(text, ExitCode.STORE_UNAVAILABLE))
    return ExitCode.STORE_UNAVAILABLE


@contextlib.contextmanager
def build_context() -> Iterator[RunContext]:
    """The run context of a build: the one a caller activated (a backfill shares one over
    its chunks), else a new one for this build alone."""
    ctx = context.active()
    if ctx is not None:
        yield ctx
        return
    with context.activated() as ctx:
        yield ctx


def build(tasks: Sequence[luigi.Task], workers: int = 1, local_scheduler: bool = True,
          clear_memo: bool = True, **kwargs: object) -> ExitCode:
    """``luigi.build`` with a detailed summary, mapped onto the exit-code table.

    ``clear_memo=False`` keeps the build's status memo (``run_chunks`` refreshes it with
    one bulk call per family and chunk instead of one query per step).

    Before the build: the database must answer and the run history killed processes left
    RUNNING is closed (:func:`close_dead_runs`), both under the retry policy.

    Returns:
        OK when everything is done; MISSING_DATA for an input Luigi found missing (an
        ExternalTask); for failed steps the worst of their recorded classes
        (:meth:`ExitCode.worst`: a missing price is MISSING_DATA, so a cron run waiting for
        late data keeps waiting); STORE_UNAVAILABLE, with one line naming the database,
        when the database cannot be reached before the build or afterwards to read the
        failures; SCHEDULING_ERROR, ALREADY_RUNNING or FAILED from Luigi's summary otherwise.
    """
    started = datetime.now(UTC)
    with build_context() as ctx:
        if clear_memo:
            ctx.memo.clear()
        try:  # a database that is down answers in one line, before Luigi logs anything
            _reachable(ctx)
            close_dead_runs(ctx)
        except retry.TRANSIENT as exc:
            return _store_unavailable(ctx, exc)
        with _worker_config(remote=not local_scheduler, workers=workers):
            result = luigi.build(list(tasks), workers=workers, local_scheduler=local_scheduler,
                                 detailed_summary=True, **kwargs)
        status = result.status
        if status in (LuigiStatusCode.SUCCESS, LuigiStatusCode.SUCCESS_WITH_RETRY):
            return ExitCode.OK
        if status is LuigiStatusCode.MISSING_EXT:
            return ExitCode.MISSING_DATA
        if status is LuigiStatusCode.NOT_RUN:
            # Against luigid, "not granted run permission" means another worker holds (or
            # held until a moment ago) the step: Luigi only lists it under "being run by
            # another worker" if that worker is still running it when the summary is made.
            # Locally, nobody else can hold it, so only Luigi's own words count.
            text = result.summary_text.lower()
            held = any(k in text for k in ("already running", "other workers", "another worker"))
            return ExitCode.ALREADY_RUNNING if held or not local_scheduler else ExitCode.FAILED
        try:  # the database may be what failed (lost mid-run): then that is the answer
            kinds = failure_kinds(ctx, started)
        except retry.TRANSIENT as exc:
            return _store_unavailable(ctx, exc, after_failures=True)
    if status is LuigiStatusCode.SCHEDULING_FAILED:
        return ExitCode.SCHEDULING_ERROR
    if status is LuigiStatusCode.FAILED_AND_SCHEDULING_FAILED:
        kinds.add(ExitCode.SCHEDULING_ERROR)
    return ExitCode.worst(kinds or {ExitCode.FAILED})


def reenable_missing_data(ctx: RunContext, since: datetime, scheduler_url: str) -> int:
    """Against luigid: re-enable the steps that failed for missing data since ``since``.

    luigid disables a step at its first failure (``[scheduler] retry_count = 1``, so a
    keep-alive worker never loops on it) for ``disable_persist``: a step that failed on a
    late price would then not run again in the next cron poll, which would answer "not run"
    (4) and stop waiting. A missing-data failure is what the poll waits out, so its steps
    are given back to the scheduler (``re_enable_task``); any other failure stays disabled.

    Returns:
        How many steps were re-enabled.
    """
    def read() -> list[tuple[str, date]]:
        with ctx.stores.engine.connect() as conn:
            return mk.failed_pairs(conn, since, ExitCode.MISSING_DATA)

    classes = {**graph.FAMILIES, **graph.LANDING_FAMILIES}
    remote = luigi.rpc.RemoteScheduler(scheduler_url)
    done = 0
    for family, on in retry.call(ctx.settings.retry, "status", {}, read):
        if family in classes:
            remote.re_enable_task(classes[family](date=on).task_id)
            done += 1
    return done


def run_kind(kind: str, on: date, workers: int = 1, local_scheduler: bool = True,
             **kwargs: object) -> int:
    root = {"eod": EndOfDay, "preopen": PreOpen}[kind]
    return build([root(date=on)], workers=workers, local_scheduler=local_scheduler, **kwargs)



"""Running the graph: exit codes, the chunked backfill, invalidation.

Luigi's own exit codes are 0 for everything; ``build`` maps the run summary, and the
classes of the failed runs recorded in ``task_runs.failure``, onto the exit-code table
(:class:`pms_luigi.core.errors.ExitCode`).

Why a driver of our own rather than ``RangeDaily``: Luigi's range tools clamp the start to
``now - days_back`` (100 days) and schedule at most 50 dates per call, and one big
``luigi.build`` costs O(pending tasks) per ``get_work`` — quadratic in the range
(luigi-notes §2.4, §2.8). ``backfill`` plans the missing (family, date) set with one bulk
status call per family, then builds oldest-first chunks, so each build's graph is small and
the scheduler cost stays linear in the number of dates. Each chunk is one Luigi root
(``BackfillChunk``: Luigi walks every root's dependencies separately, so K roots would walk
the MTM chain K times) and its statuses come from one bulk call per family.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import IO

import luigi
import sqlalchemy as sa
from luigi.execution_summary import LuigiStatusCode

from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode, NotBusinessDay
from pms_luigi.ops import logs
from pms_luigi.pipeline import config as cfg
from pms_luigi.pipeline import context
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.graph import (
    CONSUMERS,
    EOD_FAMILIES,
    FAMILIES,
    PREOPEN_FAMILIES,
    family_name,
)
from pms_luigi.pipeline.targets import State, StepStatus
from pms_luigi.pipeline.wrappers import BackfillChunk, EndOfDay, PreOpen
from pms_luigi.store import markers as mk
from pms_luigi.store.engine import db_unavailable
from pms_luigi.store.schema import task_runs

log = logging.getLogger("pms_luigi")

__all__ = ["CONSUMERS", "EOD_FAMILIES", "FAMILIES", "PREOPEN_FAMILIES", "family_name"]
#: A keep-alive worker (only used against luigid, to wait for steps another worker holds)
#: gives up after this long without work: a missing ExternalTask stays PENDING forever in
#: luigid's eyes, and keep-alive must never mean "loop forever" (luigi-notes §3.1).
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


def _failure_kinds(ctx: RunContext, since: datetime) -> set[ExitCode]:
    """The exit-code classes (``task_runs.failure``) of the runs that failed since ``since``;
    a row without one (written before the column existed) counts as FAILED."""
    with ctx.stores.engine.connect() as conn:
        found = conn.execute(sa.select(task_runs.c.failure).where(
            task_runs.c.status == "FAILED", task_runs.c.started_at >= since)).scalars()
        return {ExitCode.__members__.get(name or "", ExitCode.FAILED) for name in found}


@contextlib.contextmanager
def _build_context() -> Iterator[RunContext]:
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

    Returns:
        OK when everything is done; MISSING_DATA for an input Luigi found missing (an
        ExternalTask); for failed steps the worst of their recorded classes
        (:meth:`ExitCode.worst`: a missing price is MISSING_DATA, so a cron run waiting for
        late data keeps waiting); STORE_UNAVAILABLE, with one line naming the database,
        when the database cannot be reached before the build or afterwards to read the
        failures; SCHEDULING_ERROR, ALREADY_RUNNING or FAILED from Luigi's summary otherwise.
    """
    started = datetime.now(UTC)
    with _build_context() as ctx:
        if clear_memo:
            ctx.memo.clear()
        try:  # a database that is down answers in one line, before Luigi logs anything
            with ctx.stores.engine.connect():
                pass
        except mk.STORE_ERRORS as exc:
            log.error("%s", logs.with_code(str(db_unavailable(ctx.settings.database_url, exc)),
                                           ExitCode.STORE_UNAVAILABLE))
            return ExitCode.STORE_UNAVAILABLE
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
            kinds = _failure_kinds(ctx, started)
        except mk.STORE_ERRORS as exc:
            log.error("%s", logs.with_code(str(db_unavailable(ctx.settings.database_url, exc)),
                                           ExitCode.STORE_UNAVAILABLE))
            return ExitCode.STORE_UNAVAILABLE
    if status is LuigiStatusCode.SCHEDULING_FAILED:
        return ExitCode.SCHEDULING_ERROR
    if status is LuigiStatusCode.FAILED_AND_SCHEDULING_FAILED:
        kinds.add(ExitCode.SCHEDULING_ERROR)
    return ExitCode.worst(kinds or {ExitCode.FAILED})


def run_kind(kind: str, on: date, workers: int = 1, local_scheduler: bool = True,
             **kwargs: object) -> int:
    root = {"eod": EndOfDay, "preopen": PreOpen}[kind]
    return build([root(date=on)], workers=workers, local_scheduler=local_scheduler, **kwargs)


def missing(families: Sequence[str], dates: Sequence[date]) -> dict[str, list[date]]:
    """Per family, the dates whose step must be built: not DONE, or consuming (transitively)
    a step that will be rebuilt — an MTM rerun makes every later MTM and its attribution
    stale once it is rebuilt, so they are planned now, not one date per pass.

    One bulk status call per family (and per family they consume) over the dates and the
    business day before; the propagation is one pass over the recorded upstream keys.
    """
    dates = sorted(set(dates))
    if not dates:
        return {fam: [] for fam in families}
    span, statuses = _span_statuses(families, dates)
    rebuild: set[str] = set()  # will get a new run_id: its consumers go stale
    todo: set[str] = set()
    for on in span:
        for fam in sorted(statuses, key=lambda f: FAMILIES[f].rank):
            st, key = statuses[fam][on], mk.upstream_key(fam, on)
            if not st.db_valid or not rebuild.isdisjoint(st.marker.upstream):
                rebuild.add(key)
                todo.add(key)
            elif st.state is not State.DONE:
                todo.add(key)  # cache missing: re-published with the same run_id
    return {fam: [d for d in dates if mk.upstream_key(fam, d) in todo] for fam in families}


@dataclass
class BackfillReport:
    """What a backfill planned and achieved, per family (the summary table)."""

    families: list[str]
    dates: list[date]
    planned: dict[str, list[date]]
    left: dict[str, list[date]] = field(default_factory=dict)
    chunk_codes: list[tuple[date, date, int]] = field(default_factory=list)
    elapsed_s: float = 0.0
    code: int = ExitCode.OK

    def table(self) -> str:
        rows = [("family", "dates", "were done", "built", "still missing", "first missing")]
        for fam in self.families:
            planned, left = self.planned[fam], self.left.get(fam, self.planned[fam])
            rows.append((fam, str(len(self.dates)), str(len(self.dates) - len(planned)),
                         str(len(planned) - len(left)), str(len(left)),
                         left[0].isoformat() if left else "-"))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                           for i, (c, w) in enumerate(zip(r, widths, strict=True)))
                 for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        dps = (len({d for f in self.families for d in self.planned[f]}) / self.elapsed_s
               if self.elapsed_s else 0.0)
        lines.append(f"exit code {self.code}  elapsed {self.elapsed_s:.1f}s  "
                     f"({dps:.2f} dates/s)")
        return "\n".join(lines)


#: Default for ``progress``: the process's stderr *at call time* (not at import, so a
#: redirected or captured stderr is honoured).
STDERR = "stderr"


def _stream(progress: IO[str] | str | None) -> IO[str] | None:
    return sys.stderr if progress == STDERR else progress  # type: ignore[return-value]


def _fmt_s(seconds: float) -> str:
    m, s = divmod(int(seconds + 0.5), 60)
    h, m = divmod(m, 60)
    return f"{h:d}:{m:02d}:{s:02d}"


_NONCE = uuid.uuid4().hex[:12]


def _upstream_families(families: Sequence[str]) -> list[str]:
    """The families given and every family they consume (transitively), in FAMILIES order."""
    wanted, todo = set(families), list(families)
    while todo:
        fam = todo.pop()
        for producer, consumers in CONSUMERS.items():
            if fam in consumers and producer not in wanted:
                wanted.add(producer)
                todo.append(producer)
    return [f for f in FAMILIES if f in wanted]


def _span_statuses(families: Sequence[str], dates: Sequence[date]
                   ) -> tuple[list[date], dict[str, dict[date, StepStatus]]]:
    """Sorted ``dates`` with the business day before the first, and the statuses of the
    families and every family they consume over them: one bulk call per family, which also
    fills the build's status memo."""
    span = [calendar.previous_business_day(min(dates)), *sorted(dates)]
    ctx = context.current()
    return span, {fam: FAMILIES[fam].statuses(span, ctx)
                  for fam in _upstream_families(families)}


def prefetch_statuses(families: Sequence[str], dates: Sequence[date]) -> None:
    """Fill the status memo for the chunk's dates (see :func:`_span_statuses`), so Luigi's
    completeness checks of the chunk then cost no query each."""
    if dates:
        _span_statuses(families, dates)


def _build_chunk(todo: dict[str, list[date]], batch: list[date], workers: int,
                 local_scheduler: bool, **kwargs: object) -> int:
    """Build the steps of ``todo`` on the dates of ``batch`` as one ``BackfillChunk`` root.

    When the build says "run by another worker" (several backfills against one luigid), the
    chunk's markers are re-read: if another worker finished them, that counts as done;
    otherwise the chunk is retried a few times before giving up with exit 4.
    """
    wanted = {fam: set(ds) for fam, ds in todo.items()}
    steps = [mk.upstream_key(f, d) for d in batch for f in todo if d in wanted[f]]
    if not steps:
        return ExitCode.OK
    root = BackfillChunk(steps=steps, nonce=_NONCE)
    rc = ExitCode.OK
    ctx = context.current()
    for attempt in range(1, 6):
        ctx.memo.forget_negative()
        prefetch_statuses(list(todo), batch)
        with ctx.input_window(batch[-1]):  # one read per input table for the chunk's steps
            rc = build([root], workers=workers, local_scheduler=local_scheduler,
                       clear_memo=False, **kwargs)
        if rc == ExitCode.OK:
            return rc
        left = missing(list(todo), batch)
        if not any(d in wanted[f] for f, ds in left.items() for d in ds):
            return ExitCode.OK  # another worker built what this build could not claim
        if rc != ExitCode.ALREADY_RUNNING:
            return rc
        log.info("chunk %s..%s held by another worker; waiting (attempt %d)",
                 batch[0], batch[-1], attempt)
        time.sleep(2.0 * attempt)
    return rc


def _split_stages(todo: dict[str, list[date]]
                  ) -> tuple[dict[str, list[date]], dict[str, list[date]]]:
    """(MTM, its consumers): the MTM chain must run date after date; the rest of a date's
    steps only need that date's MTM, so they can run one chunk behind it."""
    head = {f: ds for f, ds in todo.items() if FAMILIES[f].rank == 0 and ds}
    rest = {f: ds for f, ds in todo.items() if FAMILIES[f].rank > 0 and ds}
    return head, rest


def _build_chunk_in_child(todo: dict[str, list[date]], batch: list[date], workers: int,
                          **kwargs: object) -> None:
    """Process target of the pipelined backfill: the exit code is the chunk's; an expected
    failure raised outside the steps (the database lost) is one line and its code."""
    try:
        code = _build_chunk(todo, batch, workers, True, **kwargs)
    except Exception as exc:
        expected = logs.classify(exc)
        if expected is None:
            raise
        log.error("%s [exit %d %s]", logs.describe(exc), expected, expected.name)
        code = expected
    sys.exit(code)


class _Progress:
    """The progress line: dates done / total, elapsed, ETA."""

    def __init__(self, total: int, stream: IO[str] | None) -> None:
        self.total, self.done, self.stream, self.t0 = total, 0, stream, time.monotonic()

    def chunk_done(self, batch: list[date], rc: int) -> None:
        self.done += len(batch)
        elapsed = time.monotonic() - self.t0
        eta = elapsed / self.done * (self.total - self.done) if self.done else 0.0
        if self.stream is not None:
            width = 30
            full = int(width * self.done / self.total)
            print(f"backfill [{'#' * full}{'-' * (width - full)}] {self.done}/{self.total} dates"
                  f"  elapsed {_fmt_s(elapsed)}  eta {_fmt_s(eta)}  last={batch[-1]} rc={rc}",
                  file=self.stream, flush=True)


def run_chunks(todo: dict[str, list[date]], chunk: int = 20, workers: int = 1,
               local_scheduler: bool = True, progress: IO[str] | str | None = STDERR,
               **kwargs: object) -> tuple[int, list[tuple[date, date, int]]]:
    """Build the given (family, dates) oldest-first, ``chunk`` dates per ``luigi.build``.

    Stops at the first chunk that fails (later dates chain on earlier MTMs, so they would
    fail too). With ``workers > 1`` on the local scheduler the chunks are pipelined over two
    processes (see :func:`_run_pipelined`); otherwise each chunk is one build with
    ``workers`` Luigi workers (against luigid, several backfills share the range).
    """
    with _build_context() as ctx:
        pending = sorted({d for ds in todo.values() for d in ds})
        batches = [pending[i:i + max(1, chunk)] for i in range(0, len(pending), max(1, chunk))]
        meter = _Progress(len(pending), _stream(progress))
        ctx.memo.clear()  # then refreshed per chunk, kept between chunks (positive entries)
        head, rest = _split_stages(todo)
        if workers > 1 and local_scheduler and head and rest:
            return _run_pipelined(head, rest, batches, workers, meter, **kwargs)
        code, codes = ExitCode.OK, []
        for batch in batches:
            rc = _build_chunk(todo, batch, workers, local_scheduler, **kwargs)
            codes.append((batch[0], batch[-1], rc))
            meter.chunk_done(batch, rc)
            if rc != ExitCode.OK:
                code = rc
                if rc != ExitCode.CACHE_UNAVAILABLE:
                    break
        return code, codes


def _run_pipelined(head: dict[str, list[date]], rest: dict[str, list[date]],
                   batches: list[list[date]], workers: int, meter: _Progress,
                   **kwargs: object) -> tuple[int, list[tuple[date, date, int]]]:
    """MTM of chunk k+1 in this process while a forked child builds the other steps of
    chunk k (attribution, proposals, packs; ``workers − 1`` Luigi workers): on two cores a
    date then costs about max(MTM, the rest) instead of their sum.

    Ordering: a chunk's consumers start only once its MTMs are done and the previous chunk's
    consumers have finished (attribution of D chains on D−1's). One long-lived child per
    chunk, not one fork per step, so per-process memos stay warm for the whole chunk. Both
    processes take the same (family, date) locks and write their own steps' rows: no step
    runs twice. A failure in either stage stops the pipeline after the running child ends
    (exit 5, Redis unavailable, goes on as in the sequential run). The parent's status memo
    only ever concerns MTM, which the child never writes.
    """
    ctx = multiprocessing.get_context("fork")
    code, codes = ExitCode.OK, []
    child: tuple[multiprocessing.process.BaseProcess, list[date]] | None = None

    def settle() -> int:
        nonlocal child
        if child is None:
            return ExitCode.OK
        proc, batch = child
        proc.join()
        child = None
        rc = proc.exitcode if proc.exitcode is not None and proc.exitcode >= 0 else ExitCode.FAILED
        codes.append((batch[0], batch[-1], rc))
        meter.chunk_done(batch, rc)
        return rc

    try:
        for batch in batches:
            rc = _build_chunk(head, batch, 1, True, **kwargs)
            crc = settle()
            code = code or crc
            if crc not in (ExitCode.OK, ExitCode.CACHE_UNAVAILABLE):
                break
            code = code or rc
            # Even when an MTM of the chunk failed: its consumers that can run (the dates
            # before the failure) are built, as one sequential build of the chunk would.
            proc = ctx.Process(target=_build_chunk_in_child, args=(rest, batch, workers - 1),
                               kwargs=kwargs, name=f"pms-backfill-{batch[0]}")
            proc.start()
            child = (proc, batch)
            if rc not in (ExitCode.OK, ExitCode.CACHE_UNAVAILABLE):
                break
    finally:
        crc = settle()  # also on an exception: never leave a child holding locks
    return code or crc, codes


def backfill(start: date, end: date, families: Sequence[str] | None = None, chunk: int = 20,
             workers: int = 1, local_scheduler: bool = True,
             progress: IO[str] | str | None = STDERR, report: list[BackfillReport] | None = None,
             max_passes: int = 4, **kwargs: object) -> int:
    """Build every missing (family, date) in [start, end], oldest first, ``chunk`` dates per
    ``luigi.build`` so the scheduler's per-call cost stays linear in the range.

    No silent clamping: the whole range is planned, whatever its length. Resumable: the
    markers are the state, so a killed backfill re-plans only what is still missing.
    Re-plans after each pass: rebuilding a stale MTM makes consumers that were fine at
    planning time stale in turn (e.g. attribution of a date whose MTM was rerun), so the
    next pass picks them up; it stops when nothing is left or a pass made no progress.
    Prints a progress line per chunk and a summary table; returns the first non-zero code.
    """
    if start > end:
        raise ValueError(f"backfill: start {start} is after end {end}")
    with _build_context():
        families = list(families or EOD_FAMILIES)
        stream = _stream(progress)
        t0 = time.monotonic()
        dates = calendar.business_days(start, end)
        todo = missing(families, dates)
        rep = BackfillReport(families, dates, {f: list(ds) for f, ds in todo.items()})
        if stream is not None:
            n = len({d for ds in todo.values() for d in ds})
            print(f"backfill {start}..{end}: {len(dates)} business dates, {n} with missing "
                  f"steps ({', '.join(f'{f}={len(ds)}' for f, ds in todo.items())})",
                  file=stream, flush=True)
        for n_pass in range(1, max_passes + 1):
            if not any(todo.values()):
                break  # the no-op case costs one bulk status call per family, nothing more
            if n_pass > 1 and stream is not None:
                print(f"backfill pass {n_pass}: {sum(map(len, todo.values()))} step(s) became "
                      "stale while their upstream was rebuilt", file=stream, flush=True)
            code, chunks = run_chunks(todo, chunk=chunk, workers=workers,
                                      local_scheduler=local_scheduler, progress=stream, **kwargs)
            rep.chunk_codes.extend(chunks)
            left = missing(families, dates)
            if code == ExitCode.ALREADY_RUNNING and left != todo:
                code = ExitCode.OK  # another worker held some steps and built them: re-plan
            rep.code = rep.code or code
            if code != ExitCode.OK or left == todo:
                todo = left
                break
            for fam, ds in left.items():  # stale-again steps were already counted as planned
                rep.planned[fam] = sorted(set(rep.planned[fam]) | set(ds))
            todo = left
        rep.left = todo
        rep.elapsed_s = time.monotonic() - t0
        if rep.code == ExitCode.OK and any(rep.left.values()):
            rep.code = ExitCode.FAILED  # nothing failed loudly, yet something is still not done
        if stream is not None:
            print(rep.table(), file=stream, flush=True)
        if report is not None:
            report.append(rep)
        return rep.code


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
          chunk: int = 20, workers: int = 1, local_scheduler: bool = True,
          progress: IO[str] | str | None = STDERR,
          **kwargs: object) -> tuple[int, list[tuple[str, date]]]:
    """Invalidate (family, on) [and its consumers] and build them again, oldest first in
    chunks (an old MTM rerun with ``--downstream`` can touch every later date)."""
    with _build_context():
        hit = invalidate(family, on, downstream=downstream, dry_run=dry_run)
        if dry_run:
            return ExitCode.OK, hit
        todo: dict[str, list[date]] = {}
        for fam, d in sorted(hit, key=lambda fd: (fd[1], FAMILIES[fd[0]].rank)):
            todo.setdefault(fam, []).append(d)
        code, _ = run_chunks(todo, chunk=chunk, workers=workers, local_scheduler=local_scheduler,
                             progress=progress, **kwargs)
        return code, hit

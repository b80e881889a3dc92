"""Backfills: every missing step of a date range, oldest first, in chunks.

Why a driver of our own rather than Luigi's ``RangeDaily``: Luigi's range tools clamp the
start to ``now - days_back`` (100 days) and schedule at most 50 dates per call, and one big
``luigi.build`` costs O(pending tasks) per ``get_work`` — quadratic in the range.
:func:`backfill` plans the missing (family, date) set with one bulk status call per family,
then builds oldest-first chunks, so each build's graph is small and the scheduler cost
stays linear in the number of dates. Each chunk is one Luigi root (``BackfillChunk``: Luigi
walks every root's dependencies separately, so K roots would walk the MTM chain K times),
its statuses come from one bulk call per family, and its input reads from one read per
table (the run context's input window). One run context serves every chunk.
"""
from __future__ import annotations

import contextlib
import logging
import multiprocessing
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from multiprocessing.connection import Connection
from typing import IO

from pms_luigi.core import calendar
from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import DEFAULT_CHUNK, logs, own_runs
from pms_luigi.ops.runner import build, build_context
from pms_luigi.pipeline import context
from pms_luigi.pipeline import status as st
from pms_luigi.pipeline.graph import CONSUMERS, EOD_FAMILIES, FAMILIES
from pms_luigi.pipeline.targets import State, StepStatus
from pms_luigi.pipeline.wrappers import BackfillChunk
from pms_luigi.store import markers as mk

log = logging.getLogger("pms_luigi")


def missing(families: Sequence[str], dates: Sequence[date]) -> dict[str, list[date]]:
    """Per family, the dates whose step must be built: those whose task is not complete —
    missing, stale by its own marker, stale because a step upstream of it (transitively,
    the MTM chain back to inception included) is, or only its cache missing (re-published,
    nothing recomputed).

    The same answer as the tasks' own ``complete()``, the status grid and ``check``
    (:func:`pms_luigi.pipeline.status.deep_statuses`, asked afresh): an MTM rerun makes
    every later MTM and its attribution stale, so they are planned now, not one date per
    pass. One bulk status query per family over the whole range.
    """
    return {fam: sorted(ds) for fam, ds in _plan(families, dates).items()}


def _plan(families: Sequence[str], dates: Sequence[date]
          ) -> dict[str, dict[date, StepStatus]]:
    """The transitive status of every step of ``families`` × ``dates`` that is not done."""
    dates = sorted(set(dates))
    found = st.deep_statuses([(FAMILIES[f], d) for f in families for d in dates],
                             context.current(), fresh=True)
    return {fam: {d: found[(fam, d)] for d in dates if found[(fam, d)].state is not State.DONE}
            for fam in families}


@dataclass
class BackfillReport:
    """What a backfill planned and achieved, per family (the summary table).

    Of the planned steps done at the end, ``who`` says who made each done
    (:func:`pms_luigi.ops.own_runs.who_built`): this backfill ("built"), another process
    after the plan ("by another run"), or nobody rebuilt it and its cache was published
    again ("re-published"); ``planned_runs`` holds the run_id each step's marker had when it
    was first planned (None: no marker).
    """

    families: list[str]
    dates: list[date]
    planned: dict[str, list[date]]
    left: dict[str, list[date]] = field(default_factory=dict)
    chunk_codes: list[tuple[date, date, int]] = field(default_factory=list)
    elapsed_s: float = 0.0
    code: int = ExitCode.OK
    planned_runs: dict[tuple[str, date], str | None] = field(default_factory=dict)
    who: dict[tuple[str, date], own_runs.Who] = field(default_factory=dict)

    def plan(self, found: dict[str, dict[date, StepStatus]]) -> dict[str, list[date]]:
        """Add a plan's steps (a pass's re-plan too) and return their dates per family."""
        for fam, steps in found.items():
            self.planned[fam] = sorted(set(self.planned.get(fam, [])) | set(steps))
            for d, status in steps.items():
                self.planned_runs.setdefault((fam, d), status.marker.run_id
                                             if status.marker else None)
        return {fam: sorted(steps) for fam, steps in found.items()}

    def done(self) -> dict[tuple[str, date], str | None]:
        """The planned steps that are done now, with their run_id when planned."""
        return {(f, d): self.planned_runs.get((f, d)) for f in self.families
                for d in self.planned.get(f, []) if d not in set(self.left.get(f, []))}

    def by(self, family: str, who: own_runs.Who) -> list[date]:
        """The dates of ``family`` that ``who`` made done."""
        return sorted(d for (f, d), w in self.who.items() if f == family and w is who)

    def table(self) -> str:
        rows = [("family", "dates", "were done", "built", "by another run", "re-published",
                 "still missing", "first missing")]
        for fam in self.families:
            planned, left = self.planned[fam], self.left.get(fam, self.planned[fam])
            rows.append((fam, str(len(self.dates)), str(len(self.dates) - len(planned)),
                         *(str(len(self.by(fam, w))) for w in own_runs.Who),
                         str(len(left)), left[0].isoformat() if left else "-"))
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


def prefetch_statuses(families: Sequence[str], dates: Sequence[date]) -> None:
    """Fill the status memo for a chunk — the families and every family they consume, on its
    dates and the business day before — with one bulk call per family, so Luigi's
    completeness checks of the chunk then cost no query each."""
    if dates:
        span = [calendar.previous_business_day(min(dates)), *sorted(dates)]
        st.deep_statuses([(FAMILIES[f], d) for f in _upstream_families(families)
                          for d in span], context.current())


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
        if rc in (ExitCode.OK, ExitCode.STORE_UNAVAILABLE):
            return rc  # done, or the database is what failed: nothing to re-read there
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


def _consumer_chunk(todo: dict[str, list[date]], batch: list[date], workers: int,
                    **kwargs: object) -> int:
    """The code of one chunk built by the consumer process: the chunk's, or the table code of
    an expected failure raised outside the steps (the database lost), logged in one line."""
    try:
        return _build_chunk(todo, batch, workers, True, **kwargs)
    except Exception as exc:
        expected = logs.classify(exc)
        if expected is None:
            raise
        log.error("%s [exit %d %s]", logs.describe(exc), expected, expected.name)
        return expected


def _consumer_loop(chunks: Connection, todo: dict[str, list[date]], workers: int,
                   **kwargs: object) -> None:
    """Process target of the pipelined backfill: build the consumers of every chunk the
    parent sends, answer each chunk's code, stop on ``None`` (or when the parent is gone)."""
    while True:
        try:
            batch = chunks.recv()
        except EOFError:
            return
        if batch is None:
            return
        chunks.send(_consumer_chunk(todo, batch, workers, **kwargs))


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


def run_chunks(todo: dict[str, list[date]], chunk: int = DEFAULT_CHUNK, workers: int = 1,
               local_scheduler: bool = True, progress: IO[str] | str | None = STDERR,
               **kwargs: object) -> tuple[int, list[tuple[date, date, int]]]:
    """Build the given (family, dates) oldest-first, ``chunk`` dates per ``luigi.build``.

    Stops at the first chunk that fails (later dates chain on earlier MTMs, so they would
    fail too). With ``workers > 1`` on the local scheduler the chunks are pipelined over two
    processes (see :func:`_run_pipelined`); otherwise each chunk is one build with
    ``workers`` Luigi workers (against luigid, several backfills share the range).
    """
    with build_context() as ctx:
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
    """MTM of chunk k+1 in this process while a consumer process builds the other steps of
    chunk k (attribution, proposals, packs; ``workers − 1`` Luigi workers): on two cores a
    date then costs about max(MTM, the rest) instead of their sum.

    Ordering: a chunk's consumers start only once its MTMs are done and the previous chunk's
    consumers have finished (attribution of D chains on D−1's). One consumer process for the
    whole backfill, forked before the first chunk and fed the chunks over a pipe: its memos
    and carried state (attribution running sums) stay warm from chunk to chunk, and neither
    process pays a fork's copy-on-write faults per chunk. Both processes take the same
    (family, date) locks and write their own steps' rows: no step runs twice. A failure in
    either stage stops the pipeline after the running chunk ends (exit 5, Redis unavailable,
    goes on as in the sequential run); a consumer that dies is exit 1. The parent's status
    memo only ever concerns MTM, which the consumer never writes.
    """
    ctx = multiprocessing.get_context("fork")
    code, codes = ExitCode.OK, []
    chunks, far_end = ctx.Pipe()
    proc = ctx.Process(target=_consumer_loop, args=(far_end, rest, workers - 1), kwargs=kwargs,
                       name="pms-backfill-consumers")
    proc.start()
    far_end.close()
    sent: list[date] | None = None

    def settle() -> int:
        nonlocal sent
        if sent is None:
            return ExitCode.OK
        batch, sent = sent, None
        try:
            rc = int(chunks.recv())
        except (EOFError, OSError):  # the consumer died mid-chunk
            rc = ExitCode.FAILED
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
            try:
                chunks.send(batch)
            except OSError:  # the consumer died between two chunks
                code = code or ExitCode.FAILED
                break
            sent = batch
            if rc not in (ExitCode.OK, ExitCode.CACHE_UNAVAILABLE):
                break
    finally:
        crc = settle()  # also on an exception: never leave a consumer holding locks
        with contextlib.suppress(OSError):
            chunks.send(None)
        chunks.close()
        proc.join()
    return code or crc, codes


def backfill(start: date, end: date, families: Sequence[str] | None = None,
             chunk: int = DEFAULT_CHUNK,
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
    with build_context(), own_runs.recording() as record:
        since = datetime.now(UTC)
        families = list(families or EOD_FAMILIES)
        stream = _stream(progress)
        t0 = time.monotonic()
        dates = calendar.business_days(start, end)
        rep = BackfillReport(families, dates, {})
        todo = rep.plan(_plan(families, dates))
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
            found = _plan(families, dates)
            left = {fam: sorted(steps) for fam, steps in found.items()}
            if code == ExitCode.ALREADY_RUNNING and left != todo:
                code = ExitCode.OK  # another worker held some steps and built them: re-plan
            rep.code = rep.code or code
            stop = code != ExitCode.OK or left == todo
            todo = rep.plan(found)  # steps stale again since are planned (once) too
            if stop:
                break
        rep.left = todo
        rep.who = own_runs.who_built(record, rep.done(), since)
        rep.elapsed_s = time.monotonic() - t0
        if rep.code == ExitCode.OK and any(rep.left.values()):
            rep.code = ExitCode.FAILED  # nothing failed loudly, yet something is still not done
        if stream is not None:
            print(rep.table(), file=stream, flush=True)
        if report is not None:
            report.append(rep)
        return rep.code

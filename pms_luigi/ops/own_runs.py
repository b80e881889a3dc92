"""Which steps a backfill built itself, so its summary never counts another process's work.

Why: the markers say *that* a step is done, not *who* did it. A backfill that counted every
planned step done at its end as "built" also counted the steps another process (a second
backfill against luigid, a cron run, an operator's rerun) built meanwhile.

How: while a backfill runs, every step that finishes in this process or in a process forked
from it (the pipelined worker, Luigi's worker processes) appends one line to the backfill's
record — family, date, when its ``run()`` began and ended. Luigi fires ``PROCESSING_TIME``
in whichever process ran the task, right after ``run()`` returned, and only when the task is
done. At the end a step counts as *built by this backfill* when the run its marker now names
started (run history, ``task_runs.started_at``) inside one of this backfill's ``run()`` of
that step. A step this backfill ran but found done under its lock (another process built it
while this one waited), or only re-published (its marker keeps the earlier run), does not.
"""
from __future__ import annotations

import contextlib
import contextvars
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path

import luigi

from pms_luigi.pipeline import context
from pms_luigi.pipeline.memo import StepKey
from pms_luigi.pipeline.step import PmsTask
from pms_luigi.store import markers as mk
from pms_luigi.store import status_queries as sq

#: The record of the backfill running in this process (and in the processes it forks).
_RECORD: contextvars.ContextVar[Path | None] = contextvars.ContextVar("pms_own_runs",
                                                                      default=None)


class Who(Enum):
    """Who made a planned step done."""

    BUILT = "built"               # a run this backfill made
    OTHER = "by another run"      # a run another process made after the plan
    REPUBLISHED = "re-published"  # the run it had when planned: its cache published again


@contextlib.contextmanager
def recording() -> Iterator[Path]:
    """Record the steps run in this block (by this process and the ones it forks)."""
    fd, name = tempfile.mkstemp(prefix="pms-backfill-", suffix=".runs")
    os.close(fd)
    path = Path(name)
    token = _RECORD.set(path)
    try:
        yield path
    finally:
        _RECORD.reset(token)
        path.unlink(missing_ok=True)


@PmsTask.event_handler(luigi.Event.PROCESSING_TIME)
def _ran(task: PmsTask, seconds: float) -> None:
    """One line per finished step (O_APPEND: lines of several processes never interleave)."""
    path = _RECORD.get()
    if path is None:
        return
    end = time.time()
    with path.open("a", encoding="utf-8") as out:
        out.write(f"{task.family()}\t{task.date.isoformat()}\t{end - seconds:.6f}\t{end:.6f}\n")


def _read(path: Path) -> dict[StepKey, list[tuple[datetime, datetime]]]:
    ran: dict[StepKey, list[tuple[datetime, datetime]]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        fam, on, began, ended = line.split("\t")
        ran.setdefault((fam, date.fromisoformat(on)), []).append(
            (datetime.fromtimestamp(float(began), UTC), datetime.fromtimestamp(float(ended), UTC)))
    return ran


def who_built(path: Path, done: Mapping[StepKey, str | None], since: datetime
              ) -> dict[StepKey, Who]:
    """For each step of ``done`` (the run_id its marker had when the backfill planned it,
    None when it had none) — all done now — who made it done. Two SELECTs: the markers'
    run_ids and the history rows started since ``since`` (the backfill's start)."""
    if not done:
        return {}
    ran = _read(path)
    dates = [d for _, d in done]
    with context.current().stores.engine.connect() as conn:
        now = mk.current_run_ids(conn, [mk.upstream_key(*key) for key in done])
        started = sq.runs_started_since(conn, {f for f, _ in done}, min(dates), max(dates),
                                        since)
    out = {}
    for key, planned in done.items():
        run_id = now.get(mk.upstream_key(*key))
        began = started.get(run_id or "")
        if run_id == planned:
            out[key] = Who.REPUBLISHED
        elif began is not None and any(a <= began <= b for a, b in ran.get(key, [])):
            out[key] = Who.BUILT
        else:
            out[key] = Who.OTHER
    return out

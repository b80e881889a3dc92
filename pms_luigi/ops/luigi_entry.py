"""What ``luigi --module pms_luigi.tasks pms.<Task> --date D`` gets from pms_luigi.

The ``luigi`` binary of Luigi 3.8.1 (``luigi.retcodes.run_with_retcodes``) reads the
``[retcode]`` settings once, before anything runs, and exits with the largest value among
the categories of its execution summary: a step that failed counts as ``task_failed``
whatever it failed with, a completeness check that raised as ``scheduling_error``, an error
while reading the command line (a bad or non-business date) as ``unhandled_exception``,
logged with its traceback; an unknown task name is raised before Luigi catches anything.

:func:`install` (called when the binary imports :mod:`pms_luigi.tasks`) makes it answer like
``pms-luigi``:

1. logging as :func:`pms_luigi.ops.logs.setup` sets it (one handler, one format, expected
   failures in one line with their exit code);
2. the failure's class chooses the code within its category. Luigi keeps the values it read
   in its ``retcode`` configuration object, one instance per process (Luigi caches task and
   configuration instances by their parameters) that it reads again when the run is over; a
   ``FAILURE`` event handler and the logging filter raise the value of the category to the
   table code of what failed — ``task_failed``: a missing price 3, bad input 8, Redis 5;
   ``scheduling_error``: the database 6; ``unhandled_exception``: a bad argument 2;
3. an unknown task name is answered from ``sys.excepthook`` with one line and BAD_REQUEST;
4. Luigi's run-time re-check of a step's dependencies (``[worker] check_unfulfilled_deps``)
   is off, as :mod:`pms_luigi.ops.runner` turns it off for several workers: with
   ``--workers`` above 1 it runs in the worker child on the memo it forked with, where a
   dependency this run just built still reads missing; the step makes the check itself,
   under its lock;
5. a step Luigi finds complete (``DEPENDENCY_PRESENT``) gets its run history closed, as
   :func:`pms_luigi.ops.runner.close_dead_runs` does before every ``pms-luigi`` build: a
   step killed after its commit outside the cache window is complete, so no later run
   would ever run it and close its RUNNING row.

Several failures of one category give the most serious (:meth:`ExitCode.worst`); across
categories Luigi's own rule (the largest number) applies. With ``--workers`` above 1 a step
fails in a child process, out of reach of step 2's event handler: when Luigi logs its
execution summary (the last thing it does before choosing the code) and the summary lists a
failed step, the classes the failed runs recorded in ``task_runs.failure`` since the
process started raise ``task_failed`` too (the database unreachable then: 6), as
:func:`pms_luigi.ops.runner.build` reads them.
"""
from __future__ import annotations

import contextlib
import logging
import re
import sys
from datetime import UTC, datetime
from types import TracebackType

import luigi
import luigi.retcodes
from luigi.parameter import ParameterException
from luigi.task_register import TaskClassException

from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import logs, runner
from pms_luigi.pipeline import context, retry
from pms_luigi.pipeline.graph import FAMILIES
from pms_luigi.pipeline.step import PmsTask

log = logging.getLogger("pms_luigi")

#: What Luigi raises while it reads a command line, before any task exists: a parameter
#: that is missing, unknown or does not parse (a date that is not a date), a task name.
ARGUMENT_ERRORS = (ParameterException, TaskClassException, ValueError, TypeError)


class BinaryOutcome(logs.OneLineErrors):
    """The one-line filter of the binary, which also sets Luigi's ``[retcode]`` values."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, set[ExitCode]] = {}
        self.started = datetime.now(UTC)

    def code_for(self, exc: BaseException, record: logging.LogRecord) -> ExitCode | None:
        """:func:`~pms_luigi.ops.logs.classify`, and a command-line error is a bad request."""
        code = logs.classify(exc)
        if code is None and record.msg == "Uncaught exception in luigi" \
                and isinstance(exc, ARGUMENT_ERRORS):
            return ExitCode.BAD_REQUEST
        return code

    def text_for(self, exc: BaseException, record: logging.LogRecord) -> str:
        """A command-line error quotes the command line (Luigi's own message may not: "day
        is out of range for month")."""
        text = logs.describe(exc)
        if record.msg == "Uncaught exception in luigi" and isinstance(exc, ARGUMENT_ERRORS):
            return f"bad command line `luigi {' '.join(sys.argv[1:])}`: {text}"
        return text

    def noted(self, kind: str, code: ExitCode) -> None:
        """Raise Luigi's ``[retcode]`` value of ``kind`` to the worst code seen in it."""
        seen = self._seen.setdefault(kind, set())
        seen.add(code)
        setattr(luigi.retcodes.retcode(), kind, int(ExitCode.worst(seen)))

    def step_failed(self, _task: luigi.Task, exc: BaseException) -> None:
        """Luigi's FAILURE event: the step's class decides ``task_failed``."""
        self.noted("task_failed", logs.classify(exc) or ExitCode.FAILED)

    def filter(self, record: logging.LogRecord) -> bool:
        """:class:`~pms_luigi.ops.logs.OneLineErrors`, and at Luigi's execution summary the
        recorded classes of the runs that failed (in this process or a worker child)."""
        message = record.msg if isinstance(record.msg, str) else ""
        if SUMMARY in message and FAILED_LINE.search(message):
            self.noted("task_failed", self._recorded_failures())
        return super().filter(record)

    def _recorded_failures(self) -> ExitCode:
        ctx = context.current()
        try:
            kinds = runner.failure_kinds(ctx, self.started)
        except retry.TRANSIENT as exc:  # each failed step said why in its own line
            log.warning("%s", logs.with_code(
                "the failed steps' classes cannot be read: "
                f"{logs.describe(exc, ctx.settings.database_url)}", ExitCode.STORE_UNAVAILABLE))
            return ExitCode.STORE_UNAVAILABLE
        return ExitCode.worst(kinds or {ExitCode.FAILED})


#: How Luigi's execution summary starts, and its line for failed tasks.
SUMMARY = "===== Luigi Execution Summary ====="
FAILED_LINE = re.compile(r"^\* \d+ failed", re.MULTILINE)


def _close_dead_runs(task: luigi.Task) -> None:
    """``DEPENDENCY_PRESENT`` of a step: close its pair's RUNNING history rows, if any (a
    database that cannot be reached here is reported by whatever needs it next)."""
    if isinstance(task, PmsTask):
        with contextlib.suppress(*retry.TRANSIENT):
            runner.close_dead_runs(context.current(), [(task.family(), task.date)])


def _unknown_task(kind: type[BaseException], exc: BaseException,
                  tb: TracebackType | None) -> None:
    """``sys.excepthook``: an unknown task name in one line and BAD_REQUEST; anything else
    as Python reports it."""
    if not isinstance(exc, TaskClassException):
        sys.__excepthook__(kind, exc, tb)
        return
    name = re.search(r"No task (\S+?)\.?(\s|$)", str(exc))
    known = ", ".join(("pms.EndOfDay", "pms.PreOpen", *FAMILIES))
    text = f"unknown task {name[1] if name else str(exc).strip()!r}; the pms tasks: {known}"
    log.error("%s", logs.with_code(text, ExitCode.BAD_REQUEST))
    raise SystemExit(ExitCode.BAD_REQUEST)


def install() -> None:
    """Set up the binary's logging, exit codes and unknown-task answer (see the module).

    Only in a process whose logging nobody configured — the ``luigi`` binary importing
    :mod:`pms_luigi.tasks` while it reads its command line. ``pms-luigi``, a test run or an
    application that configured logging and drives Luigi itself is left as it is.
    """
    if logging.getLogger().handlers:
        return
    outcome = BinaryOutcome()
    logs.setup(verbose=True, errors=outcome)
    luigi.Task.event_handler(luigi.Event.FAILURE)(outcome.step_failed)
    PmsTask.event_handler(luigi.Event.DEPENDENCY_PRESENT)(_close_dead_runs)
    sys.excepthook = _unknown_task
    # As the runner does for several workers: Luigi 3.8.1 re-checks a step's dependencies
    # in the worker child on the memo it forked with, where a dependency built a moment ago
    # by this run still reads missing ("Unfulfilled dependency at run time", exit 1). The
    # step makes that check itself, under its lock, on fresh statuses (UpstreamNotDone).
    conf = luigi.configuration.get_config()
    if not conf.has_section("worker"):
        conf.add_section("worker")
    conf.set("worker", "check_unfulfilled_deps", "false")

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
3. an unknown task name is answered from ``sys.excepthook`` with one line and BAD_REQUEST.

Several failures of one category give the most serious (:meth:`ExitCode.worst`); across
categories Luigi's own rule (the largest number) applies. With ``--workers`` above 1 a step
fails in a child process, out of reach of step 2: its category's value from ``luigi.cfg``
applies (1), and the one line and ``task_runs.failure`` still say what failed.
"""
from __future__ import annotations

import logging
import re
import sys
from types import TracebackType

import luigi
import luigi.retcodes
from luigi.parameter import ParameterException
from luigi.task_register import TaskClassException

from pms_luigi.core.errors import ExitCode
from pms_luigi.ops import logs
from pms_luigi.pipeline.graph import FAMILIES

log = logging.getLogger("pms_luigi")

#: What Luigi raises while it reads a command line, before any task exists: a parameter
#: that is missing, unknown or does not parse (a date that is not a date), a task name.
ARGUMENT_ERRORS = (ParameterException, TaskClassException, ValueError, TypeError)


class BinaryOutcome(logs.OneLineErrors):
    """The one-line filter of the binary, which also sets Luigi's ``[retcode]`` values."""

    def __init__(self) -> None:
        super().__init__()
        self._seen: dict[str, set[ExitCode]] = {}

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
    sys.excepthook = _unknown_task

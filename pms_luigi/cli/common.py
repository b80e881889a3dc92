"""What every ``pms-luigi`` command shares: the parser, argument types, and :func:`execute`.

:func:`execute` is the one place where a command's expected failure becomes one line and
its exit code (:class:`pms_luigi.core.errors.ExitCode`): parse the arguments (a bad one is
one line and BAD_REQUEST), set up logging, run the command, and answer a
:class:`~pms_luigi.core.errors.PmsError`, a lost database (6) or a lost Redis (5) with
``<error> [exit n NAME]`` on stderr (and in the cron log), never a traceback. An unexpected
error (a bug) keeps its traceback. ``pms-luigi`` (:mod:`pms_luigi.cli.main`) and the
modules that also run alone (``python -m pms_luigi.cli.pack``, ``… .proposals``) all go
through it.

Commands import what they need when they run: ``pms-luigi --help`` and a mistyped option
load neither Luigi nor SQLAlchemy.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import NoReturn

#: Backfills (and the demo's year) default to two processes where there are two cores: the
#: MTM chain in one, each chunk's other steps one chunk behind in the other (see the
#: operations guide, "Backfill"). Cron runs keep one worker: a single date has little to
#: overlap.
BACKFILL_WORKERS = min(2, os.cpu_count() or 1)
#: The code of a refused command line (argparse's own, and the table's BAD_REQUEST).
BAD_REQUEST = 2

log = logging.getLogger("pms_luigi")


class Parser(argparse.ArgumentParser):
    """argparse, with a refused command line answered in one line (usage is in ``--help``)."""

    def error(self, message: str) -> NoReturn:
        self.exit(BAD_REQUEST, f"{self.prog}: error: {message} [exit {BAD_REQUEST} "
                               f"BAD_REQUEST] (see {self.prog} --help)\n")


def parse_date(text: str) -> date:
    """An ISO date argument (``YYYY-MM-DD``)."""
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def parse_hhmm(text: str) -> tuple[int, int]:
    """A wall-clock time argument (``HH:MM``)."""
    try:
        hh, mm = (int(x) for x in text.split(":"))
        if not (0 <= hh < 24 and 0 <= mm < 60):
            raise ValueError(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a time (HH:MM): {text!r}") from exc
    return hh, mm


def add_verbose(parser: argparse.ArgumentParser) -> None:
    """``-v/--verbose`` for the long runs (demo, backfill, rerun): they print a progress
    line and a summary, and show the per-task log (ours and Luigi's) only when asked."""
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the per-task log (ours and Luigi's)")


def ensure_schema() -> None:
    """Create or upgrade the schema of the configured database (idempotent)."""
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.engine import get_engine, migrate

    migrate(get_engine(cfg.database_url()))


def execute(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> int:
    """Run the command ``argv`` selects and return its exit code.

    Args:
        parser: a parser whose commands set ``fn`` (the command: ``fn(args) -> int``) and
            optionally ``log_file`` (``log_file(args) -> Path``: also log there) and
            ``verbose`` (False: per-task log at WARNING; default INFO).
        argv: the arguments (default ``sys.argv[1:]``).

    Returns:
        The command's code; for an expected failure its code in the table, after one line
        on stderr naming it. A bad command line exits 2 from the parser, in one line.
    """
    args = parser.parse_args(argv)
    from pms_luigi.core.errors import PmsError
    from pms_luigi.ops import logs
    from pms_luigi.store.markers import STORE_ERRORS

    log_file: Callable[[argparse.Namespace], Path] | None = getattr(args, "log_file", None)
    with logs.session(getattr(args, "verbose", True), log_file(args) if log_file else None):
        try:
            return int(args.fn(args))
        except (PmsError, *STORE_ERRORS, *logs.REDIS_ERRORS) as exc:
            code = logs.classify(exc)
            log.error("%s", logs.with_code(logs.describe(exc), code))
            return int(code)


def run_alone(register: Callable[[argparse._SubParsersAction], object],
              argv: Sequence[str] | None = None) -> int:
    """``python -m pms_luigi.cli.<module> <command> …``: a parser with only the commands
    ``register`` adds, run by :func:`execute` like ``pms-luigi``."""
    parser = Parser(prog="pms-luigi")
    register(parser.add_subparsers(dest="command", required=True))
    return execute(parser, sys.argv[1:] if argv is None else argv)

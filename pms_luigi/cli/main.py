"""The ``pms-luigi`` command: one parser over the command groups, and their dispatch.

Command groups, one module each (every module adds its commands with ``register(sub)`` and
imports nothing from here, so any of them can also run alone):

    run.py        run, cron (behind run_eod.sh / run_preopen.sh)
    backfill.py   backfill, rerun
    status.py     status, check
    data.py       load, migrate
    ingest.py     ingest (the landed files of a date)
    reconcile.py  reconcile (a date's prices against their rates)
    demo.py       demo
    proposals.py  proposals list|show|approve|reject|modify|book|verify
    pack.py       pack show|send
    serve.py      serve (the desk console)

Every command exits with a code of the one table, :class:`pms_luigi.core.errors.ExitCode`
(0 ok · 1 failed · 2 bad request · 3 missing data · 4 already running · 5 Redis unavailable
after the DB commit · 6 database unavailable · 7 scheduling error · 8 bad input); an
expected failure is one line on stderr (:func:`pms_luigi.cli.common.execute`).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pms_luigi.cli import backfill, data, demo, ingest, pack, proposals, reconcile, run, status
from pms_luigi.cli import serve as console
from pms_luigi.cli.common import Parser, execute

#: The command groups, in ``--help`` order.
GROUPS = (demo, run, backfill, status, data, ingest, reconcile, proposals, pack, console)


def parser() -> argparse.ArgumentParser:
    """The ``pms-luigi`` parser: every group's commands."""
    p = Parser(prog="pms-luigi", description="The daily batch of the PMS: runs, cron, "
               "backfills, reruns, status, data loads, landed files and their "
               "reconciliation, the demo, proposals and the pack.")
    sub = p.add_subparsers(dest="command", required=True)
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``pms-luigi …``: run the command and return its exit code.

    A reader that stops early (``pms-luigi pack show … | head``) closes the pipe: the rest
    of the output has nowhere to go, which is not a failure of the command. Its exit code
    stands, and stdout is pointed at /dev/null so the interpreter's final flush is quiet.
    """
    code = 0
    try:
        code = execute(parser(), argv)
        sys.stdout.flush()  # here, not at exit, where a closed pipe prints a warning
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return code


if __name__ == "__main__":
    sys.exit(main())

"""One exception tree for the whole library, and the one exit-code table every entry point uses.

    PmsError                          base; FAILED (1)
    ├── BadRequest                    bad arguments; BAD_REQUEST (2)
    │   └── NotBusinessDay            the date is not an ANBIMA business day (names the holiday)
    ├── InputDataError                a step's inputs are not usable; nothing was written
    │   ├── MissingData               not loaded (yet); MISSING_DATA (3): cron waits for it
    │   │   ├── MissingPrice          no usable price for an instrument on a date
    │   │   ├── MissingFxFixing       no PTAX / FX fixing for a date
    │   │   ├── MissingCdi            no CDI fixing for a date
    │   │   └── MissingVna            no NTN-B VNA for a date
    │   └── InvalidInput              present but invalid (names table, row, field); BAD_INPUT (8)
    ├── AlreadyRunning                the same run holds its lock; ALREADY_RUNNING (4)
    ├── CacheUnavailable              Redis down after the DB commit (DB results stand);
    │                                 CACHE_UNAVAILABLE (5)
    ├── TransientStoreError           the database cannot be reached (after the in-process
    │                                 retries); STORE_UNAVAILABLE (6)
    └── UpstreamNotDone               a consumed step is not done when a step is about to run

Messages always name the instrument, the date and the field, because operations read them
at 06:00 in a cron mail and must know what to fix without opening the code.
"""
from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import date
from typing import ClassVar


class ExitCode(enum.IntEnum):
    """What a command, a cron script or the ``luigi`` binary exits with.

    Every entry point answers with one of these; ``luigi.cfg``'s ``[retcode]`` section,
    the cron scripts' headers and the operations guide list the same numbers.

    Notes:
        Codes 0, 1, 3, 4, 5 and 7 keep the meanings they always had; 3 now means missing
        data only (a row that is present but invalid is 8), so a cron run that waits for
        late data (``--wait-until``) never waits on a file that must be fixed by hand.

    Examples:
        >>> int(ExitCode.MISSING_DATA), ExitCode(6).name
        (3, 'STORE_UNAVAILABLE')
        >>> ExitCode.worst([ExitCode.MISSING_DATA, ExitCode.BAD_INPUT]).name
        'BAD_INPUT'
    """

    #: success, nothing to do, or (cron) today is not a business day
    OK = 0
    #: a step failed with an unexpected error (its traceback is in the log, the error in
    #: ``task_runs``)
    FAILED = 1
    #: bad arguments: unknown command, option or task; a bad or non-business date
    BAD_REQUEST = 2
    #: input data not loaded (yet): prices, PTAX, CDI, VNA, signals — retry later
    MISSING_DATA = 3
    #: the same run (cron lock) or step (another worker) is already running
    ALREADY_RUNNING = 4
    #: results committed to the database but Redis is unavailable (a rerun re-publishes)
    CACHE_UNAVAILABLE = 5
    #: the database cannot be reached; nothing was written
    STORE_UNAVAILABLE = 6
    #: Luigi could not schedule the graph (a completeness check or ``requires()`` failed)
    SCHEDULING_ERROR = 7
    #: input data present but invalid (names the table, row and field); fix it by hand
    BAD_INPUT = 8

    @property
    def tag(self) -> str:
        """How every failure line ends, naming the code it ends the run with.

        Examples:
            >>> ExitCode.MISSING_DATA.tag
            '[exit 3 MISSING_DATA]'
        """
        return f"[exit {self.value} {self.name}]"

    @classmethod
    def worst(cls, codes: Iterable[int]) -> ExitCode:
        """The code to report for several outcomes of one run.

        Args:
            codes: the codes of the run's parts (steps, chunks), in any order.

        Returns:
            ``OK`` for none; otherwise the most serious by :data:`SEVERITY`: the codes that
            only ask to try again later (missing data, Redis, already running) lose to
            anything that needs a person, and an unexpected failure beats everything.
        """
        found = [cls(c) for c in codes]
        return max(found, key=SEVERITY.index, default=cls.OK)


#: Least to most serious (see :meth:`ExitCode.worst`).
SEVERITY: tuple[ExitCode, ...] = (
    ExitCode.OK, ExitCode.MISSING_DATA, ExitCode.CACHE_UNAVAILABLE, ExitCode.ALREADY_RUNNING,
    ExitCode.BAD_REQUEST, ExitCode.BAD_INPUT, ExitCode.SCHEDULING_ERROR,
    ExitCode.STORE_UNAVAILABLE, ExitCode.FAILED,
)


class PmsError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code: ClassVar[ExitCode] = ExitCode.FAILED


class BadRequest(PmsError):
    """The request itself is wrong (an argument, a date, a task name): nothing was tried."""

    exit_code = ExitCode.BAD_REQUEST


class InputDataError(PmsError):
    """Inputs for a step are missing or invalid; nothing was written."""

    exit_code = ExitCode.BAD_INPUT


class MissingData(InputDataError):
    """Input data a step needs is not loaded (yet): the run can simply be tried again later."""

    exit_code = ExitCode.MISSING_DATA


class InvalidInput(InputDataError):
    """A row fails validation. Carries the table, row key and field for the message."""

    def __init__(self, message: str, *, table: str = "", row: object = None,
                 field: str = "") -> None:
        super().__init__(message)
        self.table, self.row, self.field = table, row, field


class MissingPrice(MissingData):
    def __init__(self, instruments: list[str], on: date, field: str = "price") -> None:
        names = ", ".join(sorted(instruments))
        super().__init__(f"missing {field} on {on.isoformat()} for: {names}")
        self.instruments, self.on, self.field = sorted(instruments), on, field


class MissingFxFixing(MissingData):
    def __init__(self, pair: str, kind: str, on: date) -> None:
        super().__init__(f"missing {kind} fixing for {pair} on {on.isoformat()}")
        self.pair, self.kind, self.on = pair, kind, on


class MissingCdi(MissingData):
    def __init__(self, on: date) -> None:
        super().__init__(f"missing CDI fixing (field cdi_fixings.rate) on {on.isoformat()}")
        self.on = on


class MissingVna(MissingData):
    def __init__(self, index_name: str, on: date) -> None:
        super().__init__(f"missing VNA {index_name} (field vna.value) on {on.isoformat()}")
        self.index_name, self.on = index_name, on


class NotBusinessDay(BadRequest):
    def __init__(self, on: date, holiday: str) -> None:
        super().__init__(f"{on.isoformat()} is not an ANBIMA business day: {holiday}")
        self.on, self.holiday = on, holiday


class TransientStoreError(PmsError):
    """The database could not be reached, after the in-process retries of transient errors."""

    exit_code = ExitCode.STORE_UNAVAILABLE


class CacheUnavailable(PmsError):
    """Redis could not be written after the DB commit: results are safe, cache is not."""

    exit_code = ExitCode.CACHE_UNAVAILABLE


class UpstreamNotDone(PmsError):
    """A step was about to run while a step it consumes is not done (checked under its lock)."""


class AlreadyRunning(PmsError):
    """The same run already holds its lock (a second cron start, a held step)."""

    exit_code = ExitCode.ALREADY_RUNNING


def exit_code_of(exc: BaseException) -> ExitCode | None:
    """The table code of an expected failure, or None for anything else (a bug).

    Args:
        exc: what was raised.

    Returns:
        The ``exit_code`` of the first :class:`PmsError` on ``exc`` and its explicit causes
        (``raise … from``); implicit context is not followed, so a bug raised while handling
        an expected error stays a bug.

    Examples:
        >>> exit_code_of(MissingCdi(date(2026, 1, 2))).name
        'MISSING_DATA'
        >>> exit_code_of(KeyError("x")) is None
        True
    """
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, PmsError):
            return ExitCode(seen.exit_code)
        seen = seen.__cause__
    return None

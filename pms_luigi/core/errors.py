"""One exception tree for the whole library, each branch with one exit code.

    PmsError                          base; exit 1
    ├── InputDataError                bad or missing input; exit 3 (= luigi missing_data)
    │   ├── MissingPrice              no usable price for an instrument on a date
    │   ├── MissingFxFixing           no PTAX / FX fixing for a date
    │   ├── MissingCdi                no CDI fixing for a date
    │   ├── MissingVna                no NTN-B VNA for a date
    │   └── InvalidInput              a row that fails validation (row + field named)
    ├── NotBusinessDay                the date is not an ANBIMA business day (names the holiday)
    ├── TransientStoreError           DB / Redis connection trouble: the only branch retried
    ├── CacheUnavailable              Redis down after the DB commit: DB results stand; exit 5
    └── AlreadyRunning                a run for the same (kind, date) holds the lock; exit 4

Messages always name the instrument, the date and the field, because operations read them
at 06:00 in a cron mail and must know what to fix without opening the code.
"""
from __future__ import annotations

from datetime import date


class PmsError(Exception):
    """Base of every error the library raises on purpose."""

    exit_code = 1


class InputDataError(PmsError):
    """Inputs for a step are missing or invalid; nothing was written."""

    exit_code = 3


class InvalidInput(InputDataError):
    """A row fails validation. Carries the table, row key and field for the message."""

    def __init__(self, message: str, *, table: str = "", row: object = None, field: str = ""):
        super().__init__(message)
        self.table, self.row, self.field = table, row, field


class MissingPrice(InputDataError):
    def __init__(self, instruments: list[str], on: date, field: str = "price"):
        names = ", ".join(sorted(instruments))
        super().__init__(f"missing {field} on {on.isoformat()} for: {names}")
        self.instruments, self.on, self.field = sorted(instruments), on, field


class MissingFxFixing(InputDataError):
    def __init__(self, pair: str, kind: str, on: date):
        super().__init__(f"missing {kind} fixing for {pair} on {on.isoformat()}")
        self.pair, self.kind, self.on = pair, kind, on


class MissingCdi(InputDataError):
    def __init__(self, on: date):
        super().__init__(f"missing CDI fixing (field cdi_fixings.rate) on {on.isoformat()}")
        self.on = on


class MissingVna(InputDataError):
    def __init__(self, index_name: str, on: date):
        super().__init__(f"missing VNA {index_name} (field vna.value) on {on.isoformat()}")
        self.index_name, self.on = index_name, on


class NotBusinessDay(PmsError):
    exit_code = 2

    def __init__(self, on: date, holiday: str):
        super().__init__(f"{on.isoformat()} is not an ANBIMA business day: {holiday}")
        self.on, self.holiday = on, holiday


class TransientStoreError(PmsError):
    """A connection-level failure of the DB or Redis; retried in-process by tenacity."""

    exit_code = 6


class CacheUnavailable(PmsError):
    """Redis could not be written after the DB commit: results are safe, cache is not."""

    exit_code = 5


class UpstreamNotDone(PmsError):
    """A step was about to run while a step it consumes is not done (checked under its lock)."""


class AlreadyRunning(PmsError):
    exit_code = 4

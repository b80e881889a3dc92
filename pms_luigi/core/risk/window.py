"""The factor-change window a caller carries from one business date to the next.

Each date's VaR reads the factor changes of about a year of prices. From one date to the
next that window moves by a day: one date's rows are added, the oldest dropped, and every
other date's curve levels and IBOV return stay what they were (:class:`~.history.Levels`).
:class:`FactorHistory` keeps the rows it read and their levels, so the next date processes
its new rows only; before reusing anything it checks that the rows it is given continue the
ones it holds, value for value, and otherwise starts again from the rows given. Either way
:attr:`FactorHistory.changes` is the frame :func:`~.history.factor_changes` returns for the
same inputs, bit for bit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pms_luigi.core.frames import as_date, to_days
from pms_luigi.core.risk.history import (
    History,
    Instruments,
    Levels,
    PriceRows,
    changes_from,
    check_columns,
    history_upto,
    usd_levels,
)


@dataclass(frozen=True)
class FactorHistory:
    """The factor changes of the prices read for ``on``, with what the next date reuses.

    Build the first date's with :meth:`of`, then call :meth:`advance` with each next date's
    inputs. The state is a value: no method changes it, each returns a new one.

    Attributes:
        on: the business date (rows after it were ignored).
        fx_kind, max_fill: as :func:`~.history.factor_changes`.
        rows: the ``market_prices`` rows read, dated ≤ ``on``, in input order.
        instruments: the instrument master they were joined on.
        joined: ``rows`` joined to their instruments.
        levels: the per-date levels of ``joined``.
        changes: ``factor_changes(history, instruments, fx_history, on, ...)``.
    """

    on: date
    fx_kind: str
    max_fill: int
    rows: PriceRows
    instruments: Instruments
    joined: History
    levels: Levels
    changes: pd.DataFrame

    @classmethod
    def of(cls, history: pd.DataFrame, instruments: pd.DataFrame, fx_history: pd.DataFrame,
           on: date, *, fx_kind: str = "CLOSE", max_fill: int = 1) -> FactorHistory:
        """The state of ``on`` from its inputs alone (arguments and errors as
        :func:`~.history.factor_changes`)."""
        check_columns(history, instruments, fx_history)
        on = as_date(on, "on")
        on_d = np.datetime64(on, "D")
        rows, master = PriceRows.of(history), Instruments.of(instruments)
        joined = history_upto(rows, master, on_d)
        usd_days, usd = usd_levels(fx_history, fx_kind, on_d)
        levels = Levels.of(joined)
        return cls(on, fx_kind, max_fill, rows.take(rows.day <= on_d), master, joined, levels,
                   changes_from(levels, usd_days, usd, max_fill))

    def advance(self, history: pd.DataFrame, instruments: pd.DataFrame,
                fx_history: pd.DataFrame, on: date, *, fx_kind: str = "CLOSE",
                max_fill: int = 1) -> FactorHistory:
        """The state of ``on`` (≥ :attr:`on`) from its inputs, reusing this one's levels.

        Reused when the inputs continue this state: the same instruments, ``fx_kind`` and
        ``max_fill``, and ``history`` = this state's rows from its first date on (the window
        may start later), equal value for value and in the same order, followed by rows
        dated after :attr:`on` only. Then only those new rows are joined and levelled.
        Otherwise — a corrected price, a row added to or missing from a date already read,
        another instrument master, rows not in date order — the state is rebuilt from the
        inputs (:meth:`of`): a stale level is never used. The USDBRL fixings are few and
        are read from ``fx_history`` every time.

        Raises:
            InvalidInput: as :func:`~.history.factor_changes`.
        """
        check_columns(history, instruments, fx_history)
        on = as_date(on, "on")
        kept = self._kept(history, instruments, on, fx_kind, max_fill)
        if kept is None:
            return FactorHistory.of(history, instruments, fx_history, on, fx_kind=fx_kind,
                                    max_fill=max_fill)
        first, new = kept
        on_d = np.datetime64(on, "D")
        added = history_upto(new, self.instruments, on_d)
        usd_days, usd = usd_levels(fx_history, fx_kind, on_d)
        old = self.joined.take(self.joined.day >= first)
        levels = self.levels.since(first)
        levels = levels.then(_new_levels(old, added, levels.ibov[0]))
        rows = self.rows.take(self.rows.day >= first).then(new.take(new.day <= on_d))
        return FactorHistory(on, fx_kind, max_fill, rows, self.instruments, old.then(added),
                             levels, changes_from(levels, usd_days, usd, max_fill))

    def _kept(self, history: pd.DataFrame, instruments: pd.DataFrame, on: date, fx_kind: str,
              max_fill: int) -> tuple[np.datetime64, PriceRows] | None:
        """(first date of ``history``, its rows after the ones held) when ``history``
        continues the held rows (see :meth:`advance`), else None."""
        held = self.rows
        if (on < self.on or fx_kind != self.fx_kind or max_fill != self.max_fill
                or not len(held.day) or not len(history) or not _by_date(held.day)
                or not self.instruments.same(instruments)):
            return None
        first = to_days(history["price_date"].iloc[:1])[0]
        if np.isnat(first) or first < held.day[0]:
            return None
        start = int(np.searchsorted(held.day, first, side="left"))
        k = len(held.day) - start
        if k > len(history) or not _same_rows(history, k, held.take(slice(start, None))):
            return None
        new = PriceRows.of(history.iloc[k:])
        if len(new.day) and (np.isnat(new.day).any() or not _by_date(new.day)
                             or new.day[0] <= np.datetime64(self.on, "D")):
            return None
        return first, new


def _by_date(days: np.ndarray) -> bool:
    return not (np.diff(days) < np.timedelta64(0, "D")).any()


def _same_rows(history: pd.DataFrame, k: int, held: PriceRows) -> bool:
    """The first ``k`` rows of ``history`` equal ``held`` value for value (dates as given,
    ids, price and rate; NaN equal to NaN)."""
    given = (history["price_date"].to_numpy(dtype=object)[:k],
             history["instrument_id"].to_numpy(dtype=object)[:k])
    if not all(np.array_equal(a, b) for a, b in zip(given, (held.when, held.iid), strict=True)):
        return False
    price = history["price"].to_numpy(dtype=float)[:k]
    rate = pd.to_numeric(history["rate"], errors="coerce").to_numpy(dtype=float)[:k]
    return np.array_equal(price, held.price, equal_nan=True) and \
        np.array_equal(rate, held.rate, equal_nan=True)


def _new_levels(old: History, added: History, ibov_days: np.ndarray) -> Levels:
    """The levels of the dates of ``added`` (all after ``old``'s): curves from their own
    rows; IBOV returns against the last index-futures date of the window (``ibov_days``,
    those of ``old``), as a pass over ``old`` then ``added`` would give them."""
    last = ibov_days[-1] if len(ibov_days) else None
    base = old.take(old.day == last) if last is not None else old.take(slice(0, 0))
    levels = Levels.of(added, ibov=base.then(added))
    days, ibov = levels.ibov
    after = days > last if last is not None else np.ones(len(days), dtype=bool)
    return Levels(levels.curves, (days[after], ibov[after]))

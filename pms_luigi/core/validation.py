"""Validation of input frames before anything is written (pure: pandas only).

What an input table accepts, checked in three passes over whole columns:

- **reading** (:mod:`pms_luigi.core.cells`): a cell written as text — every cell of a CSV —
  is typed by its column's kind: ISO dates (``dd/mm/yyyy`` only when the file is declared
  day-first), numbers with a decimal point (a decimal comma only when declared; never a
  thousands separator), booleans, JSON. A cell typed already (a frame built in code) is taken
  as it is. Nothing is reinterpreted: ``03/11/2026`` in an ISO file is an error, not a date.
- **fitting**: required values present, text no longer than its column, numbers within the
  column's ``NUMERIC(p, s)`` — what the database would refuse with a driver error.
- **rules**: unique keys, nothing dated after ``as_of``, market, ledger and capital-flow rows
  on ANBIMA business days, known instruments and strategies, plausible values (rates as
  decimals, USDBRL in range, the sign of a capital flow...).

Every problem of every row is collected — where (the CSV line, or the row of a frame built
in code), the row's key, the column, the value as written, why — and all of them are
reported together by one ``InvalidInput`` (:func:`rejection`): an operator fixes the whole
file in one go. Nothing is ever silently replaced.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar
from pms_luigi.core.cells import PLAIN, Column, TextFormat, is_empty, read_column, written
from pms_luigi.core.errors import InvalidInput

__all__ = ["BUSINESS_DATED", "DATE_FIELD", "MAX_SHOWN", "NOTES", "SPECS", "TABLES", "Column",
           "Problem", "Report", "TextFormat", "check", "rejection", "spec_columns", "validate"]

# table -> (key columns, date columns, numeric columns, required columns)
SPECS: Final = MappingProxyType({
    "fund": (("fund_id",), ("inception_date",), ("initial_nav",),
             ("fund_id", "name", "inception_date", "initial_nav")),
    "instruments": (("instrument_id",), ("maturity_date",), ("contract_size", "lot_size"),
                    ("instrument_id", "name", "asset_class", "instrument_type", "currency",
                     "exchange", "contract_size", "lot_size")),
    "strategies": (("strategy_id",), (), (),
                   ("strategy_id", "name", "asset_class", "factor_tags", "is_systematic")),
    "instrument_aliases": (("alias",), (), (), ("alias", "instrument_id")),
    "market_prices": (("price_date", "instrument_id"), ("price_date",), ("price", "rate"),
                      ("price_date", "instrument_id", "price")),
    "fx_fixings": (("fixing_date", "pair", "kind"), ("fixing_date",), ("rate",),
                   ("fixing_date", "pair", "kind", "rate")),
    "cdi_fixings": (("fixing_date",), ("fixing_date",), ("rate",), ("fixing_date", "rate")),
    "vna": (("ref_date", "index_name"), ("ref_date",), ("value",),
            ("ref_date", "index_name", "value")),
    "trades": (("trade_id",), ("trade_date",), ("quantity", "price", "cost_brl"),
               ("trade_id", "trade_date", "instrument_id", "strategy_id", "quantity", "price",
                "source")),
    "signals": (("signal_date", "strategy_id", "signal_id"), ("signal_date",), ("conviction",),
                ("signal_date", "strategy_id", "signal_id", "conviction")),
    "capital_flows": (("flow_date", "kind"), ("flow_date",), ("amount_brl",),
                      ("flow_date", "kind", "amount_brl")),
})

DATE_FIELD: Final = MappingProxyType({
    "market_prices": "price_date", "fx_fixings": "fixing_date", "cdi_fixings": "fixing_date",
    "vna": "ref_date", "trades": "trade_date", "signals": "signal_date",
    "capital_flows": "flow_date"})
# Plausible ranges: catch percent-vs-decimal and absurd values (value outside → error).
RATE_MAX: Final = 1.0  # 100 % a.a. as a decimal; 14.9 means someone sent percent
USDBRL_RANGE: Final = (1.0, 20.0)
PU_MAX: Final = MappingProxyType({"DI1": 100_000.0, "DDI": 100_000.0, "LTN": 1_000.0})
# Rows that only exist on ANBIMA business days: a Saturday price is a wrong date column, and
# a capital flow settles on a business day (the NAV it changes is struck on one).
BUSINESS_DATED: Final = MappingProxyType({
    "market_prices": "price_date", "fx_fixings": "fixing_date", "cdi_fixings": "fixing_date",
    "trades": "trade_date", "capital_flows": "flow_date"})
FX_KINDS: Final = frozenset({"PTAX", "CLOSE"})
FLOW_SIGN: Final = MappingProxyType({"SUBSCRIPTION": 1.0, "REDEMPTION": -1.0, "FEE": -1.0})
#: Problems spelled out in a refusal's message; the rest are counted.
MAX_SHOWN: Final = 20

#: What each table holds (``pms-luigi load --describe``).
TABLES: Final = MappingProxyType({
    "fund": "the fund: one row",
    "instruments": "the instrument master",
    "strategies": "the strategies trades and signals are booked to",
    "instrument_aliases": "generic ids a strategy's signal may name (DI_PRE) -> instrument",
    "market_prices": "settlement prices (and quoted rates) per business day",
    "fx_fixings": "FX fixings per business day (PTAX, CLOSE)",
    "cdi_fixings": "the CDI fixing per business day",
    "vna": "VNA (nominal value) of the inflation-linked bonds per date",
    "trades": "the trade ledger: one row per trade id",
    "signals": "strategy signals per date",
    "capital_flows": "subscriptions, redemptions and fees per business day",
})

#: Units and accepted values per column, where the type alone does not say them.
NOTES: Final = MappingProxyType({table: MappingProxyType(notes) for table, notes in {
    "fund": {"initial_nav": "BRL, NAV before the first day's P&L",
             "inception_date": "first business date marked"},
    "instruments": {
        "asset_class": "RATES INFLATION FX CUPOM EQUITY ...",
        "instrument_type": "DI1 DDI DOL WDO IND WIN LTN NTNF NTNB NDF ...",
        "currency": "ISO code of the price: BRL, USD",
        "exchange": "B3 OTC TESOURO",
        "contract_size": "value of one price point in the currency",
        "lot_size": "tradable quantity increment",
        "underlying": "USDBRL for NDF/DOL, IBOV for IND/WIN"},
    "strategies": {"factor_tags": 'JSON list ["carry", "momentum"] or weights {"carry": 0.7}'},
    "instrument_aliases": {"instrument_id": "a known instrument"},
    "market_prices": {
        "price": "settlement PU / points / BRL per USD; > 0; a DI1/DDI PU <= 100,000",
        "rate": "quoted annual rate as a decimal: 0.1425 for 14.25 %",
        "instrument_id": "a known instrument"},
    "fx_fixings": {"pair": "USDBRL", "kind": "PTAX or CLOSE",
                   "rate": "BRL per USD, within [1, 20] for USDBRL"},
    "cdi_fixings": {"rate": "annual, base 252, as a decimal: 0.1490 for 14.90 %"},
    "vna": {"index_name": "NTNB", "value": "BRL, > 0"},
    "trades": {
        "quantity": "signed (long > 0), a multiple of the instrument's lot_size, not 0",
        "price": "> 0, in the instrument's price unit",
        "cost_brl": "BRL, costs and fees of the trade",
        "source": "SYSTEMATIC DISCRETIONARY PROPOSAL",
        "instrument_id": "a known instrument", "strategy_id": "a known strategy"},
    "signals": {"conviction": "signed, within [-1, 1]",
                "signal_id": "a generic id (instrument_aliases) or an instrument_id"},
    "capital_flows": {"kind": "SUBSCRIPTION REDEMPTION FEE",
                      "amount_brl": "BRL: + in (SUBSCRIPTION), - out (REDEMPTION, FEE)"},
}.items()})


@dataclass(frozen=True)
class Problem:
    """One thing wrong in an input: enough to find and fix it without reading code.

    Attributes:
        table: the input table.
        where: ``line 4`` (a CSV's line, the header being line 1) or ``row 3`` (the 1-based
            row of a frame built in code); ``header`` for the columns themselves.
        key: the row's key as written (``DI1F27``, ``2026-09-30 / DI1F27``), or "".
        column: the column (``a+b`` for a key of several columns).
        value: the value as written, quoted (``'03/11/2026'``), ``(empty)`` when missing.
        why: what is wrong, in words operations act on.
        row: ``InvalidInput.row`` of a refusal led by this problem: the line or row number
            and the key columns.
        order: sorting position (the row's position in the frame).
    """

    table: str
    where: str
    key: str
    column: str
    value: str
    why: str
    row: Mapping[str, object] = field(default_factory=dict, compare=False)
    order: int = 0

    def __str__(self) -> str:
        key = f" ({self.key})" if self.key else ""
        value = f" {self.value}" if self.value else ""
        return f"{self.where}{key}: {self.column}{value}: {self.why}"


def rejection(problems: Sequence[Problem]) -> InvalidInput:
    """The one refusal of an input with ``problems`` (returned, for the caller to raise).

    The message lists the first :data:`MAX_SHOWN` problems, one per line, and counts the
    rest; ``table``, ``row`` and ``field`` are the first problem's.

    >>> p = Problem("trades", "line 3", "T2", "price", "'-5'", "must be > 0", {"line": 3})
    >>> print(rejection([p]))
    trades: 1 problem, nothing loaded:
      line 3 (T2): price '-5': must be > 0
    """
    first = problems[0]
    tables = list(dict.fromkeys(p.table for p in problems))
    shown = [f"  {p}" if len(tables) == 1 else f"  {p.table}: {p}"
             for p in problems[:MAX_SHOWN]]
    rest = len(problems) - len(shown)
    if rest:
        shown.append(f"  ... and {rest} more problem{'s' if rest > 1 else ''}")
    count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
    return InvalidInput(f"{', '.join(tables)}: {count}, nothing loaded:\n" + "\n".join(shown),
                        table=first.table, row=dict(first.row), field=first.column)


def spec_columns(table: str) -> tuple[Column, ...]:
    """The columns :data:`SPECS` knows of ``table`` (a frame validated without the schema):
    dates, numbers and the required ones; the schema's sizes are not checked."""
    _, dates, numbers, required = SPECS[table]
    names = dict.fromkeys([*required, *dates, *numbers])
    return tuple(Column(n, "date" if n in dates else "number" if n in numbers else "text",
                        required=n in required) for n in names)


class Report:
    """The problems of one frame, collected rule by rule (masks over its rows)."""

    def __init__(self, table: str, raw: pd.DataFrame) -> None:
        self.table, self.raw, self.problems = table, raw, []
        self.keys = [k for k in SPECS[table][0] if k in raw.columns]
        lines = raw.index.name == "line"
        self.where = [f"line {i}" for i in raw.index] if lines \
            else [f"row {i + 1}" for i in range(len(raw))]
        self.label = "line" if lines else "row"

    def add(self, bad: pd.Series | np.ndarray, column: str, why: str | Sequence[str]) -> None:
        """A problem for each row where ``bad`` holds (``why`` one text, or one per row)."""
        for i in np.flatnonzero(np.asarray(bad, dtype=bool)):
            cols = column.split("+")
            value = "+".join(written(self.raw[c].iloc[i]) for c in cols if c in self.raw)
            key = " / ".join(written(self.raw[k].iloc[i], quoted=False) for k in self.keys)
            row = {self.label: int(self.raw.index[i]) if self.label == "line" else i + 1,
                   **{k: written(self.raw[k].iloc[i], quoted=False) for k in self.keys}}
            self.problems.append(Problem(self.table, self.where[i], key, column, value,
                                         why if isinstance(why, str) else why[i], row, i))


def validate(table: str, frame: pd.DataFrame, known: dict[str, set[str]] | None = None,
             instruments: pd.DataFrame | None = None, as_of: date | None = None, *,
             columns: Sequence[Column] | None = None,
             fmt: TextFormat = PLAIN) -> pd.DataFrame:
    """A typed copy of ``frame``, or every problem of it in one ``InvalidInput``.

    Args: as :func:`check`.

    Returns:
        The frame with each column typed by its kind (dates as ``datetime.date``, numbers
        float64, booleans, JSON values), the index kept.

    Raises:
        InvalidInput: :func:`rejection` of the problems found.
    """
    typed, problems = check(table, frame, known, instruments, as_of, columns=columns, fmt=fmt)
    if problems:
        raise rejection(problems)
    return typed


def check(table: str, frame: pd.DataFrame, known: dict[str, set[str]] | None = None,
          instruments: pd.DataFrame | None = None, as_of: date | None = None, *,
          columns: Sequence[Column] | None = None,
          fmt: TextFormat = PLAIN) -> tuple[pd.DataFrame, list[Problem]]:
    """Type ``frame`` and list every problem of it, in row order.

    Args:
        table: the input table (a key of :data:`SPECS`).
        frame: its rows: text cells (a CSV read by the loader, index named ``line`` holding
            each row's line in the file) or typed cells (a frame built in code).
        known: ids that exist: ``{"instruments": {...}, "strategies": {...}}``.
        instruments: the instrument master (lot sizes, instrument types).
        as_of: rows dated after it are refused.
        columns: the table's columns (kinds, sizes, defaults; the loader builds them from
            the schema); None: :func:`spec_columns`, and columns not named are not checked.
        fmt: how text cells write dates and numbers.

    Returns:
        The typed frame (cells that fail to read are missing) and the problems.

    Raises:
        InvalidInput: a required column is absent, or (with ``columns``) a column is not
            one of the table's: nothing else can be checked.
    """
    cols = tuple(columns) if columns is not None else spec_columns(table)
    _check_header(table, frame, cols, exhaustive=columns is not None)
    report = Report(table, frame)
    out = frame.copy()
    for col in cols:
        if col.name not in frame.columns:
            continue
        empty = is_empty(frame[col.name])
        out[col.name], why = read_column(frame[col.name], col, fmt)
        report.add(why.notna(), col.name, why.fillna("").tolist())
        if col.required:
            report.add(empty, col.name, "missing value")
    keys = list(SPECS[table][0])
    complete = out[keys].notna().all(axis=1)
    dup = out[keys].duplicated(keep=False) & complete
    report.add(dup, "+".join(keys), _duplicates(out, keys, dup, report.where))
    if as_of is not None and table in DATE_FIELD:
        when = DATE_FIELD[table]
        report.add(pd.to_datetime(out[when]) > pd.Timestamp(as_of), when,
                   f"dated after {as_of.isoformat()}")
    if table in BUSINESS_DATED:
        when = BUSINESS_DATED[table]
        bad, why = _holidays(out[when])
        report.add(bad, when, why)
    _check_values(table, out, known or {}, instruments, report)
    return out, sorted(report.problems, key=lambda p: p.order)


def _check_header(table: str, frame: pd.DataFrame, cols: Sequence[Column],
                  exhaustive: bool) -> None:
    names = [c.name for c in cols]
    missing = [c.name for c in cols if c.required and c.name not in frame.columns]
    unknown = [c for c in frame.columns if c not in names] if exhaustive else []
    if missing or unknown:
        why = [f"missing column(s) {missing}"] if missing else []
        why += [f"unknown column(s) {unknown} (the columns of {table}: "
                f"{', '.join(names)})"] if unknown else []
        raise InvalidInput(f"{table}: {'; '.join(why)}; got {list(frame.columns)}",
                           table=table, row={"line": 1}, field=",".join(missing or unknown))


def _duplicates(out: pd.DataFrame, keys: list[str], dup: pd.Series,
                where: list[str]) -> list[str]:
    """Per row: ``duplicate key (line 3, line 9)`` naming every row with the same key."""
    why = [""] * len(out)
    if bool(dup.any()):
        label = out[keys].astype(str).agg("|".join, axis=1)
        groups: dict[str, list[int]] = {}
        for i in np.flatnonzero(dup.to_numpy()):
            groups.setdefault(label.iloc[i], []).append(i)
        for rows in groups.values():
            for i in rows:
                why[i] = "duplicate key (" + ", ".join(where[j] for j in rows) + ")"
    return why


def _holidays(days: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Which dates are not ANBIMA business days, and why (the holiday or the weekday)."""
    stamps = pd.to_datetime(days).to_numpy().astype("datetime64[D]")
    ok = np.isnat(stamps) | np.is_busday(np.where(np.isnat(stamps), np.datetime64("2000-01-03"),
                                                  stamps), busdaycal=calendar.anbima_calendar())
    names = {d: calendar.holiday_name(d) for d in set(days[~ok])}
    why = [f"not an ANBIMA business day ({names[d]})" if not good else ""
           for d, good in zip(days, ok, strict=True)]
    return ~ok, why


def _fail_unknown(out: pd.DataFrame, table: str, known: dict[str, set[str]],
                  report: Report) -> None:
    for col, what, why in (("instrument_id", "instruments", "unknown instrument"),
                           ("strategy_id", "strategies", "unknown strategy")):
        if col in out and what in known and table != what:
            report.add(out[col].notna() & ~out[col].isin(known[what]), col, why)


def _check_values(table: str, out: pd.DataFrame, known: dict[str, set[str]],
                  instruments: pd.DataFrame | None, report: Report) -> None:
    """The per-table rules on typed values (a cell that failed to read is missing here)."""
    _fail_unknown(out, table, known, report)
    add = report.add
    if table == "market_prices":
        add(out["price"] <= 0, "price", "must be > 0")
        if "rate" in out:
            add(out["rate"].abs() >= RATE_MAX, "rate",
                "looks like percent; rates are decimals (0.1425 for 14.25%)")
        if instruments is not None:
            types = out["instrument_id"].map(instruments.set_index("instrument_id")
                                             ["instrument_type"])
            add(out["price"] > types.map(PU_MAX).astype(float), "price", "PU above face value")
    elif table == "fx_fixings":
        lo, hi = USDBRL_RANGE
        add((out["pair"] == "USDBRL") & ((out["rate"] < lo) | (out["rate"] > hi)), "rate",
            f"USDBRL outside [{lo}, {hi}]")
        add(out["kind"].notna() & ~out["kind"].isin(FX_KINDS), "kind",
            f"not one of {sorted(FX_KINDS)}")
    elif table == "capital_flows":
        add(out["kind"].notna() & ~out["kind"].isin(FLOW_SIGN), "kind",
            f"not one of {sorted(FLOW_SIGN)}")
        sign = out["kind"].map(FLOW_SIGN).astype(float)
        add(out["amount_brl"] * sign <= 0, "amount_brl",
            "wrong sign for its kind (+ in: SUBSCRIPTION; - out: REDEMPTION, FEE)")
    elif table == "cdi_fixings":
        add((out["rate"] <= -0.01) | (out["rate"] >= RATE_MAX), "rate",
            "looks like percent; CDI is an annual decimal (0.1490 for 14.90%)")
    elif table == "signals":
        add(out["conviction"].abs() > 1, "conviction", "outside [-1, 1]")
    elif table == "trades":
        add(out["quantity"] == 0, "quantity", "zero")
        add(out["price"] <= 0, "price", "must be > 0")
        if instruments is not None:
            lots = out["instrument_id"].map(instruments.set_index("instrument_id")["lot_size"])
            ratio = out["quantity"] / lots.astype(float)
            add((ratio - ratio.round()).abs() > 1e-9, "quantity",
                "not a multiple of the instrument's lot_size")
    elif table == "vna":
        add(out["value"] <= 0, "value", "must be > 0")
    elif table == "instruments":
        add(out["contract_size"] <= 0, "contract_size", "must be > 0")
        add(out["lot_size"] <= 0, "lot_size", "must be > 0")


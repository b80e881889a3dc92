"""The loader's reading rules and the validation report (pure: no store).

- cells (``pms_luigi.core.cells``): how a text cell becomes a boolean, a date, a number,
  JSON or text, and when it does not fit its column — strictly, never guessing;
- validation (``pms_luigi.core.validation``): every problem of a frame at once, each with
  its line (or row), key, column, value as written and reason; the message capped.
"""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi import demo
from pms_luigi.core import validation
from pms_luigi.core.cells import PLAIN, Column, TextFormat, is_empty, read_column, written
from pms_luigi.core.errors import InvalidInput

DAYFIRST = TextFormat(dayfirst=True)
COMMA = TextFormat(decimal_comma=True)


def _read(values: list[object], column: Column,
          fmt: TextFormat = PLAIN) -> tuple[list[object], list[str | None]]:
    typed, why = read_column(pd.Series(values, dtype=object), column, fmt)
    return typed.tolist(), why.tolist()


def _csv_frame(rows: list[dict[str, str | None]], first_line: int = 2) -> pd.DataFrame:
    """Rows as ``read_csv`` returns them: text cells, the index the CSV line."""
    return pd.DataFrame(rows, dtype=object, index=pd.Index(
        range(first_line, first_line + len(rows)), name="line"))


# ---------------------------------------------------------------- booleans

@pytest.mark.parametrize(("text", "flag"), [
    ("True", True), ("False", False), ("true", True), ("false", False), ("TRUE", True),
    ("FALSE", False), ("1", True), ("0", False), (" True ", True)])
def test_booleans_as_python_spreadsheets_and_programs_write_them(text: str, flag: bool) -> None:
    assert _read([text], Column("is_active", "boolean")) == ([flag], [None])


@pytest.mark.parametrize("text", ["yes", "no", "t", "f", "sim", "não", "2", "-1", "on", "1.0"])
def test_other_spellings_are_not_booleans(text: str) -> None:
    typed, why = _read([text], Column("is_active", "boolean"))
    assert typed == [None] and why == ["not a boolean (true/false or 1/0)"]


def test_typed_booleans_pass_and_an_empty_cell_is_missing_or_the_default() -> None:
    assert _read([True, np.bool_(False), 1, None], Column("b", "boolean"))[0] == \
        [True, False, True, None]
    assert _read(["", None], Column("b", "boolean", default="true"))[0] == [True, True]


# ---------------------------------------------------------------- dates

def test_dates_are_iso_only_unless_the_file_is_day_first() -> None:
    typed, why = _read(["2026-11-03", "03/11/2026", "3/11/2026", "2026-02-30", "20261103",
                        "2026-W45-2", "", None], Column("trade_date", "date"))
    assert typed == [date(2026, 11, 3)] + [None] * 7
    assert why == [None, "not an ISO date (YYYY-MM-DD); a day-first date (dd/mm/yyyy) needs "
                   "--dayfirst", "not an ISO date (YYYY-MM-DD); a day-first date (dd/mm/yyyy) "
                   "needs --dayfirst", "not a date (no such day)",
                   "not an ISO date (YYYY-MM-DD)", "not an ISO date (YYYY-MM-DD)", None, None]


def test_a_day_first_file_is_dd_mm_yyyy_and_only_that() -> None:
    typed, why = _read(["03/11/2026", "31/12/2026", "2026-11-03", "3/11/2026", "31/02/2026",
                        "11/31/2026"], Column("trade_date", "date"), DAYFIRST)
    assert typed == [date(2026, 11, 3), date(2026, 12, 31), None, None, None, None]
    assert why[:2] == [None, None]
    assert why[2] == why[3] == "not a day-first date (dd/mm/yyyy), as --dayfirst declares"
    assert why[4] == why[5] == "not a date (no such day)"  # month 31: never read as m/d


def test_typed_dates_pass_and_other_typed_values_are_not_dates() -> None:
    typed, why = _read([date(2026, 1, 2), pd.Timestamp("2026-01-05"),
                        np.datetime64("2026-01-06"), 20260107, 1.5], Column("d", "date"))
    assert typed == [date(2026, 1, 2), date(2026, 1, 5), date(2026, 1, 6), None, None]
    assert why == [None, None, None, "not a date", "not a date"]


# ---------------------------------------------------------------- numbers

def test_numbers_with_a_decimal_point() -> None:
    typed, why = _read(["1.5", "-2", "+0.25", ".5", "1e-05", "2.5E3", " 7 "],
                       Column("price", "number"))
    assert typed == [1.5, -2.0, 0.25, 0.5, 1e-05, 2500.0, 7.0] and why == [None] * 7


@pytest.mark.parametrize(("text", "why"), [
    ("0,15", "not a number; a decimal comma needs --decimal-comma"),
    ("1,234", "not a number; a decimal comma needs --decimal-comma"),  # 1234 or 1.234?
    ("1.234,56", "not a number (thousands separators are not read)"),
    ("1,234.56", "not a number (thousands separators are not read)"),
    ("abc", "not a number"), ("inf", "not a number"), ("NaN", "not a number"),
    ("1 234", "not a number"), ("12%", "not a number"), ("R$ 5", "not a number"),
    ("1e999", "infinite"),
])
def test_what_a_decimal_point_file_refuses(text: str, why: str) -> None:
    typed, reasons = _read([text], Column("price", "number"))
    assert np.isnan(typed[0]) and reasons == [why]


def test_a_decimal_comma_file_reads_commas_and_refuses_points() -> None:
    typed, why = _read(["0,15", "-1234,5", "1", "1.5", "1.234,56"], Column("rate", "number"),
                       COMMA)
    assert typed[:3] == [0.15, -1234.5, 1.0] and np.isnan(typed[3:]).all()
    assert why == [None, None, None,
                   "not a number with a decimal comma (the file declares --decimal-comma)",
                   "not a number (thousands separators are not read)"]


def test_numbers_must_fit_their_numeric_column() -> None:
    money = Column("amount_brl", "number", precision=20, scale=2)
    typed, why = _read(["99999999999999999.5", "1e18", "-1000000000000000000", "0.001"],
                       money)
    assert why == [None, *["too large for NUMERIC(20, 2): at most 18 digits before the decimal "
                           "point"] * 2, None]
    assert typed[0] == 99999999999999999.5 and typed[3] == 0.001  # scale: the database rounds
    rate = Column("rate", "number", precision=14, scale=10)
    assert _read(["9999.9999", "10000", "9999.99999999999"], rate)[1] == [
        None, *["too large for NUMERIC(14, 10): at most 4 digits before the decimal point"] * 2]
    # the last one rounds to 10000 at the column's 10 decimals, as the database would


def test_typed_numbers_pass_infinite_is_refused() -> None:
    typed, why = _read([np.float64(2.5), 3, np.inf, -np.inf, np.nan, "9,87"],
                       Column("price", "number"))
    assert typed[:2] == [2.5, 3.0] and why[2:4] == ["infinite", "infinite"]
    assert why[4] is None and why[5] == "not a number; a decimal comma needs --decimal-comma"


def test_integers() -> None:
    typed, why = _read(["12", "-3", "1.5", "99999999999", "x"], Column("proposal_id", "integer"))
    assert typed == [12, -3, None, None, None]
    assert why == [None, None, "not an integer",
                   "too large for an INTEGER (at most 2147483647)", "not a number"]


# ---------------------------------------------------------------- text and JSON

def test_text_longer_than_its_column_is_refused_blank_text_is_missing() -> None:
    col = Column("currency", length=3, required=True)
    typed, why = _read(["BRL", "BRLX", "  ", None, "Ação"], col)
    assert typed == ["BRL", None, None, None, None]
    assert why == [None, "longer than 3 characters (4)", None, None,
                   "longer than 3 characters (4)"]
    assert is_empty(pd.Series(["BRL", "  ", None], dtype=object)).tolist() == [False, True, True]


def test_json_arrays_and_objects() -> None:
    typed, why = _read(['["carry", "momentum"]', '{"carry": 0.7}', '"carry"', "[carry]",
                        ["carry"]], Column("factor_tags", "json"))
    assert typed == [["carry", "momentum"], {"carry": 0.7}, None, None, ["carry"]]
    assert why[2] == "not a JSON array or object" and why[3].startswith("not JSON (")


# ---------------------------------------------------------------- values in messages

def test_values_are_shown_as_written_never_as_numpy_reprs() -> None:
    assert written("03/11/2026") == "'03/11/2026'"
    assert written(np.float64(-98.5)) == "'-98.5'" and written(np.int64(7)) == "'7'"
    assert written(np.nan) == written(None) == written(pd.NaT) == "(empty)"
    assert written(date(2026, 9, 30)) == "'2026-09-30'"
    assert written(pd.Timestamp("2026-09-30")) == "'2026-09-30'"
    assert written(np.bool_(True)) == "'True'" and written(["a"]) == """'["a"]'"""
    assert written("x" * 100).endswith("...'") and len(written("x" * 100)) == 62


# ---------------------------------------------------------------- the whole report

TRADE_COLUMNS = (
    Column("trade_id", length=64, required=True), Column("trade_date", "date", required=True),
    Column("instrument_id", length=40, required=True),
    Column("strategy_id", length=40, required=True),
    Column("quantity", "number", required=True, precision=24, scale=6),
    Column("price", "number", required=True, precision=24, scale=8),
    Column("cost_brl", "number", precision=20, scale=2, default="0"),
    Column("source", length=20, required=True), Column("proposal_id", "integer"))
KNOWN = {"instruments": {"DI1F27"}, "strategies": {"RATES_BR_01"}}


def _trade(**values: str | None) -> dict[str, str | None]:
    row = {"trade_id": "T1", "trade_date": "2026-09-30", "instrument_id": "DI1F27",
           "strategy_id": "RATES_BR_01", "quantity": "10", "price": "88000.5",
           "cost_brl": "12.5", "source": "DISCRETIONARY"}
    return {**row, **values}


def test_every_problem_of_a_file_is_reported_with_line_column_and_value() -> None:
    frame = _csv_frame([
        _trade(),
        _trade(trade_id="T2", trade_date="03/11/2026"),
        _trade(trade_id="T3", quantity="1,5", price="-5"),
        _trade(trade_id="T4", source="X" * 21, instrument_id="DI1Z99"),
        _trade(trade_id="T1", cost_brl=None),
        _trade(trade_id="T6", trade_date="2026-10-12", strategy_id=None),
    ])
    typed, problems = validation.check("trades", frame, KNOWN, None, date(2026, 12, 31),
                                       columns=TRADE_COLUMNS)
    found = [(p.where, p.key, p.column, p.value, p.why) for p in problems]
    assert found == [
        ("line 2", "T1", "trade_id", "'T1'", "duplicate key (line 2, line 6)"),
        ("line 3", "T2", "trade_date", "'03/11/2026'", "not an ISO date (YYYY-MM-DD); a "
         "day-first date (dd/mm/yyyy) needs --dayfirst"),
        ("line 4", "T3", "quantity", "'1,5'",
         "not a number; a decimal comma needs --decimal-comma"),
        ("line 4", "T3", "price", "'-5'", "must be > 0"),
        ("line 5", "T4", "source", "'" + "X" * 21 + "'", "longer than 20 characters (21)"),
        ("line 5", "T4", "instrument_id", "'DI1Z99'", "unknown instrument"),
        ("line 6", "T1", "trade_id", "'T1'", "duplicate key (line 2, line 6)"),
        ("line 7", "T6", "strategy_id", "(empty)", "missing value"),
        ("line 7", "T6", "trade_date", "'2026-10-12'",
         "not an ANBIMA business day (Our Lady of Aparecida)"),
    ]
    assert typed.loc[6, "cost_brl"] == 0.0  # the column's default for an empty cell
    assert problems[0].row == {"line": 2, "trade_id": "T1"}


def test_the_refusal_lists_every_problem_and_counts_beyond_the_cap() -> None:
    n = validation.MAX_SHOWN + 7
    frame = _csv_frame([_trade(trade_id=f"T{i}", price=f"-{i + 1}") for i in range(n)])
    with pytest.raises(InvalidInput) as err:
        validation.validate("trades", frame, KNOWN, columns=TRADE_COLUMNS)
    text = str(err.value)
    lines = text.splitlines()
    assert lines[0] == f"trades: {n} problems, nothing loaded:"
    assert lines[1] == "  line 2 (T0): price '-1': must be > 0"
    assert len(lines) == 1 + validation.MAX_SHOWN + 1 and lines[-1] == "  ... and 7 more problems"
    assert err.value.table == "trades" and err.value.field == "price"
    assert err.value.row == {"line": 2, "trade_id": "T0"}
    assert "np." not in text and "float64" not in text


def test_a_frame_built_in_code_names_rows_and_typed_values_plainly() -> None:
    frame = pd.DataFrame({"fixing_date": [date(2026, 9, 30), date(2026, 10, 1)],
                          "rate": [np.float64(0.149), np.float64(14.9)]})
    with pytest.raises(InvalidInput) as err:
        validation.validate("cdi_fixings", frame)
    assert str(err.value).splitlines()[1] == (
        "  row 2 (2026-10-01): rate '14.9': looks like percent; CDI is an annual decimal "
        "(0.1490 for 14.90%)")
    assert err.value.row == {"row": 2, "fixing_date": "2026-10-01"}


def test_capital_flows_on_a_non_business_day_are_refused() -> None:
    frame = pd.DataFrame({"flow_date": ["2026-10-12", "2026-10-10", "2026-10-13"],
                          "kind": "SUBSCRIPTION", "amount_brl": "1000000"})
    _, problems = validation.check("capital_flows", frame)
    assert [(p.where, p.key, p.column, p.value, p.why) for p in problems] == [
        ("row 1", "2026-10-12 / SUBSCRIPTION", "flow_date", "'2026-10-12'",
         "not an ANBIMA business day (Our Lady of Aparecida)"),
        ("row 2", "2026-10-10 / SUBSCRIPTION", "flow_date", "'2026-10-10'",
         "not an ANBIMA business day (Saturday)")]


def test_missing_and_unknown_columns_refuse_the_header() -> None:
    frame = _csv_frame([{"fixing_date": "2026-09-30", "taxa": "0.149"}])
    cols = (Column("fixing_date", "date", required=True),
            Column("rate", "number", required=True, precision=14, scale=10))
    with pytest.raises(InvalidInput, match=r"missing column\(s\) \['rate'\]; unknown column"
                       r"\(s\) \['taxa'\]") as err:
        validation.check("cdi_fixings", frame, columns=cols)
    assert err.value.field == "rate" and err.value.row == {"line": 1}


def test_demo_frames_validate_to_the_same_values() -> None:
    """A frame built in code (the demo's) is typed as it was: dates stay dates, numbers
    floats, booleans and JSON untouched — so the demo's figures cannot move."""
    frames = demo.generate(seed=11, end=date(2026, 10, 2), n_days=40).frames()
    instruments = validation.validate("instruments", frames["instruments"])
    known = {"instruments": set(instruments["instrument_id"]),
             "strategies": set(frames["strategies"]["strategy_id"])}
    for name, frame in frames.items():
        typed = validation.validate(name, frame, known, instruments)
        pd.testing.assert_frame_equal(typed.reset_index(drop=True).astype(object),
                                      frame.reset_index(drop=True).astype(object),
                                      check_dtype=False, obj=name)

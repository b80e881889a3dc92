"""Bad input catalogue: every case is refused with an error that names the table,
the row and the field, and nothing is written — through ``load_inputs`` (and the CSV reader
``pms-luigi load`` uses) and through the MarkToMarket step.

Load cases start from the demo fund's real rows and break one thing. File cases write the
bytes ``pms-luigi load`` would read (empty, header only, NUL bytes, UTF-16, ragged rows, broken
quotes, undeclared day-first dates or decimal commas, values too long or too large for their
column, capital flows on holidays, a trade id already loaded, many problems at once...): the
message names every problem with its line, column and value as written. Step cases break the
database under the step (a fixing not loaded, a row that bypassed the loader) and run
``MarkToMarket`` for the fund's second day: no marker, no rows, a FAILED run naming the error.
Both store pairs; one short world per backend for the module.
"""
from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import demo
from pms_luigi.core.cells import TextFormat
from pms_luigi.core.errors import (
    ExitCode,
    InputDataError,
    InvalidInput,
    MissingCdi,
    MissingFxFixing,
    MissingPrice,
)
from pms_luigi.core.validation import MAX_SHOWN
from pms_luigi.demo.reference import reference_csv
from pms_luigi.ops import runner
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import INPUT_TABLES, load_inputs, read_csv
from pms_luigi.tasks import MarkToMarket
from tests.conftest import BACKENDS, World, make_world
from tests.faults.test_faults import END, load_short


@pytest.fixture(scope="module", params=BACKENDS)
def desk(request: pytest.FixtureRequest,
         tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[World, list[date]]]:
    with make_world(request.param, tmp_path_factory.mktemp("badinput")) as w:
        yield w, load_short(w, days=2)


@pytest.fixture(scope="module")
def base() -> dict[str, pd.DataFrame]:
    """Valid demo rows to break (day 2 of the fund, so nothing is dated in the future)."""
    return demo.generate(seed=11, end=END, n_days=40).frames()


def _counts(w: World) -> dict[str, int]:
    with w.engine.connect() as conn:
        return {name: conn.execute(sa.select(sa.func.count()).select_from(tbl)).scalar_one()
                for name, tbl in INPUT_TABLES.items()}


def _first(frame: pd.DataFrame, **where: object) -> pd.DataFrame:
    out = frame
    for col, val in where.items():
        out = out[out[col] == val]
    return out.head(1).reset_index(drop=True)


def _on(frame: pd.DataFrame, col: str, day: date) -> pd.DataFrame:
    return frame[frame[col] == day].reset_index(drop=True)


def _set(frame: pd.DataFrame, row: int, **values: object) -> pd.DataFrame:
    out = frame.copy().astype({k: object for k in values if k in frame.columns})
    for col, val in values.items():
        out.loc[row, col] = val
    return out


# (case id, builder(base, day) -> (table, frame, as_of), expected field, text in message)
Case = tuple[str, Callable[[dict[str, pd.DataFrame], date], tuple[str, pd.DataFrame, date | None]],
             str, str]


def _prices(b: dict, d: date) -> pd.DataFrame:
    return _on(b["market_prices"], "price_date", d)


def _di1_row(b: dict, d: date) -> int:
    types = b["instruments"].set_index("instrument_id")["instrument_type"]
    p = _prices(b, d)
    return int(np.flatnonzero(p["instrument_id"].map(types).eq("DI1").to_numpy())[0])


def _trade(b: dict, d: date) -> pd.DataFrame:
    t = b["trades"]
    return t[t["trade_date"] <= d].head(1).reset_index(drop=True)


def _lot_trade(b: dict, d: date) -> pd.DataFrame:
    """A trade in an instrument whose lot is > 1 (or a DI1, lot 1) with a fractional lot."""
    t = _trade(b, d)
    lot = float(b["instruments"].set_index("instrument_id").loc[t.loc[0, "instrument_id"],
                                                                 "lot_size"])
    return _set(t, 0, quantity=float(t.loc[0, "quantity"]) + lot / 2)


CASES: list[Case] = [
    ("price-nan", lambda b, d: ("market_prices", _set(_prices(b, d), 0, price=np.nan), None),
     "price", "missing value"),
    ("price-negative", lambda b, d: ("market_prices", _set(_prices(b, d), 1, price=-98.5), None),
     "price", "must be > 0"),
    ("price-zero", lambda b, d: ("market_prices", _set(_prices(b, d), 2, price=0.0), None),
     "price", "must be > 0"),
    ("price-text", lambda b, d: ("market_prices", _set(_prices(b, d), 0, price="9,87"), None),
     "price", "not a number"),
    ("price-infinite", lambda b, d: ("market_prices", _set(_prices(b, d), 0, price=np.inf),
                                     None), "price", "infinite"),
    ("di1-pu-absurd", lambda b, d: ("market_prices",
                                    _set(_prices(b, d), _di1_row(b, d), price=9_500_000.0),
                                    None), "price", "PU above face value"),
    ("rate-in-percent", lambda b, d: ("market_prices",
                                      _set(_prices(b, d), _di1_row(b, d), rate=14.25), None),
     "rate", "looks like percent"),
    ("price-unknown-instrument", lambda b, d: ("market_prices",
                                               _set(_prices(b, d), 0, instrument_id="DI1X99"),
                                               None), "instrument_id", "unknown instrument"),
    ("price-duplicate-key", lambda b, d: ("market_prices",
                                          pd.concat([_prices(b, d), _prices(b, d).head(1)]),
                                          None), "price_date+instrument_id", "duplicate key"),
    ("price-future-dated", lambda b, d: ("market_prices", _prices(b, d), date(2026, 9, 29)),
     "price_date", "dated after 2026-09-29"),
    ("price-on-a-saturday", lambda b, d: ("market_prices",
                                          _set(_prices(b, d), 0, price_date="2026-10-03"), None),
     "price_date", "not an ANBIMA business day"),
    ("date-not-a-date", lambda b, d: ("market_prices",
                                      _set(_prices(b, d), 0, price_date="2026-02-30"), None),
     "price_date", "not a date"),
    ("ptax-absurd", lambda b, d: ("fx_fixings",
                                  _set(_on(b["fx_fixings"], "fixing_date", d), 0, rate=5430.0),
                                  None), "rate", "USDBRL outside"),
    ("ptax-negative", lambda b, d: ("fx_fixings",
                                    _set(_on(b["fx_fixings"], "fixing_date", d), 0, rate=-5.4),
                                    None), "rate", "USDBRL outside"),
    ("fx-unknown-kind", lambda b, d: ("fx_fixings",
                                      _set(_on(b["fx_fixings"], "fixing_date", d), 0,
                                           kind="PTAX2"), None), "kind", "not one of"),
    ("cdi-in-percent", lambda b, d: ("cdi_fixings",
                                     _set(_on(b["cdi_fixings"], "fixing_date", d), 0, rate=14.9),
                                     None), "rate", "looks like percent"),
    ("cdi-missing-value", lambda b, d: ("cdi_fixings",
                                        _set(_on(b["cdi_fixings"], "fixing_date", d), 0,
                                             rate=None), None), "rate", "missing value"),
    ("vna-negative", lambda b, d: ("vna", _set(_on(b["vna"], "ref_date", d), 0, value=-4650.0),
                                   None), "value", "must be > 0"),
    ("trade-duplicate-id", lambda b, d: ("trades", pd.concat([_trade(b, d), _trade(b, d)]),
                                         None), "trade_id", "duplicate key"),
    ("trade-unknown-instrument", lambda b, d: ("trades", _set(_trade(b, d), 0,
                                                              instrument_id="WDOZ99"), None),
     "instrument_id", "unknown instrument"),
    ("trade-unknown-strategy", lambda b, d: ("trades", _set(_trade(b, d), 0,
                                                            strategy_id="NOPE_01"), None),
     "strategy_id", "unknown strategy"),
    ("trade-not-in-lots", lambda b, d: ("trades", _lot_trade(b, d), None), "quantity",
     "lot_size"),
    ("trade-zero-quantity", lambda b, d: ("trades", _set(_trade(b, d), 0, quantity=0.0), None),
     "quantity", "zero"),
    ("trade-future-dated", lambda b, d: ("trades", _set(_trade(b, d), 0, trade_date=END),
                                         d), "trade_date", "dated after"),
    ("trade-on-a-holiday", lambda b, d: ("trades", _set(_trade(b, d), 0,
                                                        trade_date=date(2026, 10, 12)), None),
     "trade_date", "not an ANBIMA business day"),
    ("signal-above-one", lambda b, d: ("signals", _set(_on(b["signals"], "signal_date", d), 0,
                                                       conviction=1.5), None),
     "conviction", "outside [-1, 1]"),
    ("signal-below-minus-one", lambda b, d: ("signals",
                                             _set(_on(b["signals"], "signal_date", d), 3,
                                                  conviction=-3.0), None),
     "conviction", "outside [-1, 1]"),
    ("signal-future-dated", lambda b, d: ("signals", _on(b["signals"], "signal_date", d),
                                          date(2026, 9, 29)), "signal_date", "dated after"),
    ("flow-wrong-sign", lambda b, d: ("capital_flows",
                                      pd.DataFrame([{"flow_date": d, "kind": "REDEMPTION",
                                                     "amount_brl": 1_000_000.0}]), None),
     "amount_brl", "wrong sign"),
    ("flow-unknown-kind", lambda b, d: ("capital_flows",
                                        pd.DataFrame([{"flow_date": d, "kind": "GIFT",
                                                       "amount_brl": 1.0}]), None),
     "kind", "not one of"),
    ("instrument-zero-contract-size", lambda b, d: ("instruments",
                                                    _set(b["instruments"], 0, contract_size=0.0),
                                                    None), "contract_size", "must be > 0"),
]


@pytest.mark.parametrize(("case", "build", "field", "text"), CASES, ids=[c[0] for c in CASES])
def test_load_refuses_bad_rows_whole(desk, base, case, build, field, text) -> None:
    w, dates = desk
    table, frame, as_of = build(base, dates[-1])
    before = _counts(w)
    with pytest.raises(InvalidInput) as err:
        load_inputs(w.engine, {table: frame}, as_of=as_of)
    exc = err.value
    assert exc.table == table and exc.field == field, (case, str(exc))
    assert text in str(exc) and field in str(exc)
    assert exc.row, f"{case}: the row is not named"  # the key of the first offending row
    assert _counts(w) == before  # nothing written, not even the good rows of the file


def test_a_bad_table_refuses_the_good_tables_of_the_same_load(desk, base) -> None:
    w, dates = desk
    d = dates[-1]
    before = _counts(w)
    good = _on(base["cdi_fixings"], "fixing_date", d).assign(rate=0.1490)
    bad = _set(_on(base["signals"], "signal_date", d), 0, conviction=7.0)
    with pytest.raises(InvalidInput, match="conviction"):
        load_inputs(w.engine, {"cdi_fixings": good, "signals": bad})
    assert _counts(w) == before


# ---------------------------------------------------------------- CSV files (pms-luigi load)

def _csv(tmp_path: Path, frame: pd.DataFrame, name: str = "in.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_csv_with_wrong_columns_names_them(desk, base, tmp_path) -> None:
    w, dates = desk
    frame = _on(base["cdi_fixings"], "fixing_date", dates[-1]).rename(columns={"rate": "taxa"})
    before = _counts(w)
    with pytest.raises(InvalidInput, match=r"missing column\(s\) \['rate'\]") as err:
        load_inputs(w.engine, {"cdi_fixings": read_csv(_csv(tmp_path, frame), "cdi_fixings")})
    assert err.value.field == "rate"
    assert _counts(w) == before


def test_csv_not_utf8_names_line_and_field(desk, tmp_path) -> None:
    path = tmp_path / "trades.csv"
    path.write_bytes("trade_id,trade_date,instrument_id,strategy_id,quantity,price,source\n"
                     "T1,2026-09-30,DI1F27,RATES_BR_01,10,88000,DISCRETIONARY\n"
                     "T2,2026-09-30,DI1F27,RATES_BR_01,10,88000,Operação\n".encode("latin-1"))
    with pytest.raises(InvalidInput, match="not UTF-8 text at line 3, field source") as err:
        read_csv(path, "trades")
    assert err.value.row == {"line": 3} and err.value.field == "source"


def test_csv_bad_date_and_number_are_reported_by_row(desk, base, tmp_path) -> None:
    w, dates = desk
    before = _counts(w)
    prices = _prices(base, dates[-1])
    frame = read_csv(_csv(tmp_path, _set(prices, 2, price_date="30/02/2026")), "market_prices")
    with pytest.raises(InvalidInput, match="price_date") as err:
        load_inputs(w.engine, {"market_prices": frame})
    assert err.value.row["instrument_id"] == prices.loc[2, "instrument_id"]
    frame = read_csv(_csv(tmp_path, _set(prices, 4, price="1.234,56")), "market_prices")
    with pytest.raises(InvalidInput, match="not a number") as err:
        load_inputs(w.engine, {"market_prices": frame})
    assert err.value.row["instrument_id"] == prices.loc[4, "instrument_id"]
    assert _counts(w) == before


def _text(frame: pd.DataFrame) -> str:
    return frame.to_csv(index=False, lineterminator="\n")


def _cdi(b: dict, d: date) -> pd.DataFrame:
    return b["cdi_fixings"][b["cdi_fixings"]["fixing_date"] <= d].reset_index(drop=True)


def _flow(day: str, amount: str = "1000000") -> bytes:
    return f"flow_date,kind,amount_brl\n{day},SUBSCRIPTION,{amount}\n".encode()


def _lines(text: str, n: int, edit: Callable[[str], str]) -> bytes:
    """``text`` with its line ``n`` (the header is line 1) edited."""
    lines = text.split("\n")
    lines[n - 1] = edit(lines[n - 1])
    return "\n".join(lines).encode()


def _many_bad_prices(b: dict, d: date) -> bytes:
    prices = pd.concat([_prices(b, x) for x in sorted(set(b["market_prices"]["price_date"]))
                        if x <= d]).reset_index(drop=True)
    return _text(prices.assign(price=-1.0).head(MAX_SHOWN + 5)).encode()


# (case id, builder(base, day) -> (table, file bytes, TextFormat), texts the message holds:
# the line, the column, the value as written, why; {day} and {dmy} stand for the day, written
# YYYY-MM-DD and dd/mm/yyyy)
CsvCase = tuple[str, Callable[[dict[str, pd.DataFrame], date], tuple[str, bytes, TextFormat]],
                list[str]]
ISO = TextFormat()

CSV_CASES: list[CsvCase] = [
    ("empty-file", lambda b, d: ("cdi_fixings", b"", ISO), ["cdi_fixings: the file is empty"]),
    ("blank-file", lambda b, d: ("cdi_fixings", b"\xef\xbb\xbf\n  \n", ISO),
     ["the file is empty"]),
    ("header-only", lambda b, d: ("cdi_fixings", b"fixing_date,rate\n", ISO),
     ["no data rows, only the header line"]),
    ("utf-16-file", lambda b, d: ("cdi_fixings", _text(_cdi(b, d)).encode("utf-16"), ISO),
     ["NUL byte at line 1", "UTF-16", "save it as UTF-8"]),
    ("nul-byte", lambda b, d: ("cdi_fixings", _lines(_text(_cdi(b, d)), 3,
                                                     lambda s: s + "\x00"), ISO),
     ["NUL byte at line 3 (1 in the file)"]),
    ("ragged-rows", lambda b, d: ("cdi_fixings", _lines(_lines(
        _text(_cdi(b, d)), 2, lambda s: s + ",x").decode(), 3, lambda s: s.split(",")[0]), ISO),
     ["2 problems", "line 2: row: 3 fields, the header has 2",
      "line 3: row: 1 field, the header has 2"]),
    ("broken-quoting", lambda b, d: ("cdi_fixings", _lines(_text(_cdi(b, d)), 2,
                                                           lambda s: '"' + s), ISO),
     ["cdi_fixings: line 2: unexpected end of data (quoting, read on to line 4)"]),
    ("stray-quote", lambda b, d: ("cdi_fixings", _lines(_text(_cdi(b, d)), 3,
                                                        lambda s: '"' + s.replace(",", '"x,')),
                                  ISO), ["cdi_fixings: line 3: ',' expected after '\"' (quoting)"]),
    ("column-named-twice", lambda b, d: ("cdi_fixings", _lines(_text(_cdi(b, d).assign(
        x=0.1)), 1, lambda s: "fixing_date,rate,rate"), ISO),
     ["line 1: rate: column named twice (columns 2 and 3)"]),
    ("column-without-name", lambda b, d: ("cdi_fixings", _lines(_text(_cdi(b, d).assign(
        x=0.1)), 1, lambda s: "fixing_date,rate,"), ISO),
     ["line 1: column 3: the header names no column here"]),
    ("unknown-column", lambda b, d: ("cdi_fixings", _text(_cdi(b, d).assign(taxa=0.1)).encode(),
                                     ISO), ["unknown column(s) ['taxa']"]),
    ("day-first-date-without-the-flag", lambda b, d: ("market_prices", _text(_set(
        _prices(b, d), 0, price_date=d.strftime("%d/%m/%Y"))).encode(), ISO),
     ["line 2 ({dmy} / ", "price_date '{dmy}': not an ISO date (YYYY-MM-DD); a day-first date "
      "(dd/mm/yyyy) needs --dayfirst"]),
    ("iso-date-in-a-day-first-file", lambda b, d: ("cdi_fixings", _text(_cdi(b, d)).encode(),
                                                   TextFormat(dayfirst=True)),
     ["line 2", "not a day-first date (dd/mm/yyyy), as --dayfirst declares"]),
    ("decimal-comma-without-the-flag", lambda b, d: ("cdi_fixings", (
        f"fixing_date;rate\n{d.isoformat()};0,149\n").encode(), ISO),
     ["line 2 ({day}): rate '0,149': not a number; a decimal comma needs --decimal-comma"]),
    ("decimal-point-in-a-decimal-comma-file", lambda b, d: ("cdi_fixings", (
        f"fixing_date;rate\n{d.isoformat()};0.149\n").encode(), TextFormat(decimal_comma=True)),
     ["rate '0.149': not a number with a decimal comma (the file declares --decimal-comma)"]),
    ("thousands-separator", lambda b, d: ("vna", (
        f"ref_date;index_name;value\n{d.isoformat()};NTNB;4.634,70\n").encode(),
        TextFormat(decimal_comma=True)),
     ["value '4.634,70': not a number (thousands separators are not read)"]),
    ("boolean-spelled-yes", lambda b, d: ("instruments", _text(_set(
        b["instruments"].head(3), 1, is_active="yes")).encode(), ISO),
     ["line 3", "is_active 'yes': not a boolean (true/false or 1/0)"]),
    ("tags-not-json", lambda b, d: ("strategies", _lines(_text(reference_csv(
        b["strategies"].head(2))), 2, lambda s: s.replace('"[""carry""]"', "carry")), ISO),
     ["line 2", "factor_tags 'carry': not JSON"]),
    ("text-too-long", lambda b, d: ("trades", _text(_set(
        _trade(b, d), 0, source="DISCRETIONARY-DESK-02")).encode(), ISO),
     ["source 'DISCRETIONARY-DESK-02': longer than 20 characters (21)"]),
    ("id-too-long", lambda b, d: ("instruments", _text(_set(
        b["instruments"].head(1), 0, instrument_id="DI1F27_" + "X" * 40)).encode(), ISO),
     ["instrument_id '" + "DI1F27_" + "X" * 40 + "': longer than 40 characters (47)"]),
    ("quantity-too-large", lambda b, d: ("trades", _text(_set(
        _trade(b, d), 0, quantity="1e19")).encode(), ISO),
     ["quantity '1e19': too large for NUMERIC(24, 6): at most 18 digits before the decimal "
      "point"]),
    ("amount-too-large", lambda b, d: ("capital_flows", _flow(d.isoformat(),
                                                              "1000000000000000000"), ISO),
     ["amount_brl '1000000000000000000': too large for NUMERIC(20, 2)"]),
    ("proposal-id-not-an-integer", lambda b, d: ("trades", _text(_set(
        _trade(b, d), 0, proposal_id="1.5")).encode(), ISO),
     ["proposal_id '1.5': not an integer"]),
    ("flow-on-a-holiday", lambda b, d: ("capital_flows", _flow("2026-10-12"), ISO),
     ["line 2 (2026-10-12 / SUBSCRIPTION): flow_date '2026-10-12': not an ANBIMA business day "
      "(Our Lady of Aparecida)"]),
    ("flow-on-a-saturday", lambda b, d: ("capital_flows", _flow("2026-10-03"), ISO),
     ["flow_date '2026-10-03': not an ANBIMA business day (Saturday)"]),
    ("trade-id-already-loaded", lambda b, d: ("trades", _text(_set(
        _trade(b, d), 0, price=float(_trade(b, d).loc[0, "price"]) * 1.01)).encode(), ISO),
     ["trade_id", "already loaded with another price", "--replace replaces it"]),
    ("several-problems-in-one-file", lambda b, d: ("market_prices", _text(_set(_set(_set(
        _prices(b, d), 0, price="abc"), 2, rate=14.25), 4, price_date="2026-02-30")).encode(),
        ISO),
     ["market_prices: 3 problems, nothing loaded:", "  line 2 (", "price 'abc': not a number",
      "  line 4 (", "rate '14.25': looks like percent", "  line 6 (",
      "price_date '2026-02-30': not a date (no such day)"]),
    ("more-problems-than-shown", lambda b, d: ("market_prices", _many_bad_prices(b, d), ISO),
     [f"market_prices: {MAX_SHOWN + 5} problems", "price '-1.0': must be > 0",
      "... and 5 more problems"]),
]


@pytest.mark.parametrize(("case", "build", "texts"), CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_load_refuses_bad_files_whole(desk, base, tmp_path, case, build, texts) -> None:
    """A bad CSV through ``read_csv`` and ``load_inputs``, as ``pms-luigi load`` reads it:
    ``InvalidInput`` naming every problem (line, column, value as written, why), never a
    database error or a numpy repr, and nothing written."""
    w, dates = desk
    table, data, fmt = build(base, dates[-1])
    path = tmp_path / f"{table}.csv"
    path.write_bytes(data)
    before = _counts(w)
    with pytest.raises(InvalidInput) as err:
        load_inputs(w.engine, {table: read_csv(path, table)}, fmt=fmt)
    message = str(err.value)
    for text in texts:
        text = text.format(day=dates[-1].isoformat(), dmy=dates[-1].strftime("%d/%m/%Y"))
        assert text in message, (case, message)
    assert "np." not in message and "Traceback" not in message and "sqlalchemy" not in message
    assert err.value.field and err.value.row, (case, message)
    assert _counts(w) == before


def test_a_good_csv_loads_and_loading_it_twice_changes_nothing(desk, base, tmp_path) -> None:
    w, dates = desk
    frame = read_csv(_csv(tmp_path, _prices(base, dates[-1])), "market_prices")
    before = _counts(w)
    assert load_inputs(w.engine, {"market_prices": frame}) == {"market_prices": len(frame)}
    assert load_inputs(w.engine, {"market_prices": frame}) == {"market_prices": len(frame)}
    assert _counts(w) == before  # these rows were already loaded: an upsert, no duplicates


# ---------------------------------------------------------------- through the MTM step

@contextlib.contextmanager
def _broken(w: World, tbl: sa.Table, where: sa.ColumnElement, **update: object) -> Iterator[None]:
    """Delete (or update) rows under the step, bypassing the loader; restore them after."""
    with w.engine.begin() as conn:
        saved = [dict(r) for r in conn.execute(sa.select(tbl).where(where)).mappings()]
        assert saved, "nothing to break"
        if update:
            conn.execute(sa.update(tbl).where(where).values(**update))
        else:
            conn.execute(sa.delete(tbl).where(where))
    try:
        yield
    finally:
        with w.engine.begin() as conn:
            conn.execute(sa.delete(tbl).where(where))
            conn.execute(sa.insert(tbl), saved)


def _held_instrument(w: World, on: date) -> str:
    with w.engine.connect() as conn:
        return conn.execute(sa.select(s.trades.c.instrument_id).where(
            s.trades.c.trade_date <= on).order_by(s.trades.c.trade_id)).scalars().first()


STEP_CASES = [
    ("ptax-missing", lambda w, d: (s.fx_fixings, sa.and_(s.fx_fixings.c.fixing_date == d,
                                                         s.fx_fixings.c.kind == "PTAX"), {}),
     MissingFxFixing, "PTAX"),
    ("cdi-missing", lambda w, d: (s.cdi_fixings, s.cdi_fixings.c.fixing_date < d, {}),
     MissingCdi, "cdi_fixings.rate"),
    ("price-missing", lambda w, d: (s.market_prices, sa.and_(
        s.market_prices.c.price_date == d,
        s.market_prices.c.instrument_id == _held_instrument(w, d)), {}),
     MissingPrice, "missing"),
    ("rate-in-percent-in-db", lambda w, d: (s.market_prices, sa.and_(
        s.market_prices.c.price_date == d, s.market_prices.c.rate.is_not(None)),
        {"rate": 14.25}), InvalidInput, "rate"),
]


@pytest.mark.parametrize(("case", "breaker", "error", "text"), STEP_CASES,
                         ids=[c[0] for c in STEP_CASES])
def test_mtm_step_refuses_bad_inputs_and_writes_nothing(desk, case, breaker, error,
                                                        text) -> None:
    w, dates = desk
    assert runner.build([MarkToMarket(date=dates[0])]) == runner.ExitCode.OK  # the fund's 1st day
    d = dates[1]  # a day with a book carried over: every input matters
    tbl, where, update = breaker(w, d)
    with _broken(w, tbl, where, **update):
        task = MarkToMarket(date=d)
        # Outside a Luigi worker nobody listens to progress: give the callbacks a sink.
        task.set_status_message = task.set_progress_percentage = lambda _: None
        with pytest.raises(error) as err:
            task.run()
    assert isinstance(err.value, InputDataError) and err.value.exit_code == (
        ExitCode.BAD_INPUT if error is InvalidInput else ExitCode.MISSING_DATA)
    assert text in str(err.value), str(err.value)
    assert any(x.isoformat() in str(err.value) for x in dates), str(err.value)  # the date
    with w.engine.connect() as conn:
        assert mk.read_markers(conn, "pms.MarkToMarket", [d]) == {}
        for out in (s.position_marks, s.book_snapshots, s.risk_snapshots):
            assert conn.execute(sa.select(sa.func.count()).select_from(out).where(
                out.c.business_date == d)).scalar_one() == 0
        last = conn.execute(sa.select(s.task_runs.c.status, s.task_runs.c.error).where(
            s.task_runs.c.family == "pms.MarkToMarket", s.task_runs.c.business_date == d)
            .order_by(s.task_runs.c.started_at.desc())).first()
    assert last.status == "FAILED" and last.error.startswith(type(err.value).__name__)

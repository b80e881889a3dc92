"""``pms-luigi load`` on both store pairs: the project's own files load as they are, declared
formats (day-first, decimal comma, ``;``) load the same rows as ISO files, a trade id is
replaced only when asked and its replacement makes the MTM from its trade date stale, and
``load --help`` / ``--describe`` list the tables and their columns.

(What a bad file is refused with lives in the bad-input catalogue,
``tests/pipeline/test_bad_input.py``; the reading rules in ``tests/unit/test_validation.py``.)
"""
from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi.cli import main as cli
from pms_luigi.core import validation
from pms_luigi.demo.reference import load_reference
from pms_luigi.ops import runner
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import INPUT_TABLES, PROVENANCE, columns, load_inputs, read_csv
from pms_luigi.tasks import MarkToMarket
from tests.faults.test_faults import load_short

CONFIG = Path(__file__).resolve().parents[2] / "config"
REFERENCE = ("instruments", "strategies", "instrument_aliases")
MTM = "pms.MarkToMarket"


def _rows(w, table: str) -> list[dict]:
    tbl = INPUT_TABLES[table]
    with w.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(tbl).order_by(*tbl.primary_key))
                .mappings()]


def test_the_projects_config_files_load_as_they_are(world, capsys) -> None:
    for table in REFERENCE:
        assert cli.main(["load", table, str(CONFIG / f"{table}.csv")]) == 0
    out = capsys.readouterr().out
    assert "loaded 41 row(s) into instruments" in out and "into strategies" in out
    by_csv = {t: _rows(world, t) for t in REFERENCE}
    tags = {r["strategy_id"]: (r["factor_tags"], r["is_systematic"]) for r in by_csv["strategies"]}
    assert tags["RATES_BR_03"] == (["momentum", "mean-reversion"], True)  # JSON, not its text
    assert tags["RATES_BR_02"] == (["macro-discretionary"], False)
    active = {r["instrument_id"]: r["is_active"] for r in by_csv["instruments"]}
    assert active["DI1F27"] is True and active["INDG26"] is False
    # the demo reads the same files its own way (load_reference): the same rows either way
    counts = load_inputs(world.engine, load_reference(CONFIG))
    assert counts == {t: len(by_csv[t]) for t in REFERENCE}
    assert {t: _rows(world, t) for t in REFERENCE} == by_csv


def test_the_loader_columns_agree_with_the_validation_specs() -> None:
    """The schema (kinds, sizes, NOT NULL) and the pure rules (SPECS) describe one table."""
    for table, tbl in INPUT_TABLES.items():
        cols = {c.name: c for c in columns(table)}
        keys, dates, numbers, required = validation.SPECS[table]
        assert set(cols) == {c.name for c in tbl.columns} - set(PROVENANCE)
        assert {n for n, c in cols.items() if c.required} == set(required), table
        assert {n for n, c in cols.items() if c.kind == "date"} == set(dates), table
        assert {n for n, c in cols.items() if c.kind == "number"} == set(numbers), table
        assert set(keys) == {c.name for c in tbl.primary_key}, table


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_declared_formats_load_the_same_rows_as_iso_files(world, tmp_path) -> None:
    load_inputs(world.engine, load_reference(CONFIG))
    iso = _csv(tmp_path / "iso.csv",
               "price_date,instrument_id,price,rate\n"
               "2026-11-03,DI1F27,88123.45,0.1425\n2026-11-04,DI1F27,88140.5,\n")
    brazilian = _csv(tmp_path / "br.csv",
                     "price_date;instrument_id;price;rate\r\n"
                     "03/11/2026;DI1F27;88123,45;0,1425\r\n04/11/2026;DI1F27;88140,5;\r\n",
                     encoding="utf-8-sig")
    fmt = validation.TextFormat(dayfirst=True, decimal_comma=True)
    frame = read_csv(brazilian, "market_prices")  # ';': the header has no ','
    assert list(frame.columns) == ["price_date", "instrument_id", "price", "rate"]
    assert list(frame.index) == [2, 3] and frame.index.name == "line"
    load_inputs(world.engine, {"market_prices": frame}, fmt=fmt)
    by_brazilian = _rows(world, "market_prices")
    with world.engine.begin() as conn:
        conn.execute(sa.delete(s.market_prices))
    load_inputs(world.engine, {"market_prices": read_csv(iso, "market_prices")})
    assert _rows(world, "market_prices") == by_brazilian
    assert [(r["price_date"], r["price"], r["rate"]) for r in by_brazilian] == [
        (date(2026, 11, 3), 88123.45, 0.1425), (date(2026, 11, 4), 88140.5, None)]
    assert {r["source"] for r in by_brazilian} == {"B3"}  # the column's default
    # the same Brazilian file through the command line, formats declared
    assert cli.main(["load", "market_prices", str(brazilian), "--dayfirst", "--decimal-comma",
                     "--as-of", "2026-11-30"]) == 0
    assert _rows(world, "market_prices") == by_brazilian


def test_a_manual_load_clears_the_provenance_of_the_rows_it_writes(world) -> None:
    """A row a file was ingested into and then loaded by hand names no file any more."""
    assert "ingest_id" in s.market_prices.c  # the provenance column (migration 0003)
    load_inputs(world.engine, load_reference(CONFIG))
    row = {"price_date": date(2026, 11, 3), "instrument_id": "DI1F27", "price": 88123.45}
    with world.engine.begin() as conn:
        conn.execute(sa.insert(s.ingested_files), {
            "ingest_id": 7, "source": "b3_price_report", "business_date": date(2026, 11, 3),
            "file_name": "SPRD261103.zip", "sha256": "0" * 64, "size_bytes": 1,
            "ingested_at": pd.Timestamp("2026-11-03 20:00", tz="UTC"), "run_id": "r",
            "counts": {}})
        conn.execute(sa.insert(s.market_prices), {**row, "ingest_id": 7})
    load_inputs(world.engine, {"market_prices": pd.DataFrame([{**row, "price": 88123.5}])})
    assert [(r["price"], r["ingest_id"]) for r in _rows(world, "market_prices")] == [
        (88123.5, None)]


# ---------------------------------------------------------------- --replace

def _trade_csv(path: Path, trade: dict) -> Path:
    frame = pd.DataFrame([trade]).drop(columns=["proposal_id"])
    frame.to_csv(path, index=False)
    return path


def _mtm_dates(w) -> list[date]:
    with w.engine.connect() as conn:
        return sorted(m.business_date for m in mk.markers_from(conn, date(2000, 1, 1))
                      if m.family == MTM)


def test_a_trade_id_is_replaced_only_when_asked_and_the_mtm_from_its_date_goes_stale(
        world, tmp_path, capsys) -> None:
    dates = load_short(world, days=9)  # the demo's first trades after inception: day 8
    assert runner.build([MarkToMarket(date=dates[-1])]) == runner.ExitCode.OK
    assert _mtm_dates(world) == dates
    before = _rows(world, "trades")
    trades = pd.DataFrame(before)
    trade = trades[trades["trade_date"] == dates[7]].iloc[0].to_dict()
    as_of = ["--as-of", dates[-1].isoformat()]

    # the same trade again is no replacement: loaded, nothing stale
    same = _trade_csv(tmp_path / "same.csv", trade)
    assert cli.main(["load", "trades", str(same), *as_of]) == 0
    assert _mtm_dates(world) == dates and "stale" not in capsys.readouterr().out

    # other values under the same id: refused without --replace, nothing written
    changed = {**trade, "quantity": trade["quantity"] * 2}
    path = _trade_csv(tmp_path / "changed.csv", changed)
    assert cli.main(["load", "trades", str(path), *as_of]) == 8
    err = capsys.readouterr().err
    assert f"line 2 ({trade['trade_id']}): trade_id '{trade['trade_id']}': already loaded " \
           f"with another quantity (trade date {dates[7].isoformat()}); --replace replaces it" \
           in err and "[exit 8 BAD_INPUT]" in err
    assert _rows(world, "trades") == before
    assert _mtm_dates(world) == dates

    # --replace: written, and MarkToMarket from the trade date on is to be recomputed
    assert cli.main(["load", "trades", str(path), "--replace", *as_of]) == 0
    out = capsys.readouterr().out
    assert f"replaced 1 trade(s) ({trade['trade_id']}): {MTM} from {dates[7].isoformat()} on " \
           "is stale (2 date(s) to recompute)" in out
    assert _mtm_dates(world) == dates[:7]
    stored = pd.DataFrame(_rows(world, "trades")).set_index("trade_id")
    assert stored.loc[trade["trade_id"], "quantity"] == trade["quantity"] * 2

    # the next run recomputes those dates with the replaced trade
    assert runner.build([MarkToMarket(date=dates[-1])]) == runner.ExitCode.OK
    assert _mtm_dates(world) == dates
    with world.engine.connect() as conn:
        held = conn.execute(sa.select(sa.func.sum(s.position_marks.c.quantity)).where(
            s.position_marks.c.business_date == dates[7],
            s.position_marks.c.instrument_id == trade["instrument_id"],
            s.position_marks.c.strategy_id == trade["strategy_id"])).scalar_one()
    assert held == pytest.approx(changed["quantity"] + float(trades[
        (trades["instrument_id"] == trade["instrument_id"])
        & (trades["strategy_id"] == trade["strategy_id"])
        & (trades["trade_date"] <= dates[7])
        & (trades["trade_id"] != trade["trade_id"])]["quantity"].sum()))

    # a replacement that moves the trade earlier is stale from the earlier date
    moved = _trade_csv(tmp_path / "moved.csv", {**changed, "trade_date": dates[5]})
    assert cli.main(["load", "trades", str(moved), "--replace", *as_of]) == 0
    assert _mtm_dates(world) == dates[:5]


# ---------------------------------------------------------------- what the loader accepts

def test_load_help_lists_every_table_and_its_columns(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["load", "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert "--dayfirst" in out and "--decimal-comma" in out and "--replace" in out
    for table in INPUT_TABLES:
        assert f"  {table}: " in out
    assert "trade_id*, trade_date*" in out and "cost_brl," in out  # * required


def test_describe_shows_type_required_and_units(capsys) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["load", "--describe", "cdi_fixings"])
    assert done.value.code == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "cdi_fixings: the CDI fixing per business day"
    assert lines[1].split() == ["column", "type", "required", "notes"]
    assert lines[2].split()[:5] == ["fixing_date", "(key)", "date", "YYYY-MM-DD", "yes"]
    assert "an ANBIMA business day" in lines[2] and "--as-of" in lines[2]
    assert lines[3].split()[:4] == ["rate", "decimal", "NUMERIC(14,", "10)"]
    assert "as a decimal: 0.1490 for 14.90 %" in lines[3]
    with pytest.raises(SystemExit) as done:
        cli.main(["load", "--describe"])  # every table
    out = capsys.readouterr().out
    assert all(f"{t}: " in out for t in INPUT_TABLES) and done.value.code == 0
    with pytest.raises(SystemExit) as done:
        cli.main(["load", "--describe", "prices"])
    assert done.value.code == 2 and "not an input table" in capsys.readouterr().err

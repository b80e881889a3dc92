"""The landing stage end to end, on both store pairs: the real B3 price report of 2025-02-03
(with BCB's CDI and PTAX) landed for a small fund holding real DI1, DOL and IND contracts,
ingested and reconciled by EndOfDay with provenance on every price; the same file again runs
nothing; a corrected file re-ingests and reruns downstream without duplicate rows; a file
not landed is missing data naming it on every entry point; a bad file is bad input and
writes nothing. Then ANBIMA's bonds of 2026-02-06 ingested and reconciled on their own.

One world per store pair for the module; the tests run in order, as an operator's days.
"""
from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import sqlalchemy as sa

from pms_luigi import ingest
from pms_luigi.cli.main import main
from pms_luigi.ops import runner
from pms_luigi.pipeline import context
from pms_luigi.pipeline.steps.ingest import IngestAnbimaTpf, IngestB3PriceReport
from pms_luigi.store import ingested
from pms_luigi.store import markers as mk
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from tests.conftest import BACKENDS, World, make_world

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
B3_FILE = DATA / "b3" / "SPRD250203.zip"
ANBIMA_FILE = DATA / "anbima" / "tpf_20260206.txt"
DAY = date(2025, 2, 3)  # the fund's inception: a Monday
PREV = date(2025, 1, 31)  # the CDI fixing DAY's correction factor compounds
NEXT = date(2025, 2, 4)
SOURCES = "b3_price_report,bcb_ptax,bcb_cdi"
EOD_FAMILIES = ("pms.IngestB3PriceReport", "pms.IngestBcbPtax", "pms.IngestBcbCdi",
                "pms.MarkToMarket", "pms.PerformanceAttribution", "pms.Reconcile")
#: The book: real contracts of the report, traded on inception day near their settlements.
TRADES = [("T1", "DI1F26", "RATES_BR_01", 200.0, 88090.00),
          ("T2", "DI1F27", "RATES_BR_01", -150.0, 76000.00),
          ("T3", "DOLH25", "FX_01", 20.0, 5850.0),
          ("T4", "INDG25", "EQ_01", -30.0, 126000.0)]


def _fund() -> dict[str, pd.DataFrame]:
    """The fund, its strategies and trades, the held contracts' instruments and the USDBRL
    close of the day (risk's FX factor reads the close, which no landed source carries:
    synthetic, loaded by hand beside the landed files)."""
    strategies = pd.DataFrame([
        ("RATES_BR_01", "DI carry", "RATES", ["carry"], True),
        ("FX_01", "USD directional", "FX", ["macro-discretionary"], False),
        ("EQ_01", "Ibovespa", "EQUITY", ["momentum"], True)],
        columns=["strategy_id", "name", "asset_class", "factor_tags", "is_systematic"])
    trades = pd.DataFrame([(t, DAY, i, st, q, p, 0.0, "DISCRETIONARY")
                           for t, i, st, q, p in TRADES],
                          columns=["trade_id", "trade_date", "instrument_id", "strategy_id",
                                   "quantity", "price", "cost_brl", "source"])
    return {"fund": pd.DataFrame([("default", "Landing FIM", DAY, 100_000_000.0)],
                                 columns=["fund_id", "name", "inception_date", "initial_nav"]),
            "instruments": ingest.futures_instruments([t[1] for t in TRADES], DAY),
            "strategies": strategies, "trades": trades,
            "fx_fixings": pd.DataFrame([(DAY, "USDBRL", "CLOSE", 5.8350)],
                                       columns=["fixing_date", "pair", "kind", "rate"])}


@pytest.fixture(scope="module", params=BACKENDS)
def desk(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[tuple[World, Path]]:
    tmp = tmp_path_factory.mktemp("landing")
    with make_world(request.param, tmp) as w, pytest.MonkeyPatch.context() as mp:
        landing = tmp / "landing"
        mp.setenv("PMS_LANDING_DIR", str(landing))
        mp.setenv("PMS_INGEST_SOURCES", SOURCES)
        w.redis.ping()  # own the embedded server before any subprocess joins it
        load_inputs(w.engine, _fund())
        yield w, landing


def _land(landing: Path, source: str, on: date, name: str, content: bytes | Path) -> Path:
    folder = landing / source / on.isoformat()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(content, Path):
        shutil.copyfile(content, path)
    else:
        path.write_bytes(content)
    return path


def _land_day(landing: Path) -> None:
    _land(landing, "b3_price_report", DAY, "SPRD250203.zip", B3_FILE)
    _land(landing, "bcb_ptax", DAY, "ptax.json", DATA / "ingest" / "bcb_ptax_20250203.json")
    _land(landing, "bcb_cdi", PREV, "cdi.json", DATA / "ingest" / "bcb_sgs_12_cdi_20250131.json")


def _rows(w: World, stmt: sa.Select) -> list[tuple]:
    with w.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt)]


def _count(w: World, tbl: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with w.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(tbl).where(*where)
                            ).scalar_one()


def _run_ids(w: World, on: date = DAY) -> dict[str, str]:
    with w.engine.connect() as conn:
        return {f: m.run_id for f in EOD_FAMILIES
                for m in mk.read_markers(conn, f, [PREV if f == "pms.IngestBcbCdi" else on]
                                         ).values()}


def ingest_sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _report() -> ingest.PriceReport:
    return ingest.read_price_report(B3_FILE.read_bytes(), B3_FILE.name, expected_date=DAY)


def test_landed_files_run_the_end_of_day_with_provenance_on_every_price(desk) -> None:
    w, landing = desk
    _land_day(landing)
    assert runner.run_kind("eod", DAY) == runner.ExitCode.OK
    assert set(_run_ids(w)) == set(EOD_FAMILIES)
    with w.engine.connect() as conn:
        prices = ingested.provenance(conn, s.market_prices, DAY)
        files = ingested.files_on(conn, DAY)
        cdi = ingested.provenance(conn, s.cdi_fixings, PREV)
        fx = ingested.provenance(conn, s.fx_fixings, DAY)
    sha = ingest_sha(B3_FILE)
    assert len(prices) == 168 and prices["ingest_id"].notna().all()  # 206 futures - 38 FRC
    assert set(prices["file_name"]) == {"SPRD250203.zip"} and set(prices["sha256"]) == {sha}
    b3 = files.set_index("source").loc["b3_price_report"]
    assert (b3["file_name"], b3["sha256"], b3["size_bytes"]) == (
        "SPRD250203.zip", sha, B3_FILE.stat().st_size)
    assert b3["counts"]["messages"] == 2275
    assert b3["counts"]["kinds"] == {"future": 206, "other_future": 447, "option": 1553,
                                     "other": 69}
    assert b3["counts"]["futures"] == {"DAP": 21, "DDI": 39, "DI1": 39, "DOL": 25, "FRC": 38,
                                       "IND": 12, "WDO": 20, "WIN": 12}
    assert b3["counts"]["rows"] == {"market_prices": 168, "instruments": 168}
    assert b3["run_id"] == _run_ids(w)["pms.IngestB3PriceReport"]
    assert cdi[["rate", "file_source"]].values.tolist() == [[0.1315, "bcb_cdi"]]
    by_kind = fx.set_index("kind")
    assert by_kind.loc["PTAX", ["rate", "file_source"]].tolist() == [5.8269, "bcb_ptax"]
    assert pd.isna(by_kind.loc["CLOSE", "file_source"])  # loaded by hand, beside the files
    # DOL, WDO, IND and WIN as published; every contract kept, held or not
    published = _report().settlements.set_index("ticker")["price"]
    stored = prices.set_index("instrument_id")["price"]
    flat = [t for t in stored.index if t[:3] in ("DOL", "WDO", "IND", "WIN")]
    assert len(flat) == 69 and (stored[flat] == published[flat]).all()
    assert _count(w, s.instruments) == 168
    assert _count(w, s.position_marks, s.position_marks.c.business_date == DAY) == 4


def test_the_reconciliation_finds_every_di1_ddi_and_dap_its_rates(desk) -> None:
    w, _ = desk
    with w.engine.connect() as conn:
        meta = mk.read_markers(conn, "pms.Reconcile", [DAY])[DAY].metadata
    assert meta["by_type"] == {"DAP": {"checked": 21, "off": 0},
                               "DDI": {"checked": 39, "off": 0},
                               "DI1": {"checked": 39, "off": 0}}
    assert meta["findings"] == 0
    assert _count(w, s.data_quality_issues, s.data_quality_issues.c.step == "pms.Reconcile") == 0


def test_the_same_file_landed_again_runs_nothing(desk) -> None:
    w, landing = desk
    before = _run_ids(w), _count(w, s.task_runs)
    _land_day(landing)  # written again: same bytes, new modification time
    assert runner.run_kind("eod", DAY) == runner.ExitCode.OK
    assert (_run_ids(w), _count(w, s.task_runs)) == before


def _corrected(price: bytes) -> bytes:
    """The report with DI1F26's settlement PU replaced (a publisher's correction)."""
    with zipfile.ZipFile(B3_FILE) as archive:
        member = archive.namelist()[0]
        xml = archive.read(member)
    at = xml.index(b"<TckrSymb>DI1F26</TckrSymb>")
    xml = xml[:at] + xml[at:].replace(b">88093.23</AdjstdQt>", b">" + price + b"</AdjstdQt>", 1)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, xml)
    return out.getvalue()


def test_a_corrected_file_reingests_and_reruns_downstream_without_duplicates(desk) -> None:
    w, landing = desk
    before = _run_ids(w)
    counts = {t.name: _count(w, t) for t in (s.market_prices, s.instruments, s.position_marks,
                                             s.book_snapshots, s.attribution)}
    nav = _rows(w, sa.select(s.book_snapshots.c.nav_brl))
    path = _land(landing, "b3_price_report", DAY, "SPRD250203.zip", _corrected(b"88093.33"))
    assert runner.run_kind("eod", DAY) == runner.ExitCode.OK
    after = _run_ids(w)
    rerun = {f for f in EOD_FAMILIES if after[f] != before[f]}
    assert rerun == {"pms.IngestB3PriceReport", "pms.MarkToMarket",
                     "pms.PerformanceAttribution", "pms.Reconcile"}  # not PTAX nor CDI
    assert {t.name: _count(w, t) for t in (s.market_prices, s.instruments, s.position_marks,
                                           s.book_snapshots, s.attribution)} == counts
    with w.engine.connect() as conn:
        prices = ingested.provenance(conn, s.market_prices, DAY).set_index("instrument_id")
        files = ingested.files_on(conn, DAY)
    assert set(prices["sha256"]) == {ingest_sha(path)} and prices.loc["DI1F26", "price"] == \
        88093.33
    assert files[files["source"] == "b3_price_report"]["sha256"].tolist() == [
        ingest_sha(B3_FILE), ingest_sha(path)]  # the history of what landed
    # 200 long DI1F26 at 0.10 more: R$ 20 more NAV
    assert round(_rows(w, sa.select(s.book_snapshots.c.nav_brl))[0][0] - nav[0][0], 2) == 20.0
    issues = _rows(w, sa.select(s.data_quality_issues.c.instrument_id,
                                s.data_quality_issues.c.message).where(
        s.data_quality_issues.c.step == "pms.Reconcile"))
    assert [i for i, _ in issues] == ["DI1F26"]
    assert "published B3 price 88093.33" in issues[0][1] and "gives 88093.23" in issues[0][1]
    # the publisher's file again: the finding goes away, and the rows are the file's again
    _land(landing, "b3_price_report", DAY, "SPRD250203.zip", B3_FILE)
    assert runner.run_kind("eod", DAY) == runner.ExitCode.OK
    assert _count(w, s.data_quality_issues, s.data_quality_issues.c.step == "pms.Reconcile") == 0
    assert _rows(w, sa.select(s.book_snapshots.c.nav_brl)) == nav
    assert _count(w, s.market_prices) == counts["market_prices"]


def test_a_file_not_landed_is_missing_data_naming_it(desk, caplog) -> None:
    w, landing = desk
    _land(landing, "bcb_cdi", DAY, "cdi.json", DATA / "ingest" / "bcb_sgs_12_cdi_20250203.json")
    with caplog.at_level(logging.INFO):
        assert runner.run_kind("eod", NEXT) == runner.ExitCode.MISSING_DATA
    expected = landing / "b3_price_report" / NEXT.isoformat() / "SPRD250204.zip"
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any(f"{expected} has not landed" in line and "[exit 3 MISSING_DATA]" in line
               for line in lines), lines
    assert any("bcb_ptax" in line and "ptax.json has not landed" in line for line in lines)
    assert _count(w, s.task_markers, s.task_markers.c.business_date == NEXT) == 0
    with w.engine.connect() as conn:  # the CDI of the 3rd, which the 4th compounds, is in
        assert mk.read_markers(conn, "pms.IngestBcbCdi", [DAY])


@pytest.mark.parametrize("entry", ["pms-luigi run", "run_eod.sh", "luigi --module"])
def test_every_entry_point_says_which_file_is_missing(desk, entry: str) -> None:
    _, landing = desk
    commands = {
        "pms-luigi run": [sys.executable, "-m", "pms_luigi.cli", "run", "eod", "--date",
                          NEXT.isoformat()],
        "run_eod.sh": [str(REPO / "run_eod.sh"), "--date", NEXT.isoformat()],
        "luigi --module": [sys.executable, "-m", "luigi", "--module", "pms_luigi.tasks",
                           "pms.EndOfDay", "--date", NEXT.isoformat(), "--local-scheduler",
                           "--no-lock"]}
    env = {k: v for k, v in os.environ.items() if k not in ("PMS_FAULT", "PMS_SCHEDULER_URL")}
    proc = subprocess.run(commands[entry], cwd=REPO, capture_output=True, text=True,
                          timeout=300, env={**env, "PMS_PYTHON": sys.executable,
                                            "LUIGI_CONFIG_PATH": str(REPO / "luigi.cfg")})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 3, out
    errors = [line for line in out.splitlines() if " ERROR " in line]
    expected = landing / "b3_price_report" / NEXT.isoformat() / "SPRD250204.zip"
    assert any(f"{expected} has not landed" in line for line in errors), out
    assert all("[exit 3 MISSING_DATA]" in line for line in errors), errors
    assert "Traceback" not in out


def test_a_bad_file_is_bad_input_and_writes_nothing(desk) -> None:
    w, landing = desk
    text = (DATA / "ingest" / "bcb_ptax_20250203.json").read_bytes()
    _land(landing, "bcb_ptax", NEXT, "ptax.json", text)  # a PTAX of the 3rd in the 4th's folder
    _land(landing, "b3_price_report", NEXT, "SPRD250204.zip", B3_FILE.read_bytes()[:40_000])
    assert runner.run_kind("eod", NEXT) == runner.ExitCode.BAD_INPUT
    assert _count(w, s.ingested_files, s.ingested_files.c.business_date == NEXT) == 0
    assert _count(w, s.fx_fixings, s.fx_fixings.c.fixing_date == NEXT) == 0
    assert _count(w, s.market_prices, s.market_prices.c.price_date == NEXT) == 0
    with w.engine.connect() as conn:
        failed = conn.execute(sa.select(s.task_runs.c.family, s.task_runs.c.error).where(
            s.task_runs.c.business_date == NEXT, s.task_runs.c.status == "FAILED")).all()
    errors = dict(failed)
    assert "expected 2025-02-04" in errors["pms.IngestBcbPtax"]
    assert "SPRD250204.zip" in errors["pms.IngestB3PriceReport"]


def _moved(on: date, price: bytes = b"88093.23") -> bytes:
    """The report (DI1F26 at ``price``) dated ``on`` instead: synthetic, for a second day."""
    with zipfile.ZipFile(io.BytesIO(_corrected(price))) as archive:
        member = archive.namelist()[0]
        xml = archive.read(member).replace(b"<Dt>2025-02-03</Dt>",
                                           f"<Dt>{on.isoformat()}</Dt>".encode())
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, xml)
    return out.getvalue()


def test_a_corrected_file_of_an_earlier_date_reruns_the_chain_from_it(desk) -> None:
    """The next day's run walks the MTM chain back: a correction landed for the day before
    re-ingests it and remarks both days (the 4th's files are the 3rd's, moved: synthetic)."""
    w, landing = desk
    ptax = (DATA / "ingest" / "bcb_ptax_20250203.json").read_bytes()
    _land(landing, "bcb_ptax", NEXT, "ptax.json", ptax.replace(b"2025-02-03", b"2025-02-04"))
    _land(landing, "b3_price_report", NEXT, "SPRD250204.zip", _moved(NEXT))
    load_inputs(w.engine, {"fx_fixings": pd.DataFrame([(NEXT, "USDBRL", "CLOSE", 5.8350)],
                                                      columns=["fixing_date", "pair", "kind",
                                                               "rate"])})
    assert runner.run_kind("eod", NEXT) == runner.ExitCode.OK
    first, second = _run_ids(w), _run_ids(w, NEXT)
    _land(landing, "b3_price_report", DAY, "SPRD250203.zip", _corrected(b"88093.43"))
    assert runner.run_kind("eod", NEXT) == runner.ExitCode.OK
    again, later = _run_ids(w), _run_ids(w, NEXT)
    assert {f for f in EOD_FAMILIES if again[f] != first[f]} == {
        "pms.IngestB3PriceReport", "pms.MarkToMarket"}
    assert {f for f in EOD_FAMILIES if later[f] != second[f]} == {
        "pms.MarkToMarket", "pms.PerformanceAttribution"}  # the 4th's files did not change
    # the 3rd's attribution and reconciliation: stale until the 3rd's end-of-day runs
    assert runner.run_kind("eod", DAY) == runner.ExitCode.OK
    assert {f for f in EOD_FAMILIES if _run_ids(w)[f] != again[f]} == {
        "pms.PerformanceAttribution", "pms.Reconcile"}
    dq = s.data_quality_issues
    assert _rows(w, sa.select(dq.c.instrument_id).where(
        dq.c.step == "pms.Reconcile", dq.c.business_date == DAY)) == [("DI1F26",)]
    assert _count(w, s.market_prices, s.market_prices.c.price_date == DAY) == 168
    # the moved report's PUs are the 3rd's: a day's count short of their rates on the 4th,
    # every DI1, DDI and DAP a finding (what a file of another day looks like)
    assert _count(w, dq, dq.c.step == "pms.Reconcile", dq.c.business_date == NEXT) == 99


def test_anbima_bonds_ingested_and_reconciled_on_their_own(desk, monkeypatch, capsys) -> None:
    w, landing = desk
    on = date(2026, 2, 6)
    monkeypatch.setenv("PMS_INGEST_SOURCES", "anbima_tpf")
    context.forget()  # the environment's context reads [pms_ingest] once
    _land(landing, "anbima_tpf", on, "tpf_20260206.txt", ANBIMA_FILE)
    assert main(["ingest", "--date", on.isoformat()]) == 0
    assert "vna.implied=4596.158793" in capsys.readouterr().out
    assert main(["reconcile", "--date", on.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "34 prices checked against their rates, 0 off" in out
    assert "NTN-B VNA 4596.158793 (loaded from tpf_20260206.txt)" in out
    assert "17 without a rule" in out
    with w.engine.connect() as conn:
        vna = ingested.provenance(conn, s.vna, on)
        prices = ingested.provenance(conn, s.market_prices, on)
    assert vna[["value", "file_name"]].values.tolist() == [[4596.158793, "tpf_20260206.txt"]]
    assert len(prices) == 51 and set(prices["file_source"]) == {"anbima_tpf"}
    # a VNA loaded by hand is kept, and the reconciliation holds the bonds against it
    load_inputs(w.engine, {"vna": pd.DataFrame([(on, "NTNB", 4596.16)],
                                               columns=["ref_date", "index_name", "value"])})
    with w.engine.begin() as conn:
        mk.delete_markers(conn, IngestAnbimaTpf.family(), [on])
    assert runner.build([IngestAnbimaTpf(date=on)]) == runner.ExitCode.OK
    assert _rows(w, sa.select(s.vna.c.value, s.vna.c.ingest_id).where(
        s.vna.c.ref_date == on)) == [(4596.16, None)]
    with w.engine.connect() as conn:
        counts = ingested.files_on(conn, on)["counts"].iloc[-1]
    assert counts["vna"] == {"implied": 4596.158793, "ntnb_rows": 15, "written": False,
                             "loaded_by_hand": True} and counts["rows"]["vna"] == 0
    assert main(["reconcile", "--date", on.isoformat()]) == runner.ExitCode.BAD_INPUT
    out = capsys.readouterr().out
    assert "NTN-B VNA 4596.160000 (loaded by hand)" in out
    assert "15 price(s) off their rate" in out
    # nothing landed for B3 that day
    assert IngestB3PriceReport.input_digest(on, context.current()) is None


def test_which_files_a_date_needs(monkeypatch, tmp_path) -> None:
    """Per source: the report of D on a B3 session only, the bonds and PTAX of D, the CDI of
    the business day before; nothing before ``from_date`` or without sources; names as
    published; an unknown source refused by name."""
    from pms_luigi.core.errors import BadRequest
    from pms_luigi.pipeline import context, landing
    from pms_luigi.pipeline.steps.ingest import steps_for
    from pms_luigi.pipeline.steps.reconcile import Reconcile

    def fed(sources: str, start: str = "") -> landing.Landing:
        monkeypatch.setenv("PMS_INGEST_SOURCES", sources)
        monkeypatch.setenv("PMS_INGEST_FROM", start)
        context.forget()  # settings are read once per context
        return landing.Landing.from_config()

    monkeypatch.setenv("PMS_LANDING_DIR", str(tmp_path))
    assert fed("").needed(DAY) == [] and steps_for(DAY, fed("")) == []
    every = fed("b3_price_report anbima_tpf,bcb_ptax, bcb_cdi")
    assert [(src.name, d, src.file_name(d)) for src, d in every.needed(DAY)] == [
        ("b3_price_report", DAY, "SPRD250203.zip"), ("anbima_tpf", DAY, "tpf_20250203.txt"),
        ("bcb_ptax", DAY, "ptax.json"), ("bcb_cdi", PREV, "cdi.json")]
    christmas_eve = date(2025, 12, 24)  # an ANBIMA business day, B3 closed
    assert [src.name for src, _ in every.needed(christmas_eve)] == [
        "anbima_tpf", "bcb_ptax", "bcb_cdi"]
    fed("b3_price_report,bcb_ptax,bcb_cdi")
    closed = Reconcile(date=christmas_eve)  # no price file that day: nothing to wait for
    assert closed.upstream_for(christmas_eve, context.current()) == []
    assert closed.external_requires() == []
    assert [t.task_family for t in Reconcile(date=DAY).requires()] == [
        "pms.IngestB3PriceReport"]
    assert every.path("bcb_cdi", PREV) == tmp_path / "bcb_cdi" / "2025-01-31" / "cdi.json"
    later = fed("b3_price_report anbima_tpf,bcb_ptax, bcb_cdi", NEXT.isoformat())
    assert later.needed(DAY) == [] and len(later.needed(NEXT)) == 4
    with pytest.raises(BadRequest, match=r"unknown source\(s\) cotahist; known: b3_price_report"):
        fed("b3_price_report,cotahist")

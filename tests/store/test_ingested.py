"""store.ingested on both store pairs: a file's rows replace what the source's earlier file of
the date wrote (never appended, a dropped row removed), a manual row of the same key gives
way and the others stay, other sources and dates are untouched, and every row names its
file."""
from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa

from pms_luigi import ingest
from pms_luigi.store import ingested
from pms_luigi.store import schema as s
from pms_luigi.store.loader import load_inputs
from pms_luigi.store.writers import upsert_frame

DAY = date(2025, 2, 3)
IDS = ["DI1F26", "DI1F27", "DOLH25", "INDG25"]


def _prices(ids: list[str], price: float) -> pd.DataFrame:
    return pd.DataFrame({"price_date": DAY, "instrument_id": ids, "price": price,
                         "rate": None, "source": "B3"})


def _write(conn: sa.Connection, source: str, sha: str, frame: pd.DataFrame,
           on: date = DAY) -> int:
    ingest_id = ingested.record(conn, source=source, on=on, file_name=f"{source}.bin",
                                sha256=sha, size_bytes=10, run_id=f"run-{sha[:8]}",
                                counts={"rows": len(frame)})
    ingested.replace_rows(conn, s.market_prices, source=source, on=on, frame=frame,
                          ingest_id=ingest_id)
    return ingest_id


def test_a_file_replaces_its_sources_rows_of_the_date(world) -> None:
    engine = world.engine
    with engine.begin() as conn:
        upsert_frame(conn, s.instruments, ingest.futures_instruments(IDS, DAY))
    load_inputs(engine, {"market_prices": _prices(["INDG25", "DOLH25"], 1.0)})  # by hand
    with engine.begin() as conn:
        first = _write(conn, "b3_price_report", "a" * 64, _prices(IDS[:3], 2.0))
    with engine.connect() as conn:
        rows = ingested.provenance(conn, s.market_prices, DAY).set_index("instrument_id")
    assert rows["ingest_id"].fillna(0).astype(int).to_dict() == {
        "DI1F26": first, "DI1F27": first, "DOLH25": first, "INDG25": 0}  # 0: NULL, by hand
    assert rows.loc["DOLH25", "price"] == 2.0 and rows.loc["INDG25", "price"] == 1.0
    with engine.begin() as conn:  # the corrected file drops DI1F27
        second = _write(conn, "b3_price_report", "b" * 64, _prices(["DI1F26", "DOLH25"], 3.0))
        _write(conn, "other_source", "c" * 64, _prices(["DI1F27"], 9.0), on=DAY)
    with engine.connect() as conn:
        rows = ingested.provenance(conn, s.market_prices, DAY).set_index("instrument_id")
        files = ingested.files_on(conn, DAY)
    assert rows["price"].to_dict() == {"DI1F26": 3.0, "DOLH25": 3.0, "INDG25": 1.0,
                                       "DI1F27": 9.0}
    assert rows.loc["DI1F26", ["ingest_id", "sha256", "file_source"]].tolist() == [
        second, "b" * 64, "b3_price_report"]
    assert files["sha256"].tolist() == ["a" * 64, "b" * 64, "c" * 64]  # the history kept
    assert files.loc[0, "counts"] == {"rows": 3}
    with engine.connect() as conn:
        assert ingested.loaded_by_hand(conn, s.market_prices, DAY)["instrument_id"].tolist() \
            == ["INDG25"]


def test_a_table_keyed_by_date_alone_and_an_empty_file(world) -> None:
    engine = world.engine
    load_inputs(engine, {"cdi_fixings": pd.DataFrame({"fixing_date": [DAY], "rate": [0.13]})})
    with engine.begin() as conn:
        one = ingested.record(conn, source="bcb_cdi", on=DAY, file_name="cdi.json",
                              sha256="d" * 64, size_bytes=1, run_id="r", counts={})
        ingested.replace_rows(conn, s.cdi_fixings, source="bcb_cdi", on=DAY, frame=pd.DataFrame(
            {"fixing_date": [DAY], "rate": [0.1315]}), ingest_id=one)
    with engine.connect() as conn:
        assert ingested.provenance(conn, s.cdi_fixings, DAY)[["rate", "ingest_id"]].values \
            .tolist() == [[0.1315, one]]
    with engine.begin() as conn:  # a file that writes nothing removes what its source wrote
        two = ingested.record(conn, source="bcb_cdi", on=DAY, file_name="cdi.json",
                              sha256="e" * 64, size_bytes=1, run_id="r2", counts={})
        assert ingested.replace_rows(conn, s.cdi_fixings, source="bcb_cdi", on=DAY,
                                     frame=pd.DataFrame(columns=["fixing_date", "rate"]),
                                     ingest_id=two) == 0
    with engine.connect() as conn:
        assert ingested.provenance(conn, s.cdi_fixings, DAY).empty
        assert ingested.prices_missing(conn, DAY) == [f"market_prices: no price dated {DAY}"]

"""B3's price report of 2025-02-03 (the real SPRD250203.zip): counts of every kind, every
kept future's settlement, values read by hand from the XML, and the projections."""
from __future__ import annotations

import io
import zipfile
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar as cal
from pms_luigi.core.pricing.ddi import ddi_pu
from pms_luigi.core.pricing.di1 import di1_pu
from pms_luigi.ingest import b3_price_report, futures_instruments, read_price_report
from tests.unit.ingest.builders import B3_FILE, DI1F26, DOLH25, price_report_xml

DAY = date(2025, 2, 3)


@pytest.fixture(scope="module")
def report() -> b3_price_report.PriceReport:
    with B3_FILE.open("rb") as handle:
        return read_price_report(handle, B3_FILE.name, expected_date=DAY)


def test_header_and_counts_of_every_kind(report) -> None:
    assert report.trade_date == DAY
    assert report.member == "BVBG.187.01_BV000471202502030001000071931374000.xml"
    assert report.messages == 2275
    assert report.totals() == {"future": 206, "other_future": 447, "option": 1553,
                               "other": 69}
    counts = report.counts.set_index(["kind", "family"])["count"]
    assert counts["future"].to_dict() == {"DAP": 21, "DDI": 39, "DI1": 39, "DOL": 25,
                                          "FRC": 38, "IND": 12, "WDO": 20, "WIN": 12}
    assert counts["option", "DOL"] == 497 and counts["option", "IDI"] == 401
    assert counts["option", "WDO"] == 50
    assert counts["other_future", "DCO"] == 39 and counts["other_future", "PETRP"] == 2
    assert counts["other", "DII"] == 44 and counts["other", "FRP"] == 2
    assert int(report.counts["count"].sum()) == report.messages


def test_settlements_are_typed(report) -> None:
    s = report.settlements
    assert list(s.columns) == ["message", "ticker", "family", "maturity_code", "trade_date",
                               "price", "rate", "previous_price", "previous_rate",
                               "open_interest", "status"]
    assert s["ticker"].is_unique and len(s) == 206
    assert set(s["trade_date"]) == {DAY}
    assert (s["family"] + s["maturity_code"] == s["ticker"]).all()
    assert str(s["open_interest"].dtype) == "Int64"
    assert set(s["status"]) == {"F"}


def test_every_di1_has_rate_and_pu_consistent_to_the_centavo(report) -> None:
    di1 = report.settlements[report.settlements["family"] == "DI1"]
    assert len(di1) == 39
    assert di1[["price", "rate"]].notna().all().all()
    assert ((di1["price"] > 0) & (di1["price"] <= 100_000)).all()
    assert di1["rate"].between(0.10, 0.20).all()  # decimals, not percent
    # The published PU is the published rate's PU over the du to maturity, to the centavo.
    mats = futures_instruments(di1["ticker"], DAY).set_index("instrument_id")["maturity_date"]
    du = cal.du(np.full(len(di1), np.datetime64(DAY)),
                np.array(mats[di1["ticker"]].tolist(), dtype="datetime64[D]"))
    assert np.abs(np.round(di1_pu(di1["rate"].to_numpy(), du), 2)
                  - di1["price"].to_numpy()).max() < 1e-6


def test_ddi_pu_is_its_linear_rate_over_calendar_days(report) -> None:
    ddi = report.settlements[report.settlements["family"] == "DDI"]
    assert len(ddi) == 39 and ddi[["price", "rate"]].notna().all().all()
    mats = futures_instruments(ddi["ticker"], DAY).set_index("instrument_id")["maturity_date"]
    dc = (np.array(mats[ddi["ticker"]].tolist(), dtype="datetime64[D]")
          - np.datetime64(DAY)).astype(int)
    assert np.abs(np.round(ddi_pu(ddi["rate"].to_numpy(), dc), 2)
                  - ddi["price"].to_numpy()).max() < 1e-6


@pytest.mark.parametrize(("ticker", "price", "rate", "previous_price", "previous_rate"), [
    # read by hand from the XML
    ("DI1F26", 88093.23, 0.14901, 88082.94, 0.14916),
    ("DI1F40", 13788.05, 0.14303, 13445.19, 0.14497),
    ("DDIF26", 94824.10, 0.05901, 95271.02, 0.05366),
    ("DAPH25", 100359.6, -0.03179, 100374.5, -0.03308),
    ("DOLH25", 5847.377, None, 5872.103, None),
    ("WDOH25", 5847.377, None, 5872.103, None),
    ("INDG25", 126227.0, None, 126665.0, None),
    ("WINZ26", 158832.0, None, 159618.0, None),
    ("FRCF26", None, 0.0563, None, 0.0557),
    ("DI1G26", 87034.16, 0.14961, None, None),  # listed that day: no previous settlement
])
def test_settlements_as_published(report, ticker, price, rate, previous_price,
                                  previous_rate) -> None:
    row = report.settlements.set_index("ticker").loc[ticker]
    for column, want in (("price", price), ("rate", rate), ("previous_price", previous_price),
                         ("previous_rate", previous_rate)):
        assert (pd.isna(row[column]) if want is None else row[column] == want), (column,
                                                                                 row[column])


def test_dol_and_wdo_settle_alike(report) -> None:
    s = report.settlements.set_index("ticker")
    wdo = s[s["family"] == "WDO"]
    dol = s.loc["DOL" + wdo["maturity_code"], "price"].to_numpy()
    assert (wdo["price"].to_numpy() == dol).all()


def test_market_prices_leave_out_the_rate_only_frc(report) -> None:
    prices = b3_price_report.market_prices(report)
    assert list(prices.columns) == ["price_date", "instrument_id", "price", "rate", "source"]
    assert len(prices) == 206 - 38 and not prices["instrument_id"].str.startswith("FRC").any()
    assert (prices["source"] == "B3").all() and (prices["price"] > 0).all()


def test_the_xml_itself_and_bytes_read_alike(report) -> None:
    with zipfile.ZipFile(B3_FILE) as archive:
        xml = archive.read(report.member)
    from_xml = read_price_report(io.BytesIO(xml), report.member)
    from_bytes = read_price_report(B3_FILE.read_bytes(), B3_FILE.name)
    pd.testing.assert_frame_equal(from_xml.settlements, report.settlements)
    pd.testing.assert_frame_equal(from_bytes.counts, report.counts)


class _Pipe(io.BytesIO):
    """A stream that cannot seek, as a pipe or a socket."""

    def seekable(self) -> bool:
        return False


def test_a_stream_that_cannot_seek(report) -> None:
    piped = read_price_report(_Pipe(B3_FILE.read_bytes()), B3_FILE.name)
    pd.testing.assert_frame_equal(piped.settlements, report.settlements)


def test_a_small_report() -> None:
    report = read_price_report(price_report_xml([DI1F26, DOLH25]), "small.xml")
    s = report.settlements
    assert s["ticker"].tolist() == ["DI1F26", "DOLH25"] and s["message"].tolist() == [1, 2]
    assert s["price"].tolist() == [88093.23, 5847.377]
    assert s["rate"].iloc[0] == 0.14901 and np.isnan(s["rate"].iloc[1])
    assert report.totals() == {"future": 2, "other_future": 0, "option": 0, "other": 0}

"""B3's COTAHIST daily file, on a fixture written from the published layout."""
from __future__ import annotations

from datetime import date

from pms_luigi.ingest import cotahist, read_cotahist
from tests.unit.ingest.builders import (
    COTAHIST_QUOTES,
    FIXTURES,
    cotahist_file,
    cotahist_record,
    fixture_cotahist,
)

FILE = FIXTURES / "COTAHIST_D03022025.TXT"


def test_the_fixture_is_the_layout_builders_output() -> None:
    assert FILE.read_bytes() == fixture_cotahist()
    assert {len(line) for line in FILE.read_bytes().split(b"\r\n")[:-1]} == {245}


def test_lot_market_closes_and_counts() -> None:
    with FILE.open("rb") as handle:
        c = read_cotahist(handle, FILE.name, expected_date=date(2025, 2, 3))
    assert c.trade_date == date(2025, 2, 3)
    q = c.quotes.set_index("ticker")
    assert list(q.index) == ["PETR4", "VALE3", "BOVA11", "ABCD3"]
    assert q.loc["PETR4", ["open", "high", "low", "average", "close"]].tolist() == [
        37.90, 38.31, 37.72, 38.03, 38.12]
    assert (q.loc["PETR4", "trades"], q.loc["PETR4", "quantity"]) == (41250, 38_512_300)
    assert q.loc["PETR4", "volume"] == 1_464_622_769.00
    assert (q.loc["VALE3", "spec"], q.loc["BOVA11", "bdi"]) == ("ON      NM", "14")
    assert q.loc["PETR4", "isin"] == "BRPETRACNPR6" and q.loc["PETR4", "line"] == 2
    # quoted per 1,000 shares: the price per share divides by FATCOT
    assert (q.loc["ABCD3", "close"], q.loc["ABCD3", "factor"], q.loc["ABCD3", "price"]) == (
        2520.00, 1000, 2.52)
    assert c.counts.to_dict("records") == [
        {"market": "010", "name": "cash", "kept": True, "count": 4},
        {"market": "020", "name": "odd lot", "kept": False, "count": 1},
        {"market": "070", "name": "calls", "kept": False, "count": 1},
        {"market": "080", "name": "puts", "kept": False, "count": 1}]


def test_market_prices_per_share() -> None:
    prices = cotahist.market_prices(read_cotahist(FILE.read_bytes(), FILE.name))
    assert prices.set_index("instrument_id")["price"].to_dict() == {
        "PETR4": 38.12, "VALE3": 55.49, "BOVA11": 121.02, "ABCD3": 2.52}
    assert prices["rate"].isna().all() and (prices["source"] == "B3").all()


def test_lf_line_ends_read_alike() -> None:
    data = cotahist_file([cotahist_record(**q) for q in COTAHIST_QUOTES], newline="\n")
    assert read_cotahist(data, "lf.txt").quotes.equals(read_cotahist(FILE.read_bytes(),
                                                                     FILE.name).quotes)

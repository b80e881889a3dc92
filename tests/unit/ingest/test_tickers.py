"""Instruments from real codes: B3 futures tickers (every month letter, holiday month starts,
IND/WIN Wednesdays, DAP 15ths) and ANBIMA's bonds, in the demo's conventions."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput
from pms_luigi.demo.reference import load_reference
from pms_luigi.ingest import futures_instruments, read_price_report, tickers
from pms_luigi.ingest.tickers import INSTRUMENT_COLUMNS, futures_maturities, split_tickers
from tests.unit.ingest.builders import B3_FILE

CONFIG = B3_FILE.parents[3] / "config"


def _maturity(ticker: str) -> date:
    return futures_instruments([ticker], date(2025, 1, 2)).iloc[0]["maturity_date"]


@pytest.mark.parametrize(("letter", "maturity"), [
    # DI1 of 2026, first business day of each month (the demo's WDO 2026 chain agrees)
    ("F", date(2026, 1, 2)), ("G", date(2026, 2, 2)), ("H", date(2026, 3, 2)),
    ("J", date(2026, 4, 1)), ("K", date(2026, 5, 4)), ("M", date(2026, 6, 1)),
    ("N", date(2026, 7, 1)), ("Q", date(2026, 8, 3)), ("U", date(2026, 9, 1)),
    ("V", date(2026, 10, 1)), ("X", date(2026, 11, 3)), ("Z", date(2026, 12, 1)),
])
def test_every_month_letter(letter, maturity) -> None:
    for family in ("DI1", "DDI", "FRC", "DOL", "WDO"):
        assert _maturity(f"{family}{letter}26") == maturity


@pytest.mark.parametrize(("ticker", "maturity", "why"), [
    ("DI1F27", date(2027, 1, 4), "1 Jan holiday, 2-3 a weekend"),
    ("DI1K25", date(2025, 5, 2), "1 May 2025 (Thursday) Labour Day"),
    ("DOLX26", date(2026, 11, 3), "1 Nov a Sunday, 2 Nov All Souls"),
    ("DDIJ22", date(2022, 4, 1), "a plain Friday"),
])
def test_a_holiday_month_start_rolls_to_the_first_session(ticker, maturity, why) -> None:
    assert _maturity(ticker) == maturity, why


@pytest.mark.parametrize(("ticker", "maturity"), [
    ("INDG25", date(2025, 2, 12)),  # 15th a Saturday: Wednesday before (3 days) beats after
    ("INDJ25", date(2025, 4, 16)),  # 15th a Tuesday
    ("WINM25", date(2025, 6, 18)),  # 15th a Sunday: the Wednesday after (3 days)
    ("WINQ25", date(2025, 8, 13)),  # 15th a Friday
    ("INDV25", date(2025, 10, 15)),  # 15th a Wednesday
    ("INDZ25", date(2025, 12, 17)),
    ("INDG26", date(2026, 2, 18)),
    ("INDV22", date(2022, 10, 13)),  # Wednesday 12 Oct a holiday: the next session
    ("WINV33", date(2033, 10, 13)),
])
def test_ind_and_win_expire_on_the_wednesday_nearest_the_15th(ticker, maturity) -> None:
    assert _maturity(ticker) == maturity


@pytest.mark.parametrize(("ticker", "maturity"), [
    ("DAPK25", date(2025, 5, 15)), ("DAPQ26", date(2026, 8, 17)),  # 15th a Saturday
    ("DAPX24", date(2024, 11, 18)),  # 15th a holiday, then a weekend
    ("DAPM28", date(2028, 6, 16)),  # Corpus Christi
])
def test_dap_matures_on_the_15th_or_the_next_session(ticker, maturity) -> None:
    assert _maturity(ticker) == maturity


def test_first_session_of_a_month_is_its_first_anbima_business_day() -> None:
    years = np.repeat(np.arange(2000, 2100), 12)
    months = np.tile(np.arange(1, 13), 100)
    got = futures_maturities(np.full(len(years), "DI1"), years, months)
    want = [cal.first_business_day_of_month(int(y), int(m)) for y, m in zip(years, months,
                                                                              strict=True)]
    assert got.tolist() == want


def test_the_demo_config_instruments_are_reproduced() -> None:
    config = load_reference(CONFIG)["instruments"]
    futures = config[config["instrument_type"].isin(list(tickers.FUTURES_SPECS))]
    built = futures_instruments(futures["instrument_id"], date(2026, 12, 4))
    assert list(built.columns) == list(INSTRUMENT_COLUMNS)
    columns = [c for c in INSTRUMENT_COLUMNS if c != "is_active"]
    pd.testing.assert_frame_equal(built[columns], futures[columns].reset_index(drop=True))


def test_every_future_of_the_real_file_is_an_instrument() -> None:
    report = read_price_report(B3_FILE.read_bytes(), B3_FILE.name)
    inst = futures_instruments(report.settlements["ticker"], report.trade_date)
    assert len(inst) == 206 and inst["instrument_id"].is_unique
    assert inst["is_active"].all()  # every listed contract matures after the trade date
    assert inst.groupby("instrument_type")["contract_size"].first().to_dict() == {
        "DAP": 0.00025, "DDI": 0.5, "DI1": 1.0, "DOL": 50.0, "FRC": 0.5, "IND": 1.0,
        "WDO": 10.0, "WIN": 0.2}
    row = inst.set_index("instrument_id").loc["DI1F40"]
    assert (row["name"], row["maturity_date"]) == (
        "DI1 Jan/2040 (one-day interbank deposit future)", date(2040, 1, 2))


def test_is_active_is_maturity_after_the_date() -> None:
    inst = futures_instruments(["WDOH25", "WDOG25"], date(2025, 2, 3)).set_index(
        "instrument_id")["is_active"]
    assert inst.to_dict() == {"WDOG25": False, "WDOH25": True}


@pytest.mark.parametrize(("ticker", "message"), [
    ("DI1I26", "month letter 'I' is not one of FGHJKMNQUVXZ"),
    ("INDH25", "IND matures in even months only"),
    ("ABCF26", "not <family><month letter><yy> of a family read"),
    ("DI1F2026", "not <family><month letter><yy>"),
])
def test_bad_tickers(ticker, message) -> None:
    with pytest.raises(InvalidInput, match=message) as caught:
        split_tickers([ticker])
    assert caught.value.row == ticker and ticker in str(caught.value)


def test_two_bonds_with_one_id_are_refused() -> None:
    bonds = pd.DataFrame({"bond_type": ["NTNB", "NTNB"],
                          "maturity": [date(2035, 5, 15), date(2035, 8, 15)]})
    with pytest.raises(InvalidInput, match="'NTNB_2035' would name two bonds"):
        tickers.bond_instruments(bonds, date(2026, 2, 6))

"""Reconciliation (pms_luigi.core.reconcile) on the real published files: B3's price report of
2025-02-03 and ANBIMA's government bonds of 2026-02-06, every price recomputed from its
rate; then broken prices, another VNA and a 2023 price date (the count of that day)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi import ingest
from pms_luigi.core import calendar as cal
from pms_luigi.core import reconcile
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.pricing import di1_pu, ntnb_pu
from tests.unit.ingest.builders import ANBIMA_FILE, B3_FILE

B3_DAY = date(2025, 2, 3)
ANBIMA_DAY = date(2026, 2, 6)
#: The VNA ANBIMA's NTN-B rows of 2026-02-06 imply (tests/unit/ingest/test_anbima_tpf.py).
VNA = 4596.158793


@pytest.fixture(scope="module")
def b3() -> tuple[pd.DataFrame, pd.DataFrame]:
    report = ingest.read_price_report(B3_FILE.read_bytes(), B3_FILE.name,
                                      expected_date=B3_DAY)
    prices = ingest.b3_price_report.market_prices(report)
    return prices, ingest.futures_instruments(prices["instrument_id"], B3_DAY)


@pytest.fixture(scope="module")
def anbima() -> tuple[pd.DataFrame, pd.DataFrame, ingest.TpfFile]:
    tpf = ingest.read_tpf(ANBIMA_FILE.read_bytes(), ANBIMA_FILE.name,
                          expected_date=ANBIMA_DAY)
    return (ingest.anbima_tpf.market_prices(tpf),
            ingest.bond_instruments(tpf.bonds, ANBIMA_DAY), tpf)


def test_every_b3_settlement_with_a_rate_is_its_rate_to_the_centavo(b3) -> None:
    prices, instruments = b3
    result = reconcile.reconcile(prices, instruments, B3_DAY)
    assert result.summary() == {"DAP": {"checked": 21, "off": 0},
                                "DDI": {"checked": 39, "off": 0},
                                "DI1": {"checked": 39, "off": 0}}
    assert result.findings().empty and result.issues("pms.Reconcile").empty
    # DOL, WDO, IND and WIN settle in price only: loaded as published, not reconciled
    assert result.skipped == {"no rate": 25 + 20 + 12 + 12, "no rule": 0, "matured": 0}
    checked = result.checked.set_index("instrument_id")
    assert list(result.checked.columns) == list(reconcile.CHECKED_COLUMNS)
    assert checked.loc["DI1F26", ["published", "computed", "days"]].tolist() == \
        [88093.23, 88093.23, 230]
    assert checked.loc["DDIF26", "days"] == (date(2026, 1, 2) - B3_DAY).days  # calendar days
    assert (checked["tolerance"] == 0.005).all() and checked["difference"].abs().max() < 1e-9


def test_every_ltn_ntnf_and_ntnb_pu_is_its_rate_with_the_vna_the_ntnb_rows_imply(anbima) -> None:
    prices, instruments, tpf = anbima
    result = reconcile.reconcile(prices, instruments, ANBIMA_DAY)
    assert result.summary() == {"LTN": {"checked": 13, "off": 0},
                                "NTNB": {"checked": 15, "off": 0},
                                "NTNF": {"checked": 6, "off": 0}}
    assert (result.vna, result.vna_origin) == (VNA, "implied")
    assert result.skipped == {"no rate": 0, "no rule": 17, "matured": 0}  # the LFTs
    ntnb = result.checked[result.checked["instrument_type"] == "NTNB"]
    assert (ntnb["published"] == ntnb["computed"]).all()  # exactly, not within tolerance
    assert (ntnb["quote"] == np.round(ntnb["quote"], 4)).all()  # cotação truncated to 4
    fit = reconcile.bonds_vna(tpf.bonds, ANBIMA_DAY)
    assert (fit.value, fit.bonds) == (VNA, 15)
    assert fit.low <= VNA < fit.high and fit.high - fit.low < 1e-6  # one VNA shared by all


def test_the_vna_loaded_is_the_one_used(anbima) -> None:
    prices, instruments, _ = anbima
    same = reconcile.reconcile(prices, instruments, ANBIMA_DAY, vna=VNA)
    assert (same.vna, same.vna_origin, len(same.findings())) == (VNA, "loaded", 0)
    other = reconcile.reconcile(prices, instruments, ANBIMA_DAY, vna=VNA + 0.01)
    off = other.findings()
    assert set(off["instrument_type"]) == {"NTNB"} and len(off) == 15
    message = other.issues("pms.Reconcile")["message"].iloc[0]
    assert f"VNA {VNA + 0.01:.6f} (loaded)" in message and "cotação" in message


def test_a_wrong_price_is_a_finding_naming_both_figures_and_the_rule(b3, anbima) -> None:
    prices, instruments = b3
    typo = prices.assign(price=prices["price"].where(prices["instrument_id"] != "DI1F27",
                                                     76000.0))
    result = reconcile.reconcile(typo, instruments, B3_DAY)
    issues = result.issues("pms.Reconcile")
    assert issues[["business_date", "step", "instrument_id", "field", "severity"]].to_dict(
        "records") == [{"business_date": B3_DAY, "step": "pms.Reconcile",
                        "instrument_id": "DI1F27", "field": "price", "severity": "WARNING"}]
    assert "published B3 price 76000.00" in issues["message"][0]
    assert "round2(100000/(1+r)^(du/252))" in issues["message"][0]
    bonds, kinds, _ = anbima
    shifted = bonds.assign(price=bonds["price"] + np.where(
        bonds["instrument_id"] == "NTNF_2031", 1e-6, 0.0))
    off = reconcile.reconcile(shifted, kinds, ANBIMA_DAY).findings()
    assert off["instrument_id"].tolist() == ["NTNF_2031"]  # one unit of 10⁻⁶ is a finding


def test_ntnb_rows_without_a_common_vna_are_findings(anbima) -> None:
    prices, instruments, _ = anbima
    bad = prices.assign(price=prices["price"].where(prices["instrument_id"] != "NTNB_2035",
                                                    prices["price"] + 5.0))
    result = reconcile.reconcile(bad, instruments, ANBIMA_DAY)
    assert result.vna is None and result.vna_origin == ""
    off = result.findings()
    assert len(off) == 15 and off["computed"].isna().all()
    assert "no VNA loaded" in result.issues("pms.Reconcile")["message"][0]


def test_implied_vna_intervals() -> None:
    quotes = np.array([99.3651, 91.5214, 87.0])
    pus = np.asarray(ntnb_pu(4299.160173, quotes))
    fit = reconcile.implied_vna(quotes, pus)
    assert fit.value is not None and (np.asarray(ntnb_pu(fit.value, quotes)) == pus).all()
    assert reconcile.implied_vna(np.array([]), np.array([])).value is None
    assert reconcile.implied_vna(quotes, pus + np.array([0.0, 0.5, 0.0])).value is None


def test_a_2023_price_is_reconciled_with_the_count_of_its_day() -> None:
    """DI1F28 priced on 2023-06-01: B3 counted 1,154 du then (Nov 20 was no holiday yet);
    today's calendar counts 1,151, and the same PU would miss by far more than a centavo."""
    on, maturity, rate = date(2023, 6, 1), date(2028, 1, 3), 0.1123
    published = round(float(di1_pu(rate, 1154)), 2)
    inst = pd.DataFrame({"instrument_id": ["DI1F28"], "instrument_type": ["DI1"],
                         "maturity_date": [maturity]})
    prices = pd.DataFrame({"instrument_id": ["DI1F28"], "price": [published], "rate": [rate]})
    result = reconcile.reconcile(prices, inst, on)
    assert result.checked["days"].tolist() == [1154] and result.findings().empty
    assert cal.du(on, maturity) == 1151
    assert abs(round(float(di1_pu(rate, 1151)), 2) - published) > 1.0


def test_rows_without_rule_or_past_maturity_are_counted_not_checked() -> None:
    inst = pd.DataFrame({"instrument_id": ["DI1F25", "LFT_2030-06-01", "DOLH25", "X"],
                         "instrument_type": ["DI1", "LFT", "DOL", "DI1"],
                         "maturity_date": [date(2025, 1, 2), date(2030, 6, 1),
                                           date(2025, 3, 5), None]})
    prices = pd.DataFrame({"instrument_id": ["DI1F25", "LFT_2030-06-01", "DOLH25", "X"],
                           "price": [100000.0, 16000.0, 5850.0, 1.0],
                           "rate": [0.12, 0.0001, np.nan, 0.1]})
    result = reconcile.reconcile(prices, inst, B3_DAY)
    assert result.checked.empty and result.summary() == {}
    assert result.skipped == {"no rate": 1, "no rule": 1, "matured": 2}


def test_missing_columns_name_the_table() -> None:
    with pytest.raises(InvalidInput, match="market_prices: missing column"):
        reconcile.reconcile(pd.DataFrame({"instrument_id": []}), pd.DataFrame(), B3_DAY)

"""ANBIMA's government-bond file of 2026-02-06 (the real tpf_20260206.txt)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from pms_luigi.core import calendar as cal
from pms_luigi.core.pricing.ltn import ltn_pu
from pms_luigi.core.pricing.ntnb import ntnb_pu, ntnb_quote
from pms_luigi.ingest import anbima_tpf, bond_instruments, read_tpf
from tests.unit.ingest.builders import ANBIMA_FILE

DAY = date(2026, 2, 6)


@pytest.fixture(scope="module")
def tpf() -> anbima_tpf.TpfFile:
    with ANBIMA_FILE.open("rb") as handle:
        return read_tpf(handle, ANBIMA_FILE.name, expected_date=DAY)


def test_counts_kept_and_skipped(tpf) -> None:
    assert tpf.ref_date == DAY
    assert tpf.counts.to_dict("records") == [
        {"title": "LFT", "kept": True, "count": 17}, {"title": "LTN", "kept": True, "count": 13},
        {"title": "NTN-B", "kept": True, "count": 15}, {"title": "NTN-F", "kept": True, "count": 6},
        {"title": "NTN-C", "kept": False, "count": 1}]
    assert tpf.bonds["bond_type"].value_counts().to_dict() == {"LFT": 17, "NTNB": 15,
                                                              "LTN": 13, "NTNF": 6}


def test_every_bond_has_its_rate_and_pu(tpf) -> None:
    b = tpf.bonds
    assert list(b.columns) == ["line", "title", "bond_type", "ref_date", "selic_code",
                               "base_date", "maturity", "bid_rate", "ask_rate", "rate", "pu"]
    assert b[["bid_rate", "ask_rate", "rate", "pu"]].notna().all().all()
    assert (b["pu"] > 0).all() and (b["maturity"] > DAY).all() and set(b["ref_date"]) == {DAY}
    fixed = b[b["bond_type"] != "LFT"]
    assert fixed["rate"].between(0.05, 0.16).all()  # decimals, not percent
    assert b.loc[b["bond_type"] == "LFT", "rate"].abs().max() < 0.002  # a spread over Selic
    assert b["line"].is_monotonic_increasing and b["line"].min() == 4 and b["line"].max() == 55
    assert b.groupby("bond_type")["selic_code"].unique().map(list).to_dict() == {
        "LFT": ["210100"], "LTN": ["100000"], "NTNB": ["760199"], "NTNF": ["950199"]}


@pytest.mark.parametrize(("bond_type", "maturity", "rate", "pu", "line"), [
    # read by hand from the file
    ("LTN", date(2026, 4, 1), 0.14714, 980.58076, 4),
    ("LTN", date(2032, 1, 1), 0.134954, 476.413959, 16),
    ("NTNB", date(2035, 5, 15), 0.075841, 4209.369049, 43),
    ("NTNF", date(2037, 1, 1), 0.137418, 813.918283, 55),
    ("LFT", date(2026, 9, 1), -0.000306, 18349.926305, 19),
])
def test_values_as_published(tpf, bond_type, maturity, rate, pu, line) -> None:
    row = tpf.bonds.set_index(["bond_type", "maturity"]).loc[(bond_type, maturity)]
    assert (row["rate"], row["pu"], row["line"]) == (rate, pu, line)


def test_ltn_pu_is_its_rate_pu(tpf) -> None:
    ltn = tpf.bonds[tpf.bonds["bond_type"] == "LTN"]
    du = cal.du(np.full(len(ltn), np.datetime64(DAY)),
                np.array(ltn["maturity"].tolist(), dtype="datetime64[D]"))
    assert (ltn_pu(ltn["rate"].to_numpy(), du) == ltn["pu"].to_numpy()).all()


def test_market_prices_and_instruments_share_ids(tpf) -> None:
    prices = anbima_tpf.market_prices(tpf)
    inst = bond_instruments(tpf.bonds, tpf.ref_date)
    assert len(prices) == 51 and (prices["source"] == "ANBIMA").all()
    assert set(prices["instrument_id"]) == set(inst["instrument_id"])
    assert {"LTN_2026-04-01", "NTNB_2035", "NTNF_2031", "LFT_2030-06-01"} <= set(
        inst["instrument_id"])


def test_the_ntnb_rows_imply_one_vna_that_gives_every_pu(tpf) -> None:
    """The file has each NTN-B's rate and PU, no cotação: the cotação of each rate implies
    the same VNA for all 15 bonds (to 10⁻⁶), and that VNA gives every published PU."""
    ntnb = tpf.bonds[tpf.bonds["bond_type"] == "NTNB"]
    assert len(ntnb) == 15
    quote = np.array([ntnb_quote(DAY, m, r) for m, r in zip(ntnb["maturity"], ntnb["rate"],
                                                               strict=True)])
    implied = ntnb["pu"].to_numpy() / quote * 100
    assert implied.max() - implied.min() < 1e-6
    assert (ntnb_pu(4596.158793, quote) == ntnb["pu"].to_numpy()).all()

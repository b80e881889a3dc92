"""BCB's SGS series (CDI 12, IPCA 433) and PTAX answers, on fixtures built from their
published layouts (tests/data/ingest/README.md says where each value comes from)."""
from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pms_luigi.core.validation import validate
from pms_luigi.ingest import bcb_ptax, read_cdi, read_ipca, read_ptax, read_sgs
from tests.unit.ingest.builders import FIXTURES

CDI = FIXTURES / "bcb_sgs_12_cdi_20250203.json"
IPCA = FIXTURES / "bcb_sgs_433_ipca_2025.json"
PTAX = FIXTURES / "bcb_ptax_20250203.json"


def test_sgs_series_as_published() -> None:
    sgs = read_sgs(CDI.read_bytes(), CDI.name)
    assert list(sgs.columns) == ["observation", "date", "value", "text"]
    assert sgs["date"].tolist()[-1] == date(2025, 2, 3)
    assert sgs["text"].tolist()[:3] == ["0.045513"] * 3


def test_cdi_daily_rates_become_the_annual_decimal_the_store_holds() -> None:
    with CDI.open("rb") as handle:
        cdi = read_cdi(handle, CDI.name, expected_date=date(2025, 2, 3))
    assert list(cdi.columns) == ["observation", "fixing_date", "daily_pct", "rate"]
    assert cdi["rate"].tolist() == [0.1215] * 3 + [0.1315] * 3
    assert cdi["daily_pct"].tolist()[-1] == 0.049037
    # the daily factor of the annual rate is the published daily rate
    back = np.round(((1 + cdi["rate"]) ** (1 / 252) - 1) * 100, 6)
    assert (back == cdi["daily_pct"]).all()
    # and the frame passes the store's validation of cdi_fixings
    validate("cdi_fixings", cdi[["fixing_date", "rate"]])


def test_cdi_period_answer_without_an_expected_date() -> None:
    cdi = read_cdi(CDI.read_bytes(), CDI.name)
    assert cdi["fixing_date"].is_monotonic_increasing and len(cdi) == 6


def test_ipca_monthly_changes_as_decimals() -> None:
    ipca = read_ipca(IPCA.read_bytes(), IPCA.name)
    assert ipca["ref_month"].tolist() == [date(2025, m, 1) for m in range(1, 7)]
    assert ipca["change"].tolist() == [0.0016, 0.0131, 0.0056, 0.0043, 0.0026, 0.0024]
    # chained, the half year's 2.99 % as IBGE publishes it (the VNA's factor over it)
    assert round(float(np.prod(1 + ipca["change"])), 6) == 1.029921


def test_ptax_sell_is_the_fixing() -> None:
    with PTAX.open("rb") as handle:
        ptax = read_ptax(handle, PTAX.name, expected_date=date(2025, 2, 3))
    assert ptax[["fixing_date", "buy", "sell"]].to_dict("records") == [
        {"fixing_date": date(2025, 2, 3), "buy": 5.8263, "sell": 5.8269}]
    assert ptax["quoted_at"].iloc[0] == pd.Timestamp("2025-02-03 13:06:26.513")
    fixings = bcb_ptax.fx_fixings(ptax)
    assert fixings.to_dict("records") == [{"fixing_date": date(2025, 2, 3), "pair": "USDBRL",
                                           "kind": "PTAX", "rate": 5.8269}]
    validate("fx_fixings", fixings)


def test_ptax_period_answer() -> None:
    quotes = ",".join(f'{{"cotacaoCompra": 5.{80 + i}, "cotacaoVenda": 5.{80 + i}06, '
                      f'"dataHoraCotacao": "2025-02-0{3 + i} 13:0{i}:00.1"}}' for i in range(3))
    ptax = read_ptax(f'{{"value": [{quotes}]}}'.encode(), "ptax_period.json")
    assert ptax["fixing_date"].tolist() == [date(2025, 2, d) for d in (3, 4, 5)]
    assert ptax["sell"].tolist() == [5.8006, 5.8106, 5.8206]

"""Valuation through the pricer registry: a type without a pricer is refused by name."""
from __future__ import annotations

import pandas as pd
import pytest

from pms_luigi.core import mtm
from pms_luigi.core.errors import InvalidInput
from tests.unit.mtm.builders import D, P, inputs, mark, price, row, trade


def _with_cds(inp: mtm.MtmInputs) -> mtm.MtmInputs:
    cds = dict(instrument_id="CDS_BR", name="x", asset_class="CREDIT", instrument_type="CDS",
               currency="USD", exchange="OTC", maturity_date=None, contract_size=1.0,
               lot_size=1.0, underlying=None, is_active=True)
    inp.instruments = pd.concat([inp.instruments, pd.DataFrame([cds])], ignore_index=True)
    return inp


def test_a_held_type_without_a_pricer_is_refused_naming_the_instrument() -> None:
    inp = _with_cds(inputs(D, P, [trade("c", D, "CDS_BR", 10, 150.0)], [],
                           [price(D, "CDS_BR", 155.0)]))
    with pytest.raises(InvalidInput, match="CDS_BR has instrument_type 'CDS'") as err:
        mtm.mark_to_market(inp)
    assert (err.value.row, err.value.field) == ("CDS_BR", "instrument_type")


def test_an_unknown_type_nobody_holds_does_not_stop_the_mark() -> None:
    inp = _with_cds(inputs(D, P, [trade("t", P, "PETR4", 1000, 30.0)],
                           [mark(P, "PETR4", 1000, 30.0)], [price(D, "PETR4", 30.5)]))
    assert row(mtm.mark_to_market(inp), "PETR4")["pnl_brl"] == 500.0

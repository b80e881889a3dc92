"""The life of a proposal after the pipeline wrote it (pure rules, no store): transitions,
re-sizing, booking, the checks on actor / reason / amounts, and the decision journal's chain.

The stored proposal is a SELL of 400 DI1F27 (DV01 7.8315 R$/bp per contract at 13.00 %,
252 du, PU 88,495.58) against a book of +1,000 contracts. The same rules run inside the
database transaction in tests/pipeline/test_workflow.py.
"""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest

from pms_luigi.core import proposals as pr
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.proposals import lifecycle

DV01_F27 = 7.8315  # R$/bp per DI1 contract, 13.00 %, 252 du (published vector)


# ----------------------------------------------------------------------------- workflow


@pytest.mark.parametrize("status, action, new", [
    ("PENDING", "APPROVE", "APPROVED"), ("PENDING", "REJECT", "REJECTED"),
    ("PENDING", "MODIFY", "MODIFIED"), ("APPROVED", "BOOK", "BOOKED"),
    ("MODIFIED", "BOOK", "BOOKED"), ("MODIFIED", "MODIFY", "MODIFIED"),
])
def test_allowed_transitions(status, action, new):
    assert pr.transition(status, action) == new


@pytest.mark.parametrize("status, action", [
    ("PENDING", "BOOK"), ("REJECTED", "APPROVE"), ("BOOKED", "BOOK"), ("APPROVED", "REJECT"),
    ("MODIFIED", "APPROVE"), ("PENDING", "DELETE"), ("EXPIRED", "APPROVE"),
    ("APPROVED", "MODIFY"), ("MODIFIED", "REJECT"), ("BOOKED", "MODIFY"),
])
def test_forbidden_transitions_raise(status, action):
    with pytest.raises(InvalidInput) as exc:
        pr.transition(status, action)
    assert exc.value.field == "status" and status in str(exc.value) and action in str(exc.value)


def _proposal(quantity: float = -400.0, **kw) -> dict:
    """A stored SELL of 400 DI1F27 (DV01 7.8315 R$/bp each: a SELL of PU = pay rates,
    dv01 +3,132.60) against a book of +1,000 contracts."""
    base = {"proposal_id": 7, "instrument_id": "DI1F27", "side": "SELL", "action": "REDUCE",
            "quantity": quantity, "notional_brl": 400 * 88_495.58,
            "dv01_brl": 400 * DV01_F27, "delta_brl": 0.0,
            "strategies": [{"strategy_id": "RATES_BR_01", "weight": 0.5, "conviction": -0.6},
                           {"strategy_id": "RATES_BR_02", "weight": 0.3, "conviction": 0.9},
                           {"strategy_id": "CROSS_01", "weight": 0.2, "conviction": -0.4}],
            "risk_impact": {"unit_risk": -DV01_F27, "current_quantity": 1000.0,
                            "fat_finger_notional_brl": 250_000_000.0}}
    return {**base, **kw}


def test_modify_rounds_to_lots_rescales_and_reclassifies():
    out = pr.modify_quantity(_proposal(), -213.4, lot_size=5.0)  # 42.68 lots -> 43
    assert out["quantity"] == -215.0 and out["side"] == "SELL" and out["action"] == "REDUCE"
    assert out["notional_brl"] == pytest.approx(215 * 88_495.58)
    assert out["dv01_brl"] == pytest.approx(215 * DV01_F27)
    assert out["risk_impact"]["post_trade_quantity"] == 785.0
    assert out["risk_impact"]["post_trade_risk"] == pytest.approx(-785 * DV01_F27)
    assert out["risk_impact"]["modified"]["pre_trade_is_for_quantity"] == -400.0
    assert pr.modify_quantity(_proposal(), -1500, 1.0)["action"] == "FLIP"
    assert pr.modify_quantity(_proposal(), -1000, 1.0)["action"] == "CLOSE"
    flipped = pr.modify_quantity(_proposal(), 100, 1.0)
    assert (flipped["side"], flipped["action"]) == ("BUY", "INCREASE")
    assert flipped["dv01_brl"] == pytest.approx(-100 * DV01_F27)
    for bad, match in [(2.0, "rounds to 0"), (float("nan"), "finite"), ("x", "not a number"),
                       (-3000.0, "fat-finger")]:
        with pytest.raises(InvalidInput, match=match) as exc:
            pr.modify_quantity(_proposal(), bad, lot_size=5.0)
        assert exc.value.row == 7 and exc.value.field == "quantity"


def test_booking_strategy_and_cost():
    # SELL: contributors with weight x conviction < 0 — RATES_BR_01 (-0.30) beats CROSS_01
    assert pr.booking_strategy(_proposal()) == "RATES_BR_01"
    assert pr.booking_strategy(_proposal(quantity=400.0)) == "RATES_BR_02"
    assert pr.booking_strategy(_proposal(), known={"CROSS_01", "RATES_BR_02"}) == "CROSS_01"
    with pytest.raises(InvalidInput, match="no contributing strategy"):
        pr.booking_strategy(_proposal(strategies=[]))
    # 10 DI1 at PU 88,495.58: notional 884,955.80 x 1.0 bp = 88.50; DDI in USD at 5.40
    assert pr.booking_cost_brl(-10, 88_495.58, 1.0, "DI1") == 88.50
    assert pr.booking_cost_brl(4, 97_560.98, 0.5, "DDI", fx=5.40) == pytest.approx(
        round(4 * 0.5 * 97_560.98 * 5.40 * 1.5e-4, 2))
    assert pr.booking_cost_brl(100, 30.0, 1.0, "EQUITY") == 0.60  # 2.0 bp default


# ----------------------------------------------------------------------------- journal


def _journal(n: int = 4) -> pd.DataFrame:
    rows, prev = [], pr.GENESIS_HASH
    t0 = datetime(2026, 1, 6, 9, 0, tzinfo=UTC)
    for k in range(1, n + 1):
        entry = {"entry_id": k, "proposal_id": 10 + k, "action": "APPROVE", "actor": "pm.silva",
                 "reason": f"fits the book #{k}", "at": t0 + timedelta(minutes=k),
                 "payload": {"quantity": 100.0 * k, "price": 88_495.58, "tags": ["carry"]}}
        h = pr.journal_hash(prev, entry)
        rows.append({**entry, "prev_hash": prev, "hash": h})
        prev = h
    return pd.DataFrame(rows)


def test_journal_hash_is_canonical_and_covers_every_field():
    j = _journal(1).iloc[0].to_dict()
    entry = {k: j[k] for k in pr.JOURNAL_FIELDS}
    h = pr.journal_hash(pr.GENESIS_HASH, entry)
    assert h == j["hash"] and len(h) == 64
    # key order and the naive-UTC / aware-UTC spelling of the same instant do not matter
    reordered = dict(reversed(list(entry.items())))
    naive = {**entry, "at": entry["at"].replace(tzinfo=None)}
    assert pr.journal_hash(pr.GENESIS_HASH, reordered) == h
    assert pr.journal_hash(pr.GENESIS_HASH, naive) == h
    for key, value in [("entry_id", 2), ("proposal_id", 99), ("action", "REJECT"),
                       ("actor", "someone"), ("reason", "x"),
                       ("at", entry["at"] + timedelta(seconds=1)),
                       ("payload", {**entry["payload"], "quantity": 101.0})]:
        assert pr.journal_hash(pr.GENESIS_HASH, {**entry, key: value}) != h, key
    assert pr.journal_hash("f" * 64, entry) != h
    with pytest.raises(InvalidInput) as exc:
        pr.journal_hash(pr.GENESIS_HASH, {**entry, "extra": 1})
    assert exc.value.field == "extra"
    with pytest.raises(InvalidInput):
        pr.journal_hash("abc", entry)


def test_verify_chain_detects_tampered_and_deleted_rows():
    j = _journal(4)
    assert pr.verify_chain(j) == []
    assert pr.verify_chain(j.sample(frac=1, random_state=1)) == []  # order is by entry_id

    tampered = j.copy()
    tampered.at[1, "reason"] = "edited after the fact"          # entry 2, hash left as is
    assert pr.verify_chain(tampered) == [2]

    rehashed = tampered.copy()                                    # edit + recomputed hash
    rehashed.at[1, "hash"] = pr.journal_hash(rehashed.at[1, "prev_hash"],
                                             {k: rehashed.at[1, k] for k in pr.JOURNAL_FIELDS})
    assert pr.verify_chain(rehashed) == [3]                        # breaks the next link

    deleted = j.drop(index=1)                                      # entry 2 removed
    assert pr.verify_chain(deleted) == [3]
    assert pr.verify_chain(j.drop(index=0)) == [2]                 # genesis row removed

    truncated = j.drop(index=3)                                    # last row removed
    assert pr.verify_chain(truncated) == []
    assert pr.verify_chain(truncated, expected_head=j.at[3, "hash"]) == [3]


# ----------------------------------------------------------------------------- decisions


D = date(2026, 1, 6)
AT = datetime(2026, 1, 6, 9, 30, tzinfo=UTC)


def _stored(status: str = "PENDING", **kw) -> dict:
    """The row a decision loads: the proposal plus its id, date, status and rationale."""
    return _proposal(business_date=D, status=status, rationale="REDUCE DI1F27.", **kw)


def test_next_status_names_the_proposal_and_both_states():
    assert lifecycle.next_status(_stored(), "APPROVE") == "APPROVED"
    with pytest.raises(lifecycle.WorkflowError) as exc:
        lifecycle.next_status(_stored(), "BOOK")
    assert str(exc.value).startswith("proposal 7 (DI1F27 for 2026-01-06) is PENDING: BOOK is "
                                     "not allowed (from PENDING: APPROVE, REJECT, MODIFY)")
    assert (exc.value.row, exc.value.field) == (7, "status")
    with pytest.raises(InvalidInput, match="none, it is final"):  # WorkflowError is bad input
        lifecycle.next_status(_stored("BOOKED"), "BOOK")
    assert pr.allowed_actions("MODIFIED") == ["BOOK", "MODIFY"]


def test_actor_and_reason_are_required_where_the_rules_say():
    assert lifecycle.checked_actor("  pm.silva ") == "pm.silva"
    for bad in ("", "   ", "x" * 81):
        with pytest.raises(lifecycle.WorkflowError) as exc:
            lifecycle.checked_actor(bad)
        assert exc.value.field == "actor"
    assert lifecycle.checked_reason(7, "APPROVE", None) == ""
    assert lifecycle.checked_reason(7, "REJECT", " too big ") == "too big"
    for action in pr.NEEDS_REASON:
        with pytest.raises(lifecycle.WorkflowError, match=f"{action} needs a reason") as exc:
            lifecycle.checked_reason(7, action, "  ")
        assert (exc.value.row, exc.value.field) == (7, "reason")


def test_modified_values_record_who_when_and_that_pre_trade_is_stale():
    values = lifecycle.modified_values(_stored(), -213.4, 5.0, "pm.silva", AT)
    assert values["quantity"] == -215.0 and values["action"] == "REDUCE"
    assert values["rationale"] == (
        "REDUCE DI1F27. [MODIFIED by pm.silva at 2026-01-06 09:30 UTC: quantity -400 -> -215; "
        "pre-trade risk was computed for the original quantity.]")
    with pytest.raises(lifecycle.WorkflowError, match=r"^proposal 7 \(DI1F27 for 2026-01-06\): "
                       r"proposal 7: quantity 2 rounds to 0") as exc:
        lifecycle.modified_values(_stored(), 2.0, 5.0, "pm.silva", AT)
    assert (exc.value.row, exc.value.field) == (7, "quantity")


def test_booking_checks_the_amounts_and_the_strategy():
    before = _stored("APPROVED")
    assert lifecycle.checked_amount(before, 88_495.58, "price", zero_ok=False) == 88_495.58
    assert lifecycle.checked_amount(before, 0, "cost", zero_ok=True) == 0.0
    for value, name, zero_ok, field in [(0.0, "price", False, "price"),
                                        (float("inf"), "price", False, "price"),
                                        (-1.0, "cost", True, "cost_brl")]:
        with pytest.raises(lifecycle.WorkflowError) as exc:
            lifecycle.checked_amount(before, value, name, zero_ok=zero_ok)
        assert (exc.value.row, exc.value.field) == ("P7", field)
    known = {"RATES_BR_01", "RATES_BR_02", "CROSS_01"}
    assert lifecycle.trade_strategy(before, known, None) == "RATES_BR_01"
    assert lifecycle.trade_strategy(before, known, "CROSS_01") == "CROSS_01"
    with pytest.raises(lifecycle.WorkflowError, match="no contributing strategy") as exc:
        lifecycle.trade_strategy(before, {"OTHER"}, None)
    assert exc.value.field == "strategies"


def test_booking_trade_is_validated_like_a_loaded_trade():
    instruments = pd.DataFrame({"instrument_id": ["DI1F27"], "lot_size": [5.0]})
    known = {"RATES_BR_01"}
    trade, frame = lifecycle.booking_trade(_stored("APPROVED"), instruments, known,
                                           strategy_id="RATES_BR_01", price=88_495.58,
                                           cost_brl=35.40)
    assert trade == {"trade_id": "P7", "trade_date": D, "instrument_id": "DI1F27",
                     "strategy_id": "RATES_BR_01", "quantity": -400.0, "price": 88_495.58,
                     "cost_brl": 35.40, "source": "PROPOSAL", "proposal_id": 7}
    assert frame["proposal_id"].tolist() == [7] and frame["trade_id"].tolist() == ["P7"]
    with pytest.raises(InvalidInput) as exc:  # -402 is not a multiple of the lot of 5
        lifecycle.booking_trade(_stored("APPROVED", quantity=-402.0), instruments, known,
                                strategy_id="RATES_BR_01", price=88_495.58, cost_brl=35.40)
    assert exc.value.field == "quantity"

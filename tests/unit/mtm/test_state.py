"""The ledger state carried from date to date: the same floats as one fold of the whole
ledger, and never used on a ledger it did not come from."""
from __future__ import annotations

from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar, mtm
from pms_luigi.core.mtm import ledger
from pms_luigi.core.mtm.state import LedgerState, fold, usable
from pms_luigi.core.mtm.valuation import prepare_instruments
from tests.unit.mtm.builders import inputs, instruments, price, trade

DAYS = calendar.b3_sessions(date(2025, 6, 2), date(2025, 8, 29))  # DOLQ25, INDQ25 and
# WINQ25 mature on the way (Aug 1, Aug 13)
INST = prepare_instruments(instruments())
KEYS = [(iid, sid) for iid in ("PETR4", "INDQ25", "WINQ25", "DOLQ25", "LTN_2027")
        for sid in ("S1", "S2", "S3")]
BASE = {"PETR4": 31.0, "INDQ25": 130_000.0, "WINQ25": 130_000.0, "DOLQ25": 5_400.0,
        "LTN_2027": 870.0}


def random_ledger(seed: int, n: int = 900) -> pd.DataFrame:
    """Trades on random dates and keys, several a day per key: odd prices, quantities with
    six decimals, closes to zero and flips, costs, none on or after a contract's maturity;
    ordered by (trade_date, trade_id), as the trades reader returns them."""
    rng = np.random.default_rng(seed)
    key = rng.integers(0, len(KEYS), n)
    raw = rng.normal(0, 40, n)
    qty = np.where(rng.random(n) < 0.5, np.round(raw), np.round(raw, 6))
    qty[qty == 0] = 1.0
    rows = []
    held = {k: 0.0 for k in range(len(KEYS))}
    for i in range(n):
        k = int(key[i])
        if rng.random() < 0.1 and held[k]:
            qty[i] = -held[k]  # back to flat
        held[k] = round(held[k] + qty[i], 6)
        iid, sid = KEYS[k]
        px = BASE[iid] * (1 + rng.normal(0, 0.02)) * (1 + 1e-9 * rng.random())
        rows.append(trade(f"T{rng.integers(0, 10**9):09d}", DAYS[int(rng.integers(0, len(DAYS)))],
                          iid, float(qty[i]), float(px), sid=sid,
                          cost=float(rng.random() * 50)))
    t = pd.DataFrame(rows)
    mat = t["instrument_id"].map(INST.set_index("instrument_id")["mat"]).dt.date
    return read(t.loc[mat.isna() | (t["trade_date"] < mat)])


def read(trades: pd.DataFrame) -> pd.DataFrame:
    """The ledger in the trades reader's order."""
    return trades.sort_values(["trade_date", "trade_id"], kind="stable").reset_index(drop=True)


def upto(trades: pd.DataFrame, on: date) -> pd.DataFrame:
    return trades.loc[[d <= on for d in trades["trade_date"]]]


def state_of(trades: pd.DataFrame, on: date) -> LedgerState:
    """The state a date marked on its own leaves: the trades read up to the day before
    ``on`` folded at once, then ``on``'s."""
    prev = DAYS[DAYS.index(on) - 1] if DAYS.index(on) else None
    state = LedgerState.empty()
    for last, given in ((prev, upto(trades, prev) if prev else trades.iloc[0:0]),
                        (on, trades.loc[[d == on for d in trades["trade_date"]]])):
        t = ledger.sort_trades(ledger.typed_trades(given))
        state = fold(state, t, None if last is None else np.datetime64(last, "D"), INST,
                     given=given)
    return state


def pandas_positions(t: pd.DataFrame) -> pd.DataFrame:
    """The ledger as it was folded before the state: one scan of every trade, then the
    grouped sums (the reference of bit-for-bit equality)."""
    t = ledger.sort_trades(t)
    start = np.r_[True, (t["instrument_id"].to_numpy()[1:] != t["instrument_id"].to_numpy()[:-1])
                  | (t["strategy_id"].to_numpy()[1:] != t["strategy_id"].to_numpy()[:-1])]
    key = np.cumsum(start) - 1
    s = ledger.scan(key, t["quantity"].to_numpy(), t["price"].to_numpy())
    last = np.flatnonzero(np.r_[key[1:] != key[:-1], True])
    return pd.DataFrame({
        "instrument_id": t["instrument_id"].to_numpy()[last],
        "strategy_id": t["strategy_id"].to_numpy()[last],
        "quantity": s.q_after[last], "avg_cost": s.avg_after[last],
        "realized_pnl": pd.Series(s.realized).groupby(key).sum().to_numpy(),
        "cost_brl": pd.Series(t["cost_brl"].to_numpy()).groupby(key).sum().to_numpy(),
        "n_trades": np.bincount(key).astype(np.int64),
        "last_trade_date": t["trade_date"].to_numpy()[last]})


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_fold_is_the_scan_and_grouped_sums_bit_for_bit(seed: int) -> None:
    t = ledger.typed_trades(random_ledger(seed))
    got = fold(LedgerState.empty(), ledger.sort_trades(t), np.datetime64(DAYS[-1], "D"))
    pd.testing.assert_frame_equal(got.positions(), pandas_positions(t), check_exact=True)


@pytest.mark.parametrize("seed", [4, 5])
def test_a_state_carried_date_by_date_is_the_full_fold_each_date(seed: int) -> None:
    trades = random_ledger(seed)
    carried = LedgerState.empty()
    for prev, on in zip([None, *DAYS[:-1]], DAYS, strict=True):
        p64 = None if prev is None else np.datetime64(prev, "D")
        assert usable(carried, upto(trades, on), INST, p64) == (prev is not None)
        given = trades.loc[[d == on for d in trades["trade_date"]]]
        new = ledger.sort_trades(ledger.typed_trades(given))
        carried = fold(carried, new, np.datetime64(on, "D"), INST, given=given)
        full = state_of(trades, on)
        pd.testing.assert_frame_equal(carried.rows, full.rows, check_exact=True)
        np.testing.assert_array_equal(carried.realized, full.realized)
        assert (carried.n_trades, carried.last_trade) == (full.n_trades, full.last_trade)
        for c, values in full.trades.items():
            np.testing.assert_array_equal(carried.trades[c], values)
    # the contracts that matured are no longer carried; the others are
    assert set(carried.columns["instrument_id"]) == {"PETR4", "LTN_2027"}


def _other_ledgers(trades: pd.DataFrame, on: date) -> dict[str, tuple[pd.DataFrame, object]]:
    """Ledgers (as read) and instruments a state of ``trades`` at ``on`` must not be used
    on."""
    old = [i for i, d in enumerate(trades["trade_date"]) if DAYS[0] < d <= on]
    k = old[len(old) // 2]
    at_k = np.arange(len(trades)) == k
    changed = {
        "a trade inserted before its date": pd.concat(
            [trades, pd.DataFrame([trade("NEW", DAYS[3], "PETR4", 7.0, 30.0)])]),
        "a trade removed": trades.drop(index=k),
        "a price corrected": trades.assign(price=np.where(at_k, trades["price"] + 0.01,
                                                          trades["price"])),
        "a trade moved to another strategy": trades.assign(
            strategy_id=np.where(at_k, "S9", trades["strategy_id"])),
        "a trade moved to another date": trades.assign(trade_date=[
            DAYS[0] if i == k else d for i, d in enumerate(trades["trade_date"])]),
    }
    out = {why: (read(t), instruments()) for why, t in changed.items()}
    out["rows in another order"] = (trades.sample(frac=1, random_state=3), instruments())
    later = instruments()
    later.loc[later["instrument_id"] == "PETR4", "maturity_date"] = date(2030, 1, 2)
    out["another maturity"] = (trades, later)
    return out


def test_a_state_from_another_ledger_or_date_is_never_used() -> None:
    trades = random_ledger(6, n=300)
    on, p = DAYS[20], np.datetime64(DAYS[24], "D")
    state = state_of(trades, on)
    for why, (other, inst) in _other_ledgers(trades, on).items():
        assert not usable(state, other, prepare_instruments(inst), p), why
    assert usable(state, trades, INST, p)  # a state of an earlier date: carried on
    assert not usable(state, trades, INST, np.datetime64(DAYS[19], "D"))  # a later one
    assert not usable(None, trades, INST, p)
    assert not usable(state, trades, INST, None)


# ------------------------------------------------------------------------- through the MTM


def _prices(seed: int) -> dict[date, list[dict]]:
    rng = np.random.default_rng(seed)
    walk = {iid: px * np.cumprod(1 + rng.normal(0, 0.01, len(DAYS)))
            for iid, px in BASE.items() if iid != "LTN_2027"}
    return {on: [price(on, iid, round(float(w[i]), 2)) for iid, w in walk.items()]
            for i, on in enumerate(DAYS)}


def _run(trades: pd.DataFrame, carry: bool, seed: int = 7,
         spoil: dict[date, pd.DataFrame] | None = None) -> list[mtm.MtmResult]:
    """Mark every day of DAYS, each with the previous marks and NAV and the ledger carried
    from the day before (or folded again). ``spoil``: days whose carried ledger is that of
    other trades (folded up to the day before)."""
    prices, out = _prices(seed), []
    for i, on in enumerate(DAYS):
        prev = out[-1] if out else None
        inp = inputs(on, DAYS[i - 1] if i else None, upto(trades, on).to_dict("records"),
                     prev.marks.assign(business_date=DAYS[i - 1]) if prev else [],
                     prices[on], nav_prev=prev.book["nav_brl"] if prev else 100e6)
        carried = prev.ledger if carry and prev else None
        if spoil and on in spoil:
            carried = state_of(spoil[on], DAYS[i - 1])
        elif carried is not None:  # the carried ledger is the one read: it is used
            assert usable(carried, inp.trades, INST, np.datetime64(DAYS[i - 1], "D"))
        out.append(mtm.mark_to_market(replace(inp, ledger=carried)))
    return out


def _book(seed: int) -> pd.DataFrame:
    """Trades on the equity and the index futures (which mature on the way), the first on
    the first day only."""
    trades = random_ledger(seed, n=400)
    trades = trades.loc[~trades["instrument_id"].isin(["LTN_2027", "DOLQ25"])
                        & (trades["trade_date"] != DAYS[0])]
    return read(pd.concat([pd.DataFrame([trade("FIRST", DAYS[0], "PETR4", 100.0, 31.0)]),
                           trades]))


def test_marks_with_the_carried_ledger_are_those_of_the_full_fold() -> None:
    trades = _book(8)
    full = _run(trades, False)
    for carried, again in zip(_run(trades, True), full, strict=True):
        pd.testing.assert_frame_equal(carried.marks, again.marks, check_exact=True)
        assert carried.book == again.book
        pd.testing.assert_frame_equal(carried.ledger.rows, again.ledger.rows,
                                      check_exact=True)
    # a carried ledger of other trades (a price corrected before its date) is not used
    other = trades.assign(price=np.where(np.arange(len(trades)) == 5, trades["price"] * 1.01,
                                         trades["price"]))
    spoiled = _run(trades, True, spoil={DAYS[10]: other, DAYS[30]: other})
    for got, want in zip(spoiled, full, strict=True):
        pd.testing.assert_frame_equal(got.marks, want.marks, check_exact=True)

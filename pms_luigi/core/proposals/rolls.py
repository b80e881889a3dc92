"""Contracts near expiry: which ones may not be added to, and the contract each rolls into.

Why: a DI1 or DDI a few weeks from expiry has almost no DV01 left, so a risk-budget size in it
is a huge notional (the demo once proposed BUY 508 DDIF27, 57 % of NAV, 18 business days from
expiry), and a desk does not open or add to a contract it must close within days. It trades
the next liquid contract of the same family instead, and rolls what it holds: close the near,
open the next at the same risk.

The rules, all per instrument with a maturity (``days`` = ANBIMA du from D to the maturity,
as of D, the count the pack's expiring positions use):

* **near**: ``days <= floor``, the floor being the policy's ``rolls.min_days_to_expiry_by_type``
  for the instrument type, else ``[pms_proposals] min_days_to_expiry``;
* **the next contract** of a near one: same instrument_type, currency and underlying, a later
  maturity, active, priced on or before P, not near itself, and maturing in a liquid month of
  its type (``rolls.liquid_months``; any month for a type not listed) — the earliest such;
* a view on a near contract with a next one moves to it
  (:func:`~pms_luigi.core.proposals.aggregate.aggregate_signals` ``rolled=``, or
  :func:`roll_view`); a held near position with a next one gets a roll pair (:func:`roll_pairs`);
  a near contract without one may only be reduced or closed.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.proposals.conventions import QTY_DECIMALS
from pms_luigi.core.proposals.policy import ProposalPolicy

#: What makes two contracts one family: a roll never changes any of them.
FAMILY: Final = ("instrument_type", "currency", "underlying")
EXPIRY_COLUMNS: Final = ("instrument_type", "maturity_date", "days_to_expiry", "min_days",
                         "near", "roll_to", "roll_to_days")


def expiry_table(instruments: pd.DataFrame, priced: Iterable[str], on: date,
                 policy: ProposalPolicy, min_days_to_expiry: int) -> pd.DataFrame:
    """Days to expiry of every instrument with a maturity, whether it is near, and its roll.

    Args:
        instruments: the instrument master (instrument_id, instrument_type, currency,
            maturity_date[, underlying, is_active]).
        priced: the instruments with a usable price on or before P (roll candidates).
        on: D, the trading day the days are counted from.
        policy: the proposal policy (floors per type, liquid months).
        min_days_to_expiry: the floor of the types the policy does not list.

    Returns:
        Indexed by instrument_id (sorted), :data:`EXPIRY_COLUMNS`: ``roll_to`` the next
        contract of a near one (None when there is none), ``roll_to_days`` its days (-1 when
        none). Instruments without a maturity are left out.
    """
    inst = instruments.drop_duplicates("instrument_id").set_index("instrument_id").sort_index()
    mat = pd.to_datetime(inst.get("maturity_date"), errors="coerce")
    inst = inst.loc[mat.notna()]
    mat = mat.loc[inst.index]
    kind = inst["instrument_type"].astype(str)
    t = pd.DataFrame({
        "instrument_type": kind,
        "currency": inst["currency"].astype(str),
        "underlying": (inst["underlying"] if "underlying" in inst.columns
                       else pd.Series(None, index=inst.index)).fillna("").astype(str),
        "maturity_date": mat.dt.date,
        "days_to_expiry": cal.du(np.full(len(inst), np.datetime64(on, "D")),
                                 mat.to_numpy().astype("datetime64[D]"), as_of=on),
        "min_days": kind.map(lambda k: policy.rolls.min_days(k, min_days_to_expiry)
                             ).astype(int),
    }, index=inst.index)
    t["near"] = t["days_to_expiry"] <= t["min_days"]
    active = (inst["is_active"].fillna(True).astype(bool) if "is_active" in inst.columns
              else pd.Series(True, index=inst.index))
    months = mat.dt.month
    liquid = pd.Series([m in policy.rolls.liquid_months.get(k, (m,))
                        for k, m in zip(kind, months, strict=True)], index=inst.index)
    cand = t.loc[~t["near"] & active & liquid & t.index.isin(list(priced))]
    pairs = (t.loc[t["near"]].reset_index()
             .merge(cand.reset_index(), on=list(FAMILY), suffixes=("", "_next")))
    pairs = pairs.loc[pairs["maturity_date_next"] > pairs["maturity_date"]].sort_values(
        ["instrument_id", "maturity_date_next", "instrument_id_next"], kind="mergesort"
    ).drop_duplicates("instrument_id").set_index("instrument_id")
    t["roll_to"] = pairs["instrument_id_next"].reindex(t.index).astype(object)
    t["roll_to"] = t["roll_to"].where(t["roll_to"].notna(), None)
    t["roll_to_days"] = pairs["days_to_expiry_next"].reindex(t.index).fillna(-1).astype(int)
    return t.loc[:, list(EXPIRY_COLUMNS)]


def rolled_contracts(expiry: pd.DataFrame) -> dict[str, str]:
    """{near contract: the contract it rolls into}, for the near contracts that have one."""
    r = expiry.loc[expiry["near"] & expiry["roll_to"].notna(), "roll_to"]
    return {str(k): str(v) for k, v in r.items()}


def roll_view(view: pd.DataFrame, expiry: pd.DataFrame) -> pd.DataFrame:
    """The view with each row on a near contract moved to the contract it rolls into.

    A view the signals already rolled (``aggregate_signals(rolled=...)``) is returned as is.

    Raises:
        InvalidInput: a near contract and the one it rolls into both carry a view: which
            strategy weighs how much is decided per signal, so aggregate the signals with
            ``rolled=`` instead.
    """
    moves = rolled_contracts(expiry)
    moving = view["instrument_id"].isin(list(moves))
    if not moving.any():
        return view
    out = view.copy()
    out.loc[moving, "instrument_id"] = out.loc[moving, "instrument_id"].map(moves)
    clash = out.loc[out["instrument_id"].duplicated(), "instrument_id"]
    if not clash.empty:
        iid = clash.iloc[0]
        near = sorted(k for k, v in moves.items() if v == iid)
        raise InvalidInput(f"view rows {', '.join(near)} and {iid}: {near[0]} rolls into "
                           f"{iid}, which has its own view; aggregate the signals with "
                           "rolled= to weigh them per strategy", table="view", row=iid,
                           field="instrument_id")
    before = out["rolled_from"] if "rolled_from" in out.columns \
        else pd.Series([[]] * len(out), index=out.index)
    out["rolled_from"] = [[near] if m else list(b or []) for near, m, b
                          in zip(view["instrument_id"], moving, before, strict=True)]
    return out


def roll_pairs(expiry: pd.DataFrame, held: pd.DataFrame) -> pd.DataFrame:
    """The roll pairs of the book: each held near contract that has a next contract.

    Returns:
        Columns near, next, days_to_expiry, min_days, quantity (held in the near), sorted by
        near contract.
    """
    q = held["quantity"] if len(held) else pd.Series(dtype=float)
    e = expiry.loc[expiry["near"] & expiry["roll_to"].notna()]
    e = e.loc[e.index.isin(q.index[q != 0])]
    return pd.DataFrame({"near": e.index.astype(str), "next": e["roll_to"].astype(str),
                         "days_to_expiry": e["days_to_expiry"].astype(int),
                         "min_days": e["min_days"].astype(int),
                         "quantity": q.reindex(e.index).astype(float)}).reset_index(drop=True)


def rolled_in(pairs: pd.DataFrame, unit_signed: Mapping[str, float] | pd.Series,
              lots: Mapping[str, float] | pd.Series) -> pd.Series:
    """Risk-equivalent quantity each next contract takes over from the near ones it rolls.

    ``q_next = lot * round_half_even(q_near * u_near / u_next / lot)`` with ``u`` the signed
    risk of one unit in the budget's measure (a family shares its budget), so the roll keeps
    the position's DV01 (or delta) within half a lot, whatever the two contracts' sizes.

    Returns:
        Quantity per next contract (summed when two near contracts roll into one).
    """
    if pairs.empty:
        return pd.Series(dtype=float)
    u = pd.Series(unit_signed, dtype=float)
    lot = pd.Series(lots, dtype=float).reindex(pairs["next"]).to_numpy()
    ratio = u.reindex(pairs["near"]).to_numpy() / u.reindex(pairs["next"]).to_numpy()
    q = np.round(np.round(pairs["quantity"].to_numpy() * ratio / lot) * lot, QTY_DECIMALS)
    return pd.Series(q, index=pairs["next"].to_numpy()).groupby(level=0, sort=True).sum()

"""The life of a proposal after the pipeline wrote it: who may do what, and what it changes.

States and actions::

    PENDING --APPROVE--> APPROVED --BOOK--> BOOKED
    PENDING --REJECT---> REJECTED
    PENDING --MODIFY---> MODIFIED --BOOK--> BOOKED      (MODIFY may be repeated)

REJECTED and BOOKED are final. Every decision needs an actor; REJECT and MODIFY need a
reason. A MODIFY re-sizes the proposal (:func:`modify_quantity`); a BOOK writes the trade
``P<proposal_id>`` (:func:`booking_trade`), once.

Everything here is pure: the transaction that loads the proposal, applies these rules,
writes the new status and appends the decision journal entry is
:mod:`pms_luigi.ops.workflow`, over the queries of :mod:`pms_luigi.store.decisions`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd

from pms_luigi.core import validation
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.frames import json_safe
from pms_luigi.core.proposals.conventions import QTY_DECIMALS, classify

STATUSES: Final = ("PENDING", "APPROVED", "REJECTED", "MODIFIED", "BOOKED")
WORKFLOW_ACTIONS: Final = ("APPROVE", "REJECT", "MODIFY", "BOOK")
#: Actions refused without a reason: why a system idea was turned down or re-sized.
NEEDS_REASON: Final = ("REJECT", "MODIFY")
_TRANSITIONS: Final = MappingProxyType({
    ("PENDING", "APPROVE"): "APPROVED",
    ("PENDING", "REJECT"): "REJECTED",
    ("PENDING", "MODIFY"): "MODIFIED",
    ("MODIFIED", "MODIFY"): "MODIFIED",
    ("APPROVED", "BOOK"): "BOOKED",
    ("MODIFIED", "BOOK"): "BOOKED",
})
#: One-way transaction cost in bps of |notional BRL| by instrument_type (spread + commission
#: + exchange fee); types it does not list (NTN-F, cash equity) take ``DEFAULT_COST_BPS``.
COST_BPS: Final = MappingProxyType({
    "DI1": 1.0, "DDI": 1.5, "DOL": 0.8, "WDO": 0.8, "NDF": 2.0, "NTNB": 3.0, "LTN": 1.5,
    "IND": 1.5, "WIN": 1.5,
})
DEFAULT_COST_BPS: Final = 2.0
_MAX_ACTOR: Final = 80


class WorkflowError(InvalidInput):
    """A refused decision (unknown proposal, illegal transition, missing reason or actor, a
    second booking). An InvalidInput: the command exits with the bad-input code and nothing
    is written."""


def transition(status: str, action: str) -> str:
    """The proposal status after ``action``; every other pair is refused.

    Why MODIFIED is bookable: a modification is the PM's decision to trade at another size;
    requiring a second APPROVE would only add a click without adding control. An APPROVED
    proposal cannot be re-sized or rejected (book it or leave it unbooked).

    >>> transition("PENDING", "APPROVE"), transition("MODIFIED", "BOOK")
    ('APPROVED', 'BOOKED')

    Raises:
        InvalidInput: the pair is not a transition (the message lists the allowed actions).
    """
    new = _TRANSITIONS.get((status, action))
    if new is None:
        allowed = allowed_actions(status)
        raise InvalidInput(
            f"proposal status {status!r}: action {action!r} is not allowed "
            f"(allowed: {', '.join(allowed) if allowed else 'none, the status is terminal'})",
            table="proposals", row=status, field="status")
    return new


def allowed_actions(status: str) -> list[str]:
    """The actions allowed from ``status``, sorted ([] for a final status).

    >>> allowed_actions("PENDING"), allowed_actions("BOOKED")
    (['APPROVE', 'MODIFY', 'REJECT'], [])
    """
    return sorted(a for (s, a) in _TRANSITIONS if s == status)


def label(row: Mapping[str, Any]) -> str:
    """How a decision's messages name the proposal: id, instrument and date."""
    return f"proposal {row['proposal_id']} ({row['instrument_id']} for {row['business_date']})"


def next_status(before: Mapping[str, Any], action: str) -> str:
    """:func:`transition` of a stored proposal; a refusal names it and both states."""
    status = str(before["status"])
    try:
        return transition(status, action)
    except InvalidInput as exc:
        allowed = [a for a in WORKFLOW_ACTIONS if a in allowed_actions(status)]
        raise WorkflowError(
            f"{label(before)} is {status}: {action} is not allowed "
            f"(from {status}: {', '.join(allowed) if allowed else 'none, it is final'})",
            table="proposals", row=int(before["proposal_id"]), field="status") from exc


def checked_actor(name: str) -> str:
    """The actor's name, stripped: an audit trail without a who (or an essay) is refused."""
    name = name.strip()
    if not name:
        raise WorkflowError("no actor: pass --actor NAME or set $USER", table="decision_journal",
                            field="actor")
    if len(name) > _MAX_ACTOR:
        raise WorkflowError(f"actor {name[:20]!r}…: longer than {_MAX_ACTOR} characters",
                            table="decision_journal", field="actor")
    return name


def checked_reason(proposal_id: int, action: str, reason: str | None) -> str:
    """The reason, stripped; empty is refused for the actions in :data:`NEEDS_REASON`."""
    why = (reason or "").strip()
    if action in NEEDS_REASON and not why:
        raise WorkflowError(f"proposal {proposal_id}: {action} needs a reason (--reason)",
                            table="decision_journal", row=proposal_id, field="reason")
    return why


def modify_quantity(proposal: Mapping[str, Any], quantity: float,
                    lot_size: float) -> dict[str, Any]:
    """The proposal's fields after a PM changes its (signed) quantity.

    The new quantity is rounded to the nearest multiple of ``lot_size`` (half to even, as
    the proposal step rounds), then every size-linear field is rescaled by
    ``k = q_new / q_old``: ``dv01_brl`` and ``delta_brl`` by ``k`` (signed), ``notional_brl``
    by ``|k|``. ``side`` follows the sign, ``action`` is re-classified against the book
    quantity recorded in ``risk_impact.current_quantity`` (so a cut-down REDUCE stays a
    REDUCE, an over-sized one becomes a FLIP). ``risk_impact`` gets the post-trade figures at
    the new size and a ``modified`` block; its ``pre_trade`` block still describes the
    ORIGINAL quantity (the limits were not re-run) and says so.

    Raises:
        InvalidInput: naming the proposal: a non-finite quantity or lot, zero after
            rounding, a stored quantity of 0, or a size above a cap the proposal was made
            under (fat finger, notional or 1-day risk as a share of NAV).
    """
    pid = proposal.get("proposal_id")
    q_old = float(proposal["quantity"])
    q_req, q_new = _lot_rounded(pid, quantity, lot_size)
    if q_old == 0.0:
        raise InvalidInput(f"proposal {pid}: stored quantity is 0, cannot rescale",
                           table="proposals", row=pid, field="quantity")
    k = q_new / q_old
    impact = dict(proposal.get("risk_impact") or {})
    notional = abs(float(proposal["notional_brl"])) * abs(k)
    _check_caps(pid, q_new, notional, abs(k) * float(impact.get("risk_1d_brl") or 0.0), impact)
    q0 = float(impact.get("current_quantity", 0.0) or 0.0)
    q1 = round(q0 + q_new, QTY_DECIMALS)
    action = str(classify(np.array([q0]), np.array([q1]))[0])
    unit = impact.get("unit_risk")
    if unit is not None:
        impact.update(post_trade_quantity=q1, trade_risk=q_new * float(unit),
                      post_trade_risk=q1 * float(unit))
    impact["modified"] = {"from_quantity": q_old, "to_quantity": q_new, "requested": q_req,
                          "scale": k, "pre_trade_is_for_quantity": q_old}
    return {
        "quantity": q_new,
        "side": "BUY" if q_new > 0 else "SELL",
        "action": action,
        "notional_brl": notional,
        "dv01_brl": float(proposal["dv01_brl"]) * k,
        "delta_brl": float(proposal["delta_brl"]) * k,
        "risk_impact": json_safe(impact),
    }


def _check_caps(pid: Any, q_new: float, notional: float, risk_1d: float,
                impact: Mapping[str, Any]) -> None:
    """A modified size must fit the caps the proposal was sized under (its ``risk_impact``:
    the fat-finger notional, and ``caps`` max_notional_brl / max_risk_1d_brl when stored)."""
    caps = impact.get("caps") if isinstance(impact.get("caps"), Mapping) else {}
    checks = (("the fat-finger limit", notional, impact.get("fat_finger_notional_brl")),
              ("the notional cap", notional, caps.get("max_notional_brl")),
              ("the 1-day risk cap", risk_1d, caps.get("max_risk_1d_brl")))
    for name, value, cap in checks:
        if cap is not None and value > float(cap) + 0.005:
            raise InvalidInput(f"proposal {pid}: quantity {q_new:g} gives "
                               f"{'1-day risk' if 'risk' in name else 'notional'} R$ "
                               f"{value:,.2f} above {name} R$ {float(cap):,.2f}",
                               table="proposals", row=pid, field="quantity")


def _lot_rounded(pid: Any, quantity: Any, lot_size: Any) -> tuple[float, float]:
    """(requested, rounded to whole lots half to even); non-finite or zero refused."""
    try:
        q_req = float(quantity)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"proposal {pid}: quantity {quantity!r} is not a number",
                           table="proposals", row=pid, field="quantity") from exc
    lot = float(lot_size)
    if not math.isfinite(q_req) or not (math.isfinite(lot) and lot > 0):
        raise InvalidInput(f"proposal {pid}: quantity {quantity!r} / lot {lot_size!r} must be "
                           "finite", table="proposals", row=pid, field="quantity")
    q_new = round(float(np.round(q_req / lot)) * lot, QTY_DECIMALS) + 0.0
    if q_new == 0.0:
        raise InvalidInput(f"proposal {pid}: quantity {q_req:g} rounds to 0 lots of {lot:g}",
                           table="proposals", row=pid, field="quantity")
    return q_req, q_new


def modified_values(before: Mapping[str, Any], quantity: float, lot_size: float, who: str,
                    at: datetime) -> dict[str, Any]:
    """The columns a MODIFY writes: :func:`modify_quantity` plus a rationale that records
    who changed the size, when, from what to what, and that the pre-trade risk is stale."""
    try:
        values = modify_quantity(before, quantity, lot_size)
    except InvalidInput as exc:
        raise WorkflowError(f"{label(before)}: {exc}", table="proposals",
                            row=int(before["proposal_id"]), field="quantity") from exc
    values["rationale"] = (f"{before['rationale']} [MODIFIED by {who} at "
                           f"{at:%Y-%m-%d %H:%M} UTC: quantity {before['quantity']:+,g} -> "
                           f"{values['quantity']:+,g}; pre-trade risk was computed for the "
                           f"original quantity.]")
    return values


def booking_strategy(proposal: Mapping[str, Any], known: set[str] | None = None) -> str:
    """The strategy a booked proposal's trade is allocated to (a trade carries one).

    The contributor with the largest ``weight x conviction`` in the direction of the trade
    (ties by strategy_id), so the P&L lands with the strategy that asked for it; when no
    contributor points the trade's way (a REDUCE/CLOSE against a faded view), the largest
    ``weight x |conviction|``; then the largest weight (a roll leg names the strategies
    holding the position, by their share, without a conviction). ``known`` (strategy ids in
    the master) filters candidates.

    Raises:
        InvalidInput: no contributor is left to book to.
    """
    pid = proposal.get("proposal_id")
    sign = 1.0 if float(proposal["quantity"]) > 0 else -1.0
    rows = [c for c in (proposal.get("strategies") or []) if isinstance(c, Mapping)
            and c.get("strategy_id") and (known is None or c["strategy_id"] in known)]
    if not rows:
        raise InvalidInput(f"proposal {pid}: no contributing strategy to book the trade to; "
                           "pass a strategy explicitly", table="proposals", row=pid,
                           field="strategies")

    def score(c: Mapping[str, Any]) -> float:
        return float(c.get("weight") or 0.0) * float(c.get("conviction") or 0.0)

    pool = [c for c in rows if score(c) * sign > 0] or rows
    return str(sorted(pool, key=lambda c: (-abs(score(c)), -float(c.get("weight") or 0.0),
                                           str(c["strategy_id"])))[0]["strategy_id"])


def booking_cost_brl(quantity: float, price: float, contract_size: float, instrument_type: str,
                     fx: float = 1.0) -> float:
    """One-way cost = |quantity x contract_size x price x fx| x bps / 10,000 (:data:`COST_BPS`),
    rounded to centavos half-even (the rule the demo ledger uses).

    >>> booking_cost_brl(10, 95_000.0, 1.0, "DI1")
    95.0
    """
    bps = COST_BPS.get(str(instrument_type).upper(), DEFAULT_COST_BPS)
    notional = abs(float(quantity) * float(contract_size) * float(price) * float(fx))
    return float(round(Decimal(repr(notional * bps / 1e4)), 2))


def checked_amount(before: Mapping[str, Any], value: Any, name: str, *,
                   zero_ok: bool) -> float:
    """A price (> 0) or cost (>= 0) the PM typed for a booking, as a finite float."""
    x = float(value)
    if not (math.isfinite(x) and (x >= 0 if zero_ok else x > 0)):
        field = "cost_brl" if name == "cost" else name
        raise WorkflowError(f"{label(before)}: {name} {value!r} must be "
                            f"{'>= 0' if zero_ok else '> 0'}", table="trades",
                            row=f"P{int(before['proposal_id'])}", field=field)
    return x


def trade_strategy(before: Mapping[str, Any], known: set[str], strategy_id: str | None) -> str:
    """The strategy a BOOK allocates the trade to: the one given, else
    :func:`booking_strategy` (a refusal names the proposal)."""
    if strategy_id is not None:
        return strategy_id
    try:
        return booking_strategy(before, known)
    except InvalidInput as exc:
        raise WorkflowError(f"{label(before)}: {exc}", table="proposals",
                            row=int(before["proposal_id"]), field="strategies") from exc


def booking_trade(before: Mapping[str, Any], instruments: pd.DataFrame, known: set[str], *,
                  strategy_id: str, price: float, cost_brl: float,
                  ) -> tuple[dict[str, Any], pd.DataFrame]:
    """The trade a BOOK writes, as a dict and as the validated ``trades`` frame.

    trade_id ``P<proposal_id>``, dated the proposal's business date, source PROPOSAL, the
    proposal's quantity. The row goes through ``validation.validate('trades')`` like a
    loaded file (``known``: the strategy ids of the master).
    """
    pid = int(before["proposal_id"])
    trade = {"trade_id": f"P{pid}", "trade_date": before["business_date"],
             "instrument_id": before["instrument_id"], "strategy_id": strategy_id,
             "quantity": float(before["quantity"]), "price": price, "cost_brl": cost_brl,
             "source": "PROPOSAL", "proposal_id": pid}
    frame = validation.validate(
        "trades", pd.DataFrame([trade]),
        {"instruments": set(instruments["instrument_id"]), "strategies": known}, instruments)
    frame["proposal_id"] = pid  # validate keeps it; make sure it stays an int
    return trade, frame

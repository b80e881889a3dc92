"""The proposal policy: entry/exit/flip thresholds, the rebalance band, the proposal cap and
one risk budget per asset class (the parsed ``config/proposal_policy.json``).

Document shape::

    {"thresholds": {"entry": 0.35, "exit": 0.15, "flip": 0.60},
     "rebalance_band": 0.25, "max_proposals": 8,
     "budgets": {"RATES": {"measure": "dv01_brl", "target": 15000.0, "daily_vol": 8.0,
                           "fat_finger_notional_brl": 250000000.0}, ...}}

Keys starting with ``_`` (and ``version``, ``description``) are comments and are ignored.

Every problem raises :class:`InvalidInput` naming the key (``thresholds.entry``,
``budgets.FX.measure`` ...), so a bad edit of the file stops the step with a message that
says which line to fix.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from pms_luigi.core.errors import InvalidInput

#: Risk measure a budget is expressed in: R$ per bp, US$ of USDBRL delta, R$ of index delta.
MEASURES: Final = ("dv01_brl", "delta_usd", "delta_brl")
_BUDGET_NUMBERS: Final = ("target", "daily_vol", "fat_finger_notional_brl")


@dataclass(frozen=True)
class Budget:
    """Risk budget of one asset class at |conviction| = 1.

    Attributes:
        measure: ``dv01_brl`` (R$ per bp, magnitude), ``delta_usd`` (US$ of USDBRL delta) or
            ``delta_brl`` (R$ of index delta).
        target: the measure a full-conviction position carries.
        daily_vol: typical 1-day 1-sigma move of the factor (bp, or a fraction for deltas),
            used only to put budgets in one currency for ranking.
        fat_finger_notional_brl: the largest notional one proposal may carry.
    """

    measure: str
    target: float
    daily_vol: float
    fat_finger_notional_brl: float

    def risk_budget_brl(self, fx_spot: float) -> float:
        """R$ 1-day 1-sigma P&L of a full-conviction position: target x daily_vol (x spot
        for a budget in US$).

        >>> Budget("delta_usd", 10_000_000, 0.01, 1e9).risk_budget_brl(5.0)
        500000.0
        """
        scale = fx_spot if self.measure == "delta_usd" else 1.0
        return self.target * self.daily_vol * scale


@dataclass(frozen=True)
class ProposalPolicy:
    """Thresholds, budgets and caps of the proposal step.

    Hysteresis: a flat book opens at |c| >= ``entry``; a held position is kept (and only
    reduced towards its target) while |c| >= ``exit`` on its side, closed below ``exit`` or on
    an opposite view weaker than ``flip``, and flipped on an opposite view >= ``flip``. The gap
    between entry and exit stops a view hovering at one threshold from trading every day.
    """

    entry: float
    exit: float
    flip: float
    rebalance_band: float
    max_proposals: int
    budgets: Mapping[str, Budget] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ProposalPolicy:
        """Validate a parsed policy document.

        Raises:
            InvalidInput: naming the key: a missing or non-finite number, thresholds out of
                ``0 <= exit < entry <= flip <= 1``, a negative band, a non-positive-integer
                cap, an empty budget table, an unknown measure or a budget number <= 0.
        """
        if not isinstance(data, Mapping):
            raise _bad("policy", "must be a JSON object")
        entry, exit_, flip = _thresholds(data.get("thresholds"))
        band = _number(data, "rebalance_band", "rebalance_band")
        if band < 0:
            raise _bad("rebalance_band", f"must be >= 0, got {band}")
        max_p = _number(data, "max_proposals", "max_proposals")
        if max_p < 1 or max_p != int(max_p):
            raise _bad("max_proposals",
                       f"must be a positive integer, got {data['max_proposals']!r}")
        raw = data.get("budgets")
        if not isinstance(raw, Mapping) or not raw:
            raise _bad("budgets", "must be a non-empty object keyed by asset class")
        budgets = {str(ac): _budget(raw[ac], f"budgets.{ac}") for ac in sorted(raw)}
        return cls(entry=entry, exit=exit_, flip=flip, rebalance_band=band,
                   max_proposals=int(max_p), budgets=budgets)


def as_policy(policy: ProposalPolicy | Mapping[str, Any]) -> ProposalPolicy:
    """The policy itself, or a parsed document validated by :meth:`ProposalPolicy.from_mapping`."""
    return policy if isinstance(policy, ProposalPolicy) else ProposalPolicy.from_mapping(policy)


def _bad(key: str, msg: str) -> InvalidInput:
    return InvalidInput(f"proposal policy: {key} {msg}", table="proposal_policy", row=key,
                        field=key)


def _number(node: Mapping[str, Any], key: str, path: str) -> float:
    if key not in node:
        raise _bad(path, "is missing")
    value = node[key]
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or not math.isfinite(float(value)):
        raise _bad(path, f"must be a finite number, got {value!r}")
    return float(value)


def _thresholds(th: Any) -> tuple[float, float, float]:
    """(entry, exit, flip), checked ``0 <= exit < entry <= flip <= 1``."""
    if not isinstance(th, Mapping):
        raise _bad("thresholds", "must be an object with entry, exit, flip")
    entry = _number(th, "entry", "thresholds.entry")
    exit_ = _number(th, "exit", "thresholds.exit")
    flip = _number(th, "flip", "thresholds.flip")
    if not 0.0 <= exit_ < entry <= flip <= 1.0:
        raise _bad("thresholds", f"need 0 <= exit < entry <= flip <= 1, got exit={exit_}, "
                                 f"entry={entry}, flip={flip}")
    return entry, exit_, flip


def _budget(node: Any, path: str) -> Budget:
    if not isinstance(node, Mapping):
        raise _bad(path, "must be an object")
    measure = node.get("measure")
    if measure not in MEASURES:
        raise _bad(f"{path}.measure", f"must be one of {', '.join(MEASURES)}, got {measure!r}")
    values = {k: _number(node, k, f"{path}.{k}") for k in _BUDGET_NUMBERS}
    for k, v in values.items():
        if v <= 0:
            raise _bad(f"{path}.{k}", f"must be > 0, got {v}")
    return Budget(measure=measure, **values)

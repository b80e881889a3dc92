"""The proposal policy: entry/exit/flip thresholds, the rebalance band, the proposal cap, one
risk budget per asset class, the caps per proposal as a share of NAV, the roll rules near
expiry and the grading of flips in the morning pack (the parsed
``config/proposal_policy.json``).

Document shape::

    {"thresholds": {"entry": 0.35, "exit": 0.15, "flip": 0.60},
     "rebalance_band": 0.25, "max_proposals": 8,
     "budgets": {"RATES": {"measure": "dv01_brl", "target": 15000.0, "daily_vol": 8.0,
                           "fat_finger_notional_brl": 250000000.0}, ...},
     "caps": {"notional_pct_nav": 25.0, "risk_1d_pct_nav": 0.25},
     "rolls": {"min_days_to_expiry_by_type": {"WDO": 5, ...},
               "liquid_months": {"DDI": [1, 4, 7, 10], ...}},
     "flips": {"signal_high_change": 0.6, "signal_medium_change": 0.3,
               "proposal_critical_notional_pct_nav": 10.0,
               "proposal_critical_risk_1d_pct_nav": 0.1}}

``caps``, ``rolls`` and ``flips`` may be left out: their defaults are the values above (a
macro desk's; see docs/methodology/proposals.md). The days-to-expiry floor of every other
instrument type is ``[pms_proposals] min_days_to_expiry`` in luigi.cfg (default 20), passed
by the caller. Keys starting with ``_`` (and ``version``, ``description``) are comments and
are ignored.

Every problem raises :class:`InvalidInput` naming the key (``thresholds.entry``,
``budgets.FX.measure`` ...), so a bad edit of the file stops the step with a message that
says which line to fix.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

from pms_luigi.core.errors import InvalidInput

#: Risk measure a budget is expressed in: R$ per bp, US$ of USDBRL delta, R$ of index delta.
MEASURES: Final = ("dv01_brl", "delta_usd", "delta_brl")
_BUDGET_NUMBERS: Final = ("target", "daily_vol", "fat_finger_notional_brl")
#: ``[pms_proposals] min_days_to_expiry`` when the caller passes none: four weeks of business
#: days, so a DI1 or DDI is rolled before its DV01 dies away and its size explodes.
DEFAULT_MIN_DAYS_TO_EXPIRY: Final = 20


@dataclass(frozen=True)
class Caps:
    """Caps on ONE proposal as a share of NAV (percent), on top of the fat-finger notional.

    Attributes:
        notional_pct_nav: |trade notional| <= this % of NAV (25: a quarter of the fund in one
            ticket is the most a macro desk sends at once).
        risk_1d_pct_nav: the trade's 1-day risk, |trade risk in the budget's measure| x the
            budget's ``daily_vol`` (x USDBRL for a US$ budget), <= this % of NAV (0.25: about
            one and a half of the largest full-conviction budget, so it binds on a mis-sized
            or doubled trade, a full flip, not on an ordinary one).
    """

    notional_pct_nav: float = 25.0
    risk_1d_pct_nav: float = 0.25


@dataclass(frozen=True)
class RollRules:
    """Which contracts are too close to expiry to add to, and which contract a view rolls to.

    Attributes:
        min_days_by_type: business days to expiry below which (inclusive) no new or increased
            position is proposed, per instrument type; the other types use the caller's
            ``min_days_to_expiry``. Monthly contracts (WDO, DOL) and the bimonthly index
            futures roll in their last week, not four weeks out.
        liquid_months: the maturity months a roll may land in, per instrument type (DI1 and
            DDI trade in January and the quarterly months; IND/WIN in even months); a type
            not listed may roll into any month.
    """

    min_days_by_type: Mapping[str, int] = field(default_factory=dict)
    liquid_months: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def min_days(self, instrument_type: str, default: int) -> int:
        """The days-to-expiry floor of one instrument type."""
        return int(self.min_days_by_type.get(instrument_type, default))


@dataclass(frozen=True)
class FlipGrades:
    """How the morning pack grades a flip (thresholds in ``flips`` of the policy file).

    A signal flip (a strategy's conviction changing sign) is HIGH from an absolute change of
    ``signal_high_change``, MEDIUM from ``signal_medium_change``, LOW below it (+0.11 -> -0.08
    is a change of 0.19: LOW). A pending FLIP proposal is CRITICAL when its trade is large:
    notional >= ``proposal_critical_notional_pct_nav`` % of NAV or 1-day risk >=
    ``proposal_critical_risk_1d_pct_nav`` % of NAV; otherwise it is graded as any proposal.
    """

    signal_high_change: float = 0.6
    signal_medium_change: float = 0.3
    proposal_critical_notional_pct_nav: float = 10.0
    proposal_critical_risk_1d_pct_nav: float = 0.1


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
    caps: Caps = field(default_factory=Caps)
    rolls: RollRules = field(default_factory=RollRules)
    flips: FlipGrades = field(default_factory=FlipGrades)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> ProposalPolicy:
        """Validate a parsed policy document.

        Raises:
            InvalidInput: naming the key: a missing or non-finite number, thresholds out of
                ``0 <= exit < entry <= flip <= 1``, a negative band, a non-positive-integer
                cap, an empty budget table, an unknown measure or a budget number <= 0, a cap
                <= 0, a negative days-to-expiry floor, a month outside 1..12, flip grades
                out of ``0 < medium <= high``.
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
                   max_proposals=int(max_p), budgets=budgets, caps=_caps(data.get("caps")),
                   rolls=_rolls(data.get("rolls")), flips=_flips(data.get("flips")))


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


def _section(node: Any, path: str) -> Mapping[str, Any]:
    """An optional object of the document ({} when absent)."""
    if node is None:
        return {}
    if not isinstance(node, Mapping):
        raise _bad(path, "must be an object")
    return node


def _positive_numbers(node: Mapping[str, Any], defaults: Any, path: str) -> dict[str, float]:
    """The dataclass ``defaults``' fields read from ``node`` (absent: the default), each > 0."""
    out = {}
    for name in defaults.__dataclass_fields__:
        value = _number(node, name, f"{path}.{name}") if name in node \
            else float(getattr(defaults, name))
        if value <= 0:
            raise _bad(f"{path}.{name}", f"must be > 0, got {value}")
        out[name] = value
    return out


def _caps(node: Any) -> Caps:
    return Caps(**_positive_numbers(_section(node, "caps"), Caps(), "caps"))


def _flips(node: Any) -> FlipGrades:
    grades = FlipGrades(**_positive_numbers(_section(node, "flips"), FlipGrades(), "flips"))
    if grades.signal_medium_change > grades.signal_high_change:
        raise _bad("flips", f"need signal_medium_change <= signal_high_change, got "
                            f"{grades.signal_medium_change} > {grades.signal_high_change}")
    return grades


def _rolls(node: Any) -> RollRules:
    """``rolls``: days-to-expiry floors (whole numbers >= 0) and liquid months (1..12)."""
    node = _section(node, "rolls")
    floors = _section(node.get("min_days_to_expiry_by_type"), "rolls.min_days_to_expiry_by_type")
    days = {}
    for kind in sorted(k for k in floors if not str(k).startswith("_")):
        value = _number(floors, kind, f"rolls.min_days_to_expiry_by_type.{kind}")
        if value < 0 or value != int(value):
            raise _bad(f"rolls.min_days_to_expiry_by_type.{kind}",
                       f"must be a whole number of business days >= 0, got {value}")
        days[str(kind)] = int(value)
    listed = _section(node.get("liquid_months"), "rolls.liquid_months")
    months = {}
    for kind in sorted(k for k in listed if not str(k).startswith("_")):
        values = listed[kind]
        if not isinstance(values, list | tuple) or not values or not all(
                isinstance(m, int) and not isinstance(m, bool) and 1 <= m <= 12 for m in values):
            raise _bad(f"rolls.liquid_months.{kind}",
                       f"must be a non-empty list of months 1..12, got {values!r}")
        months[str(kind)] = tuple(sorted(set(values)))
    return RollRules(min_days_by_type=MappingProxyType(days),
                     liquid_months=MappingProxyType(months))

"""Trade proposals: strategy signals -> one net view per contract -> sized, risk-checked
proposals -> the PM's decisions, journalled in a hash chain.

Pure (numpy, pandas and the other ``core`` packages): frames in, frames out, no I/O and no
clock. Input frames carry the column names of the ``pms_luigi.store.schema`` tables.

Modules, in the order a proposal is made:

- :mod:`.conventions` — direction and units, column sets, actions, decimals;
- :mod:`.policy` — the proposal policy file: thresholds, band, count cap, risk budgets, caps
  as a share of NAV, roll rules, flip grades;
- :mod:`.aggregate` — signals -> net view per contract (``aggregate_signals``), decided
  instruments left out (``without_decided``);
- :mod:`.rolls` — contracts near expiry: days to expiry, the next contract of the family,
  roll pairs;
- :mod:`.sizing` — the book per contract, the risk of one unit, the trade the policy asks
  for (hysteresis, rebalance band, fat-finger and NAV caps);
- :mod:`.generate` — the step: size, rank, cap the count, pre-trade check (``propose``,
  ``generate_proposals``);
- :mod:`.records` — the stored record: contributors, risk impact, rationale text;
- :mod:`.pretrade` — the book's risk after each trade against the limits;
- :mod:`.lifecycle` — approve / reject / modify / book: allowed actions, what each changes;
- :mod:`.chain` — the decision journal's hash chain.
"""
from __future__ import annotations

from pms_luigi.core.proposals.aggregate import aggregate_signals, without_decided
from pms_luigi.core.proposals.chain import (
    GENESIS_HASH,
    JOURNAL_FIELDS,
    journal_hash,
    verify_chain,
)
from pms_luigi.core.proposals.conventions import (
    ACTIONS,
    PROPOSAL_COLUMNS,
    VIEW_COLUMNS,
)
from pms_luigi.core.proposals.generate import generate_proposals, propose
from pms_luigi.core.proposals.lifecycle import (
    COST_BPS,
    DEFAULT_COST_BPS,
    NEEDS_REASON,
    STATUSES,
    WORKFLOW_ACTIONS,
    WorkflowError,
    allowed_actions,
    booking_cost_brl,
    booking_strategy,
    modify_quantity,
    transition,
)
from pms_luigi.core.proposals.policy import (
    DEFAULT_MIN_DAYS_TO_EXPIRY,
    Budget,
    Caps,
    FlipGrades,
    ProposalPolicy,
    RollRules,
)
from pms_luigi.core.proposals.pretrade import pre_trade_risk
from pms_luigi.core.proposals.rolls import expiry_table, roll_pairs, rolled_contracts
from pms_luigi.core.proposals.sizing import bond_unit_risk, book_by_instrument, unit_risk

__all__ = [
    "ACTIONS", "COST_BPS", "DEFAULT_COST_BPS", "DEFAULT_MIN_DAYS_TO_EXPIRY", "GENESIS_HASH",
    "JOURNAL_FIELDS", "NEEDS_REASON", "PROPOSAL_COLUMNS", "STATUSES", "VIEW_COLUMNS",
    "WORKFLOW_ACTIONS", "Budget", "Caps", "FlipGrades", "ProposalPolicy", "RollRules",
    "WorkflowError", "aggregate_signals", "allowed_actions", "bond_unit_risk",
    "book_by_instrument", "booking_cost_brl", "booking_strategy", "expiry_table",
    "generate_proposals", "journal_hash", "modify_quantity", "pre_trade_risk", "propose",
    "roll_pairs", "rolled_contracts", "transition", "unit_risk", "verify_chain",
    "without_decided",
]

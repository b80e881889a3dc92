"""Performance attribution: daily P&L by every dimension and period, additive to the centavo.

Pure (numpy, pandas, :mod:`pms_luigi.core.calendar`): no I/O, no clock, no state. Every
number comes from one fact table — ``position_marks`` and ``book_snapshots`` rows — and every
dimension and period is a group-by of it, so Σ buckets = the fund P&L for every dimension,
day and period (an explicit ``residual`` bucket holds what the positions do not carry).
Money is float64 here; the writer rounds it to centavos (half-even) and ``contribution_bps``
to the column's 10 decimals. A caller that attributes many dates prepares the reference data
once (:class:`Reference`) and passes it to every call (the results do not depend on it).

Modules:

* :mod:`.facts` — the fact table (validated position and book rows), the dimension
  vocabulary and the split of shared positions in whole centavos;
* :mod:`.reference` — the reference data as attribution reads it, and its digest;
* :mod:`.buckets` — daily P&L per dimension and bucket;
* :mod:`.periods` — DAY/WTD/MTD/QTD/YTD/ITD windows and the period sums;
* :mod:`.linking` — Frongello (default) and Carino multi-period linking;
* :mod:`.stats` — performance statistics and the one drawdown definition;
* :mod:`.engine` — :func:`attribute`, the full pass over [inception, on];
* :mod:`.incremental` — :func:`attribute_incremental`, chained on an earlier date's rows.

The method is described in ``docs/methodology/attribution.md``.
"""
from __future__ import annotations

from pms_luigi.core.attribution.engine import AttributionResult, attribute
from pms_luigi.core.attribution.facts import (
    DIMENSIONS,
    DISCRETIONARY,
    EXPLAIN_BUCKETS,
    RESIDUAL,
    RISK_FACTOR_BY_ASSET_CLASS,
    SYSTEMATIC,
    TOTAL,
    UNTAGGED,
)
from pms_luigi.core.attribution.incremental import attribute_incremental
from pms_luigi.core.attribution.linking import LINKING_METHODS, link, linking_multipliers
from pms_luigi.core.attribution.periods import (
    PERIODS,
    decode_state,
    encode_state,
    period_start,
)
from pms_luigi.core.attribution.reference import Reference, reference_digest
from pms_luigi.core.attribution.stats import (
    ANNUALIZATION,
    STATS_PERIODS,
    cdi_daily_returns,
    drawdown,
    performance_stats,
)

__all__ = [
    "ANNUALIZATION",
    "DIMENSIONS",
    "DISCRETIONARY",
    "EXPLAIN_BUCKETS",
    "LINKING_METHODS",
    "PERIODS",
    "RESIDUAL",
    "RISK_FACTOR_BY_ASSET_CLASS",
    "STATS_PERIODS",
    "SYSTEMATIC",
    "TOTAL",
    "UNTAGGED",
    "AttributionResult",
    "Reference",
    "attribute",
    "attribute_incremental",
    "cdi_daily_returns",
    "decode_state",
    "drawdown",
    "encode_state",
    "link",
    "linking_multipliers",
    "performance_stats",
    "period_start",
    "reference_digest",
]

"""Book risk for a business date: factor exposures, VaR/ES (historical, parametric), stress, limits.

Pure (numpy, pandas, :mod:`pms_luigi.core.calendar`): inputs are DataFrames whose columns are
the database column names; no I/O, no clock, no state. The task layer reads
``config/limits.csv`` and ``config/stress_scenarios.json`` and passes them in. A caller that
computes date after date (a backfill) carries the previous date's :class:`FactorHistory` and
:class:`PerformanceIndex` to the next, so a date processes its own new prices and book only
(the results do not depend on it).

Modules:

* :mod:`.factors` — the risk factors (constant-maturity curve vertices in absolute bp,
  USDBRL and IBOV relative) and the positions' sensitivities to them;
* :mod:`.history` — daily factor changes from stored prices and fixings, point in time;
* :mod:`.window` — :class:`FactorHistory`, the factor-change window carried from date to date;
* :mod:`.var` — historical VaR/ES (exact order statistic) and delta-normal VaR with Euler
  components;
* :mod:`.stress` — hypothetical shocks and historical replays, first order;
* :mod:`.limits` — book metrics (leverage, DV01, deltas, concentration, drawdown, the
  performance index) and limit utilisation;
* :mod:`.snapshot` — the ``risk_snapshots`` row assembled from the above.

The method is described in ``docs/methodology/risk.md``.
"""
from __future__ import annotations

from pms_luigi.core.risk.factors import (
    ABS_BP,
    CURVE_SOURCE_TYPES,
    EQUITY_FACTOR,
    EQUITY_INDEX_TYPES,
    EXPOSURE_COLUMNS,
    FX_FACTOR,
    RATE_FAMILIES,
    RATE_FAMILY_BY_TYPE,
    REL,
    VERTICES,
    all_factors,
    factor_exposures,
    factor_kind,
    rate_factor,
)
from pms_luigi.core.risk.history import factor_changes
from pms_luigi.core.risk.limits import (
    ASSET_CLASSES,
    LIMIT_STATUS_COLUMNS,
    PerformanceIndex,
    book_metrics,
    current_drawdown,
    limit_status,
    limits_from_frame,
    performance_drawdown,
)
from pms_luigi.core.risk.snapshot import (
    SNAPSHOT_STATUS_INSUFFICIENT,
    SNAPSHOT_STATUS_OK,
    risk_snapshot,
)
from pms_luigi.core.risk.stress import STRESS_COLUMNS, scenarios_from_dict, stress_table
from pms_luigi.core.risk.var import (
    ParametricVaR,
    factor_covariance,
    historical_var_es,
    normal_z,
    parametric_var,
    parametric_var_from_cov,
    scenario_pnl,
    tail_count,
)
from pms_luigi.core.risk.window import FactorHistory

__all__ = [
    "ABS_BP",
    "ASSET_CLASSES",
    "CURVE_SOURCE_TYPES",
    "EQUITY_FACTOR",
    "EQUITY_INDEX_TYPES",
    "EXPOSURE_COLUMNS",
    "FX_FACTOR",
    "LIMIT_STATUS_COLUMNS",
    "RATE_FAMILIES",
    "RATE_FAMILY_BY_TYPE",
    "REL",
    "SNAPSHOT_STATUS_INSUFFICIENT",
    "SNAPSHOT_STATUS_OK",
    "STRESS_COLUMNS",
    "VERTICES",
    "FactorHistory",
    "ParametricVaR",
    "PerformanceIndex",
    "all_factors",
    "book_metrics",
    "current_drawdown",
    "factor_changes",
    "factor_covariance",
    "factor_exposures",
    "factor_kind",
    "historical_var_es",
    "limit_status",
    "limits_from_frame",
    "normal_z",
    "parametric_var",
    "parametric_var_from_cov",
    "performance_drawdown",
    "rate_factor",
    "risk_snapshot",
    "scenario_pnl",
    "scenarios_from_dict",
    "stress_table",
    "tail_count",
]

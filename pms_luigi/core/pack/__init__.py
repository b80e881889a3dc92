"""The morning pack: the PM's pre-open briefing for trading day D, assembled as a JSON-able dict.

Pure: it takes persisted outputs (mark-to-market, risk and attribution at P = the last close,
proposals for D, data-quality issues, signals) as frames and dicts whose columns are the
``pms_luigi.store.schema`` column names, does no I/O and reads no clock. Rendering to
HTML/PDF/e-mail lives in :mod:`pms_luigi.report`.

Sections, in reading order, one module each:

=================  =====================================================================
summary            NAV, P&L D-1 (R$ and bps), MTD/YTD (bps, %, % of CDI), VaR use, breaches
action_items       priority-sorted: limit breaches, proposals, signal flips/surges, data
                   quality and stale prices, positions expiring within N business days
market             last B3 session vs the previous settlement: DI1 by vertex (bp), NTN-B
                   real yields (bp), USD/BRL, IBOV future; the window since the last session
                   (after a Brazilian holiday it spans the whole closure)
positions          strategy -> asset class -> instrument, top contributors/detractors,
                   P&L explain, attribution by dimension
risk               VaR/ES, limits with traffic lights, stress table, DV01 buckets, exposures
proposals          proposals for D with pre-trade risk impact and breaches
signal_changes     flips, conviction surges, new and dropped signals vs the previous day
calendar           B3 session today, next B3 holiday, closures ahead, maturities ahead
narrative          a deterministic paragraph generated from the numbers above
=================  =====================================================================

Other modules: :mod:`.inputs` (:class:`PackInputs`), :mod:`.series` (chart data: the equity
curve with drawdown), :mod:`.values` (rounding precisions, dates, unavailable blocks),
:mod:`.formats` (numbers in sentences), :mod:`.assemble` (:func:`assemble_pack`, the
canonical JSON and its digest).

Missing inputs: a section (or sub-block) whose input is absent is ``{"status":
"unavailable", "reason": "..."}``; it never shows invented or zero values. Available
sections carry ``"status": "ok"`` (or ``"partial"`` when some sub-blocks are unavailable).
"""
from __future__ import annotations

from pms_luigi.core.pack.assemble import (
    SCHEMA_VERSION,
    SECTIONS,
    assemble_pack,
    canonical,
    pack_digest,
    pack_json,
)
from pms_luigi.core.pack.formats import fmt_bps, fmt_brl, fmt_pct, fmt_signed
from pms_luigi.core.pack.inputs import PackInputs

__all__ = [
    "SCHEMA_VERSION",
    "SECTIONS",
    "PackInputs",
    "assemble_pack",
    "canonical",
    "fmt_bps",
    "fmt_brl",
    "fmt_pct",
    "fmt_signed",
    "pack_digest",
    "pack_json",
]

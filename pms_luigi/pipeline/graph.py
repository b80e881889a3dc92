"""The step families by name, and who consumes whom: what the runner plans over.

The edges themselves are declared by each step class (``upstream_for``); these tables name
the families for the command line and give the forward direction the invalidation walk
follows. The landing stage's steps (:data:`LANDING_FAMILIES`: one ingestion per source, the
reconciliation) have no cache output and are not planned by backfills: they run as the
upstream of ``MarkToMarket`` and within ``EndOfDay`` when ``[pms_ingest]`` sources feed a
date, or by ``pms-luigi ingest`` / ``reconcile``.
"""
from __future__ import annotations

from types import MappingProxyType

from pms_luigi.pipeline.step import PmsTask
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.steps.ingest import STEPS as INGEST_STEPS
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.pipeline.steps.reconcile import Reconcile

#: family name -> step class, in rank order (upstream first)
FAMILIES: MappingProxyType[str, type[PmsTask]] = MappingProxyType(
    {cls.family(): cls for cls in (MarkToMarket, PerformanceAttribution, TradeProposals,
                                   MorningPack)})
EOD_FAMILIES = ("pms.MarkToMarket", "pms.PerformanceAttribution")
PREOPEN_FAMILIES = ("pms.MarkToMarket", "pms.PerformanceAttribution", "pms.TradeProposals",
                    "pms.MorningPack")
#: the landing stage's steps by name: each source's ingestion, then the reconciliation
LANDING_FAMILIES: MappingProxyType[str, type[PmsTask]] = MappingProxyType(
    {cls.family(): cls for cls in (*INGEST_STEPS.values(), Reconcile)})
#: who consumes whom: the invalidation walk goes forward along these edges
CONSUMERS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType({
    "pms.MarkToMarket": ("pms.MarkToMarket", "pms.PerformanceAttribution",
                         "pms.TradeProposals", "pms.MorningPack"),
    "pms.PerformanceAttribution": ("pms.MorningPack",),
    "pms.TradeProposals": ("pms.MorningPack",),
    "pms.MorningPack": (),
})


def family_name(name: str) -> str:
    """``MarkToMarket`` or ``pms.MarkToMarket`` -> ``pms.MarkToMarket`` (refuses unknowns)."""
    fam = name if name.startswith("pms.") else f"pms.{name}"
    if fam not in FAMILIES:
        raise ValueError(f"unknown task family {name!r}; known: {', '.join(FAMILIES)}")
    return fam

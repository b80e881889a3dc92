"""Luigi tasks (namespace ``pms``): ``luigi --module pms_luigi.tasks pms.EndOfDay --date D``.

Imported by the ``luigi`` binary, this module also gives it pms_luigi's logging, one line
per expected failure and the exit-code table (:mod:`pms_luigi.ops.luigi_entry`); in a
process that configured logging already (``pms-luigi``, a test run) importing it changes
nothing but the task registry.
"""
from pms_luigi.ops import luigi_entry
from pms_luigi.pipeline.inputs import MarketDataReady, SignalsReady
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.steps.ingest import (
    IngestAnbimaTpf,
    IngestB3PriceReport,
    IngestBcbCdi,
    IngestBcbPtax,
)
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.pipeline.steps.reconcile import Reconcile
from pms_luigi.pipeline.wrappers import EndOfDay, PreOpen

STEPS = (MarkToMarket, PerformanceAttribution, TradeProposals, MorningPack)
#: the steps of the landing stage (run when ``[pms_ingest] sources`` feed a date)
INGESTION = (IngestB3PriceReport, IngestAnbimaTpf, IngestBcbPtax, IngestBcbCdi, Reconcile)

__all__ = ["INGESTION", "STEPS", "EndOfDay", "IngestAnbimaTpf", "IngestB3PriceReport",
           "IngestBcbCdi", "IngestBcbPtax", "MarkToMarket", "MarketDataReady", "MorningPack",
           "PerformanceAttribution", "PreOpen", "Reconcile", "SignalsReady", "TradeProposals"]

luigi_entry.install()

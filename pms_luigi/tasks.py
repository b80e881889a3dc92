"""Luigi tasks (namespace ``pms``): ``luigi --module pms_luigi.tasks pms.EndOfDay --date D``."""
from pms_luigi.pipeline.steps.attribution import PerformanceAttribution
from pms_luigi.pipeline.inputs import MarketDataReady, SignalsReady
from pms_luigi.pipeline.steps.mark_to_market import MarkToMarket
from pms_luigi.pipeline.steps.morning_pack import MorningPack
from pms_luigi.pipeline.steps.proposals import TradeProposals
from pms_luigi.pipeline.wrappers import EndOfDay, PreOpen

STEPS = (MarkToMarket, PerformanceAttribution, TradeProposals, MorningPack)

__all__ = ["EndOfDay", "MarketDataReady", "MarkToMarket", "MorningPack",
           "PerformanceAttribution", "PreOpen", "STEPS", "SignalsReady", "TradeProposals"]

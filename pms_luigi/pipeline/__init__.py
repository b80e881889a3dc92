"""The Luigi tasks (namespace ``pms``) and what they share.

:mod:`.context` (the run context a build hands its steps), :mod:`.config` (``luigi.cfg``
sections), :mod:`.params`, :mod:`.targets` (DB marker and Redis cache targets, bulk
status), :mod:`.memo` / :mod:`.status` (completeness, transitively), :mod:`.step` (the
step skeleton), :mod:`.retry`, :mod:`.inputs` (external tasks on input data),
``steps/`` (MarkToMarket, PerformanceAttribution, TradeProposals, MorningPack),
:mod:`.wrappers` (EndOfDay, PreOpen, a backfill chunk), :mod:`.graph` (the families).
"""

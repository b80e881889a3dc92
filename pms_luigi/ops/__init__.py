"""Running the graph: :mod:`.runner` (builds and exit codes), backfills, invalidation and
reruns, :mod:`.own_runs` (which steps a backfill built itself, for its summary),
:mod:`.status` (the status grid), :mod:`.status_page` (its HTML page), :mod:`.workflow`
(proposal decisions as transactions), :mod:`.logs` (logging fit for cron, one line per
expected failure), :mod:`.luigi_entry` (the same for the ``luigi`` binary)."""

#: Dates per ``luigi.build`` of a backfill or rerun, by default (here, not in ``backfill``,
#: so the command line reads it without importing Luigi). Each chunk pays a fixed cost (its
#: status prefetch, one read per input table, Luigi's scheduling) and a pipelined backfill
#: ends with one chunk of the other steps after the last MTM: 60 dates balances the two
#: over years of history (docs/benchmarks.md).
DEFAULT_CHUNK = 60

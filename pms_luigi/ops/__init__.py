"""Running the graph: :mod:`.runner` (builds and exit codes), backfills, invalidation and
reruns, :mod:`.own_runs` (which steps a backfill built itself, for its summary),
:mod:`.status` (the status grid), :mod:`.status_page` (its HTML page), :mod:`.workflow`
(proposal decisions as transactions), :mod:`.logs` (logging fit for cron, one line per
expected failure), :mod:`.luigi_entry` (the same for the ``luigi`` binary)."""

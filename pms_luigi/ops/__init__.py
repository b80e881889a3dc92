"""Running the graph: :mod:`.runner` (builds and exit codes), backfills, invalidation and
reruns, :mod:`.status` (the status grid), :mod:`.workflow` (proposal decisions as
transactions), :mod:`.logs` (logging fit for cron, one line per expected failure),
:mod:`.luigi_entry` (the same for the ``luigi`` binary)."""

"""The steps: :mod:`.mark_to_market`, :mod:`.attribution`, :mod:`.proposals`,
:mod:`.morning_pack`, and the landing stage's :mod:`.ingest` (one step per source's landed
file) and :mod:`.reconcile` (published prices against their rates). Each reads its inputs,
calls the pure code, writes rows and marker in one transaction and, when it has a cache
output, publishes after the commit."""

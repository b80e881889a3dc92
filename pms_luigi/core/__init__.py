"""The functional core: pure functions over pandas/NumPy data, no I/O, no clock, no state.

:mod:`.calendar` (ANBIMA days, B3 sessions, point-in-time; the rule versions in
:mod:`.calendar_versions`), :mod:`.pricing` (one module per instrument),
:mod:`.mtm` (marks, P&L explain, NAV), :mod:`.risk`, :mod:`.attribution`,
:mod:`.proposals`, :mod:`.pack` (the morning pack's sections), :mod:`.reconcile`
(published prices against their rates), :mod:`.validation` (input checks),
:mod:`.cells` (one text cell to a typed value, strictly),
:mod:`.frames` (the shared helpers), :mod:`.errors` (the exception tree and the exit-code
table). Nothing here imports Luigi, SQLAlchemy, Redis or a renderer.
"""

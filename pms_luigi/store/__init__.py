"""The database: schema, engine, as-of readers, bulk writers, markers and run history.

:mod:`.schema` (every table), :mod:`.engine` (engines per process, migrations, the step
lock, URL masking), :mod:`.readers` (point-in-time reads), :mod:`.window` (a backfill
chunk's input reads, one per table), :mod:`.writers` (typed bulk INSERT / COPY),
:mod:`.markers` (step markers and the run history), :mod:`.availability` (what input data
a date lacks), :mod:`.decisions` and :mod:`.journal` (proposal decisions and their hash
chain), :mod:`.loader` (validated loads), :mod:`.status_details` (the status page's bulk
reads of a range), :mod:`.status_queries` (the run-history reads a backfill's summary
needs), ``migrations/`` (Alembic). All SQL lives here.
"""

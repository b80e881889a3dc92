"""Alembic environment: runs on the connection handed over by ``store.engine.migrate``.

SQLite uses batch mode (``render_as_batch``) so ALTERs work on both dialects.
"""
from __future__ import annotations

from alembic import context

from pms_luigi.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # command-line use: alembic -x url=...
    import sqlalchemy as sa

    url = context.get_x_argument(as_dictionary=True)["url"]
    connection = sa.create_engine(url).connect()

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()

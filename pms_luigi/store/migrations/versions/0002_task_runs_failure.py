"""task_runs.failure: a failed run's class in the exit-code table

The runner chose a command's exit code by parsing "<ErrorClass>: message" out of
``task_runs.error``; the class now has its own column, holding the ``ExitCode`` name. Rows
written before this revision get it from the class name their error text starts with (the
classes as they were then; anything else failed as FAILED).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

#: ExitCode name per exception class name, as the classes were when this revision was made.
_BY_CLASS = (
    ("MISSING_DATA", ("MissingPrice", "MissingFxFixing", "MissingCdi", "MissingVna")),
    ("BAD_INPUT", ("InvalidInput",)),
    ("BAD_REQUEST", ("NotBusinessDay",)),
    ("CACHE_UNAVAILABLE", ("CacheUnavailable",)),
    ("STORE_UNAVAILABLE", ("TransientStoreError", "OperationalError", "InterfaceError")),
)


def upgrade() -> None:
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("failure", sa.String(length=20), nullable=True))
    runs = sa.table("task_runs", sa.column("status", sa.String), sa.column("error", sa.Text),
                    sa.column("failure", sa.String))
    failed = runs.c.status == "FAILED"
    for code, classes in _BY_CLASS:
        op.execute(runs.update().where(
            failed, sa.or_(*[runs.c.error.like(f"{name}:%") for name in classes]))
            .values(failure=code))
    op.execute(runs.update().where(failed, runs.c.failure.is_(None)).values(failure="FAILED"))


def downgrade() -> None:
    with op.batch_alter_table("task_runs", schema=None) as batch_op:
        batch_op.drop_column("failure")

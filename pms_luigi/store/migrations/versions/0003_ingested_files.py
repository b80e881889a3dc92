"""ingested_files and the ingest_id of every input row an Ingest step writes

The landing stage records each file it ingests (source, landing date, name, sha256, size,
when, the run, what it held) in ``ingested_files``; ``market_prices``, ``fx_fixings``,
``cdi_fixings`` and ``vna`` get a nullable ``ingest_id`` naming the file a row came from.
Rows loaded before this revision (and every manual load) keep NULL there.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-06
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: The input tables whose rows name the file they came from.
_TABLES = ("market_prices", "fx_fixings", "cdi_fixings", "vna")


def upgrade() -> None:
    op.create_table(
        "ingested_files",
        sa.Column("ingest_id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=30), nullable=False),
        sa.Column("business_date", sa.Date(), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_id", sa.String(length=40), nullable=False),
        sa.Column("counts", sa.JSON().with_variant(postgresql.JSONB(), "postgresql"),
                  nullable=False),
        sa.PrimaryKeyConstraint("ingest_id", name=op.f("pk_ingested_files")),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table("ingested_files", schema=None) as batch_op:
        batch_op.create_index("ix_ingested_files_source_date", ["source", "business_date"],
                              unique=False)
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("ingest_id", sa.Integer(), nullable=True))
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_ingest_id_ingested_files"), "ingested_files",
                ["ingest_id"], ["ingest_id"])


def downgrade() -> None:
    for table in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_ingest_id_ingested_files"),
                                     type_="foreignkey")
            batch_op.drop_column("ingest_id")
    with op.batch_alter_table("ingested_files", schema=None) as batch_op:
        batch_op.drop_index("ix_ingested_files_source_date")
    op.drop_table("ingested_files")

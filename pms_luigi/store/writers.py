"""Transactional writers: bulk Core inserts on the caller's connection.

Rounding rule at this boundary: Money columns (NUMERIC(20, 2)) are rounded half-even to
centavos here, once, so PostgreSQL and SQLite store the same value; pure code keeps float64.
"""
from __future__ import annotations

import csv
import io
from datetime import date

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store.schema import Money


def _is_money(col: sa.Column) -> bool:
    return isinstance(col.type, sa.Numeric) and col.type.scale == Money.scale \
        and col.type.precision == Money.precision


def records(tbl: sa.Table, frame: pd.DataFrame) -> list[dict]:
    """Frame → list of dicts with only the table's columns, NaN → NULL, numpy → Python.

    Vectorised per column (no per-cell Python loop): ``astype(object)`` turns numpy scalars
    into Python ones and ``where`` puts None in the holes.
    """
    cols = [c for c in tbl.columns if c.name in frame.columns]
    out = {}
    for col in cols:
        series = frame[col.name]
        if _is_money(col):
            series = np.round(series.astype(float), 2)
        elif isinstance(col.type, sa.Date) and pd.api.types.is_datetime64_any_dtype(series):
            series = series.dt.date
        obj = series.astype(object)
        out[col.name] = obj.where(series.notna(), None).tolist()
    names = list(out)
    return [dict(zip(names, row, strict=True)) for row in zip(*out.values(), strict=True)]


COPY_THRESHOLD = 500


def insert_frame(conn: Connection, tbl: sa.Table, frame: pd.DataFrame) -> int:
    """Bulk insert on the caller's connection (inside its transaction).

    PostgreSQL and a large frame without JSON columns: ``COPY … FROM STDIN`` (about 20x an
    executemany INSERT); otherwise one executemany INSERT.
    """
    if frame.empty:
        return 0
    rows = records(tbl, frame)
    has_json = any(isinstance(c.type, sa.JSON) for c in tbl.columns if c.name in rows[0])
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD and not has_json:
        _copy(conn, tbl, rows)
    else:
        conn.execute(sa.insert(tbl), rows)
    return len(rows)


def _copy(conn: Connection, tbl: sa.Table, rows: list[dict]) -> None:
    """COPY the rows as CSV through the DBAPI connection of this same transaction."""
    names = list(rows[0])
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        ["" if v is None else v for v in (row[n] for n in names)] for row in rows)
    buf.seek(0)
    cols = ", ".join(f'"{n}"' for n in names)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f'COPY "{tbl.name}" ({cols}) FROM STDIN WITH (FORMAT csv)', buf)
    finally:
        cursor.close()


def replace_on(conn: Connection, tbl: sa.Table, on: date, frame: pd.DataFrame,
               column: str = "business_date") -> int:
    """Idempotent write of one date's rows: DELETE that date, then INSERT (same transaction)."""
    conn.execute(sa.delete(tbl).where(tbl.c[column] == on))
    return insert_frame(conn, tbl, frame)


def upsert_frame(conn: Connection, tbl: sa.Table, frame: pd.DataFrame) -> int:
    """INSERT … ON CONFLICT (primary key) DO UPDATE: loading the same file twice is a no-op."""
    if frame.empty:
        return 0
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = records(tbl, frame)
    stmt = insert(tbl)
    keys = [c.name for c in tbl.primary_key.columns]
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=update) if update \
        else stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)
    return len(rows)

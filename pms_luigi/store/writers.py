"""Transactional writers: bulk Core inserts on the caller's connection.

Rounding rule at this boundary: Money columns (NUMERIC(20, 2)) are rounded half-even to
centavos here, once, so PostgreSQL and SQLite store the same value; pure code keeps float64.
"""
from __future__ import annotations

import math
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
    """Frame → list of dicts with only the table's columns, NaN → NULL, numpy → Python."""
    cols = [c for c in tbl.columns if c.name in frame.columns]
    out = frame[[c.name for c in cols]].copy()
    for col in cols:
        if _is_money(col):
            out[col.name] = np.round(out[col.name].astype(float), 2)
    rows = out.astype(object).to_dict("records")
    for row in rows:
        for key, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[key] = None
            elif isinstance(value, np.generic):
                row[key] = value.item()
            elif isinstance(value, pd.Timestamp):
                row[key] = value.date()
    return rows


def insert_frame(conn: Connection, tbl: sa.Table, frame: pd.DataFrame) -> int:
    """One executemany INSERT for the whole frame."""
    if frame.empty:
        return 0
    conn.execute(sa.insert(tbl), records(tbl, frame))
    return len(frame)


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

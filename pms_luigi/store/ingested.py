"""The files the landing stage ingested, and the input rows each one wrote.

Every ``Ingest`` step records the file it read in ``ingested_files`` (source, landing date,
name, sha256, size, when, its run, what the file held) and writes its rows with that row's
``ingest_id``, all in the step's one transaction (:func:`record`, :func:`replace_rows`).
A corrected file of the same source and date *replaces* what the earlier one wrote — the
rows pointing at any earlier file of that source and date go first — and a row of the same
key loaded by hand gives way to the file's. The earlier ``ingested_files`` rows stay: they
are the history of what was landed.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from types import MappingProxyType
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store import readers
from pms_luigi.store import schema as s
from pms_luigi.store.writers import insert_frame

#: The date column of each input table an ``Ingest`` step writes.
DATE_COLUMNS: Mapping[sa.Table, str] = MappingProxyType({
    s.market_prices: "price_date", s.fx_fixings: "fixing_date", s.cdi_fixings: "fixing_date",
    s.vna: "ref_date"})


def record(conn: Connection, *, source: str, on: date, file_name: str, sha256: str,
           size_bytes: int, run_id: str, counts: Mapping[str, Any]) -> int:
    """Insert the ``ingested_files`` row of one file (in the caller's transaction).

    Returns:
        Its ``ingest_id``, which every row the file writes carries.
    """
    f = s.ingested_files
    return conn.execute(sa.insert(f).values(
        source=source, business_date=on, file_name=file_name, sha256=sha256,
        size_bytes=size_bytes, ingested_at=datetime.now(UTC), run_id=run_id,
        counts=dict(counts)).returning(f.c.ingest_id)).scalar_one()


def _same_source(source: str, on: date) -> sa.Select:
    f = s.ingested_files
    return sa.select(f.c.ingest_id).where(f.c.source == source, f.c.business_date == on)


def _same_keys(tbl: sa.Table, frame: pd.DataFrame) -> sa.ColumnElement[bool]:
    """The rows whose key (the primary key without its date) is one of ``frame``'s; every
    row when the date is the whole key (``cdi_fixings``)."""
    names = [c.name for c in tbl.primary_key.columns if c.name != DATE_COLUMNS[tbl]]
    if not names:
        return sa.true()
    keys = frame[names].drop_duplicates().itertuples(index=False, name=None)
    if len(names) == 1:
        return tbl.c[names[0]].in_([k[0] for k in keys])
    return sa.or_(*[sa.and_(*[tbl.c[n] == v for n, v in zip(names, k, strict=True)])
                    for k in keys])


def replace_rows(conn: Connection, tbl: sa.Table, *, source: str, on: date,
                 frame: pd.DataFrame, ingest_id: int) -> int:
    """Write one file's rows of ``tbl`` dated ``on`` in place of the source's earlier ones.

    Deleted first, in the caller's transaction: the rows of that date written by any
    earlier file of ``source`` for ``on`` (a corrected file replaces, never appends, even
    when it drops a row), and the rows of the same key from anywhere else (a manual load).

    Returns:
        The rows inserted.
    """
    column = tbl.c[DATE_COLUMNS[tbl]]
    conn.execute(sa.delete(tbl).where(column == on,
                                      tbl.c.ingest_id.in_(_same_source(source, on))))
    if frame.empty:
        return 0
    conn.execute(sa.delete(tbl).where(column == on, _same_keys(tbl, frame)))
    return insert_frame(conn, tbl, frame.assign(ingest_id=ingest_id))


def prices_missing(conn: Connection, on: date) -> list[str]:
    """``["market_prices: no price dated <on>"]`` when no price of ``on`` is loaded, else
    ``[]`` (one EXISTS): what a reconciliation of ``on`` needs."""
    p = s.market_prices
    if conn.execute(sa.select(sa.select(p.c.price_date).where(p.c.price_date == on)
                              .exists())).scalar_one():
        return []
    return [f"market_prices: no price dated {on}"]


def loaded_by_hand(conn: Connection, tbl: sa.Table, on: date) -> pd.DataFrame:
    """The rows of ``tbl`` dated ``on`` that no file wrote (``ingest_id`` NULL)."""
    return readers.fetch(conn, sa.select(tbl).where(tbl.c[DATE_COLUMNS[tbl]] == on,
                                                   tbl.c.ingest_id.is_(None)))


def files_on(conn: Connection, on: date) -> pd.DataFrame:
    """The ``ingested_files`` rows of landing date ``on``, by source and time of ingestion
    (the last of a source is the one its rows point at)."""
    f = s.ingested_files
    return readers.fetch(conn, sa.select(f).where(f.c.business_date == on)
                         .order_by(f.c.source, f.c.ingest_id))


def provenance(conn: Connection, tbl: sa.Table, on: date) -> pd.DataFrame:
    """The rows of ``tbl`` dated ``on`` with the file each came from: ``tbl``'s columns plus
    ``file_source``, ``file_name``, ``sha256`` (NULL for a manual load)."""
    f = s.ingested_files
    stmt = sa.select(tbl, f.c.source.label("file_source"), f.c.file_name, f.c.sha256) \
        .select_from(tbl.outerjoin(f, tbl.c.ingest_id == f.c.ingest_id)) \
        .where(tbl.c[DATE_COLUMNS[tbl]] == on)
    return readers.fetch(conn, stmt)

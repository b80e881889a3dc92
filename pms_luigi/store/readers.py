"""Point-in-time readers: every function takes the business date and reads only rows dated
on or before it. Each returns a DataFrame whose columns are the table's
column names — the contract with the pure modules — with one query per call.
"""
from __future__ import annotations

from datetime import date

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.store import schema as s
from pms_luigi.store import window
from pms_luigi.store.window import InputWindow


def fetch(conn: Connection, stmt: sa.Select) -> pd.DataFrame:
    """Run ``stmt`` and return a frame, built column-wise (fast for 100k rows)."""
    result = conn.execute(stmt)
    keys = list(result.keys())
    rows = result.fetchall()
    if not rows:
        return pd.DataFrame(columns=keys)
    columns = (list(col) for col in zip(*rows, strict=True))
    return pd.DataFrame(dict(zip(keys, columns, strict=True)))


def typed_columns(tbl: sa.Table, names: list[str] | None = None) -> list[sa.ColumnElement]:
    """The table's columns (or ``names``) with every NUMERIC cast to double precision in SQL.

    The driver then hands over floats directly — no Decimal per value, no Python conversion —
    and SQLite returns REAL even where it stored an integral value as INTEGER. PostgreSQL's
    numeric → float8 goes through the decimal text (strtod), i.e. the same double as
    ``float(Decimal)``; its float8 output is shortest-exact (``extra_float_digits`` ≥ 1,
    the default since PostgreSQL 12), so nothing is lost on the way.
    """
    cols = [tbl.c[n] for n in names] if names is not None else list(tbl.columns)
    return [sa.cast(c, sa.Float(asdecimal=False)).label(c.name)
            if isinstance(c.type, sa.Numeric) and not isinstance(c.type, sa.Float) else c
            for c in cols]


def marks_typed(conn: Connection, on: date, names: list[str] | None = None) -> pd.DataFrame:
    """position_marks of ``on`` (optionally only ``names``), numerics as floats (unordered)."""
    m = s.position_marks
    return fetch(conn, sa.select(*typed_columns(m, names)).where(m.c.business_date == on))


def trades_upto_typed(conn: Connection, on: date, names: list[str] | None = None,
                      held: InputWindow | None = None) -> pd.DataFrame:
    """:func:`trades_upto` (optionally only ``names``) with numerics as floats (MTM hot path).
    ``held``: the build's input window, if one is open (here and below)."""
    t = s.trades
    return window.between(held, f"trades:{names}", "trade_date", None, on, lambda _, upto: fetch(
        conn, sa.select(*typed_columns(t, names)).where(t.c.trade_date <= upto)
        .order_by(t.c.trade_date, t.c.trade_id)))


def prices_between_typed(conn: Connection, start: date, end: date,
                         held: InputWindow | None = None) -> pd.DataFrame:
    """:func:`prices_between` with numerics as floats."""
    p = s.market_prices
    return window.between(held, "market_prices:typed", "price_date", start, end,
                          lambda lo, hi: fetch(conn, sa.select(*typed_columns(p))
                                               .where(p.c.price_date.between(lo, hi))
                                               .order_by(p.c.price_date, p.c.instrument_id)))


def table(conn: Connection, tbl: sa.Table) -> pd.DataFrame:
    return fetch(conn, sa.select(tbl))


def instruments(conn: Connection, held: InputWindow | None = None) -> pd.DataFrame:
    return window.whole(held, "instruments", lambda: fetch(
        conn, sa.select(s.instruments).order_by(s.instruments.c.instrument_id)))


def strategies(conn: Connection) -> pd.DataFrame:
    return fetch(conn, sa.select(s.strategies).order_by(s.strategies.c.strategy_id))


def aliases(conn: Connection) -> pd.DataFrame:
    return table(conn, s.instrument_aliases)


def trades_upto(conn: Connection, on: date) -> pd.DataFrame:
    t = s.trades
    return fetch(conn, sa.select(t).where(t.c.trade_date <= on)
                 .order_by(t.c.trade_date, t.c.trade_id))


def prices_between(conn: Connection, start: date, end: date) -> pd.DataFrame:
    p = s.market_prices
    return fetch(conn, sa.select(p).where(p.c.price_date.between(start, end))
                 .order_by(p.c.price_date, p.c.instrument_id))


def fx_between(conn: Connection, start: date, end: date,
               held: InputWindow | None = None) -> pd.DataFrame:
    f = s.fx_fixings
    return window.between(held, "fx_fixings", "fixing_date", start, end, lambda lo, hi: fetch(
        conn, sa.select(f).where(f.c.fixing_date.between(lo, hi)).order_by(f.c.fixing_date)))


def cdi_between(conn: Connection, start: date, end: date,
                held: InputWindow | None = None) -> pd.DataFrame:
    c = s.cdi_fixings
    return window.between(held, "cdi_fixings", "fixing_date", start, end, lambda lo, hi: fetch(
        conn, sa.select(c).where(c.c.fixing_date.between(lo, hi)).order_by(c.c.fixing_date)))


def vna_between(conn: Connection, start: date, end: date,
                held: InputWindow | None = None) -> pd.DataFrame:
    v = s.vna
    return window.between(held, "vna", "ref_date", start, end, lambda lo, hi: fetch(
        conn, sa.select(v).where(v.c.ref_date.between(lo, hi)).order_by(v.c.ref_date)))


def vna_value(conn: Connection, index_name: str, on: date) -> float | None:
    """The VNA of ``index_name`` for ``on`` (None when not loaded)."""
    v = s.vna
    value = conn.execute(sa.select(v.c.value).where(v.c.index_name == index_name,
                                                    v.c.ref_date == on)).scalar_one_or_none()
    return None if value is None else float(value)


def signals_on(conn: Connection, dates: list[date]) -> pd.DataFrame:
    g = s.signals
    return fetch(conn, sa.select(g).where(g.c.signal_date.in_(dates))
                 .order_by(g.c.signal_date, g.c.strategy_id, g.c.signal_id))


def signals_after(conn: Connection, on: date) -> pd.DataFrame:
    """Signals dated after ``on`` that exist for ``on``'s runs — used to reject look-ahead."""
    g = s.signals
    return fetch(conn, sa.select(g).where(g.c.signal_date > on).limit(5))


def capital_flow(conn: Connection, on: date) -> float:
    c = s.capital_flows
    total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(c.c.amount_brl), 0))
                         .where(c.c.flow_date == on)).scalar_one()
    return float(total)


def marks_between(conn: Connection, start: date, end: date) -> pd.DataFrame:
    m = s.position_marks
    return fetch(conn, sa.select(m).where(m.c.business_date.between(start, end))
                 .order_by(m.c.business_date, m.c.instrument_id, m.c.strategy_id))


def marks_on(conn: Connection, on: date) -> pd.DataFrame:
    return marks_between(conn, on, on)


def books_between(conn: Connection, start: date, end: date) -> pd.DataFrame:
    b = s.book_snapshots
    return fetch(conn, sa.select(b).where(b.c.business_date.between(start, end))
                 .order_by(b.c.business_date))


def row_on(conn: Connection, tbl: sa.Table, on: date) -> dict | None:
    row = conn.execute(sa.select(tbl).where(tbl.c.business_date == on)).mappings().first()
    return None if row is None else dict(row)


def rows_on(conn: Connection, tbl: sa.Table, on: date) -> pd.DataFrame:
    return fetch(conn, sa.select(tbl).where(tbl.c.business_date == on))


def proposals_on(conn: Connection, on: date) -> pd.DataFrame:
    p = s.proposals
    return fetch(conn, sa.select(p).where(p.c.business_date == on)
                 .order_by(p.c.rank, p.c.proposal_id))


def decided_proposals_on(conn: Connection, on: date) -> pd.DataFrame:
    """Proposals for ``on`` a human already acted on (anything but PENDING)."""
    p = s.proposals
    return fetch(conn, sa.select(p).where(p.c.business_date == on, p.c.status != "PENDING")
                 .order_by(p.c.proposal_id))


def dq_issues_on(conn: Connection, dates: list[date]) -> pd.DataFrame:
    d = s.data_quality_issues
    return fetch(conn, sa.select(d).where(d.c.business_date.in_(dates))
                 .order_by(d.c.business_date, d.c.step, d.c.instrument_id))


def fund_row(conn: Connection) -> dict | None:
    """The ``fund`` table's row (name, inception_date, initial_nav), None when not loaded."""
    row = conn.execute(sa.select(s.fund)).mappings().first()
    return None if row is None else dict(row)


def latest_price_date(conn: Connection) -> date | None:
    return conn.execute(sa.select(sa.func.max(s.market_prices.c.price_date))).scalar_one()


def count(conn: Connection, tbl: sa.Table, on: date | None = None,
          column: str = "business_date") -> int:
    stmt = sa.select(sa.func.count()).select_from(tbl)
    if on is not None:
        stmt = stmt.where(tbl.c[column] == on)
    return int(conn.execute(stmt).scalar_one())


def _as_driver_returns(col: sa.Column) -> sa.ColumnElement:
    """``col``, dates and JSON as the driver returns them (SQLite: ISO text and JSON text;
    PostgreSQL: ``datetime.date`` and psycopg2's value): no SQLAlchemy processing per row,
    for callers that convert the column in bulk (5 years of books is 1,260 dates a read)."""
    if isinstance(col.type, sa.Date | sa.JSON):
        return sa.type_coerce(col, sa.String).label(col.name)
    return col


def columns_between(conn: Connection, tbl: sa.Table, start: date, end: date, names: list[str],
                    order_by: tuple[str, ...] = ("business_date",)) -> pd.DataFrame:
    """Only ``names`` of ``tbl``'s rows dated (``business_date``) in [start, end], ordered by
    ``order_by``: a step that needs a few columns of many rows converts only those. Values
    are those of the full-row readers, except dates and JSON (see :func:`_as_driver_returns`)."""
    return fetch(conn, sa.select(*(_as_driver_returns(tbl.c[n]) for n in names))
                 .where(tbl.c.business_date.between(start, end))
                 .order_by(*(tbl.c[n] for n in order_by)))


def reference_columns(conn: Connection, tbl: sa.Table, names: list[str]) -> pd.DataFrame:
    """Only ``names`` of a reference table (instruments, strategies), in primary-key order;
    dates and JSON as the driver returns them (see :func:`_as_driver_returns`)."""
    return fetch(conn, sa.select(*(_as_driver_returns(tbl.c[n]) for n in names))
                 .order_by(*tbl.primary_key.columns))


def book_series(conn: Connection, start: date, end: date) -> pd.DataFrame:
    """business_date, nav_brl, pnl_bps of the books dated in [start, end], by date: the NAV
    and performance-index history of the risk snapshot (values as :func:`books_between` gives
    them), without the other twelve columns of every book since inception."""
    b = s.book_snapshots
    return fetch(conn, sa.select(b.c.business_date, b.c.nav_brl, b.c.pnl_bps)
                 .where(b.c.business_date.between(start, end)).order_by(b.c.business_date))

"""Transactional writers: bulk Core inserts on the caller's connection.

Rounding rule at this boundary: Money columns (NUMERIC(20, 2)) are rounded half-even to
centavos here, once, so PostgreSQL and SQLite store the same value; pure code keeps float64.

The typed path (:func:`typed_frame` + :func:`insert_typed`, used by the MTM step for its bulk
rows) goes one step further: *every* numeric column is rounded to its own scale and put in
one canonical dtype before the write, so the database stores exactly the values of the frame
on both backends and reads them back unchanged. The frame just written can then stand in for
"the rows as the database returns them" (the step builds its Redis payload from it instead of
reading 10⁵ rows back), and a later republish-from-DB gives byte-identical text.
"""
from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from pms_luigi.store import schema as s
from pms_luigi.store.schema import Money


def _is_money(col: sa.Column) -> bool:
    return isinstance(col.type, sa.Numeric) and col.type.scale == Money.scale \
        and col.type.precision == Money.precision


def records(tbl: sa.Table, frame: pd.DataFrame | Mapping[str, np.ndarray]) -> list[dict]:
    """Frame (or :data:`TypedColumns`) → list of dicts with only the table's columns,
    NaN/NaT/NA → NULL, numpy → Python.

    Vectorised per column on numpy arrays (no per-cell Python loop, no pandas op per column:
    most frames written this way are one to a few hundred rows, where pandas' per-call
    overhead is the cost): ``astype(object)`` turns numpy scalars into Python ones
    (datetime64 into ``date``), and the holes become None.
    """
    present = frame.columns if isinstance(frame, pd.DataFrame) else frame
    out = {}
    for col in tbl.columns:
        if col.name not in present:
            continue
        series = frame[col.name]
        if isinstance(series, np.ndarray):
            arr = series
        else:  # extension dtypes (Int64, str): their scalars
            arr = series.to_numpy() if isinstance(series.dtype, np.dtype) \
                else series.astype(object).to_numpy()
        if _is_money(col):
            arr = np.round(arr.astype(float), 2)
        elif isinstance(col.type, sa.Date) and arr.dtype.kind == "M":
            arr = arr.astype("datetime64[D]")
        obj = arr.astype(object)
        obj[pd.isna(obj)] = None
        out[col.name] = obj.tolist()
    names = list(out)
    return [dict(zip(names, row, strict=True)) for row in zip(*out.values(), strict=True)]


#: Rows from which PostgreSQL gets ``COPY`` instead of one multi-row INSERT: COPY has a fixed
#: start-up cost that a multi-row INSERT does not, and it wins from a few dozen rows of
#: position_marks on (the crossover is measured in docs/benchmarks.md).
COPY_THRESHOLD = 50


def insert_frame(conn: Connection, tbl: sa.Table, frame: pd.DataFrame) -> int:
    """Bulk insert on the caller's connection (inside its transaction).

    PostgreSQL and a large frame without JSON columns: ``COPY … FROM STDIN`` (about 20x an
    executemany INSERT); otherwise one executemany INSERT.
    """
    if frame.empty:
        return 0
    return _insert_records(conn, tbl, records(tbl, frame))


def _insert_records(conn: Connection, tbl: sa.Table, rows: list[dict]) -> int:
    """:func:`insert_frame` of rows already made by :func:`records` (at least one)."""
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


def dialect_insert(conn: Connection) -> Callable[[sa.Table], Any]:
    """The dialect's ``insert`` (PostgreSQL's or SQLite's), the one with
    ``on_conflict_do_update``: an upsert in one statement on both stores."""
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def upsert_frame(conn: Connection, tbl: sa.Table, frame: pd.DataFrame) -> int:
    """INSERT … ON CONFLICT (primary key) DO UPDATE: loading the same file twice is a no-op."""
    if frame.empty:
        return 0
    rows = records(tbl, frame)
    stmt = dialect_insert(conn)(tbl)
    keys = [c.name for c in tbl.primary_key.columns]
    update = {c: stmt.excluded[c] for c in rows[0] if c not in keys}
    stmt = stmt.on_conflict_do_update(index_elements=keys, set_=update) if update \
        else stmt.on_conflict_do_nothing(index_elements=keys)
    conn.execute(stmt, rows)
    return len(rows)


# ---------------------------------------------------------------- the typed bulk path

#: |x|·10^scale below this, ``np.round(x, scale)`` is the double nearest a decimal with at most
#: ``scale`` places, so its shortest repr has at most ``scale`` decimals: the database stores it
#: exactly (no rounding of its own) and returns the same double.
_EXACT_LIMIT = 2.0**52


def _round_scale(values: np.ndarray, scale: int) -> np.ndarray:
    """Round to ``scale`` decimals as the writer does (numpy half-even), −0.0 → 0.0.

    Beyond 2^52 / 10^scale (e.g. 45 trillion BRL for money) the multiply-and-round of numpy is
    not exact: those few values go through Decimal (half-even) one by one.
    """
    out = np.round(values, scale) + 0.0
    big = np.isfinite(values) & (np.abs(values) * 10.0**scale >= _EXACT_LIMIT)
    if big.any():
        q = Decimal(1).scaleb(-scale)
        out[big] = [float(Decimal(repr(v)).quantize(q, rounding=ROUND_HALF_EVEN))
                    for v in values[big].tolist()]
    return out


def _iso_dates(series: pd.Series) -> np.ndarray:
    """Dates (date/datetime/Timestamp/ISO text/datetime64) → object array of 'YYYY-MM-DD' | None."""
    arr = series.to_numpy()
    codes = None
    if arr.dtype.kind != "M":  # distinct values only (a date column repeats one or two days)
        codes, uniq = pd.factorize(arr, use_na_sentinel=False)
        uniq = np.asarray(uniq, dtype=object)
        try:  # date / datetime / ISO text / None: numpy converts them in C
            arr = np.array(uniq, dtype="datetime64[D]")
        except (TypeError, ValueError):  # anything else (Timestamp with NaT, other formats)
            arr = pd.to_datetime(pd.Series(uniq, dtype=object)).to_numpy()
    days = arr.astype("datetime64[D]")
    out = days.astype(str).astype(object)
    out[np.isnat(days)] = None
    return out if codes is None else out[codes]


#: The types an object column may hold to be cast to float64 as it is (None → NaN): what
#: ``pd.to_numeric`` would give them, at a fraction of its cost on one-row frames.
_PLAIN_FLOATS = frozenset({float, np.float64, type(None)})


def _floats(series: pd.Series) -> np.ndarray:
    """A numeric column as float64 with NaN for NULL (float64 columns as they are: most are)."""
    if series.dtype == np.float64:
        return series.to_numpy()
    if series.dtype == object:  # floats and None (a snapshot's optional figures): no parsing
        values = series.to_numpy()
        if set(map(type, values.tolist())) <= _PLAIN_FLOATS:
            return values.astype(np.float64)
    return pd.to_numeric(series, errors="raise").to_numpy(dtype=np.float64, na_value=np.nan)


#: The columns of a typed frame as arrays, by name in table order (:func:`typed_columns`):
#: what the bulk writers, :func:`float_texts` and ``cache.payloads.records_json`` read, so a
#: caller that needs no frame (the MTM step) builds none.
TypedColumns = dict[str, np.ndarray]
#: Per float column: (codes, ``float.__repr__`` texts) — see :func:`float_texts`.
FloatTexts = dict[str, tuple[np.ndarray, np.ndarray]]


def _typed_column(col: sa.Column, series: pd.Series, n: int) -> np.ndarray:
    """One column of :func:`typed_frame` (``n`` rows) as its canonical array (a new one, never
    a view of ``series`` except for JSON, which is passed on as given)."""
    typ = col.type
    if isinstance(typ, sa.Numeric) and not isinstance(typ, sa.Float):
        values = _floats(series)
        return _round_scale(values, typ.scale or 0) if typ.scale is not None else values + 0.0
    if isinstance(typ, sa.Float):
        return _floats(series) + 0.0
    if isinstance(typ, sa.Boolean | sa.Integer):
        dtype = bool if isinstance(typ, sa.Boolean) else np.int64
        if isinstance(series.dtype, np.dtype) and series.dtype.kind in "biu":
            return series.to_numpy(dtype=dtype, copy=True)  # no NULL possible: skip isna
        nulls = series.isna().to_numpy()
        if nulls.any():
            obj = series.astype(object).to_numpy(copy=True)
            conv = bool if isinstance(typ, sa.Boolean) else int
            obj[~nulls] = [conv(v) for v in obj[~nulls].tolist()]
            obj[nulls] = None
            return obj
        return series.to_numpy(dtype=dtype)
    if isinstance(typ, sa.Date):
        return _iso_dates(series) if n else np.array([], dtype=object)
    if isinstance(typ, sa.String):
        obj = series.to_numpy(dtype=object, copy=True)  # what astype(object) holds, one call
        nulls = pd.isna(obj)
        if nulls.any():
            obj[nulls] = None
        return obj
    return series.to_numpy()


def typed_columns(tbl: sa.Table, frame: pd.DataFrame,
                  constants: Mapping[str, Any] | None = None) -> TypedColumns:
    """The arrays of :func:`typed_frame` without the frame: same values, dtypes and order.

    ``constants``: columns holding one value on every row (the ``run_id``), given instead of
    ``frame.assign(...)``: typed once and repeated, and a constant replaces a column of
    ``frame`` of the same name as ``assign`` does. Building the frame costs more than typing
    its columns for the few hundred rows of a date, so the MTM step writes and publishes
    from these arrays.
    """
    n = len(frame)
    given = dict(frame.items())  # one pass over the columns (``frame[name]`` is slower)
    fixed = constants or {}
    out: TypedColumns = {}
    for col in tbl.columns:
        if col.name in fixed:
            value = fixed[col.name]
            if isinstance(col.type, sa.String) and isinstance(value, str):  # as typed
                out[col.name] = np.full(n, value, dtype=object)
            else:
                out[col.name] = np.repeat(_typed_column(col, pd.Series([value]), 1), n)
        elif col.name in given:
            out[col.name] = _typed_column(col, given[col.name], n)
    return out


def typed_frame(tbl: sa.Table, frame: pd.DataFrame) -> pd.DataFrame:
    """The rows exactly as ``tbl`` will hold them, in one canonical dtype per SQL type.

    Only the table's columns, in table order. Numeric(p, s): float64 rounded to s decimals
    (:func:`_round_scale`), NaN for NULL. Integer: int64 (object with None if NULLs). Boolean:
    bool (object with None if NULLs). Date: ISO text 'YYYY-MM-DD' (None for NULL). Text: str
    (None for NULL). JSON: as given. Idempotent: ``typed_frame(t, typed_frame(t, f))`` equals
    ``typed_frame(t, f)``, and a frame read back from the database (numerics as floats, see
    ``readers.fetch_typed``) types to the same values — the basis of the payload contract.
    The frame of :func:`typed_columns`.
    """
    return pd.DataFrame(typed_columns(tbl, frame), index=pd.RangeIndex(len(frame)), copy=False)


def _arrays(typed: pd.DataFrame | Mapping[str, np.ndarray]) -> Mapping[str, np.ndarray]:
    """A typed frame's columns as arrays (:data:`TypedColumns` as they are)."""
    if isinstance(typed, pd.DataFrame):
        return {str(name): values.to_numpy() for name, values in typed.items()}
    return typed


def sorted_columns(typed: TypedColumns, keys: list[str]) -> TypedColumns:
    """``typed``'s rows in a stable sort on ``keys`` (NULL-free text or numbers): the order
    of ``frame.sort_values(keys, kind="mergesort")`` (text by code point, as Python compares
    it) without building a frame; ``typed`` itself when its rows already are in order."""
    pairs = list(zip(*(typed[name].tolist() for name in keys), strict=True))
    order = sorted(range(len(pairs)), key=pairs.__getitem__)
    if order == list(range(len(pairs))):
        return typed
    take = np.array(order, dtype=np.intp)
    return {name: values[take] for name, values in typed.items()}


def _rows(columns: Mapping[str, np.ndarray]) -> int:
    return len(next(iter(columns.values()))) if columns else 0


def float_texts(typed: pd.DataFrame | Mapping[str, np.ndarray]) -> FloatTexts:
    """Per float column: (codes, texts) with ``texts[codes[i]]`` the ``float.__repr__`` of row i
    ('nan' for NULL). The shortest text that reads back as the same double — valid both as
    COPY input and as a JSON number — made once per *distinct* value (a book repeats prices,
    quantities and zeros), and shared by the COPY text and the payload JSON.
    A column holding −0.0 (never the case after :func:`typed_frame`) is formatted value by
    value, since factorizing would merge −0.0 with 0.0.
    """
    out = {}
    for name, arr in _arrays(typed).items():
        if arr.dtype.kind != "f":
            continue
        if np.signbit(arr[arr == 0]).any():
            codes, uniq = np.arange(len(arr)), arr
        else:
            codes, uniq = pd.factorize(arr, use_na_sentinel=False)
        out[name] = (codes, np.array(list(map(float.__repr__, np.asarray(uniq).tolist())),
                                     dtype=object))
    return out


def _csv_text(typed: Mapping[str, np.ndarray], reprs: FloatTexts | None = None) -> str | None:
    """CSV for COPY (NULL = unquoted empty field); None when a text value would need quoting
    rules this fast path does not implement (empty strings, commas, quotes, newlines)."""
    cols = []
    for name, arr in typed.items():
        if arr.dtype.kind == "f":
            if np.isinf(arr).any():
                return None
            codes, uniq = reprs[name] if reprs and name in reprs else float_texts(
                {name: arr})[name]
            if np.isnan(arr).any():  # the texts hold 'nan' only then
                uniq = uniq.copy()
                uniq[uniq == "nan"] = ""
            txt = uniq[codes]
        elif arr.dtype.kind == "b":
            txt = np.where(arr, "t", "f").astype(object)
        elif arr.dtype.kind in "iu":
            txt = arr.astype(str).astype(object)
        else:
            nulls = pd.isna(arr)
            vals = arr[~nulls].tolist()
            if any(isinstance(v, dict | list) for v in vals[:1]):
                return None
            joined = "\0".join(map(str, vals))
            if any(ch in joined for ch in '",\r\n') or "" in vals:
                return None
            txt = arr.astype(object, copy=True)
            txt[nulls] = ""
        cols.append(txt.tolist())
    if not cols:
        return ""
    return "\n".join(map(",".join, zip(*cols, strict=True))) + "\n"


def insert_typed(conn: Connection, tbl: sa.Table, typed: pd.DataFrame | Mapping[str, np.ndarray],
                 reprs: FloatTexts | None = None) -> int:
    """Bulk insert of a :func:`typed_frame` (or its :func:`typed_columns`) on the caller's
    connection (inside its transaction).

    PostgreSQL (≥ ``COPY_THRESHOLD`` rows): ``COPY … FROM STDIN (FORMAT csv)`` of text built
    column-wise from the typed arrays. SQLite: one DBAPI ``executemany`` of plain tuples (ISO
    dates, 0/1 booleans, floats), the storage format SQLAlchemy itself uses there. Anything
    else (small frames, JSON columns, text needing CSV quoting): :func:`insert_frame`'s INSERT.
    """
    columns = _arrays(typed)
    n = len(typed) if isinstance(typed, pd.DataFrame) else _rows(columns)
    if n == 0:
        return 0
    names = list(columns)
    dialect = conn.dialect.name
    has_json = any(isinstance(tbl.c[c].type, sa.JSON) for c in names)
    if dialect == "postgresql" and n >= COPY_THRESHOLD and not has_json:
        text = _csv_text(columns, reprs)
        if text is not None:
            cols = ", ".join(f'"{c}"' for c in names)
            cursor = conn.connection.dbapi_connection.cursor()
            try:
                cursor.copy_expert(f'COPY "{tbl.name}" ({cols}) FROM STDIN WITH (FORMAT csv)',
                                   io.StringIO(text))
            finally:
                cursor.close()
            return n
    if dialect == "sqlite" and not has_json:
        cols = []
        for arr in columns.values():
            if arr.dtype.kind == "f":
                nulls = np.isnan(arr)
                if nulls.any():  # NaN bound as NULL explicitly, not left to SQLite
                    obj = arr.astype(object)
                    obj[nulls] = None
                    cols.append(obj.tolist())
                else:
                    cols.append(arr.tolist())  # the same Python floats, no object array
            elif arr.dtype.kind == "b":
                cols.append(arr.astype(np.int64).tolist())
            else:
                cols.append(arr.tolist())
        marks = ", ".join("?" for _ in names)
        quoted = ", ".join(f'"{c}"' for c in names)
        # names from the schema, values bound as parameters
        conn.exec_driver_sql(f'INSERT INTO "{tbl.name}" ({quoted}) VALUES ({marks})',  # noqa: S608
                             list(zip(*cols, strict=True)))
        return n
    dates = {c: np.asarray(columns[c], dtype="datetime64[D]").astype(object)
             for c in names if isinstance(tbl.c[c].type, sa.Date)}
    return _insert_records(conn, tbl, records(tbl, {**columns, **dates}))


def replace_typed(conn: Connection, tbl: sa.Table, on: date,
                  typed: pd.DataFrame | Mapping[str, np.ndarray],
                  column: str = "business_date", reprs: FloatTexts | None = None) -> int:
    """:func:`replace_on` for a :func:`typed_frame` or its :func:`typed_columns`: DELETE the
    date, bulk INSERT/COPY (``reprs``: :func:`float_texts` of ``typed`` when the caller already
    has them)."""
    conn.execute(sa.delete(tbl).where(tbl.c[column] == on))
    return insert_typed(conn, tbl, typed, reprs)


def replace_step_rows(conn: Connection, tbl: sa.Table, on: date, step: str,
                      frame: pd.DataFrame) -> int:
    """Replace the rows ``step`` wrote for ``on`` in a table several steps write into
    (``data_quality_issues``): the rows of other steps stay."""
    conn.execute(sa.delete(tbl).where(tbl.c.business_date == on, tbl.c.step == step))
    return insert_frame(conn, tbl, frame)


#: What names a pipeline proposal across reruns of its date (with ``business_date``).
PROPOSAL_KEY = ("instrument_id", "side", "action")


def replace_pending_proposals(conn: Connection, on: date, frame: pd.DataFrame) -> int:
    """Write the pipeline proposals of ``on``, each keeping its id across reruns.

    A pipeline proposal is named by (``on``, instrument, side, action), so an id quoted from
    the morning pack still names the same proposal after a rerun:

    * a PENDING pipeline row whose key is proposed again is updated in place: same
      ``proposal_id`` and ``created_at``, the new values, ``run_id`` and ``updated_at``;
    * a PENDING pipeline row whose key is not proposed again is deleted (its id is never
      reused: the table's ids only grow);
    * a key without any row of ``on`` is inserted with a new id;
    * a row a person decided (APPROVED, REJECTED, MODIFIED, BOOKED) or a manual one is never
      touched, and its key is never inserted again: a decision is not re-keyed by a rerun.

    Each UPDATE and DELETE also requires ``status = 'PENDING'``, so a decision that commits
    between the read and the write (it holds the row lock on PostgreSQL) wins.

    Returns:
        The rows updated plus inserted.
    """
    p = s.proposals
    key = list(PROPOSAL_KEY)
    if frame.empty:  # nothing proposed: the PENDING pipeline rows of ``on`` go
        frame = pd.DataFrame({c: pd.Series(dtype=object) for c in key})
    ours = (p.c.origin == "PIPELINE") & (p.c.status == "PENDING")
    held = pd.DataFrame(conn.execute(
        sa.select(p.c.proposal_id, p.c.instrument_id, p.c.side, p.c.action, ours.label("ours"))
        .where(p.c.business_date == on)).mappings().all(),
        columns=["proposal_id", *key, "ours"])
    held["ours"] = held["ours"].eq(True)
    first = held.sort_values(["ours", "proposal_id"], kind="mergesort").drop_duplicates(key)
    m = frame.merge(first, on=key, how="left")  # a decided row of a key wins over a PENDING
    again = m["proposal_id"].notna() & m["ours"].eq(True)
    gone = held.loc[held["ours"] & ~held["proposal_id"].isin(m["proposal_id"]), "proposal_id"]
    if len(gone):
        conn.execute(sa.delete(p).where(p.c.proposal_id.in_([int(i) for i in gone]),
                                        p.c.status == "PENDING"))
    update = m.loc[again].drop(columns=["ours", "created_at"], errors="ignore")
    if len(update):
        rows = records(p, update)
        names = [c for c in rows[0] if c != "proposal_id"]
        conn.execute(sa.update(p).where(p.c.proposal_id == sa.bindparam("pid"),
                                        p.c.status == "PENDING")
                     .values({c: sa.bindparam(f"v_{c}") for c in names}),
                     [{"pid": int(r["proposal_id"]), **{f"v_{c}": r[c] for c in names}}
                      for r in rows])
    new = m.loc[m["proposal_id"].isna()].drop(columns=["proposal_id", "ours"])
    return len(update) + insert_frame(conn, p, new)

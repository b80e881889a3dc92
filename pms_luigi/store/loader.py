"""Load input data (reference, market, ledger, signals) into the database.

Every table of a load is read and checked first (``pms_luigi.core.validation``, with each
column's kind and size taken from the schema) and then upserted in ONE transaction: a bad
file is refused whole with every problem in it, a repeated file changes nothing. A trade id
already loaded with other values is refused unless the load replaces trades, and a
replacement lets the caller mark what was computed from the old trade stale in the same
transaction.
"""
from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from pms_luigi.core import validation
from pms_luigi.core.cells import PLAIN, Column, TextFormat
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.validation import Problem, Report, rejection
from pms_luigi.store import readers
from pms_luigi.store import schema as s
from pms_luigi.store.writers import upsert_frame

# Load order respects foreign keys.
INPUT_TABLES: dict[str, sa.Table] = {
    "fund": s.fund,
    "instruments": s.instruments,
    "strategies": s.strategies,
    "instrument_aliases": s.instrument_aliases,
    "market_prices": s.market_prices,
    "fx_fixings": s.fx_fixings,
    "cdi_fixings": s.cdi_fixings,
    "vna": s.vna,
    "trades": s.trades,
    "signals": s.signals,
    "capital_flows": s.capital_flows,
}

#: Called in the load's transaction when trades were replaced: (connection, the earliest
#: trade date a replacement changes — the old date or the new one —, the trade ids).
OnReplace = Callable[[Connection, date, list[str]], object]

#: Columns a file does not set: where a row came from is the landing stage's to say
#: (``ingested_files``); a manual load writes NULL there, over an ingested row too.
PROVENANCE = ("ingest_id",)

#: Trade ids read per query when looking for ids already loaded.
_ID_CHUNK = 500


def columns(table: str) -> tuple[Column, ...]:
    """The columns of an input table as the loader reads them, from the schema.

    Kinds follow the SQL types (Date, Numeric, Integer, Boolean, JSON, else text), sizes are
    the ``VARCHAR(n)`` and ``NUMERIC(p, s)`` of the schema; a column is required when it is
    NOT NULL without a server default, and an empty cell of a column with a default stands
    for the default.
    """
    out = []
    for col in (c for c in INPUT_TABLES[table].columns if c.name not in PROVENANCE):
        kind = ("boolean" if isinstance(col.type, sa.Boolean) else
                "date" if isinstance(col.type, sa.Date) else
                "integer" if isinstance(col.type, sa.Integer) else
                "number" if isinstance(col.type, sa.Numeric) else
                "json" if isinstance(col.type, sa.JSON) else "text")
        default = None if col.server_default is None else str(col.server_default.arg)
        out.append(Column(col.name, kind, required=not col.nullable and default is None,
                          length=getattr(col.type, "length", None) if kind == "text" else None,
                          precision=getattr(col.type, "precision", None),
                          scale=getattr(col.type, "scale", None), default=default))
    return tuple(out)


# ---------------------------------------------------------------- the CSV file

def read_csv(path: str | Path, table: str = "", *, sep: str | None = None) -> pd.DataFrame:
    """Read an input CSV the way ``pms-luigi load`` does: every cell as text, as written.

    Validation does the typing, so "0,15" or "abc" is reported by line and column instead of
    silently coerced. The file must be UTF-8 (a byte-order mark is fine) text; a spreadsheet
    saved as Latin-1 or UTF-16 must be fixed, not guessed at.

    Args:
        path: the file.
        table: the input table, for messages (default: the file's name).
        sep: the field separator; None: ``;`` when the header line has a semicolon and no
            comma (a header holds only column names, so it cannot be read both ways), else
            ``,``.

    Returns:
        One row per data line, the columns of the header, text cells (None where empty);
        the index, named ``line``, is each row's line in the file (the header is line 1).
        Blank lines and lines of empty fields are skipped.

    Raises:
        InvalidInput: the file is empty, has only a header, holds NUL bytes or is not UTF-8;
            the header has a nameless or repeated column; rows with another number of
            fields than the header, or broken quoting (every such line at once).
    """
    name = table or Path(path).name
    raw = Path(path).read_bytes()
    if not raw.lstrip(b"\xef\xbb\xbf").strip():
        raise InvalidInput(f"{name}: the file is empty", table=table, row={"line": 1},
                           field="file")
    nul = raw.find(b"\x00")
    if nul >= 0:
        line, count = raw.count(b"\n", 0, nul) + 1, raw.count(b"\x00")
        raise InvalidInput(f"{name}: NUL byte at line {line} ({count} in the file): not a "
                           "text file (UTF-16? binary?); save it as UTF-8 CSV",
                           table=table, row={"line": line}, field="file")
    text = _decoded(raw, name, table, sep)
    sep = sep or _separator(text)
    header, records, problems = _records(text, sep, name, table)
    if problems:
        raise rejection(problems)
    if not records:
        raise InvalidInput(f"{name}: no data rows, only the header line", table=table,
                           row={"line": 2}, field="file")
    lines, cells = zip(*records, strict=True)
    frame = pd.DataFrame(list(cells), columns=header, dtype=object,
                         index=pd.Index(lines, name="line"))
    return frame.mask(frame.eq(""))


def _decoded(raw: bytes, name: str, table: str, sep: str | None) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        head = raw[:exc.start]
        line = head.count(b"\n") + 1
        first = raw.split(b"\n", 1)[0].decode("utf-8", "replace")
        sep = sep or _separator(first)
        header = first.strip().split(sep)
        col = head.rsplit(b"\n", 1)[-1].count(sep.encode())
        field = header[col] if col < len(header) else f"column {col + 1}"
        raise InvalidInput(
            f"{name}: not UTF-8 text at line {line}, field {field} "
            f"(byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            table=table, row={"line": line}, field=field) from None


def _separator(text: str) -> str:
    header = next((ln for ln in io.StringIO(text) if ln.strip()), "")
    return ";" if ";" in header and "," not in header else ","


def _records(text: str, sep: str, name: str, table: str,
             ) -> tuple[list[str], list[tuple[int, list[str]]], list[Problem]]:
    """The header, the data records with their first line, and the problems of shape."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sep, strict=True)
    header: list[str] | None = None
    records: list[tuple[int, list[str]]] = []
    problems: list[Problem] = []
    start = 1
    try:
        for record in reader:
            first, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in record):
                continue
            if header is None:
                header = [cell.strip() for cell in record]
                problems += _header_problems(name, header, first)
            elif len(record) != len(header):
                fields = f"{len(record)} field{'' if len(record) == 1 else 's'}"
                problems.append(Problem(name, f"line {first}", "", "row", "",
                                        f"{fields}, the header has {len(header)} (separator "
                                        f"{sep!r})", {"line": first}, first))
            else:
                records.append((first, record))
    except csv.Error as exc:  # a quote not closed runs on: name where its record began
        read_to = "" if reader.line_num == start else f", read on to line {reader.line_num}"
        raise InvalidInput(f"{name}: line {start}: {exc} (quoting{read_to})", table=table,
                           row={"line": start}, field="row") from None
    return header or [], records, problems


def _header_problems(name: str, header: list[str], line: int) -> list[Problem]:
    out = []
    for i, col in enumerate(header):
        if not col:
            out.append(Problem(name, f"line {line}", "", f"column {i + 1}", "",
                               "the header names no column here", {"line": line}))
        elif header.index(col) != i:
            out.append(Problem(name, f"line {line}", "", col, "",
                               f"column named twice (columns {header.index(col) + 1} and "
                               f"{i + 1})", {"line": line}))
    return out


# ---------------------------------------------------------------- the load

def load_inputs(engine: sa.Engine, frames: Mapping[str, pd.DataFrame],
                as_of: date | None = None, *, fmt: TextFormat = PLAIN, replace: bool = False,
                on_replace: OnReplace | None = None) -> dict[str, int]:
    """Check every frame, then upsert all of them in one transaction.

    Args:
        engine: the database.
        frames: input table -> rows (text cells from :func:`read_csv`, or typed cells).
        as_of: rows dated after it are refused.
        fmt: how text cells write dates and numbers.
        replace: a trade id already loaded with other values is replaced (else refused).
        on_replace: called in the transaction after trades were replaced (see
            :data:`OnReplace`): the caller marks what was computed from them stale.

    Returns:
        Rows written per table.

    Raises:
        InvalidInput: every problem of every frame (:func:`pms_luigi.core.validation.rejection`);
            nothing is written.
        ValueError: a name in ``frames`` is not an input table.
    """
    unknown = set(frames) - set(INPUT_TABLES)
    if unknown:
        raise ValueError(f"not an input table: {sorted(unknown)}")
    with engine.begin() as conn:
        instruments = readers.instruments(conn) if "instruments" not in frames else \
            validation.validate("instruments", frames["instruments"],
                                columns=columns("instruments"), fmt=fmt)
        strategies = frames.get("strategies")
        strategies = readers.strategies(conn) if strategies is None else strategies
        known = {"instruments": set(instruments["instrument_id"]),
                 "strategies": set(strategies["strategy_id"].dropna())}
        cleaned, problems = {}, []
        for name, frame in frames.items():
            cleaned[name], found = validation.check(name, frame, known, instruments, as_of,
                                                    columns=columns(name), fmt=fmt)
            problems += found
        replaced: dict[str, date] = {}
        if "trades" in cleaned:
            replaced, found = _replaced_trades(conn, frames["trades"], cleaned["trades"],
                                               replace)
            problems += found
        if problems:
            order = list(INPUT_TABLES)
            raise rejection(sorted(problems, key=lambda p: (order.index(p.table), p.order)))
        counts = {name: upsert_frame(conn, tbl, cleaned[name].assign(**dict.fromkeys(
                      (c for c in PROVENANCE if c in tbl.c), None)))
                  for name, tbl in INPUT_TABLES.items() if name in cleaned}
        if replaced and on_replace is not None:
            on_replace(conn, min(replaced.values()), sorted(replaced))
    return counts


def _replaced_trades(conn: Connection, raw: pd.DataFrame, trades: pd.DataFrame,
                     replace: bool) -> tuple[dict[str, date], list[Problem]]:
    """The trade ids of the file already loaded with other values, each with the earliest
    of its old and new trade dates; without ``replace``, a problem for each.

    A trade loaded again with the same values (the same file twice) is no replacement:
    numbers compare at their column's scale, as the database stores them.
    """
    ids = trades["trade_id"].dropna().unique().tolist()
    old = pd.concat([readers.fetch(conn, sa.select(s.trades).where(
        s.trades.c.trade_id.in_(ids[i:i + _ID_CHUNK]))) for i in range(0, len(ids), _ID_CHUNK)]
        or [pd.DataFrame(columns=[c.name for c in s.trades.columns])])
    old = old.set_index("trade_id")
    present = trades["trade_id"].isin(old.index).to_numpy()
    if not present.any():
        return {}, []
    scale = {c.name: c.scale for c in columns("trades") if c.kind == "number"}
    differ = np.zeros(len(trades), bool)
    changed: list[list[str]] = [[] for _ in range(len(trades))]
    was = old.reindex(trades["trade_id"])
    for col in (c for c in trades.columns if c in old.columns):
        new, before = trades[col].to_numpy(dtype=object), was[col].to_numpy(dtype=object)
        if col in scale:
            a = pd.to_numeric(pd.Series(new), errors="coerce").to_numpy(float)
            b = pd.to_numeric(pd.Series(before), errors="coerce").to_numpy(float)
            same = np.isclose(a, b, rtol=0, atol=10.0 ** -(scale[col] or 0)) | (
                np.isnan(a) & np.isnan(b))
        else:
            same = np.array([x == y or (pd.isna(x) and pd.isna(y)) if not isinstance(
                x, list | dict) else x == y for x, y in zip(new, before, strict=True)], bool)
        for i in np.flatnonzero(present & ~same):
            changed[i].append(col)
        differ |= present & ~same
    replaced = {tid: min(d for d in (new_d, old_d) if d is not None)
                for tid, new_d, old_d, hit in zip(trades["trade_id"], trades["trade_date"],
                                                   was["trade_date"], differ, strict=True)
                if hit}
    if replace:
        return replaced, []
    report = Report("trades", raw)
    report.add(differ, "trade_id", [
        f"already loaded with another {', '.join(cols)} (trade date "
        f"{d.isoformat() if isinstance(d, date) else d}); --replace replaces it"
        for cols, d in zip(changed, was["trade_date"], strict=True)])
    return replaced, report.problems


# ---------------------------------------------------------------- what the loader accepts

def describe(table: str) -> str:
    """The columns of an input table: type, required or default, units and accepted values.

    Raises:
        KeyError: ``table`` is not an input table.
    """
    keys = validation.SPECS[table][0]
    notes = dict(validation.NOTES.get(table, {}))
    when = validation.DATE_FIELD.get(table)
    if when:
        notes[when] = "; ".join(filter(None, (
            notes.get(when), "an ANBIMA business day" if table in validation.BUSINESS_DATED
            else "", "not after --as-of (default today)")))
    rows = [("column", "type", "required", "notes")]
    for col in columns(table):
        need = "yes" if col.required else "no" if col.default is None \
            else f"no (empty: {col.default})"
        rows.append((col.name + (" (key)" if col.name in keys else ""), col.describe(), need,
                     notes.get(col.name, "")))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    body = ["  " + "  ".join(r[i].ljust(widths[i]) for i in range(3)) + "  " + r[3]
            for r in rows]
    return "\n".join([f"{table}: {validation.TABLES[table]}", *(b.rstrip() for b in body)])


def overview() -> str:
    """Every input table and its columns, one line each (``*`` marks the required ones)."""
    return "\n".join(textwrap.fill(", ".join(c.name + ("*" if c.required else "")
                                             for c in columns(name)), width=92,
                                   initial_indent=f"  {name}: ", subsequent_indent="    ")
                     for name in INPUT_TABLES)

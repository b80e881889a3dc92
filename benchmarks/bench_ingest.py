"""B3's price report: parsed by the streaming parser beside a naive DOM parse of the same XML,
and ingested (parsed and written to a fresh store) as the landing stage does it.

    python benchmarks/bench_ingest.py [--file tests/data/b3/SPRD250203.zip] [--scales 1 5]
                                      [--repeat 3] [--minidom-max-scale 1]
    PMS_BENCH_DATABASE_URL=postgresql+psycopg2://postgres@127.0.0.1:5432/pms_test \
        python benchmarks/bench_ingest.py          # adds the ingestion into PostgreSQL

Variants, each in a fresh subprocess (so its peak RSS is its own):

    stream     pms_luigi.ingest.read_price_report: iterparse over the zip member, each message
               dropped once read; the settlements frame and the counts, every check made
    etree      xml.etree.ElementTree.parse of the whole member, then the same fields of every
               PricRpt into a frame (no checks): the whole tree in memory at once
    minidom    xml.dom.minidom.parse of the whole member, then the same (no checks)
    ingest     what ``pms.IngestB3PriceReport`` does between its lock and its marker: the
               landed file read and hashed, parsed (stream), its instruments and settlements
               framed, then the ingested_files row, the instruments upserted and the prices
               written in one transaction, into a fresh migrated SQLite store per run (made
               outside the timed part; RSS before and peak are those of the timed part:
               the peak is reset after the store's set-up)
    ingest-pg  the same into a fresh PostgreSQL schema per run, when PMS_BENCH_DATABASE_URL
               names a PostgreSQL database

``--scales``: besides the real file (scale 1), the same report with its messages repeated k
times (the copies' tickers suffixed, so they count as "other") shows how each variant's
memory grows with the file: the stream's stays flat, the DOM's grows with the document.

Prints, per variant and scale: the best wall time of ``--repeat`` runs of the parse (after
imports), the process's RSS before the parse and its peak (VmHWM) after, and the peak's
growth over the baseline. Asserts nothing.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
import zipfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "tests" / "data" / "b3" / "SPRD250203.zip"
FIELDS = ("AdjstdQt", "AdjstdQtTax", "PrvsAdjstdQt", "PrvsAdjstdQtTax", "OpnIntrst")


def _status_kb(key: str) -> int:
    """A line of /proc/self/status in kB (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _etree(path: Path) -> object:
    import xml.etree.ElementTree as ET

    import pandas as pd

    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
        root = ET.parse(member).getroot()
    rows = []
    for report in root.iter("{urn:bvmf.217.01.xsd}PricRpt"):
        row = {"ticker": report.findtext("{*}SctyId/{*}TckrSymb"),
               "day": report.findtext("{*}TradDt/{*}Dt")}
        row.update({f: report.findtext(f"{{*}}FinInstrmAttrbts/{{*}}{f}") for f in FIELDS})
        rows.append(row)
    return pd.DataFrame(rows)


def _minidom(path: Path) -> object:
    from xml.dom import minidom

    import pandas as pd

    def text(node: object, tag: str) -> str | None:
        found = node.getElementsByTagName(tag)  # type: ignore[attr-defined]
        return found[0].firstChild.data if found and found[0].firstChild else None

    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as member:
        document = minidom.parse(member)
    rows = [{"ticker": text(r, "TckrSymb"), "day": text(r, "Dt"),
             **{f: text(r, f) for f in FIELDS}}
            for r in document.getElementsByTagName("PricRpt")]
    return pd.DataFrame(rows)


def _stream(path: Path) -> object:
    from pms_luigi.ingest import read_price_report

    with path.open("rb") as handle:
        return read_price_report(handle, path.name)


VARIANTS = {"stream": _stream, "etree": _etree, "minidom": _minidom}
#: The ingestion variants: the store each writes into.
INGEST = {"ingest": "sqlite", "ingest-pg": "postgresql"}
#: The trading date of the report (the landing folder's date).
DAY = "2025-02-03"


@contextlib.contextmanager
def _fresh_store(kind: str, folder: Path) -> Iterator[str]:
    """A migrated, empty store: a new SQLite file, or a new schema of the PostgreSQL
    database PMS_BENCH_DATABASE_URL names (dropped afterwards)."""
    import sqlalchemy as sa

    from pms_luigi.store.engine import dispose_all, get_engine, migrate

    if kind == "sqlite":
        url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        migrate(get_engine(url))
        yield url
        dispose_all()
        return
    base = os.environ["PMS_BENCH_DATABASE_URL"]
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(base, poolclass=sa.NullPool)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    try:
        migrate(get_engine(url))
        yield url
    finally:
        dispose_all()
        with admin.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def _ingest(url: str) -> int:
    """The step's read, parse and transactional write (no Luigi, no marker, no Redis)."""
    from pms_luigi.pipeline.context import RunContext
    from pms_luigi.pipeline.steps.ingest import IngestB3PriceReport
    from pms_luigi.store.engine import get_engine

    step = IngestB3PriceReport(date=date.fromisoformat(DAY))
    # the landing folder from the context's settings; B3's parse reads no store
    result = step.compute(step.read_inputs(RunContext.from_environment()))
    with get_engine(url).begin() as conn:
        return step.write(conn, result, uuid.uuid4().hex)


def _reset_peak() -> None:
    """Reset VmHWM to the current RSS (Linux ``clear_refs`` 5): the peak then measured is the
    ingestion's, not the store set-up's (Alembic) before it."""
    Path("/proc/self/clear_refs").write_text("5")


def _timed_ingest(kind: str, path: Path, repeat: int) -> dict[str, float]:
    """Best time of ``repeat`` ingestions of ``path``, each into a fresh store, with the RSS
    just before the timed part and the highest peak during it."""
    with tempfile.TemporaryDirectory() as folder:
        landed = Path(folder) / "landing" / "b3_price_report" / DAY / path.name
        landed.parent.mkdir(parents=True)
        shutil.copyfile(path, landed.with_name(f"SPRD{DAY[2:4]}{DAY[5:7]}{DAY[8:]}.zip"))
        os.environ["PMS_LANDING_DIR"] = str(Path(folder) / "landing")
        os.environ["PMS_DATA_DIR"] = folder
        best, before, peak = float("inf"), 0, 0
        for _ in range(repeat):
            with _fresh_store(kind, Path(folder)) as url:
                _reset_peak()
                rss = _status_kb("VmRSS")
                start = time.perf_counter()
                _ingest(url)
                best = min(best, time.perf_counter() - start)
                high = _status_kb("VmHWM")
                if high - rss > peak - before:
                    before, peak = rss, high
        return {"seconds": best, "rss_before_kb": before, "peak_kb": peak}


def child(variant: str, path: Path, repeat: int) -> None:
    """Run one variant ``repeat`` times in this process; print its figures as JSON."""
    import pandas  # noqa: F401 - imported before the baseline, as every variant uses it

    import pms_luigi.ingest

    if variant in INGEST:
        import pms_luigi.pipeline.steps.ingest  # noqa: F401 - the step's imports, as a worker's

        print(json.dumps(_timed_ingest(INGEST[variant], path, repeat)))
        return
    parse = VARIANTS[variant]
    baseline = _status_kb("VmRSS")
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        result = parse(path)
        best = min(best, time.perf_counter() - start)
        del result
    print(json.dumps({"seconds": best, "rss_before_kb": baseline,
                      "peak_kb": _status_kb("VmHWM")}))


def scaled(path: Path, k: int, folder: Path) -> Path:
    """The report with its messages repeated ``k`` times (copies' tickers suffixed)."""
    if k == 1:
        return path
    with zipfile.ZipFile(path) as archive:
        member = archive.namelist()[0]
        xml = archive.read(member)
    start, end = xml.index(b"<BizGrp>"), xml.rindex(b"</BizGrp>") + len(b"</BizGrp>")
    body = xml[start:end]
    copies = [body] + [re.sub(rb"<TckrSymb>([^<]*)</TckrSymb>",
                              rb"<TckrSymb>\1_" + str(i).encode() + rb"</TckrSymb>", body)
                       for i in range(1, k)]
    n = body.count(b"<PricRpt>") * k
    head = re.sub(rb"<TtlNbOfMsg>\d+</TtlNbOfMsg>", f"<TtlNbOfMsg>{n}</TtlNbOfMsg>".encode(),
                  xml[:start])
    out = folder / f"SPRD_x{k}.zip"
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(member, head + b"".join(copies) + xml[end:])
    return out


def _run(variant: str, path: Path, repeat: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", variant, "--file", str(path),
                           "--repeat", str(repeat)], capture_output=True, text=True,
                          check=True, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _ingest_variants() -> list[str]:
    """``ingest``, and ``ingest-pg`` when PMS_BENCH_DATABASE_URL names a database."""
    return ["ingest", *(["ingest-pg"] if os.environ.get("PMS_BENCH_DATABASE_URL") else [])]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--file", type=Path, default=DEFAULT)
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--minidom-max-scale", type=int, default=1)
    parser.add_argument("--child", choices=sorted([*VARIANTS, *INGEST]))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.repeat)
        return
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'variant':9} {'scale':>5} {'XML MB':>7} {'best s':>7} {'RSS before MB':>14} "
              f"{'peak MB':>8} {'growth MB':>10}")
        for k in args.scales:
            path = scaled(args.file, k, Path(folder))
            with zipfile.ZipFile(path) as archive:
                size = archive.infolist()[0].file_size / 1e6
            for variant in [*VARIANTS, *_ingest_variants()]:
                if variant == "minidom" and k > args.minidom_max_scale:
                    continue
                r = _run(variant, path, args.repeat)
                before, peak = r["rss_before_kb"] / 1024, r["peak_kb"] / 1024
                print(f"{variant:9} {k:>5} {size:>7.1f} {r['seconds']:>7.3f} {before:>14.1f} "
                      f"{peak:>8.1f} {peak - before:>10.1f}")


if __name__ == "__main__":
    main()

"""``pms.Ingest<Source>(D)``: one landed file parsed, checked and written with its provenance.

Each step requires its :class:`~pms_luigi.pipeline.inputs.LandedFile` (missing: exit 3
naming the path), reads the file's bytes once, parses them with the source's pure parser
(:mod:`pms_luigi.ingest`: a bad file is ``InvalidInput``, exit 8, nothing written) and, in
one transaction with its marker, records the file in ``ingested_files`` and writes its rows
with that ``ingest_id`` (:mod:`pms_luigi.store.ingested`), replacing what an earlier file of
the same source and date wrote. The instruments of the file are upserted first — every
contract B3 settles and every bond ANBIMA prices, held or not: the curves are built from
the whole published curve.

No cache output (``kinds = ()``): the marker records the sha256 of the bytes the step read,
and the step is done while that is the file landed now (:meth:`IngestStep.input_digest`).
The same file landed again changes nothing; a corrected file (another sha256) makes the step
stale, it re-ingests with a new run_id, and every step that consumed it goes stale in turn.
A file removed from the landing folder after its ingestion leaves the step done.
"""
from __future__ import annotations

import abc
import hashlib
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any, ClassVar

import luigi
import pandas as pd
import sqlalchemy as sa

from pms_luigi import ingest
from pms_luigi.core import reconcile
from pms_luigi.core.errors import MissingData
from pms_luigi.pipeline import landing
from pms_luigi.pipeline.context import RunContext
from pms_luigi.pipeline.inputs import LandedFile
from pms_luigi.pipeline.step import PmsTask, StepResult
from pms_luigi.store import ingested
from pms_luigi.store import schema as s
from pms_luigi.store.writers import upsert_frame


@dataclass(frozen=True)
class Landed:
    """A landed file as read: its name, bytes and sha256, and what the store held before
    that the parse depends on (the VNA of the date loaded by hand, for ANBIMA's)."""

    file_name: str
    data: bytes = field(repr=False)
    sha256: str
    by_hand: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)


@dataclass(frozen=True)
class Parsed:
    """What one file gives: rows per input table, the instruments it names, and its counts
    (what the file held and what is written), as ``ingested_files.counts`` records them."""

    rows: dict[sa.Table, pd.DataFrame]
    instruments: pd.DataFrame | None
    counts: dict[str, Any]


class IngestStep(PmsTask):
    """The ingestion of one source's landed file of a business date (see the module)."""

    version = 1
    kinds = ()
    rank = -1  # before the steps that consume it
    #: the source's name in :data:`pms_luigi.pipeline.landing.SOURCES`
    source: ClassVar[str]

    @classmethod
    def input_digest(cls, on: date, ctx: RunContext) -> str | None:
        """The sha256 of the file landed now for ``on`` (None: not there)."""
        return landing.sha256_of(ctx.settings.landing.path(cls.source, on))

    def external_requires(self) -> list[luigi.Task]:
        return [LandedFile(date=self.date, source=self.source)]

    def read_inputs(self, ctx: RunContext) -> Landed:
        path = ctx.settings.landing.path(self.source, self.date)
        try:
            data = path.read_bytes()  # one read: the bytes parsed are the bytes hashed
        except FileNotFoundError:  # removed since it was seen: wait for it again
            raise MissingData(f"{self.source}: {path} has not landed") from None
        return Landed(path.name, data, ingest_sha256(data), self.read_store(ctx))

    def read_store(self, ctx: RunContext) -> dict[str, pd.DataFrame]:
        """What the parse needs from the store (default: nothing)."""
        return {}

    @abc.abstractmethod
    def parse(self, landed: Landed) -> Parsed:
        """The source's pure parser and projections over the file's bytes."""

    def compute(self, inputs: Landed) -> StepResult:
        parsed = self.parse(inputs)
        frames: dict[Any, pd.DataFrame] = dict(parsed.rows)
        if parsed.instruments is not None:
            frames[s.instruments] = parsed.instruments
        counts = {**parsed.counts, "rows": {t.name: len(f) for t, f in frames.items()}}
        metadata = {"file": inputs.file_name, "sha256": inputs.sha256,
                    "size_bytes": len(inputs.data), "counts": counts}
        return StepResult(frames=frames, metadata=metadata, digest=inputs.sha256)

    def write(self, conn: sa.Connection, result: StepResult, run_id: str) -> int:
        """The ``ingested_files`` row, the instruments (upserted), then each table's rows
        in place of the source's earlier rows of the date."""
        meta = result.metadata
        ingest_id = ingested.record(conn, source=self.source, on=self.date,
                                    file_name=meta["file"], sha256=meta["sha256"],
                                    size_bytes=meta["size_bytes"], run_id=run_id,
                                    counts=meta["counts"])
        rows = upsert_frame(conn, s.instruments, result.frames.get(s.instruments,
                                                                    pd.DataFrame()))
        for tbl, frame in result.frames.items():
            if tbl is not s.instruments:
                rows += ingested.replace_rows(conn, tbl, source=self.source, on=self.date,
                                              frame=frame, ingest_id=ingest_id)
        return rows

    def payloads(self, conn: sa.Connection) -> dict[str, Any]:
        return {}


def ingest_sha256(data: bytes) -> str:
    """The hex sha256 of a file's bytes (what its ``ingested_files`` row records)."""
    return hashlib.sha256(data).hexdigest()


class IngestB3PriceReport(IngestStep):
    """B3's price report (``SPRD<yymmdd>.zip``): the futures settlements of D."""

    source = "b3_price_report"

    def parse(self, landed: Landed) -> Parsed:
        report = ingest.read_price_report(landed.data, landed.file_name,
                                          expected_date=self.date)
        prices = ingest.b3_price_report.market_prices(report)
        kept = report.counts[report.counts["kind"] == "future"]
        counts = {"messages": report.messages, "kinds": report.totals(),
                  "futures": {str(f): int(n) for f, n in zip(kept["family"], kept["count"],
                                                               strict=True)},
                  "rate_only": int(report.settlements["price"].isna().sum())}
        return Parsed({s.market_prices: prices},
                      ingest.futures_instruments(prices["instrument_id"], self.date), counts)


class IngestAnbimaTpf(IngestStep):
    """ANBIMA's government-bond file (``tpf_<yyyymmdd>.txt``): each bond's indicative rate
    and PU, and the NTN-B VNA those rows imply (written unless one was loaded by hand)."""

    source = "anbima_tpf"

    def read_store(self, ctx: RunContext) -> dict[str, pd.DataFrame]:
        with ctx.stores.engine.connect() as conn:
            return {"vna": ingested.loaded_by_hand(conn, s.vna, self.date)}

    def parse(self, landed: Landed) -> Parsed:
        tpf = ingest.read_tpf(landed.data, landed.file_name, expected_date=self.date)
        fit = reconcile.bonds_vna(tpf.bonds, self.date)
        manual = landed.by_hand["vna"]
        keep_loaded = bool((manual["index_name"] == "NTNB").any())
        write = fit.value is not None and not keep_loaded
        vna = pd.DataFrame({"ref_date": [self.date], "index_name": ["NTNB"],
                            "value": [fit.value]})
        # always listed: a corrected file that implies no VNA removes the one it implied
        rows = {s.market_prices: ingest.anbima_tpf.market_prices(tpf),
                s.vna: vna if write else vna.iloc[:0]}
        counts = {"lines": {str(t): int(n) for t, n in zip(tpf.counts["title"],
                                                           tpf.counts["count"], strict=True)},
                  "skipped": int(tpf.counts.loc[~tpf.counts["kept"], "count"].sum()),
                  "vna": {"implied": fit.value, "ntnb_rows": fit.bonds, "written": write,
                          "loaded_by_hand": keep_loaded}}
        return Parsed(rows, ingest.bond_instruments(tpf.bonds, self.date), counts)


class IngestBcbPtax(IngestStep):
    """BCB's PTAX answer for D (``ptax.json``): the USDBRL PTAX (the sell rate)."""

    source = "bcb_ptax"

    def parse(self, landed: Landed) -> Parsed:
        ptax = ingest.read_ptax(landed.data, landed.file_name, expected_date=self.date)
        return Parsed({s.fx_fixings: ingest.bcb_ptax.fx_fixings(ptax)}, None,
                      {"quotes": len(ptax)})


class IngestBcbCdi(IngestStep):
    """BCB's SGS series 12 up to D (``cdi.json``): the CDI fixing of D (a period answer's
    earlier fixings are read and checked, not written: each date's folder writes its own)."""

    source = "bcb_cdi"

    def parse(self, landed: Landed) -> Parsed:
        cdi = ingest.read_cdi(landed.data, landed.file_name, expected_date=self.date)
        fixing = cdi.loc[cdi["fixing_date"] == self.date, ["fixing_date", "rate"]]
        return Parsed({s.cdi_fixings: fixing.reset_index(drop=True)}, None,
                      {"observations": len(cdi)})


#: The ingestion step of each source.
STEPS: MappingProxyType[str, type[IngestStep]] = MappingProxyType({cls.source: cls for cls in (
    IngestB3PriceReport, IngestAnbimaTpf, IngestBcbPtax, IngestBcbCdi)})


def steps_for(on: date, fed: landing.Landing) -> list[tuple[type[PmsTask], date]]:
    """The ingestion steps ``MarkToMarket(on)`` consumes (empty when manual loads feed it)."""
    return [(STEPS[src.name], d) for src, d in fed.needed(on)]


def price_steps_for(on: date, fed: landing.Landing) -> list[tuple[type[PmsTask], date]]:
    """The ingestion steps of ``on``'s prices with a rate (what ``Reconcile(on)`` checks)."""
    return [(cls, d) for cls, d in steps_for(on, fed) if cls.source in landing.PRICE_SOURCES]

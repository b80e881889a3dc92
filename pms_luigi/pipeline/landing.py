"""The landing stage: which publishers' files a business date needs, and where they land.

The fund's own transfer puts each file in ``<landing>/<source>/<YYYY-MM-DD>/<file>`` (the
library never downloads); the date is the one the file is for (a price report's trading
date, a fixing's date). ``[pms_ingest] sources`` names the sources the fund uses and
``from_date`` the first business date they feed (:mod:`pms_luigi.pipeline.config`); with
no source every input is loaded by hand, as before.

What ``MarkToMarket(D)`` needs, per source (:meth:`Source.dates_for`):

=================  ==========================  ============================================
source             file                        for MarkToMarket(D)
=================  ==========================  ============================================
b3_price_report    ``SPRD<yymmdd>.zip``        the report of D, when D is a B3 session
anbima_tpf         ``tpf_<yyyymmdd>.txt``      the bonds file of D
bcb_ptax           ``ptax.json``               the PTAX of D
bcb_cdi            ``cdi.json``                the CDI of the business day before D (the
                                               last fixing D's correction factor compounds)
=================  ==========================  ============================================
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType

from pms_luigi.core import calendar
from pms_luigi.core.errors import BadRequest
from pms_luigi.pipeline import config as cfg


@dataclass(frozen=True)
class Source:
    """One publisher's daily file.

    Attributes:
        name: the source's name in ``[pms_ingest] sources`` and in the landing folder.
        publisher: who publishes the file (B3, ANBIMA, BCB).
        pattern: the file's name, ``{yymmdd}`` / ``{yyyymmdd}`` standing for its date.
        previous_day: MarkToMarket(D) needs the file of the business day before D.
        b3_sessions_only: published only on B3 sessions.
    """

    name: str
    publisher: str
    pattern: str
    previous_day: bool = False
    b3_sessions_only: bool = False

    def file_name(self, on: date) -> str:
        """The name the file of ``on`` lands under (``SPRD250203.zip``)."""
        return self.pattern.format(yymmdd=f"{on:%y%m%d}", yyyymmdd=f"{on:%Y%m%d}")

    def path(self, on: date, landing: Path) -> Path:
        """``<landing>/<source>/<YYYY-MM-DD>/<file>``."""
        return landing / self.name / on.isoformat() / self.file_name(on)

    def dates_for(self, on: date) -> list[date]:
        """The dates of this source's files that MarkToMarket(``on``) consumes."""
        if self.b3_sessions_only and not calendar.is_b3_session(on):
            return []  # B3 publishes no report on a day it is closed
        return [calendar.previous_business_day(on) if self.previous_day else on]


#: Every source the landing stage knows, by name.
SOURCES: MappingProxyType[str, Source] = MappingProxyType({s.name: s for s in (
    Source("b3_price_report", "B3", "SPRD{yymmdd}.zip", b3_sessions_only=True),
    Source("anbima_tpf", "ANBIMA", "tpf_{yyyymmdd}.txt"),
    Source("bcb_ptax", "BCB", "ptax.json"),
    Source("bcb_cdi", "BCB", "cdi.json", previous_day=True),
)})
#: The sources whose files carry prices with a rate: what the reconciliation checks.
PRICE_SOURCES = ("b3_price_report", "anbima_tpf")


@dataclass(frozen=True)
class Landing:
    """``[pms_ingest]`` as a build reads it once (the run context holds it): the landing
    folder, the sources the fund uses and the first date they feed."""

    folder: Path
    sources: tuple[Source, ...]
    from_date: date | None

    @classmethod
    def from_config(cls) -> Landing:
        """From ``luigi.cfg`` and the environment (:mod:`pms_luigi.pipeline.config`).

        Raises:
            BadRequest: a name that is not a known source (the message lists them).
        """
        names = cfg.ingest_sources()
        unknown = [n for n in names if n not in SOURCES]
        if unknown:
            raise BadRequest(f"[pms_ingest] sources: unknown source(s) {', '.join(unknown)}; "
                             f"known: {', '.join(SOURCES)}")
        return cls(cfg.landing_dir(), tuple(SOURCES[n] for n in names), cfg.ingest_from())

    def active(self, on: date) -> tuple[Source, ...]:
        """The configured sources that feed business date ``on`` (none before
        ``from_date``)."""
        if not self.sources or (self.from_date is not None and on < self.from_date):
            return ()
        return self.sources

    def needed(self, on: date) -> list[tuple[Source, date]]:
        """(source, file date) of every file MarkToMarket(``on``) consumes; empty when the
        date is fed by manual loads."""
        return [(s, d) for s in self.active(on) for d in s.dates_for(on)]

    def path(self, source: str, on: date) -> Path:
        """Where the file of ``source`` for ``on`` lands (it may not be there yet)."""
        return SOURCES[source].path(on, self.folder)


def sha256_of(path: Path) -> str | None:
    """The hex sha256 of a landed file; None when it is not there."""
    try:
        with path.open("rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except FileNotFoundError:
        return None

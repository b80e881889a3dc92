"""Pure parsers of the publishers' files -> typed frames: what the fund receives each evening.

Each parser takes the file's bytes (or a binary file object) and its name, checks it and
returns typed frames, or raises :class:`~pms_luigi.core.errors.InvalidInput` naming the
file, the line (XML message, JSON observation), the field and the value as written. They
read no clock, open no file and know no store: the landing stage and the ``Ingest`` tasks
hand them the bytes and write what they return.

Modules:
    common           the shared reading, decoding, error message, number and date columns
    b3_price_report  B3's price report (SPRD zip, BVBG.187.01 XML): futures settlements
    anbima_tpf       ANBIMA's government-bond file: indicative rate and PU
    bcb_sgs          BCB's SGS series: CDI (12) and IPCA (433)
    bcb_ptax         BCB's PTAX service: the USDBRL reference rate
    cotahist         B3's daily equity quotes (COTAHIST fixed width): closes
    tickers          instruments from B3 futures tickers and ANBIMA's bonds
"""
from pms_luigi.ingest import anbima_tpf, b3_price_report, bcb_ptax, bcb_sgs, cotahist, tickers
from pms_luigi.ingest.anbima_tpf import TpfFile, read_tpf
from pms_luigi.ingest.b3_price_report import PriceReport, read_price_report
from pms_luigi.ingest.bcb_ptax import read_ptax
from pms_luigi.ingest.bcb_sgs import read_cdi, read_ipca, read_sgs
from pms_luigi.ingest.cotahist import CotahistFile, read_cotahist
from pms_luigi.ingest.tickers import bond_id, bond_instruments, futures_instruments

__all__ = [
    "CotahistFile",
    "PriceReport",
    "TpfFile",
    "anbima_tpf",
    "b3_price_report",
    "bcb_ptax",
    "bcb_sgs",
    "bond_id",
    "bond_instruments",
    "cotahist",
    "futures_instruments",
    "read_cdi",
    "read_cotahist",
    "read_ipca",
    "read_price_report",
    "read_ptax",
    "read_sgs",
    "read_tpf",
    "tickers",
]

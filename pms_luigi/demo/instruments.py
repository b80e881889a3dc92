"""The demo's instruments: contract rules, roll chains, the instrument master and the aliases.

The instrument master and the aliases are built from ``end`` by rules, so any ``end`` gives
maturities after ``end``: the DI1 January contracts are the first January at least 10
business days after ``end`` and +1, +2, +4 years; the DDI the same January; the LTN the first
quarter start at least six months out; the NTN-F the first odd year >= year + 5; the NTN-B
the first even August series >= year + 4 and the first odd May series >= year + 9. Rolled
positions (WDO, IND, the 3M and 6M NDFs) hold a chain of contracts (:func:`roll_chain`).

Where prices exist (the "life" of an instrument): exchange instruments (DI1, DDI, WDO, IND,
equities) only on B3 sessions; bonds (Tesouro/ANBIMA) and NDFs (OTC) on every ANBIMA day.
Every contract is priced from the first demo day up to its last trading date
(:func:`last_price_date`).

Generic ids and the alias table (``instrument_aliases``): DI_PRE -> the DI1 January contract
nearest 1 year (DI_PRE_1Y the same), DI_PRE_2Y / DI_PRE_4Y -> the contracts nearest 2 and 4
years, NTN_B_REAL -> the short NTN-B, USDBRL -> the WDO held at ``end``, IBOV_FUT -> the IND
held at ``end``, DDI -> the DDI January, NDF -> the 3M NDF held at ``end``, CDS_BR -> the
NTN-F (sovereign-risk proxy: +1 = long the bond = short protection). Every alias target is
alive after ``end``, so proposals on any demo date resolve.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.demo.market import EQUITIES, add_months, demo_dates, open_day
from pms_luigi.demo.reference import DEFAULT_END, REFERENCE_COLUMNS, strategy_frame, typed

_MONTH_CODES: Final = "FGHJKMNQUVXZ"
_MONTH_ABBR: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                      "Nov", "Dec")

#: Contract specs by instrument_type: asset class, currency, exchange, contract_size (value of
#: one price point: B3's DI1 R$ 1, DDI US$ 0.50, WDO US$ 10, IND R$ 1), lot_size (NDFs in
#: US$ 100,000, stocks in round lots of 100), underlying, the ``market_prices.source``.
SPECS: Final = MappingProxyType({
    "DI1": ("RATES", "BRL", "B3", 1.0, 1.0, "CDI", "B3"),
    "DDI": ("CUPOM", "USD", "B3", 0.5, 1.0, "CUPOM", "B3"),
    "WDO": ("FX", "BRL", "B3", 10.0, 1.0, "USDBRL", "B3"),
    "IND": ("EQUITY", "BRL", "B3", 1.0, 1.0, "IBOV", "B3"),
    "LTN": ("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "ANBIMA"),
    "NTNF": ("RATES", "BRL", "TESOURO", 1.0, 1.0, None, "ANBIMA"),
    "NTNB": ("INFLATION", "BRL", "TESOURO", 1.0, 1.0, "IPCA", "ANBIMA"),
    "NDF": ("FX", "BRL", "OTC", 1.0, 100_000.0, "USDBRL", "OTC"),
    "EQUITY": ("EQUITY", "BRL", "B3", 1.0, 100.0, None, "B3"),
})
#: Instrument types that trade on B3 (priced on B3 sessions only).
EXCHANGE_TYPES: Final = frozenset({"DI1", "DDI", "WDO", "DOL", "IND", "WIN", "EQUITY"})


@dataclass(frozen=True)
class Inst:
    """One instrument of the demo master (maturity None: no expiry, e.g. a stock)."""

    instrument_id: str
    name: str
    instrument_type: str
    maturity: date | None


def last_price_date(instrument_type: str, maturity: date | None) -> date | None:
    """Last date with a settlement price: the instrument's life ends there (None = no expiry).

    DI1, DDI, DOL/WDO trade until the session before maturity (B3 specs); NDFs fix on PTAX of the
    business day before maturity; bonds are priced by ANBIMA until the day before redemption.
    IND/WIN expire *on* their maturity Wednesday and settle at that day's index.
    """
    if maturity is None:
        return None
    if instrument_type in ("IND", "WIN"):
        return maturity
    return maturity - timedelta(days=1)


def _code(d: date) -> str:
    return f"{_MONTH_CODES[d.month - 1]}{d.year % 100:02d}"


def _di1(year: int) -> Inst:
    mat = cal.first_business_day_of_month(year, 1)
    return Inst(f"DI1F{year % 100:02d}", f"DI1 Jan/{year} (one-day interbank deposit future)",
                "DI1", mat)


def _wdo(year: int, month: int) -> Inst:
    mat = cal.first_business_day_of_month(year, month)
    return Inst(f"WDO{_code(mat)}", f"Mini US dollar future {_MONTH_ABBR[month - 1]}/{year}",
                "WDO", mat)


def _ind_expiry(year: int, month: int) -> date:
    """Wednesday nearest the 15th (B3 Ibovespa futures), or the next session if closed."""
    fifteenth = date(year, month, 15)
    delta = (2 - fifteenth.weekday()) % 7  # days forward to the next Wednesday
    wed = fifteenth + timedelta(days=delta - 7 if delta > 3 else delta)
    return wed if cal.is_b3_session(wed) else cal.next_b3_session(wed)


def _ind(year: int, month: int) -> Inst:
    mat = _ind_expiry(year, month)
    return Inst(f"IND{_MONTH_CODES[month - 1]}{year % 100:02d}",
                f"Ibovespa future {_MONTH_ABBR[month - 1]}/{year}", "IND", mat)


def _ndf(mat: date) -> Inst:
    return Inst(f"NDF_USDBRL_{mat.isoformat()}", f"USDBRL NDF maturing {mat.isoformat()}", "NDF",
                mat)


def fixed_instruments(end: date) -> dict[str, Inst]:
    """Fixed-maturity instruments of the book by role, all maturing after ``end``."""
    y0 = end.year
    while cal.first_business_day_of_month(y0, 1) < cal.add_business_days(end, 10):
        y0 += 1
    roles: dict[str, Inst] = {f"DI{k}": _di1(y0 + k) for k in (0, 1, 2, 4)}
    ddi_mat = cal.first_business_day_of_month(y0, 1)
    roles["DDI"] = Inst(f"DDIF{y0 % 100:02d}", f"DDI Jan/{y0} (cupom cambial future)", "DDI",
                        ddi_mat)
    ltn = next(date(y, m, 1) for y in range(end.year, end.year + 3) for m in (1, 4, 7, 10)
               if date(y, m, 1) >= end + timedelta(days=182))
    roles["LTN"] = Inst(f"LTN_{ltn.isoformat()}", f"LTN {ltn:%d/%m/%Y}", "LTN", ltn)
    y = end.year + 5 + (end.year + 5 + 1) % 2  # first odd year >= year+5
    roles["NTNF"] = Inst(f"NTNF_{y}", f"NTN-F 01/01/{y}", "NTNF", date(y, 1, 1))
    y = end.year + 4 + (end.year + 4) % 2  # first even year >= year+4 (Aug series)
    roles["NTNB_S"] = Inst(f"NTNB_{y}", f"NTN-B 15/08/{y}", "NTNB", date(y, 8, 15))
    y = end.year + 9 + (end.year + 9 + 1) % 2  # first odd year >= year+9 (May series)
    roles["NTNB_L"] = Inst(f"NTNB_{y}", f"NTN-B 15/05/{y}", "NTNB", date(y, 5, 15))
    for ticker, (name, _, _) in EQUITIES.items():
        roles[ticker] = Inst(ticker, name, "EQUITY", None)
    return roles


def _futures_chain(kind: str, first: date, end: date) -> list[tuple[Inst, date]]:
    """WDO: front month, rolled 4 B3 sessions before maturity. IND: front even month, rolled
    3 sessions before expiry."""
    chain: list[tuple[Inst, date]] = []
    y, m = first.year, first.month
    while True:
        if kind == "WDO":
            inst = _wdo(y, m)
            roll = cal.previous_b3_session(inst.maturity, 4)  # type: ignore[arg-type]
        elif m % 2 == 0:
            inst = _ind(y, m)
            roll = cal.previous_b3_session(inst.maturity, 3)  # type: ignore[arg-type]
        else:
            y, m = add_months(y, m, 1)
            continue
        if roll > first:
            chain.append((inst, roll))
            if roll > end:
                return chain
        y, m = add_months(y, m, 1)


def _ndf_chain(tenor: int, first: date, end: date) -> list[tuple[Inst, date]]:
    """Maturity on the first business day of the month ``tenor`` months after the trade month,
    rolled 5 business days before maturity."""
    chain: list[tuple[Inst, date]] = []
    day = first
    while True:
        y, m = add_months(day.year, day.month, tenor)
        inst = _ndf(cal.first_business_day_of_month(y, m))
        roll = cal.add_business_days(inst.maturity, -5)  # type: ignore[arg-type]
        chain.append((inst, roll))
        if roll > end:
            return chain
        day = roll


def roll_chain(kind: str, first: date, end: date) -> list[tuple[Inst, date]]:
    """Contracts a rolled position (WDO, IND, NDF3M, NDF6M) holds from ``first``, each with
    the date it is rolled out of. The last one is held at ``end`` (its roll date is after it).
    """
    if kind in ("WDO", "IND"):
        return _futures_chain(kind, first, end)
    return _ndf_chain(3 if kind == "NDF3M" else 6, first, end)


def book_instruments(dates: list[date], end: date
                     ) -> tuple[dict[str, Inst], dict[str, list[tuple[Inst, date]]]]:
    """The book's fixed instruments by role, and the roll chain of each rolled role."""
    roles = fixed_instruments(end)
    first = open_day(dates)
    chains = {k: roll_chain(k, first, end) for k in ("WDO", "IND", "NDF3M", "NDF6M")}
    return roles, chains


def all_instruments(roles: dict[str, Inst], chains: dict[str, list[tuple[Inst, date]]]
                    ) -> dict[str, Inst]:
    """Every instrument of the book, by id: the fixed ones and every contract of each chain."""
    insts = {i.instrument_id: i for i in roles.values()}
    for chain in chains.values():
        insts.update({i.instrument_id: i for i, _ in chain})
    return insts


def _instrument_frame(insts: list[Inst], end: date) -> pd.DataFrame:
    rows = []
    for i in insts:
        ac, ccy, exch, size, lot, und, _src = SPECS[i.instrument_type]
        rows.append({
            "instrument_id": i.instrument_id, "name": i.name, "asset_class": ac,
            "instrument_type": i.instrument_type, "currency": ccy, "exchange": exch,
            "maturity_date": i.maturity, "contract_size": size, "lot_size": lot,
            "underlying": und, "is_active": i.maturity is None or i.maturity > end,
        })
    rows.sort(key=lambda r: str(r["instrument_id"]))
    return typed("instruments", pd.DataFrame.from_records(
        rows, columns=list(REFERENCE_COLUMNS["instruments"]), coerce_float=False))


def _nearest(roles: dict[str, Inst], end: date, target_du: int) -> str:
    dis = [roles[f"DI{k}"] for k in (0, 1, 2, 4)]
    dus = [cal.du(end, i.maturity, as_of=end) for i in dis]
    return dis[int(np.argmin([abs(d - target_du) for d in dus]))].instrument_id


def _alias_frame(roles: dict[str, Inst], held_at_end: dict[str, str], end: date) -> pd.DataFrame:
    one_year = _nearest(roles, end, 252)
    rows = [
        ("CDS_BR", roles["NTNF"].instrument_id),
        ("DDI", roles["DDI"].instrument_id),
        ("DI_PRE", one_year),
        ("DI_PRE_1Y", one_year),
        ("DI_PRE_2Y", _nearest(roles, end, 504)),
        ("DI_PRE_4Y", _nearest(roles, end, 1008)),
        ("IBOV_FUT", held_at_end["IND"]),
        ("NDF", held_at_end["NDF3M"]),
        ("NTN_B_REAL", roles["NTNB_S"].instrument_id),
        ("USDBRL", held_at_end["WDO"]),
    ]
    return typed("instrument_aliases",
                 pd.DataFrame(rows, columns=list(REFERENCE_COLUMNS["instrument_aliases"])))


def reference(roles: dict[str, Inst], chains: dict[str, list[tuple[Inst, date]]],
              end: date) -> dict[str, pd.DataFrame]:
    """The ``instruments``, ``strategies`` and ``instrument_aliases`` tables of the book."""
    held = {k: chain[-1][0].instrument_id for k, chain in chains.items()}
    return {
        "instruments": _instrument_frame(list(all_instruments(roles, chains).values()), end),
        "strategies": strategy_frame(),
        "instrument_aliases": _alias_frame(roles, held, end),
    }


def reference_tables(end: date = DEFAULT_END, n_days: int = 260) -> dict[str, pd.DataFrame]:
    """Instrument master, strategies and aliases of the demo ending on ``end`` (no market data).

    The same frames :func:`pms_luigi.demo.generate` returns (they do not depend on the seed);
    used to write and check ``config/*.csv``.
    """
    roles, chains = book_instruments(demo_dates(end, n_days), end)
    return reference(roles, chains, end)

"""One immutable registry from ``instruments.instrument_type`` to its :class:`Pricer`.

The mark-to-market looks every type up here once per instrument group; a type without a
pricer is refused, naming the instrument, rather than valued by a guess.
"""
from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.pricing import ddi, di1, equity, fx_futures, index_futures, ltn, ndf, ntnb, ntnf
from pms_luigi.core.pricing.base import ContractSpec, Pricer

__all__ = ["CONTRACT_SPECS", "POINT_VALUES", "PRICERS", "pricer_for"]

#: instrument_type -> pricer. Rate instruments first: the order in which the mark-to-market
#: visits the groups of a book.
PRICERS: Final[Mapping[str, Pricer]] = MappingProxyType({p.instrument_type: p for p in (
    di1.PRICER, ddi.PRICER, ltn.PRICER, ntnf.PRICER, ntnb.PRICER, fx_futures.DOL,
    fx_futures.WDO, index_futures.IND, index_futures.WIN, equity.PRICER, ndf.PRICER)})

#: Contract sizes / point values of the B3 futures, from the B3 product pages.
CONTRACT_SPECS: Final[Mapping[str, ContractSpec]] = MappingProxyType({
    s.instrument_type: s for s in (di1.SPEC, ddi.SPEC, fx_futures.DOL_SPEC, fx_futures.WDO_SPEC,
                                   index_futures.IND_SPEC, index_futures.WIN_SPEC)})

#: instrument_type -> value of one price point (R$ except DDI, which is US$).
POINT_VALUES: Final[Mapping[str, float]] = MappingProxyType(
    {k: v.point_value for k, v in CONTRACT_SPECS.items()})


def pricer_for(instrument_type: str, instrument_id: str) -> Pricer:
    """The pricer of ``instrument_type``.

    Raises:
        InvalidInput: no pricer handles the type; names the instrument and the field.

    Examples:
        >>> pricer_for("DI1", "DI1F27").terms.daily_settled
        True
        >>> pricer_for("CDS", "CDS_BR")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        pms_luigi.core.errors.InvalidInput: instruments: CDS_BR has instrument_type 'CDS', ...
    """
    pricer = PRICERS.get(instrument_type)
    if pricer is None:
        raise InvalidInput(
            f"instruments: {instrument_id} has instrument_type {instrument_type!r}, which no "
            f"pricer handles (known: {', '.join(sorted(PRICERS))})", table="instruments",
            row=instrument_id, field="instrument_type")
    return pricer

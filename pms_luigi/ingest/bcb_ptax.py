"""BCB's PTAX service: the USDBRL reference rate of each business day, as JSON.

**The file.** What the PTAX service (the dollar's daily or period quote) answers, UTF-8
JSON: an object whose ``value`` is an array of quotes::

    {"value": [{"cotacaoCompra": 5.8271, "cotacaoVenda": 5.8277,
                "dataHoraCotacao": "2025-02-03 13:03:24.514"}]}

==================  =================================================================
``cotacaoCompra``   PTAX buy rate, BRL per USD (a JSON number, 4 decimals)
``cotacaoVenda``    PTAX sell rate, BRL per USD (a JSON number, 4 decimals)
``dataHoraCotacao`` when BCB closed the PTAX (Brasília time): ``YYYY-MM-DD HH:MM:SS``
                    with up to three decimals of seconds
==================  =================================================================

Other keys (``@odata.context``) are ignored. The service answers one quote per business day
(its closing PTAX); an empty ``value`` means no PTAX (a holiday, or before BCB closed it).

**Which rate.** The fund's ``fx_fixings`` row (pair ``USDBRL``, kind ``PTAX``) holds the
**sell** rate: PTAX sell is the market's reference (B3's DOL/WDO settle at maturity on it,
NDFs fix on it, the DDI's ``TxC`` is the previous day's), and the demo's PTAX is that one.
The buy rate is kept in the parsed frame, not stored.
"""
from __future__ import annotations

import math
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core.validation import USDBRL_RANGE
from pms_luigi.ingest.common import (
    Source,
    check,
    expected,
    invalid,
    read_json,
    same_date,
    unique,
)

__all__ = ["fx_fixings", "read_ptax"]

_STAMP: Final = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{1,3})?"
_RATES: Final = ("cotacaoCompra", "cotacaoVenda")


def _rates(quotes: list[object], where: list[str], file_name: str) -> dict[str, np.ndarray]:
    """The buy and sell rates: JSON numbers, within the USDBRL range, buy <= sell."""
    out: dict[str, np.ndarray] = {}
    lo, hi = USDBRL_RANGE
    for key in _RATES:
        raw = [q.get(key) if isinstance(q, dict) else None for q in quotes]
        is_number = np.array([isinstance(v, int | float) and not isinstance(v, bool)
                              and math.isfinite(v) for v in raw])
        check(is_number, where, raw, file_name, key, "not a number (a JSON number: 5.8277)")
        values = np.array(raw, dtype=float)
        check((values >= lo) & (values <= hi), where, raw, file_name, key,
              f"out of range: USDBRL lies in [{lo}, {hi}]")
        out[key] = values
    check(out["cotacaoCompra"] <= out["cotacaoVenda"], where,
          [q["cotacaoCompra"] for q in quotes], file_name, "cotacaoCompra",  # type: ignore[index]
          "above the sell rate cotacaoVenda")
    return out


def read_ptax(source: Source, file_name: str, *, expected_date: object = None
              ) -> pd.DataFrame:
    """Parse a PTAX answer.

    Args:
        source: the file's bytes, or a binary file object at its start.
        file_name: the file's name, for messages.
        expected_date: the date the file must be for: every quote must be of that date
            (the daily answer has one). None: any dates (a period answer), each once.

    Returns:
        Columns: ``observation`` (1-based position in ``value``), ``fixing_date``
        (``datetime.date``), ``quoted_at`` (``pd.Timestamp``, naive Brasília time), ``buy``,
        ``sell``, in date order.

    Raises:
        InvalidInput: not JSON; no ``value`` array (another service's answer) or an empty
            one; a quote that is not an object, a stamp not written ``YYYY-MM-DD HH:MM:SS``
            (a day-first date included), a rate that is not a JSON number or is out of
            range, buy above sell; a date twice, or not the expected one.

    Examples:
        >>> ptax = read_ptax(b'{"value": [{"cotacaoCompra": 5.8271, "cotacaoVenda": 5.8277,'
        ...                  b' "dataHoraCotacao": "2025-02-03 13:03:24.514"}]}', "ptax.json")
        >>> ptax[["fixing_date", "sell"]].to_dict("records")
        [{'fixing_date': datetime.date(2025, 2, 3), 'sell': 5.8277}]
    """
    want = expected(expected_date)
    payload = read_json(source, file_name)
    quotes = payload.get("value") if isinstance(payload, dict) else None
    if not isinstance(quotes, list):
        found = ", ".join(payload) if isinstance(payload, dict) else type(payload).__name__
        raise invalid(file_name, "line 1", "value", "expected an object with a 'value' array "
                      "of quotes (the PTAX service's answer)", found)
    if not quotes:
        raise invalid(file_name, "line 1", "value", "no quote: the PTAX of that date is not "
                      "published (a holiday, or asked before BCB closed it)")
    where = [f"observation {i + 1}" for i in range(len(quotes))]
    check(np.array([isinstance(q, dict) for q in quotes]), where, [str(q) for q in quotes],
          file_name, "observation", "not an object {cotacaoCompra, cotacaoVenda, "
          "dataHoraCotacao}")
    stamps = [q.get("dataHoraCotacao") for q in quotes]
    text = pd.Series([s if isinstance(s, str) else "" for s in stamps], dtype=object)
    check(text.str.fullmatch(_STAMP).to_numpy(dtype=bool), where, stamps, file_name,
          "dataHoraCotacao", "not a time stamp written YYYY-MM-DD HH:MM:SS[.fff]")
    quoted = pd.to_datetime(text, format="ISO8601", errors="coerce")
    check(quoted.notna().to_numpy(), where, stamps, file_name, "dataHoraCotacao",
          "not a calendar date and time")
    days = np.array(quoted.dt.date.tolist(), dtype=object)
    if want is not None:
        same_date(days, stamps, where, file_name, "dataHoraCotacao", want)
    unique(days.tolist(), where, file_name, "dataHoraCotacao", stamps)
    rates = _rates(quotes, where, file_name)
    out = pd.DataFrame({"observation": np.arange(1, len(quotes) + 1), "fixing_date": days,
                        "quoted_at": quoted, "buy": rates["cotacaoCompra"],
                        "sell": rates["cotacaoVenda"]})
    return out.sort_values("fixing_date", kind="stable").reset_index(drop=True)


def fx_fixings(ptax: pd.DataFrame) -> pd.DataFrame:
    """The quotes in the ``fx_fixings`` table's shape: pair USDBRL, kind PTAX, the sell rate.

    Examples:
        >>> q = pd.DataFrame({"fixing_date": ["2025-02-03"], "sell": [5.8277]})
        >>> fx_fixings(q).to_dict("records")
        [{'fixing_date': '2025-02-03', 'pair': 'USDBRL', 'kind': 'PTAX', 'rate': 5.8277}]
    """
    return pd.DataFrame({"fixing_date": ptax["fixing_date"], "pair": "USDBRL",
                         "kind": "PTAX", "rate": ptax["sell"]}).reset_index(drop=True)

"""BCB's time-series system (SGS): the CDI (series 12) and the IPCA (series 433) as JSON.

**The file.** What the SGS service answers for one series in JSON (UTF-8): an array of
observations, each ``{"data": "dd/mm/yyyy", "valor": "<number>"}``, the date day-first
(the publisher's layout, the only one read here), the value as text with a decimal point::

    [{"data": "03/02/2025", "valor": "0.049037"}, {"data": "04/02/2025", "valor": "0.049037"}]

Other keys are ignored. An error answer (an object, HTML) is refused.

**CDI — series 12** is the DI rate of each business day in **percent per day**, the daily
factor of the annual rate B3 publishes with two decimals of percent (13.15 % a.a.) rounded
to 6 decimals of percent: ``d = round6(100 × ((1 + r)^(1/252) − 1))``. The store's
``cdi_fixings.rate`` is that annual rate as a decimal (base 252), recovered here:

    r = round4((1 + d/100)^252 − 1)        e.g. 0.049037 % a day -> 0.1315

Rounding to 4 decimals (0.01 %) is exact because the 6-decimal daily rate pins the annual
rate to about 10⁻⁶, far inside half a step of 0.01 %. A daily rate that is not the factor of
any two-decimal annual rate is refused (a typo, or a series other than 12). The date is the
business day the rate accrues on, as the store's ``fixing_date``.

**IPCA — series 433** is IBGE's monthly change of the IPCA in **percent** (two decimals),
dated the 1st of its month. It is read as a decimal change per reference month: the input
that carries the NTN-B's VNA from one 15th to the next, ``VNA(15th of M+1) = VNA(15th of M) ×
(1 + IPCA(M))`` on the month the index is released, truncated to 6 decimals. The official
VNA is computed from IBGE's index numbers, which carry more precision than the rounded
monthly change, so the store's ``vna`` is anchored on a published VNA and these changes
carry it forward or check it.
"""
from __future__ import annotations

from datetime import date
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.validation import RATE_MAX
from pms_luigi.ingest.common import (
    Source,
    check,
    dates,
    expected,
    invalid,
    numbers,
    percent_to_decimal,
    read_json,
    unique,
)

__all__ = ["CDI_SERIES", "IPCA_SERIES", "read_cdi", "read_ipca", "read_sgs"]

CDI_SERIES: Final = 12
IPCA_SERIES: Final = 433
_DAYS_PER_YEAR: Final = 252
_STEP: Final = 1e-6  # the daily rate's last published decimal, in percent


def read_sgs(source: Source, file_name: str) -> pd.DataFrame:
    """Parse an SGS series answer.

    Returns:
        Columns: ``observation`` (1-based position in the array), ``date``
        (``datetime.date``), ``value`` (float, as published), ``text`` (the value as
        written), in file order.

    Raises:
        InvalidInput: not JSON, not an array of objects, an empty array, an observation
            without ``data`` or ``valor``, a date not written ``dd/mm/yyyy`` (an ISO date
            included), a value that is not a number with a decimal point, or a date twice.

    Examples:
        >>> sgs = read_sgs(b'[{"data": "03/02/2025", "valor": "0.049037"}]', "sgs12.json")
        >>> sgs.to_dict("records")
        [{'observation': 1, 'date': datetime.date(2025, 2, 3), 'value': 0.049037, \
'text': '0.049037'}]
        >>> read_sgs(b'[{"data": "2025-02-03", "valor": "0.049037"}]', "sgs12.json")
        Traceback (most recent call last):
        ...
        pms_luigi.core.errors.InvalidInput: sgs12.json: observation 1: field data \
'2025-02-03': not a date written dd/mm/yyyy
    """
    payload = read_json(source, file_name)
    if not isinstance(payload, list):
        keys = ", ".join(payload) if isinstance(payload, dict) else type(payload).__name__
        raise invalid(file_name, "line 1", "JSON", "expected an array of {data, valor} "
                      "observations (an SGS series)", keys)
    if not payload:
        raise invalid(file_name, "line 1", "JSON", "the series has no observation")
    where = [f"observation {i + 1}" for i in range(len(payload))]
    check(np.array([isinstance(o, dict) for o in payload]), where, [str(o) for o in payload],
          file_name, "observation", "not an object {data, valor}")
    day_text = [o.get("data") for o in payload]
    value_text = [o.get("valor") for o in payload]
    for name, texts in (("data", day_text), ("valor", value_text)):
        check(np.array([isinstance(t, str) for t in texts]), where, texts, file_name, name,
              "absent or not text")
    out = pd.DataFrame({"observation": np.arange(1, len(payload) + 1)})
    out["date"] = dates(day_text, where, file_name, "data", "%d/%m/%Y")
    out["value"] = numbers(value_text, where, file_name, "valor")
    out["text"] = pd.Series(value_text, dtype=object)
    unique(out["date"].tolist(), where, file_name, "data", day_text)
    return out


def _annual(daily_pct: np.ndarray) -> np.ndarray:
    """The two-decimal annual CDI (decimal) whose daily factor was published."""
    return np.round((1.0 + daily_pct / 100.0) ** _DAYS_PER_YEAR - 1.0, 4)


def read_cdi(source: Source, file_name: str, *, expected_date: object = None) -> pd.DataFrame:
    """CDI fixings from SGS series 12 (module docstring for the conversion).

    Args:
        source: the file's bytes, or a binary file object at its start.
        file_name: the file's name, for messages.
        expected_date: the business date the file is landed for: it must be in the file,
            and no fixing may be dated after it. None: no check.

    Returns:
        Columns: ``observation``, ``fixing_date`` (``datetime.date``), ``daily_pct`` (as
        published, percent per day), ``rate`` (annual decimal, base 252: the store's
        ``cdi_fixings.rate``), in date order.

    Raises:
        InvalidInput: as :func:`read_sgs`; a fixing on a day that is not an ANBIMA business
            day; a daily rate out of range or not the factor of a two-decimal annual rate;
            the expected date absent or passed.

    Examples:
        >>> cdi = read_cdi(b'[{"data": "03/02/2025", "valor": "0.049037"}]', "sgs12.json")
        >>> cdi[["fixing_date", "rate"]].to_dict("records")
        [{'fixing_date': datetime.date(2025, 2, 3), 'rate': 0.1315}]
    """
    want = expected(expected_date)
    sgs = read_sgs(source, file_name)
    where = [f"observation {i}" for i in sgs["observation"]]
    day_text = [d.strftime("%d/%m/%Y") for d in sgs["date"]]
    days = np.array(sgs["date"].tolist(), dtype="datetime64[D]")
    check(np.is_busday(days, busdaycal=cal.ANBIMA), where, day_text, file_name, "data",
          "not an ANBIMA business day: no CDI accrues on it")
    daily = sgs["value"].to_numpy()
    rate = _annual(daily)
    check((rate > -0.01) & (rate < RATE_MAX), where, sgs["text"].tolist(), file_name, "valor",
          "out of range: the annual CDI it gives is not between -1 % and 100 %")
    back = np.round(((1.0 + rate) ** (1.0 / _DAYS_PER_YEAR) - 1.0) * 100.0, 6)
    check(np.abs(back - daily) <= _STEP / 2 + 1e-12, where, sgs["text"].tolist(), file_name,
          "valor", "not the daily factor of an annual CDI with two decimals of percent "
          "(a typo, or not series 12)")
    out = pd.DataFrame({"observation": sgs["observation"], "fixing_date": sgs["date"],
                        "daily_pct": daily, "rate": rate})
    _check_expected(out["fixing_date"], want, where, day_text, file_name)
    return out.sort_values("fixing_date", kind="stable").reset_index(drop=True)


def _check_expected(days: pd.Series, want: date | None, where: list[str],
                    day_text: list[str], file_name: str) -> None:
    """The landed date is in the file and nothing is dated after it."""
    if want is None:
        return
    check((days <= want).to_numpy(), where, day_text, file_name, "data",
          f"dated after the file's date {want.isoformat()}")
    if not (days == want).any():
        raise invalid(file_name, where[-1], "data",
                      f"the file has no observation for its date {want.isoformat()}",
                      day_text[-1])


def read_ipca(source: Source, file_name: str) -> pd.DataFrame:
    """IPCA monthly changes from SGS series 433 (module docstring for their use).

    Returns:
        Columns: ``observation``, ``ref_month`` (``datetime.date``, the 1st of the month),
        ``change`` (decimal: 0.0016 for 0.16 %), in month order.

    Raises:
        InvalidInput: as :func:`read_sgs`; a date that is not the 1st of a month; a change
            of 100 % or more either way.

    Examples:
        >>> ipca = read_ipca(b'[{"data": "01/01/2025", "valor": "0.16"}]', "sgs433.json")
        >>> ipca[["ref_month", "change"]].to_dict("records")
        [{'ref_month': datetime.date(2025, 1, 1), 'change': 0.0016}]
    """
    sgs = read_sgs(source, file_name)
    where = [f"observation {i}" for i in sgs["observation"]]
    day_text = [d.strftime("%d/%m/%Y") for d in sgs["date"]]
    check(np.array([d.day == 1 for d in sgs["date"]]), where, day_text, file_name, "data",
          "a monthly series is dated on the 1st of its month")
    change = percent_to_decimal(sgs["value"].to_numpy())
    check(np.abs(change) < 1.0, where, sgs["text"].tolist(), file_name, "valor",
          "out of range: a monthly change in percent lies between -100 and 100")
    out = pd.DataFrame({"observation": sgs["observation"], "ref_month": sgs["date"],
                        "change": change})
    return out.sort_values("ref_month", kind="stable").reset_index(drop=True)

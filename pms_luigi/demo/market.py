"""The demo's calendar and market: its dates, six correlated factors, Selic/CDI, FX, VNA, equities.

Everything is synthetic but follows the real conventions, so every downstream number can be
recomputed from the inputs with the published formulas. One ``numpy.random.Generator`` drives
the model; :func:`simulate` draws from it in a fixed order (factors, COPOM, PTAX, equities,
VNA), so a seed gives the same market bit for bit.

Factors (daily, on ANBIMA business days), AR(1) around a mean (mean reversion keeps a year in
a plausible range):

=========  ===================================  ==============  ===========
factor      meaning                              daily vol       start
=========  ===================================  ==============  ===========
M           DI medium-term level (decimal)       7 bp            13.90 %
S           DI long-end slope (decimal)          4 bp            -0.30 pp
log FX      ln USDBRL                            0.90 %          5.35
log IBOV    ln Ibovespa                          1.20 %          150,000
R           NTN-B real yield level               6 bp            6.60 %
C           cupom cambial level (linear 360)     6 bp            5.00 %
=========  ===================================  ==============  ===========

Correlations: a weak BRL goes with DI up (+0.5), real yields up (+0.4) and IBOV down (-0.55);
DI up goes with IBOV down (-0.5); DI level and real yields +0.7. IBOV does not move on ANBIMA
days without a B3 session (Dec 24, Dec 31).

* **Selic/CDI.** Selic starts at 15.00 %; COPOM meets about every 45 calendar days and moves by
  a multiple of 25 bp towards what the curve prices (0.35 x (M - CDI) + noise, capped at
  +-50 bp), effective the next business day. CDI fixing = Selic - 0.10 pp.
* **FX fixings.** CLOSE = the model spot; PTAX = an intraday point between the previous close
  and today's (BCB samples 10h-13h), both 4 decimals, every ANBIMA day.
* **VNA** of the NTN-B: a monthly IPCA path (0.30-0.50 % a month), VNA updated on each 15th by
  the previous month's IPCA and projected pro rata between 15ths with a projection of the IPCA
  the next 15th will incorporate (ANBIMA's method), so the 15th may correct the VNA slightly
  either way; truncated to 6 decimals.
* **Equities.** PETR4 (beta 1.1) and VALE3 (beta 0.9) to IBOV plus an idiosyncratic AR(1)
  (1.2 %/day shocks, 2 %/day mean reversion).
* **History.** CDI, PTAX/CLOSE and VNA also exist for the business day *before* inception (the
  first day's MTM needs PTAX of t-1 for DDI); market prices, trades and signals start on
  inception day.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput, NotBusinessDay


def _frozen(values: list) -> np.ndarray:
    """A read-only array: model parameters are constants shared by every run."""
    out = np.array(values)
    out.flags.writeable = False
    return out


_FACTORS: Final = ("M", "S", "FX", "IBOV", "R", "C")
_VOL: Final = _frozen([0.0007, 0.0004, 0.009, 0.012, 0.0006, 0.0006])
_CORR: Final = _frozen([
    #  M     S     FX    IBOV   R     C
    [1.00, 0.30, 0.50, -0.50, 0.70, 0.30],
    [0.30, 1.00, 0.30, -0.30, 0.30, 0.10],
    [0.50, 0.30, 1.00, -0.55, 0.40, 0.20],
    [-0.50, -0.30, -0.55, 1.00, -0.40, -0.10],
    [0.70, 0.30, 0.40, -0.40, 1.00, 0.20],
    [0.30, 0.10, 0.20, -0.10, 0.20, 1.00],
])
_START: Final = _frozen([0.1390, -0.0030, math.log(5.35), math.log(150_000.0), 0.0660, 0.0500])
_MEAN: Final = _frozen([0.1375, -0.0020, math.log(5.45), math.log(150_000.0), 0.0650, 0.0500])
_KAPPA: Final = _frozen([0.02, 0.03, 0.02, 0.01, 0.02, 0.03])  # daily mean reversion
_SELIC0: Final = 0.1500
_CDI_SPREAD: Final = 0.0010
_VNA0: Final = 4_600.0  # VNA NTN-B around the demo start (illustrative)
#: The two stocks of the book: ticker -> (name, first price, beta to IBOV).
EQUITIES: Final = MappingProxyType({"PETR4": ("Petrobras PN", 32.00, 1.1),
                                    "VALE3": ("Vale ON", 62.00, 0.9)})
_EQ_IDIO_VOL: Final = 0.012
_EQ_IDIO_KAPPA: Final = 0.02


# ----------------------------------------------------------------------------- the demo's dates


def demo_dates(end: date, n_days: int) -> list[date]:
    """The ``n_days`` ANBIMA business days ending on ``end``.

    Raises:
        NotBusinessDay: ``end`` is not an ANBIMA business day.
        InvalidInput: ``n_days`` < 40 (the book's events need room).
    """
    if not cal.is_business_day(end):
        raise NotBusinessDay(end, cal.holiday_name(end) or "not a business day")
    if n_days < 40:
        raise InvalidInput(f"demo: n_days {n_days} is too short for the book's events (>= 40)",
                           table="demo", field="n_days")
    dates = cal.business_days(end - timedelta(days=int(n_days * 1.6) + 30), end)[-n_days:]
    if len(dates) < n_days:  # pragma: no cover - 1.6 calendar days per business day is ample
        raise InvalidInput("demo: calendar window too short", table="demo", field="n_days")
    return dates


def open_day(dates: list[date]) -> date:
    """The first B3 session of the demo: the whole book is traded on it."""
    return next(d for d in dates if cal.is_b3_session(d))


def event_day(dates: list[date], frac: float) -> date:
    """The B3 session at (or just after) a fraction of the demo window."""
    i = round(frac * (len(dates) - 1))
    after = [d for d in dates[i:] if cal.is_b3_session(d)]
    return after[0] if after else [d for d in dates if cal.is_b3_session(d)][-1]


def add_months(year: int, month: int, k: int) -> tuple[int, int]:
    """(year, month) ``k`` months after (or before, ``k`` < 0) the given month."""
    m = year * 12 + (month - 1) + k
    return m // 12, m % 12 + 1


# ----------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Market:
    """The simulated market, one value per demo date (arrays aligned on ``d64``)."""

    d64: np.ndarray  # datetime64[D] of the ANBIMA dates
    session: np.ndarray  # bool: B3 session
    cdi: np.ndarray
    m: np.ndarray
    s: np.ndarray
    fx: np.ndarray  # spot close
    ptax: np.ndarray
    ibov: np.ndarray
    real: np.ndarray
    cupom: np.ndarray
    vna: np.ndarray
    equities: dict[str, np.ndarray]


def _ar_paths(rng: np.random.Generator, n: int, session: np.ndarray) -> np.ndarray:
    """The six factor paths (n x 6): correlated shocks, AR(1) around _MEAN from _START."""
    chol = np.linalg.cholesky(_CORR)
    z = rng.standard_normal((n, len(_FACTORS))) @ chol.T * _VOL
    z[0] = 0.0
    z[~session, 3] = 0.0  # no IBOV move without a B3 session
    x = np.empty((n, len(_FACTORS)))
    x[0] = _START
    keep = 1.0 - _KAPPA
    for t in range(1, n):  # AR(1) recursion: each step needs the previous one
        x[t] = _MEAN + keep * (x[t - 1] - _MEAN) + z[t]
    return x


def _copom(rng: np.random.Generator, dates: list[date], m: np.ndarray) -> np.ndarray:
    """Daily Selic: COPOM moves in 25 bp steps toward the curve, effective next business day."""
    n = len(dates)
    selic = np.full(n, _SELIC0)
    target = dates[0] + timedelta(days=20)
    meetings: list[int] = []
    while True:
        wed = target + timedelta(days=(2 - target.weekday()) % 7)
        wed = cal.following(wed)
        if wed >= dates[-1]:
            break
        meetings.append(dates.index(wed))
        target = wed + timedelta(days=45)
    noise = rng.normal(0.0, 0.0010, size=len(meetings))
    for k, i in enumerate(meetings):
        cdi = selic[i] - _CDI_SPREAD
        move = np.clip(np.round((0.35 * (m[i] - cdi) + noise[k]) / 0.0025) * 0.0025,
                       -0.005, 0.005)
        selic[i + 1:] = np.clip(selic[i] + move, 0.1200, 0.1650)
    return selic


def _vna_path(rng: np.random.Generator, dates: list[date]) -> np.ndarray:
    """ANBIMA-style daily VNA: monthly IPCA on the 15th, pro-rata projection in between.

    VNA(d) = VNA(last 15th) x (1 + projected IPCA)^(days since the 15th / days between 15ths),
    truncated to 6 decimals (ANBIMA).
    """
    first, last = dates[0], dates[-1]
    y, m = add_months(first.year, first.month, -2)
    anchors: list[date] = []
    while date(y, m, 15) <= last + timedelta(days=62):
        anchors.append(date(y, m, 15))
        y, m = add_months(y, m, 1)
    # ipca[k] is the month incorporated on anchor k+1; proj[k] is the market projection of it
    # used pro rata between anchors k and k+1 (so the VNA may jump either way on the 15th).
    ipca = rng.uniform(0.0030, 0.0050, size=len(anchors))
    proj = np.clip(ipca + rng.normal(0.0, 0.0005, size=len(anchors)), 0.0, None)
    level = _VNA0 * np.cumprod(np.concatenate([[1.0], 1.0 + ipca[:-1]]))
    d64 = np.array(dates, dtype="datetime64[D]")
    a64 = np.array(anchors, dtype="datetime64[D]")
    k = np.searchsorted(a64, d64, side="right") - 1  # last 15th on or before the date
    x = (d64 - a64[k]).astype(float) / (a64[k + 1] - a64[k]).astype(float)
    vna = level[k] * (1.0 + proj[k]) ** x
    return np.floor(vna * 1e6 + 1e-6) / 1e6  # truncated to 6 decimals (ANBIMA)


def simulate(rng: np.random.Generator, dates: list[date]) -> Market:
    """The market on ``dates`` (ANBIMA business days), drawn from ``rng`` in a fixed order."""
    n = len(dates)
    d64 = np.array(dates, dtype="datetime64[D]")
    session = np.is_busday(d64, busdaycal=cal.B3)
    x = _ar_paths(rng, n, session)
    selic = _copom(rng, dates, x[:, 0])
    fx = np.exp(x[:, 2])
    intraday = np.concatenate([[x[0, 2]], x[:-1, 2] + 0.55 * np.diff(x[:, 2])])
    ptax = np.exp(intraday + rng.normal(0.0, 0.0015, size=n))
    shocks = rng.normal(0.0, _EQ_IDIO_VOL, size=(n, len(EQUITIES))) * session[:, None]
    idio = np.zeros_like(shocks)
    for t in range(1, n):  # idiosyncratic AR(1) of each stock
        idio[t] = (1.0 - _EQ_IDIO_KAPPA) * idio[t - 1] + shocks[t]
    equities = {
        ticker: p0 * np.exp(beta * (x[:, 3] - x[0, 3]) + idio[:, j])
        for j, (ticker, (_, p0, beta)) in enumerate(EQUITIES.items())
    }
    return Market(
        d64=d64, session=session, cdi=np.round(selic - _CDI_SPREAD, 6), m=x[:, 0], s=x[:, 1],
        fx=np.round(fx, 4), ptax=np.round(ptax, 4), ibov=np.exp(x[:, 3]), real=x[:, 4],
        cupom=x[:, 5], vna=_vna_path(rng, dates), equities=equities,
    )


def fixing_frames(hist: list[date], mk: Market) -> dict[str, pd.DataFrame]:
    """The ``fx_fixings`` (PTAX and CLOSE), ``cdi_fixings`` and ``vna`` tables of ``mk``."""
    darr = np.array(hist, dtype=object)
    n = len(hist)
    fx = pd.DataFrame({
        "fixing_date": np.concatenate([darr, darr]), "pair": "USDBRL",
        "kind": ["PTAX"] * n + ["CLOSE"] * n, "rate": np.concatenate([mk.ptax, mk.fx]),
    }).sort_values(["fixing_date", "kind"], kind="stable").reset_index(drop=True)
    return {
        "fx_fixings": fx,
        "cdi_fixings": pd.DataFrame({"fixing_date": darr, "rate": mk.cdi}),
        "vna": pd.DataFrame({"ref_date": darr, "index_name": "NTNB", "value": mk.vna}),
    }

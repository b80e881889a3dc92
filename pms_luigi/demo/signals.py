"""The demo's signals: every strategy's conviction on each of its generic ids, every day.

conviction = tanh(mu_t + x_t), x an AR(1) (phi = 0.96, stationary sd 0.45) and mu a bias: for
the pairs behind a book position mu has the position's sign (and changes, with a 10-day ramp,
before the flip / cut / new position); otherwise a small random constant, so flips occur
occasionally. Convictions are signed in *price terms of the resolved contract* (as the
proposals read them): > 0 = long PU = receive for DI_PRE. Rounded to 4 decimals.

The US Treasury generic id has no instrument and no alias: RATES_03 emits only DI_PRE and
RATES_05 (FOMC event, UST only) emits no signals.
"""
from __future__ import annotations

import math
from datetime import date
from types import MappingProxyType
from typing import Final

import numpy as np
import pandas as pd

from pms_luigi.demo.market import event_day
from pms_luigi.demo.reference import STRATEGIES

_SIGNAL_PHI: Final = 0.96
_SIGNAL_SD: Final = 0.45
_RAMP_DAYS: Final = 10
#: Signal biases (tanh space) behind the book: (strategy, generic id) -> [(fraction, bias)].
_SIGNAL_BIAS: Final = MappingProxyType({
    ("FX_02", "USDBRL"): ((0.0, -0.7),),
    ("FX_04", "USDBRL"): ((0.0, -0.5),),
    ("FX_05", "USDBRL"): ((0.0, -0.6),),
    ("RATES_03", "DI_PRE"): ((0.0, 0.6),),
    ("RATES_BR_01", "DI_PRE"): ((0.0, 0.8), (0.50, 0.3)),
    ("RATES_BR_03", "DI_PRE_2Y"): ((0.0, -0.6),),
    ("RATES_BR_03", "DI_PRE_4Y"): ((0.0, 0.6),),
    ("INF_02", "NTN_B_REAL"): ((0.0, 0.6), (0.23, 0.9)),
    ("INF_03", "NTN_B_REAL"): ((0.0, 0.7),),
    ("CUPOM_02", "DDI"): ((0.0, -0.8), (0.62, 0.8)),
    ("SOV_02", "CDS_BR"): ((0.0, 0.6),),
    ("RATES_06", "DI_PRE"): ((0.0, 0.5),),
    ("CROSS_01", "IBOV_FUT"): ((0.0, 0.7),),
    ("CROSS_02", "IBOV_FUT"): ((0.0, 0.5),),
    ("SOV_BR_01", "DI_PRE"): ((0.0, 0.0), (0.38, -0.7)),
})


def _biases(rng: np.random.Generator, dates: list[date],
            pairs: list[tuple[str, str]]) -> np.ndarray:
    """mu (dates x pairs): the book's biases with their ramps, else a random constant."""
    mu = np.empty((len(dates), len(pairs)))
    base = rng.normal(0.0, 0.25, size=len(pairs))
    for j, pair in enumerate(pairs):
        steps = _SIGNAL_BIAS.get(pair)
        if steps is None:
            mu[:, j] = base[j]
            continue
        mu[:, j] = steps[0][1]
        for frac, bias in steps[1:]:
            k = dates.index(event_day(dates, frac))
            lo = max(0, k - _RAMP_DAYS)
            prev = mu[lo, j]
            mu[lo:k, j] = prev + (bias - prev) * np.arange(1, k - lo + 1) / (k - lo + 1)
            mu[k:, j] = bias
    return mu


def signals(rng: np.random.Generator, dates: list[date]) -> pd.DataFrame:
    """The ``signals`` table: one conviction per (date, strategy, generic id).

    Args:
        rng: the demo's generator, after the market's and the trades' draws.
        dates: the demo's business days.
    """
    pairs = [(sid, gid) for sid, _, _, _, gids in STRATEGIES for gid in gids]
    n, p = len(dates), len(pairs)
    mu = _biases(rng, dates, pairs)
    eps = rng.normal(0.0, _SIGNAL_SD * math.sqrt(1 - _SIGNAL_PHI**2), size=(n, p))
    x = np.empty((n, p))
    x[0] = rng.normal(0.0, _SIGNAL_SD, size=p)
    for t in range(1, n):  # AR(1) recursion over dates, vectorized across the series
        x[t] = _SIGNAL_PHI * x[t - 1] + eps[t]
    conv = np.round(np.tanh(mu + x), 4)
    return pd.DataFrame({
        "signal_date": np.repeat(np.array(dates, dtype=object), p),
        "strategy_id": np.tile([s for s, _ in pairs], n),
        "signal_id": np.tile([g for _, g in pairs], n),
        "conviction": conv.ravel(),
    }).sort_values(["signal_date", "strategy_id", "signal_id"], kind="stable"
                   ).reset_index(drop=True)

"""Demo fund: a year of correlated Brazilian market data, a macro book, trades and signals.

Why this exists: ``pms-luigi demo`` must run the whole pipeline on a fresh machine with data
that looks like a Brazilian global-macro fund's. Everything is synthetic but built with the
*real* conventions (B3, ANBIMA, BCB), so every downstream number (MTM, DV01, VaR,
attribution) can be recomputed from the inputs with the published formulas.

No store, no clock: :func:`generate` is a deterministic function of ``(seed, end, n_days,
nav)`` (one ``numpy.random.Generator``); :func:`load_reference` only reads the reference CSVs
in a folder the caller names. Frames carry exactly the columns of
``pms_luigi/store/schema.py`` a load sets (not the provenance the landing stage fills); dates
are ``datetime.date``; numbers float64; NULLs are ``None`` (object columns) or ``NaN``
(``market_prices.rate`` of instruments without a quoted yield). ``config/*.csv`` hold the
reference data of the default demo (``end`` = :data:`DEFAULT_END`); the tests check that
they agree with :func:`generate`.

Modules, in the order :func:`generate` uses them:

- :mod:`~pms_luigi.demo.reference`: the tables' column orders, the 24 strategies, the
  reference CSVs (:func:`load_reference`, :func:`reference_csv`).
- :mod:`~pms_luigi.demo.market`: the demo's dates and the market model (six correlated
  factors, Selic/CDI, FX fixings, VNA, equities).
- :mod:`~pms_luigi.demo.instruments`: contract rules, roll chains, the instrument master and
  the alias table (:func:`reference_tables`, :func:`last_price_date`).
- :mod:`~pms_luigi.demo.prices`: the DI and cupom curves and every settlement price.
- :mod:`~pms_luigi.demo.book`: the book, its rolls and events, the trades and their costs
  (:data:`COST_BPS`).
- :mod:`~pms_luigi.demo.signals`: each strategy's daily convictions.
- :mod:`~pms_luigi.demo.fund`: the capital flows and :func:`generate` (:class:`DemoData`).
"""
from pms_luigi.demo.book import COST_BPS
from pms_luigi.demo.fund import FUND_ID, FUND_NAME, DemoData, generate
from pms_luigi.demo.instruments import last_price_date, reference_tables
from pms_luigi.demo.reference import (
    DEFAULT_END,
    REFERENCE_COLUMNS,
    STRATEGIES,
    load_reference,
    reference_csv,
)

__all__ = [
    "COST_BPS",
    "DEFAULT_END",
    "FUND_ID",
    "FUND_NAME",
    "REFERENCE_COLUMNS",
    "STRATEGIES",
    "DemoData",
    "generate",
    "last_price_date",
    "load_reference",
    "reference_csv",
    "reference_tables",
]

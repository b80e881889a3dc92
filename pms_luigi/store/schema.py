"""The whole schema in one module: SQLAlchemy 2 Core tables for PostgreSQL and SQLite.

Column names are the contract with the pure modules: readers return DataFrames whose
columns are exactly these names, and writers take frames with these names.

Value kinds (why these types):
- ``Money``: BRL/USD amounts, NUMERIC(20, 2) — centavos, rounded half-even by the writer.
- ``Price``: PU, points, FX rates, NUMERIC(24, 8) — B3/ANBIMA publish at most 6–8 decimals.
- ``Rate``: annual rates as decimals (0.1105 = 11.05 % a.a.), NUMERIC(14, 10).
- ``Qty``: contracts or units, NUMERIC(24, 6), signed (long PU > 0).
All are returned as Python floats (``asdecimal=False``): the pure code computes in float64,
the database stores the exact decimal it was given at the stated scale.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = sa.MetaData(naming_convention=NAMING)

Money = sa.Numeric(20, 2, asdecimal=False)
Price = sa.Numeric(24, 8, asdecimal=False)
Rate = sa.Numeric(14, 10, asdecimal=False)
Qty = sa.Numeric(24, 6, asdecimal=False)
Json = sa.JSON().with_variant(JSONB(), "postgresql")
Timestamp = sa.DateTime(timezone=True)


def _date_pk(name: str = "business_date") -> sa.Column:
    return sa.Column(name, sa.Date, nullable=False)


# ---------------------------------------------------------------- reference data (inputs)

fund = sa.Table(
    "fund", metadata,
    sa.Column("fund_id", sa.String(20), primary_key=True),  # 'default'
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("inception_date", sa.Date, nullable=False),  # first business date marked
    sa.Column("initial_nav", Money, nullable=False),  # NAV before the first day's P&L
    sa.CheckConstraint("initial_nav > 0", name="initial_nav_positive"),
)

instruments = sa.Table(
    "instruments", metadata,
    sa.Column("instrument_id", sa.String(40), primary_key=True),  # e.g. DI1F27, NTNB_2035
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("asset_class", sa.String(20), nullable=False),  # RATES INFLATION FX CUPOM EQUITY
    sa.Column("instrument_type", sa.String(20), nullable=False),  # DI1 DDI DOL WDO IND WIN ...
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("exchange", sa.String(20), nullable=False),  # B3 OTC TESOURO
    sa.Column("maturity_date", sa.Date),
    sa.Column("contract_size", Price, nullable=False),  # value of one price point in `currency`
    sa.Column("lot_size", Qty, nullable=False),  # tradable quantity increment
    sa.Column("underlying", sa.String(20)),  # USDBRL for NDF/DOL, IBOV for IND/WIN
    sa.Column("is_active", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.CheckConstraint("contract_size > 0", name="contract_size_positive"),
    sa.CheckConstraint("lot_size > 0", name="lot_size_positive"),
)

instrument_aliases = sa.Table(
    "instrument_aliases", metadata,
    sa.Column("alias", sa.String(40), primary_key=True),  # generic id a strategy emits (DI_PRE)
    sa.Column("instrument_id", sa.ForeignKey("instruments.instrument_id"), nullable=False),
)

strategies = sa.Table(
    "strategies", metadata,
    sa.Column("strategy_id", sa.String(40), primary_key=True),  # RATES_BR_01 ...
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("asset_class", sa.String(20), nullable=False),
    sa.Column("factor_tags", Json, nullable=False),  # ["carry", "momentum"]
    sa.Column("is_systematic", sa.Boolean, nullable=False),
)

# ---------------------------------------------------------------- market and ledger inputs

trades = sa.Table(
    "trades", metadata,
    sa.Column("trade_id", sa.String(64), primary_key=True),
    sa.Column("trade_date", sa.Date, nullable=False, index=True),
    sa.Column("instrument_id", sa.ForeignKey("instruments.instrument_id"), nullable=False),
    sa.Column("strategy_id", sa.ForeignKey("strategies.strategy_id"), nullable=False),
    sa.Column("quantity", Qty, nullable=False),  # signed, long PU / long USD / long index > 0
    sa.Column("price", Price, nullable=False),
    sa.Column("cost_brl", Money, nullable=False, server_default="0"),
    sa.Column("source", sa.String(20), nullable=False),  # SYSTEMATIC DISCRETIONARY PROPOSAL
    sa.Column("proposal_id", sa.Integer),
    sa.CheckConstraint("quantity <> 0", name="quantity_nonzero"),
    sa.CheckConstraint("price > 0", name="price_positive"),
)

ingested_files = sa.Table(
    "ingested_files", metadata,
    # One row per file an Ingest step read (a corrected file is a new row; the rows it
    # replaced pointed at the old one). Every input row the step wrote names it in its
    # ``ingest_id``; a manual load writes NULL there.
    sa.Column("ingest_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("source", sa.String(30), nullable=False),  # b3_price_report anbima_tpf bcb_cdi ...
    sa.Column("business_date", sa.Date, nullable=False),  # the landing folder's date
    sa.Column("file_name", sa.String(200), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("ingested_at", Timestamp, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),  # the Ingest step's run (its marker's)
    sa.Column("counts", Json, nullable=False),  # what the file held and what was written
    sa.Index("ix_ingested_files_source_date", "source", "business_date"),
    sqlite_autoincrement=True,  # ids are never reused
)


def _ingest_ref() -> sa.Column:
    """The file a row came from (``ingested_files``); NULL for a manual load."""
    return sa.Column("ingest_id", sa.ForeignKey("ingested_files.ingest_id"))


market_prices = sa.Table(
    "market_prices", metadata,
    _date_pk("price_date"),
    sa.Column("instrument_id", sa.ForeignKey("instruments.instrument_id"), nullable=False),
    sa.Column("price", Price, nullable=False),  # settlement PU / points / BRL per USD ...
    sa.Column("rate", Rate),  # quoted yield when the instrument has one (DI1, LTN, NTN-B)
    sa.Column("source", sa.String(20), nullable=False, server_default="B3"),
    _ingest_ref(),
    sa.PrimaryKeyConstraint("price_date", "instrument_id"),
    sa.Index("ix_market_prices_instrument_date", "instrument_id", "price_date"),
    sa.CheckConstraint("price > 0", name="price_positive"),
)

fx_fixings = sa.Table(
    "fx_fixings", metadata,
    _date_pk("fixing_date"),
    sa.Column("pair", sa.String(7), nullable=False),  # USDBRL
    sa.Column("kind", sa.String(10), nullable=False),  # PTAX, CLOSE
    sa.Column("rate", Price, nullable=False),
    _ingest_ref(),
    sa.PrimaryKeyConstraint("fixing_date", "pair", "kind"),
    sa.CheckConstraint("rate > 0", name="rate_positive"),
)

cdi_fixings = sa.Table(
    "cdi_fixings", metadata,
    sa.Column("fixing_date", sa.Date, primary_key=True),
    sa.Column("rate", Rate, nullable=False),  # annual, base 252, decimal
    _ingest_ref(),
    sa.CheckConstraint("rate > -0.01 AND rate < 1", name="rate_decimal"),
)

vna = sa.Table(
    "vna", metadata,
    _date_pk("ref_date"),
    sa.Column("index_name", sa.String(10), nullable=False),  # NTNB
    sa.Column("value", Price, nullable=False),
    _ingest_ref(),
    sa.PrimaryKeyConstraint("ref_date", "index_name"),
)

signals = sa.Table(
    "signals", metadata,
    _date_pk("signal_date"),
    sa.Column("strategy_id", sa.ForeignKey("strategies.strategy_id"), nullable=False),
    sa.Column("signal_id", sa.String(40), nullable=False),  # generic id or instrument_id
    sa.Column("conviction", Rate, nullable=False),  # signed, [-1, 1]
    sa.PrimaryKeyConstraint("signal_date", "strategy_id", "signal_id"),
    sa.CheckConstraint("conviction >= -1 AND conviction <= 1", name="conviction_range"),
)

capital_flows = sa.Table(
    "capital_flows", metadata,
    _date_pk("flow_date"),
    sa.Column("kind", sa.String(20), nullable=False),  # SUBSCRIPTION REDEMPTION FEE
    sa.Column("amount_brl", Money, nullable=False),  # + in, - out
    sa.PrimaryKeyConstraint("flow_date", "kind"),
)

# ---------------------------------------------------------------- step outputs

position_marks = sa.Table(
    "position_marks", metadata,
    _date_pk(),
    sa.Column("instrument_id", sa.String(40), nullable=False),
    sa.Column("strategy_id", sa.String(40), nullable=False),
    sa.Column("asset_class", sa.String(20), nullable=False),
    sa.Column("quantity", Qty, nullable=False),
    sa.Column("avg_cost", Price),
    sa.Column("price", Price, nullable=False),
    sa.Column("price_date", sa.Date, nullable=False),
    sa.Column("is_stale", sa.Boolean, nullable=False),
    sa.Column("staleness_bd", sa.Integer, nullable=False),
    sa.Column("fx_rate", Price),
    sa.Column("market_value_brl", Money, nullable=False),
    sa.Column("notional_brl", Money, nullable=False),
    sa.Column("pnl_brl", Money, nullable=False),
    sa.Column("pnl_carry_brl", Money, nullable=False),
    sa.Column("pnl_market_brl", Money, nullable=False),
    sa.Column("pnl_fx_brl", Money, nullable=False),
    sa.Column("pnl_new_trades_brl", Money, nullable=False),
    sa.Column("pnl_realized_brl", Money, nullable=False),
    sa.Column("pnl_costs_brl", Money, nullable=False),
    sa.Column("pnl_residual_brl", Money, nullable=False),
    sa.Column("pnl_bps", Rate, nullable=False),
    sa.Column("dv01_brl", Money, nullable=False),
    sa.Column("fx_delta_usd", Money, nullable=False),
    sa.Column("equity_delta_brl", Money, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("business_date", "instrument_id", "strategy_id"),
)

book_snapshots = sa.Table(
    "book_snapshots", metadata,
    sa.Column("business_date", sa.Date, primary_key=True),
    sa.Column("nav_brl", Money, nullable=False),
    sa.Column("nav_prev_brl", Money, nullable=False),
    sa.Column("pnl_brl", Money, nullable=False),
    sa.Column("pnl_bps", Rate, nullable=False),
    sa.Column("capital_flow_brl", Money, nullable=False),
    sa.Column("cdi_rate", Rate),
    sa.Column("gross_notional_brl", Money, nullable=False),
    sa.Column("net_notional_brl", Money, nullable=False),
    sa.Column("leverage", Rate, nullable=False),
    sa.Column("dv01_brl", Money, nullable=False),
    sa.Column("fx_delta_usd", Money, nullable=False),
    sa.Column("equity_delta_brl", Money, nullable=False),
    sa.Column("n_positions", sa.Integer, nullable=False),
    sa.Column("is_b3_session", sa.Boolean, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)

risk_snapshots = sa.Table(
    "risk_snapshots", metadata,
    sa.Column("business_date", sa.Date, primary_key=True),
    sa.Column("status", sa.String(30), nullable=False),  # OK / INSUFFICIENT_HISTORY
    sa.Column("n_scenarios", sa.Integer, nullable=False),
    sa.Column("var95_brl", Money),
    sa.Column("var99_brl", Money),
    sa.Column("es975_brl", Money),
    sa.Column("param_var95_brl", Money),
    sa.Column("param_var99_brl", Money),
    sa.Column("details", Json, nullable=False),  # stress table, limits, dv01 buckets
    sa.Column("run_id", sa.String(40), nullable=False),
)

proposals = sa.Table(
    "proposals", metadata,
    sa.Column("proposal_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("business_date", sa.Date, nullable=False, index=True),
    sa.Column("instrument_id", sa.String(40), nullable=False),
    sa.Column("side", sa.String(5), nullable=False),  # BUY SELL (in PU/price terms)
    sa.Column("action", sa.String(10), nullable=False),  # OPEN INCREASE REDUCE CLOSE FLIP
    sa.Column("quantity", Qty, nullable=False),  # signed
    sa.Column("notional_brl", Money, nullable=False),
    sa.Column("dv01_brl", Money, nullable=False),
    sa.Column("delta_brl", Money, nullable=False),
    sa.Column("conviction", Rate, nullable=False),
    sa.Column("strategies", Json, nullable=False),
    sa.Column("rationale", sa.Text, nullable=False),
    sa.Column("risk_impact", Json, nullable=False),
    sa.Column("breaches", Json, nullable=False),
    sa.Column("rank", sa.Integer, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # PENDING APPROVED REJECTED MODIFIED BOOKED
    sa.Column("origin", sa.String(10), nullable=False),  # PIPELINE MANUAL
    sa.Column("run_id", sa.String(40)),
    sa.Column("created_at", Timestamp, nullable=False),
    sa.Column("updated_at", Timestamp, nullable=False),
    sqlite_autoincrement=True,  # ids are never reused after a rerun deletes PENDING rows
)

decision_journal = sa.Table(
    "decision_journal", metadata,
    sa.Column("entry_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("proposal_id", sa.ForeignKey("proposals.proposal_id"), nullable=False),
    sa.Column("action", sa.String(10), nullable=False),
    sa.Column("actor", sa.String(80), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("at", Timestamp, nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False, unique=True),
    sqlite_autoincrement=True,
)

attribution = sa.Table(
    "attribution", metadata,
    _date_pk(),
    sa.Column("period", sa.String(5), nullable=False),  # DAY WTD MTD QTD YTD ITD
    sa.Column("dimension", sa.String(20), nullable=False),
    sa.Column("bucket", sa.String(60), nullable=False),
    sa.Column("pnl_brl", Money, nullable=False),
    sa.Column("contribution_bps", Rate, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("business_date", "period", "dimension", "bucket"),
)

performance_stats = sa.Table(
    "performance_stats", metadata,
    _date_pk(),
    sa.Column("period", sa.String(5), nullable=False),
    sa.Column("stats", Json, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("business_date", "period"),
)

morning_packs = sa.Table(
    "morning_packs", metadata,
    sa.Column("business_date", sa.Date, primary_key=True),
    sa.Column("payload", Json, nullable=False),
    sa.Column("html", sa.Text, nullable=False),
    sa.Column("digest", sa.String(64), nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
)

data_quality_issues = sa.Table(
    "data_quality_issues", metadata,
    _date_pk(),
    sa.Column("step", sa.String(40), nullable=False),
    sa.Column("instrument_id", sa.String(40), nullable=False),
    sa.Column("field", sa.String(40), nullable=False),
    sa.Column("severity", sa.String(10), nullable=False),  # WARNING ERROR
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.PrimaryKeyConstraint("business_date", "step", "instrument_id", "field"),
)

# ---------------------------------------------------------------- orchestration state

task_markers = sa.Table(
    "task_markers", metadata,
    sa.Column("family", sa.String(60), nullable=False),
    _date_pk(),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("run_id", sa.String(40), nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp, nullable=False),
    sa.Column("duration_s", sa.Float, nullable=False),
    sa.Column("rows_written", sa.Integer, nullable=False),
    sa.Column("payload_digest", sa.String(64), nullable=False),
    sa.Column("upstream", Json, nullable=False),  # {"pms.MarkToMarket@2026-01-02": run_id}
    sa.Column("metadata", Json, nullable=False),
    sa.PrimaryKeyConstraint("family", "business_date"),
)

task_runs = sa.Table(
    "task_runs", metadata,
    sa.Column("run_id", sa.String(40), primary_key=True),
    sa.Column("family", sa.String(60), nullable=False),
    sa.Column("business_date", sa.Date, nullable=False),
    sa.Column("started_at", Timestamp, nullable=False),
    sa.Column("finished_at", Timestamp),
    sa.Column("status", sa.String(12), nullable=False),  # RUNNING DONE FAILED REPUBLISHED
    sa.Column("attempts", sa.Integer, nullable=False, server_default="1"),
    sa.Column("host", sa.String(120), nullable=False),
    sa.Column("error", sa.Text),
    # A FAILED run's class in the exit-code table (``ExitCode`` name, e.g. MISSING_DATA):
    # what the runner maps onto the command's exit code, never parsed out of ``error``.
    sa.Column("failure", sa.String(20)),
    sa.Index("ix_task_runs_family_date", "family", "business_date"),
)

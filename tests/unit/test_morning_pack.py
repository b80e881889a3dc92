"""Tests of the pure morning-pack assembler (pms_luigi.core.pack).

The inputs are hand-built frames with exactly the DB column names (pms_luigi/store/schema.py),
so every number asserted below can be traced to the input cell it comes from. The calendar
facts used (Carnival 2026 = Feb 16-17, Ash Wednesday Feb 18 is an ANBIMA business day, B3
closed on Dec 31) are the published ANBIMA/B3 calendars.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from pms_luigi.core import calendar as cal
from pms_luigi.core.errors import InvalidInput
from pms_luigi.core.pack import SECTIONS, PackInputs, assemble_pack, pack_digest, pack_json
from pms_luigi.core.proposals import FlipGrades

ASH_WED = date(2026, 2, 18)
FRI_13 = date(2026, 2, 13)
XSS = "<script>alert(1)</script>"

# fmt: off
INSTRUMENTS = [
    # instrument_id, name, asset_class, type, currency, exchange, maturity, contract_size,
    # underlying
    ("DI1H26", "DI1 Mar/26", "RATES", "DI1", "BRL", "B3", date(2026, 3, 2), 1.0, None),
    ("DI1F27", "DI1 Jan/27", "RATES", "DI1", "BRL", "B3", date(2027, 1, 4), 1.0, None),
    ("DI1F28", "DI1 Jan/28", "RATES", "DI1", "BRL", "B3", date(2028, 1, 3), 1.0, None),
    ("DI1F29", "DI1 Jan/29", "RATES", "DI1", "BRL", "B3", date(2029, 1, 2), 1.0, None),
    ("DI1F31", "DI1 Jan/31", "RATES", "DI1", "BRL", "B3", date(2031, 1, 2), 1.0, None),
    ("NTNB_2030", "NTN-B Aug/2030", "INFLATION", "NTNB", "BRL", "TESOURO", date(2030, 8, 15), 1.0,
     None),
    ("NTNB_2035", "NTN-B May/2035", "INFLATION", "NTNB", "BRL", "TESOURO", date(2035, 5, 15), 1.0,
     None),
    ("INDJ26", "Ibovespa future Apr/26", "EQUITY", "IND", "BRL", "B3", date(2026, 4, 15), 1.0,
     "IBOV"),
    ("INDM26", "Ibovespa future Jun/26", "EQUITY", "IND", "BRL", "B3", date(2026, 6, 17), 1.0,
     "IBOV"),
    ("WDOJ26", "Mini dollar Apr/26", "FX", "WDO", "BRL", "B3", date(2026, 4, 1), 10.0, "USDBRL"),
]
# fmt: on
STRATEGIES = [
    ("RATES_BR_01", "DI carry & roll-down", "RATES"),
    ("INF_02", "IPCA surprise", "INFLATION"),
    ("FX_02", "Carry-adjusted momentum", "FX"),
    ("CROSS_01", "Macro regime allocation", "EQUITY"),
]

# DI1 settlement rates (decimal) on the three sessions the market section reads:
# S0 = the last B3 session <= P, S1 = the session before, S5 = the 5th session before S0.
DI1_RATES = {  # instrument: (S0, S1, S5)
    "DI1H26": (0.14900, 0.14910, 0.14920),
    "DI1F27": (0.14250, 0.14210, 0.14300),
    "DI1F28": (0.13800, 0.13740, 0.13900),
    "DI1F29": (0.13650, 0.13570, 0.13700),
    "DI1F31": (0.13700, 0.13600, 0.13650),
}
NTNB_RATES = {"NTNB_2030": (0.0610, 0.0615, 0.0620), "NTNB_2035": (0.0630, 0.0632, 0.0640)}
IND_PRICES = {"INDJ26": (128450.0, 127300.0, 125000.0), "INDM26": (130100.0, 128950.0, 126500.0)}
WDO_PRICES = {"WDOJ26": (4935.5, 4951.0, 4990.0)}


def sessions_for(p: date) -> tuple[date, date, date]:
    s0 = p if cal.is_b3_session(p) else cal.previous_b3_session(p)
    return s0, cal.previous_b3_session(s0), cal.previous_b3_session(s0, 5)


def make_inputs(d: date = ASH_WED, p: date | None = None) -> PackInputs:
    """A complete, realistic set of persisted inputs for the pack of D (last close P)."""
    p = p or cal.previous_business_day(d)
    s0, s1, s5 = sessions_for(p)
    instruments = pd.DataFrame(
        [
            dict(
                instrument_id=i,
                name=n,
                asset_class=a,
                instrument_type=t,
                currency=c,
                exchange=x,
                maturity_date=m,
                contract_size=cs,
                lot_size=1.0,
                underlying=u,
                is_active=True,
            )
            for i, n, a, t, c, x, m, cs, u in INSTRUMENTS
        ]
    )
    strategies = pd.DataFrame(
        [
            dict(strategy_id=s, name=n, asset_class=a, factor_tags=["carry"], is_systematic=True)
            for s, n, a in STRATEGIES
        ]
    )

    price_rows = []
    for table, has_rate in (
        (DI1_RATES, True),
        (NTNB_RATES, True),
        (IND_PRICES, False),
        (WDO_PRICES, False),
    ):
        for iid, vals in table.items():
            for day, v in zip((s0, s1, s5), vals, strict=True):
                if has_rate:
                    price_rows.append(
                        dict(
                            price_date=day,
                            instrument_id=iid,
                            price=100000 / (1 + v) ** 2,
                            rate=v,
                            source="B3",
                        )
                    )
                else:
                    price_rows.append(
                        dict(price_date=day, instrument_id=iid, price=v, rate=None, source="B3")
                    )
    curve_prices = pd.DataFrame(price_rows)

    fx = pd.DataFrame(
        [
            dict(fixing_date=s1, pair="USDBRL", kind="CLOSE", rate=4.9510),
            dict(fixing_date=s0, pair="USDBRL", kind="CLOSE", rate=4.9355),
            dict(fixing_date=s1, pair="USDBRL", kind="PTAX", rate=4.9488),
            dict(fixing_date=s0, pair="USDBRL", kind="PTAX", rate=4.9402),
        ]
    )

    marks = pd.DataFrame(
        [
            _mark(
                p,
                "DI1F27",
                "RATES_BR_01",
                "RATES",
                400,
                88010.12,
                dv01=-3150.0,
                parts=dict(carry=5200.0, market=-50400.0, residual=120.0),
            ),
            _mark(
                p,
                "DI1F29",
                "RATES_BR_01",
                "RATES",
                150,
                67230.55,
                dv01=-2810.5,
                parts=dict(carry=1900.0, market=-22480.0, residual=-35.5),
            ),
            _mark(
                p,
                "DI1H26",
                "RATES_BR_01",
                "RATES",
                200,
                98890.0,
                dv01=-247.0,
                parts=dict(carry=3800.0, market=250.0),
            ),
            _mark(
                p,
                "NTNB_2030",
                "INF_02",
                "INFLATION",
                5000,
                4412.345678,
                dv01=-9400.0,
                parts=dict(carry=12300.0, market=47000.0, residual=-410.0),
                stale=True,
                price_date=s1,
            ),
            _mark(
                p,
                "WDOJ26",
                "FX_02",
                "FX",
                -80,
                4935.5,
                fx=-4_000_000.0,
                parts=dict(market=12400.0, costs=-180.0),
            ),
            _mark(
                p,
                "INDJ26",
                "CROSS_01",
                "EQUITY",
                60,
                128450.0,
                eq=7_707_000.0,
                parts=dict(market=69000.0, new_trades=-1500.0, costs=-95.0),
            ),
        ]
    )
    nav_prev = 250_000_000.0
    pnl_positions = float(marks["pnl_brl"].sum())
    cash = 95_410.77  # CDI accrual on cash, outside the position marks
    book = dict(
        business_date=p,
        nav_brl=nav_prev + pnl_positions + cash,
        nav_prev_brl=nav_prev,
        pnl_brl=pnl_positions + cash,
        pnl_bps=(pnl_positions + cash) / nav_prev * 1e4,
        capital_flow_brl=0.0,
        cdi_rate=0.1490,
        gross_notional_brl=312_500_000.0,
        net_notional_brl=101_300_000.0,
        leverage=1.2496,
        dv01_brl=-15_607.5,
        fx_delta_usd=-4_000_000.0,
        equity_delta_brl=7_707_000.0,
        n_positions=6,
        is_b3_session=cal.is_b3_session(p),
        run_id="mtm-1",
    )
    days = cal.business_days(p - timedelta(days=45), p)
    daily_bps = [12.0, -30.5, 8.25, 40.0, -55.0, 3.0, 17.5, -12.0, 22.0, 5.0] * 4
    hist = []
    nav = 249_000_000.0
    for day, bps in zip(days, daily_bps[-len(days) :], strict=True):
        pnl = nav * bps / 1e4
        hist.append(
            dict(
                business_date=day,
                nav_brl=nav + pnl,
                nav_prev_brl=nav,
                pnl_brl=pnl,
                pnl_bps=bps,
                capital_flow_brl=0.0,
                cdi_rate=0.149,
                gross_notional_brl=3e8,
                net_notional_brl=1e8,
                leverage=1.2,
                dv01_brl=-15000.0,
                fx_delta_usd=-4e6,
                equity_delta_brl=7.7e6,
                n_positions=6,
                is_b3_session=cal.is_b3_session(day),
                run_id="mtm",
            )
        )
        nav += pnl
    hist[-1] = dict(book)
    book_history = pd.DataFrame(hist)

    risk = dict(
        business_date=p,
        status="OK",
        n_scenarios=252,
        var95_brl=3_912_345.67,
        var99_brl=5_801_002.10,
        es975_brl=5_950_000.00,
        param_var95_brl=3_700_000.00,
        param_var99_brl=5_233_000.00,
        run_id="mtm-1",
        details={  # shape written by risk.risk_snapshot
            "limits": [
                {
                    "limit": "VAR95",
                    "metric": "var95_bps",
                    "value": 156.39,
                    "limit_value": 200.0,
                    "utilisation": 78.195,
                    "status": "OK",
                },
                {
                    "limit": "VAR99",
                    "metric": "var99_bps",
                    "value": 231.88,
                    "limit_value": 300.0,
                    "utilisation": 77.2933,
                    "status": "OK",
                },
                {
                    "limit": "GROSS_LEVERAGE",
                    "metric": "gross_leverage",
                    "value": 1.2496,
                    "limit_value": 4.0,
                    "utilisation": 31.24,
                    "status": "OK",
                },
                {
                    "limit": "CONC_RATES",
                    "metric": "concentration_pct.RATES",
                    "value": 65.2,
                    "limit_value": 60.0,
                    "utilisation": 108.6667,
                    "status": "BREACH",
                },
                {
                    "limit": "DRAWDOWN",
                    "metric": "drawdown_pct",
                    "value": 5.5,
                    "limit_value": 10.0,
                    "utilisation": 55.0,
                    "status": "WARNING",
                },
                {
                    "limit": "STRESS_WORST",
                    "metric": "worst_stress_loss_bps",
                    "value": None,
                    "limit_value": 1000.0,
                    "utilisation": None,
                    "status": "NO_DATA",
                },
            ],
            "stress": [
                {
                    "scenario": "DI parallel +100bp",
                    "kind": "hypothetical",
                    "pnl_brl": -1_560_750.0,
                    "pnl_bps": -62.39,
                    "status": "OK",
                    "description": "DI curve +100 bp at every vertex",
                },
                {
                    "scenario": "BRL -10%",
                    "kind": "hypothetical",
                    "pnl_brl": 1_974_200.0,
                    "pnl_bps": 78.91,
                    "status": "OK",
                    "description": "USDBRL +10%",
                },
                {
                    "scenario": "IBOV -15%",
                    "kind": "hypothetical",
                    "pnl_brl": -1_156_050.0,
                    "pnl_bps": -46.21,
                    "status": "OK",
                    "description": "",
                },
                {
                    "scenario": "Joesley Day 2017-05-18",
                    "kind": "historical",
                    "pnl_brl": None,
                    "pnl_bps": None,
                    "status": "NO_DATA",
                    "description": "replay of stored factor changes",
                },
                {
                    "scenario": "Fiscal crisis",
                    "kind": "hypothetical",
                    "pnl_brl": -4_101_000.0,
                    "pnl_bps": -163.93,
                    "status": "OK",
                    "description": "BRL -10%, long DI +200bp, IBOV -15%",
                },
            ],
            "dv01_by_bucket": {
                "DI_252": -3150.0,
                "DI_21": -247.0,
                "DI_756": -2810.5,
                "REAL_1260": -9400.0,
            },
            "window_start": s0 - timedelta(days=365),
            "window_end": s0,
            "missing_factors": [],
            "unmodelled_positions": [],
            "component_var99_by_strategy": {
                "RATES_BR_01": 2_100_000.0,
                "INF_02": 2_900_000.0,
                "FX_02": 300_000.0,
                "CROSS_01": 501_002.10,
            },
        },
    )

    stats = pd.DataFrame(
        [  # shape written by attribution.performance_stats
            dict(
                business_date=p,
                period="MTD",
                stats={
                    "return": 0.0041234,
                    "cdi_return": 0.0051020,
                    "pct_of_cdi": 0.0041234 / 0.0051020,
                    "pnl_brl": 1_030_850.0,
                    "max_drawdown": -0.0055,
                    "volatility": 0.0612,
                    "sharpe": -0.85,
                    "start": "2026-02-02",
                    "n_days": 9,
                },
                run_id="att-1",
            ),
            dict(
                business_date=p,
                period="YTD",
                stats=json.dumps(
                    {
                        "return": 0.0123456,
                        "cdi_return": 0.0156789,
                        "pct_of_cdi": 0.7874,
                        "pnl_brl": 3_070_000.0,
                    }
                ),
                run_id="att-1",
            ),
            dict(business_date=p, period="ITD", stats={"return": 0.02}, run_id="att-1"),
        ]
    )
    attribution = pd.DataFrame(
        [
            dict(
                business_date=p,
                period=per,
                dimension=dim,
                bucket=b,
                pnl_brl=v,
                contribution_bps=v / nav_prev * 1e4,
                run_id="att-1",
            )
            for per, dim, b, v in [
                ("DAY", "strategy", "RATES_BR_01", -61845.5),
                ("DAY", "strategy", "INF_02", 58890.0),
                ("DAY", "strategy", "FX_02", 12220.0),
                ("DAY", "strategy", "CROSS_01", 67405.0),
                ("MTD", "strategy", "RATES_BR_01", -210000.0),
                ("MTD", "strategy", "INF_02", 640000.0),
                ("MTD", "asset_class", "RATES", -210000.0),
                ("MTD", "asset_class", "INFLATION", 640000.0),
            ]
        ]
    )
    now = _ts(d)
    proposals = pd.DataFrame(
        [  # shape written by proposals.generate_proposals + pre_trade_risk
            dict(
                proposal_id=11,
                business_date=d,
                instrument_id="DI1F28",
                side="BUY",
                action="OPEN",
                quantity=300.0,
                notional_brl=26_400_000.0,
                dv01_brl=-4_800.0,
                delta_brl=0.0,
                conviction=0.85,
                strategies=[
                    {
                        "strategy_id": "RATES_BR_01",
                        "weight": 0.6,
                        "conviction": 0.9,
                        "factor_tags": ["carry"],
                    },
                    {
                        "strategy_id": "RATES_04",
                        "weight": 0.4,
                        "conviction": 0.775,
                        "factor_tags": [],
                    },
                ],
                rationale="OPEN DI1F28 (RATES DI1): BUY 300. Receive F28: carry and Copom path",
                risk_impact={
                    "measure": "dv01_brl",
                    "target_quantity": 310.0,
                    "post_trade_quantity": 300.0,
                    "fat_finger_capped": False,
                    "pre_trade": {
                        "status": "OK",
                        "var95_brl_before": 3_912_345.67,
                        "var95_brl_after": 4_322_345.67,
                        "var99_brl_before": 5_801_002.10,
                        "var99_brl_after": 6_400_000.0,
                        "warnings": ["VAR95"],
                        "no_data": ["STRESS_WORST"],
                    },
                },
                breaches=[],
                rank=1,
                status="PENDING",
                origin="PIPELINE",
                run_id="prop-1",
                created_at=now,
                updated_at=now,
            ),
            dict(
                proposal_id=12,
                business_date=d,
                instrument_id="WDOJ26",
                side="SELL",
                action="INCREASE",
                quantity=-120.0,
                notional_brl=5_922_600.0,
                dv01_brl=0.0,
                delta_brl=-5_922_600.0,
                conviction=-0.62,
                strategies='[{"strategy_id": "FX_02", "weight": 1.0, "conviction": -0.62}]',
                rationale="USD/BRL momentum",
                risk_impact='{"measure": "delta_usd", "pre_trade": {"status": "OK", '
                '"var95_brl_before": 3912345.67, "var95_brl_after": 4007345.67, '
                '"warnings": [], "no_data": []}}',
                breaches='[{"limit": "CONC_FX", "metric": "concentration_pct.FX", "value": 41.68, '
                '"limit_value": 40.0, "headroom": -1.68, "utilisation": 104.2, '
                '"value_before": 1.26, "worsens": true}]',
                rank=2,
                status="PENDING",
                origin="PIPELINE",
                run_id="prop-1",
                created_at=now,
                updated_at=now,
            ),
            dict(
                proposal_id=9,
                business_date=d,
                instrument_id="NTNB_2035",
                side="BUY",
                action="OPEN",
                quantity=2000.0,
                notional_brl=8_900_000.0,
                dv01_brl=-5_100.0,
                delta_brl=0.0,
                conviction=0.7,
                strategies=["INF_03"],
                rationale="Real yields",
                risk_impact={},
                breaches=[],
                rank=3,
                status="APPROVED",
                origin="MANUAL",
                run_id=None,
                created_at=now,
                updated_at=now,
            ),
        ]
    )
    dq = pd.DataFrame(
        [
            dict(
                business_date=p,
                step="pms.MarkToMarket",
                instrument_id="NTNB_2030",
                field="price",
                severity="WARNING",
                message=f"stale price from {s1.isoformat()} used (1 bd)",
                run_id="mtm-1",
            ),
            dict(
                business_date=d - timedelta(days=60),
                step="pms.MarkToMarket",
                instrument_id="DI1F27",
                field="price",
                severity="ERROR",
                message="old issue, must not show",
                run_id="old",
            ),
        ]
    )
    prev_sig_day = cal.previous_business_day(p)
    sig_now = [
        ("RATES_BR_01", "DI_PRE", 0.62),
        ("FX_02", "USDBRL", -0.55),
        ("INF_02", "NTN_B_REAL", 0.80),
        ("CROSS_01", "IBOV_FUT", 0.40),
        ("FX_03", "USDBRL", 0.70),
    ]
    sig_prev = [
        ("RATES_BR_01", "DI_PRE", 0.25),
        ("FX_02", "USDBRL", 0.30),
        ("INF_02", "NTN_B_REAL", 0.75),
        ("CROSS_01", "IBOV_FUT", 0.45),
        ("SOV_02", "CDS_BR", -0.20),
    ]
    signals_now = pd.DataFrame(
        [dict(signal_date=p, strategy_id=s, signal_id=g, conviction=c) for s, g, c in sig_now]
    )
    signals_prev = pd.DataFrame(
        [
            dict(signal_date=prev_sig_day, strategy_id=s, signal_id=g, conviction=c)
            for s, g, c in sig_prev
        ]
    )
    return PackInputs(
        date=d,
        prev_date=p,
        book=book,
        book_history=book_history,
        marks=marks,
        risk=risk,
        attribution=attribution,
        stats=stats,
        proposals=proposals,
        dq_issues=dq,
        signals_now=signals_now,
        signals_prev=signals_prev,
        curve_prices=curve_prices,
        fx=fx,
        instruments=instruments,
        strategies=strategies,
        expiry_horizon_bd=10,
        fund_name="PMS Macro FIM",
    )


def _ts(d: date) -> pd.Timestamp:
    return pd.Timestamp(d.isoformat() + "T06:00:00-03:00")


def _mark(
    p: date,
    iid: str,
    sid: str,
    ac: str,
    qty: float,
    price: float,
    *,
    dv01: float = 0.0,
    fx: float = 0.0,
    eq: float = 0.0,
    parts: dict[str, float],
    stale: bool = False,
    price_date: date | None = None,
) -> dict:
    comps = {
        k: parts.get(k, 0.0)
        for k in ("carry", "market", "fx", "new_trades", "realized", "costs", "residual")
    }
    pnl = sum(comps.values())
    mv = qty * price
    return dict(
        business_date=p,
        instrument_id=iid,
        strategy_id=sid,
        asset_class=ac,
        quantity=float(qty),
        avg_cost=price,
        price=price,
        price_date=price_date or p,
        is_stale=stale,
        staleness_bd=1 if stale else 0,
        fx_rate=None,
        market_value_brl=mv,
        notional_brl=abs(mv),
        pnl_brl=pnl,
        pnl_carry_brl=comps["carry"],
        pnl_market_brl=comps["market"],
        pnl_fx_brl=comps["fx"],
        pnl_new_trades_brl=comps["new_trades"],
        pnl_realized_brl=comps["realized"],
        pnl_costs_brl=comps["costs"],
        pnl_residual_brl=comps["residual"],
        pnl_bps=pnl / 250_000_000.0 * 1e4,
        dv01_brl=dv01,
        fx_delta_usd=fx,
        equity_delta_brl=eq,
        run_id="mtm-1",
    )


# ============================================================================ helpers


def _walk(obj, path=""):
    """Yield (path, value) for every leaf of a pack."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from _walk(v, f"{path}[{i}]")
    else:
        yield path, obj


@pytest.fixture(scope="module")
def pack() -> dict:
    return assemble_pack(make_inputs())


# ============================================================================ structure


def test_sections_in_reading_order_all_populated(pack):
    assert (
        pack["sections"]
        == list(SECTIONS)
        == [
            "summary",
            "action_items",
            "market",
            "positions",
            "risk",
            "proposals",
            "signal_changes",
            "calendar",
            "narrative",
        ]
    )
    for name in SECTIONS:
        assert pack[name]["status"] == "ok", name
    assert pack["date"] == "2026-02-18" and pack["prev_date"] == "2026-02-13"
    assert pack["schema_version"] == 1


def test_pack_is_plain_json_with_sorted_keys_and_no_nan(pack):
    text = pack_json(pack)
    assert json.loads(text) == pack  # JSON-native: no dates, numpy scalars or tuples left
    assert "NaN" not in text and "Infinity" not in text
    for path, value in _walk(pack):
        assert value is None or isinstance(value, (str, int, float, bool)), path

    def keys_sorted(obj):
        if isinstance(obj, dict):
            assert list(obj) == sorted(obj)
            for v in obj.values():
                keys_sorted(v)
        elif isinstance(obj, list):
            for v in obj:
                keys_sorted(v)

    keys_sorted(pack)


# ============================================================================ numbers == inputs


def test_summary_numbers_equal_their_inputs(pack):
    inp = make_inputs()
    b, s = inp.book, pack["summary"]
    assert s["book"]["nav_brl"] == round(b["nav_brl"], 2)
    assert s["book"]["nav_prev_brl"] == 250_000_000.0
    assert s["book"]["pnl_brl"] == round(b["pnl_brl"], 2) == 172_280.27
    assert s["book"]["pnl_bps"] == round(b["pnl_bps"], 2) == 6.89
    assert s["book"]["cdi_rate_pct"] == 14.9
    # MTD/YTD from performance_stats: return (decimal) -> bps and %, pct_of_cdi (fraction) -> %
    assert s["mtd"]["return_bps"] == 41.23 and s["mtd"]["return_pct"] == 0.4123
    assert s["mtd"]["pct_of_cdi"] == round(0.0041234 / 0.0051020 * 100, 2) == 80.82
    assert s["mtd"]["cdi_return_pct"] == 0.5102
    assert s["mtd"]["pnl_brl"] == 1_030_850.0
    assert s["mtd"]["max_drawdown_pct"] == -0.55 and s["mtd"]["volatility_pct"] == 6.12
    assert (
        s["ytd"]["return_bps"] == 123.46 and s["ytd"]["pct_of_cdi"] == 78.74
    )  # JSON-string stats too
    # VaR use: risk_snapshots.var95_brl and the VAR95 limit row (utilisation as persisted)
    assert s["var"]["var95_brl"] == 3_912_345.67
    assert s["var"]["var95_bps"] == round(3_912_345.67 / b["nav_brl"] * 1e4, 2)
    assert s["var"]["utilization_pct"] == round(78.195, 2)
    assert (
        s["var"]["limit"] == 200.0
        and s["var"]["unit"] == "bps of NAV"
        and s["var"]["light"] == "green"
    )
    assert s["limit_alerts"]["n_breaches"] == 1 and s["limit_alerts"]["n_warnings"] == 1
    assert [x["name"] for x in s["limit_alerts"]["items"]] == ["CONC_RATES", "DRAWDOWN"]
    assert s["data_quality"] == {
        "status": "ok",
        "n_errors": 0,
        "n_warnings": 1,
    }  # the 60-day-old issue is out


def test_positions_sum_to_the_marks_and_explain_reconciles_to_the_book(pack):
    inp = make_inputs()
    m, pos = inp.marks, pack["positions"]
    assert pos["n_positions"] == 6 and pos["n_stale"] == 1
    assert pos["totals"]["pnl_brl"] == round(m["pnl_brl"].sum(), 2) == 76_869.5
    assert pos["totals"]["dv01_brl"] == round(m["dv01_brl"].sum(), 2) == -15_607.5
    by_s = {x["strategy_id"]: x for x in pos["by_strategy"]}
    assert list(by_s) == ["CROSS_01", "FX_02", "INF_02", "RATES_BR_01"]
    assert by_s["RATES_BR_01"]["pnl_brl"] == round(-45080.0 - 20615.5 + 4050.0, 2)
    assert by_s["RATES_BR_01"]["name"] == "DI carry & roll-down"
    rates = by_s["RATES_BR_01"]["asset_classes"][0]
    assert [i["instrument_id"] for i in rates["instruments"]] == ["DI1F27", "DI1F29", "DI1H26"]
    assert sum(x["pnl_brl"] for x in pos["by_strategy"]) == pytest.approx(
        pos["totals"]["pnl_brl"], abs=0.005
    )
    # top contributors / detractors: by position P&L, best / worst first
    assert [x["instrument_id"] for x in pos["top_contributors"]] == [
        "INDJ26",
        "NTNB_2030",
        "WDOJ26",
        "DI1H26",
    ]
    assert [x["instrument_id"] for x in pos["top_detractors"]] == ["DI1F27", "DI1F29"]
    assert pos["top_detractors"][0]["pnl_brl"] == -45_080.0
    # P&L explain: column sums of position_marks, bps of NAV_{P-1}; cash & other = book - positions
    ex = {c["component"]: c for c in pos["explain"]["components"]}
    assert list(ex) == ["carry", "market", "fx", "new_trades", "realized", "costs", "residual"]
    assert ex["carry"]["pnl_brl"] == round(m["pnl_carry_brl"].sum(), 2) == 23_200.0
    assert ex["market"]["pnl_brl"] == 55_770.0 and ex["costs"]["pnl_brl"] == -275.0
    assert ex["carry"]["pnl_bps"] == round(23_200.0 / 250_000_000.0 * 1e4, 2)
    assert (
        pos["explain"]["sum_of_components_brl"] == pos["explain"]["positions_pnl_brl"] == 76_869.5
    )
    assert pos["explain"]["book_pnl_brl"] == 172_280.27
    assert pos["explain"]["cash_and_other_brl"] == 95_410.77
    att = pos["attribution"]
    assert att["period_order"] == ["DAY", "MTD"]
    assert att["periods"]["MTD"]["strategy"][0] == {
        "bucket": "INF_02",
        "pnl_brl": 640_000.0,
        "contribution_bps": 25.6,
    }


def test_risk_section_is_the_persisted_snapshot(pack):
    r = pack["risk"]
    var = {x["key"]: x for x in r["var"]}
    assert (
        var["var99_brl"]["value_brl"] == 5_801_002.10
        and var["es975_brl"]["value_brl"] == 5_950_000.0
    )
    assert var["param_var95_brl"]["value_brl"] == 3_700_000.0
    assert [(x["name"], x["status"], x["light"]) for x in r["limits"]] == [
        ("CONC_RATES", "BREACHED", "red"),
        ("DRAWDOWN", "WARNING", "amber"),
        ("VAR95", "OK", "green"),
        ("VAR99", "OK", "green"),
        ("GROSS_LEVERAGE", "OK", "green"),
        ("STRESS_WORST", "NO_DATA", "grey"),
    ]
    nodata = r["limits"][-1]
    assert nodata["value"] is None and nodata["utilization_pct"] is None  # never shown as 0 / OK
    assert r["n_breaches"] == 1 and r["n_warnings"] == 1
    assert [x["scenario"] for x in r["stress"]] == [
        "Fiscal crisis",
        "DI parallel +100bp",
        "IBOV -15%",
        "BRL -10%",
        "Joesley Day 2017-05-18",
    ]
    assert r["stress"][0]["pnl_brl"] == -4_101_000.0 and r["stress"][0]["pnl_bps"] == -163.93
    assert r["stress"][-1]["pnl_brl"] is None and r["stress"][-1]["status"] == "NO_DATA"
    assert [x["bucket"] for x in r["dv01_buckets"]] == ["DI_21", "DI_252", "DI_756", "REAL_1260"]
    assert r["exposures"]["fx_delta_usd"] == -4_000_000.0
    assert r["var99_by_strategy"][0] == {
        "strategy_id": "INF_02",
        "component_var99_brl": 2_900_000.0,
    }


def test_proposals_carry_pre_trade_risk_and_breaches(pack):
    p = pack["proposals"]
    assert [x["proposal_id"] for x in p["items"]] == [11, 12, 9]  # by rank
    assert (
        p["n_pending"] == 2
        and p["by_status"] == {"APPROVED": 1, "PENDING": 2}
        and p["n_with_breaches"] == 1
    )
    first = p["items"][0]
    assert first["pre_trade"]["var95_before_brl"] == 3_912_345.67
    assert first["pre_trade"]["var95_after_brl"] == 4_322_345.67
    assert first["pre_trade"]["var95_change_brl"] == 410_000.0
    assert first["pre_trade"]["warnings"] == ["VAR95"]
    assert [s["strategy_id"] for s in first["strategies"]] == ["RATES_04", "RATES_BR_01"]
    second = p["items"][1]  # JSON columns handed back as strings (SQLite) are parsed
    assert (
        second["breaches"][0]["limit"] == "CONC_FX"
        and second["breaches"][0]["utilization_pct"] == 104.2
    )
    assert second["strategies"] == [{"strategy_id": "FX_02", "weight": 1.0, "conviction": -0.62}]
    assert p["items"][2]["pre_trade"]["status"] == "unavailable"


def test_signal_changes_flips_surges_new_dropped(pack):
    s = pack["signal_changes"]
    assert s["date"] == "2026-02-13" and s["vs_date"] == "2026-02-12" and s["n_signals"] == 5
    assert [(x["strategy_id"], x["direction_prev"], x["direction"]) for x in s["flips"]] == [
        ("FX_02", "LONG", "SHORT")
    ]
    assert [(x["strategy_id"], x["change"]) for x in s["surges"]] == [
        ("RATES_BR_01", 0.37)
    ]  # 0.05 is no surge
    assert [x["strategy_id"] for x in s["new"]] == ["FX_03"]
    assert [x["strategy_id"] for x in s["dropped"]] == ["SOV_02"]
    assert s["top_signals"][0] == {
        "strategy_id": "INF_02",
        "signal_id": "NTN_B_REAL",
        "conviction": 0.8,
        "direction": "LONG",
    }


def test_action_items_sorted_by_priority(pack):
    items = pack["action_items"]["items"]
    order = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]
    assert [order.index(x["priority"]) for x in items] == sorted(
        order.index(x["priority"]) for x in items
    )
    cats = [(x["priority"], x["category"], x["key"]) for x in items]
    assert cats == [
        ("CRITICAL", "limit_breach", "CONC_RATES"),
        ("HIGH", "limit_warning", "DRAWDOWN"),
        ("HIGH", "proposal", "000001:DI1F28"),  # conviction 0.85 >= 0.8
        ("HIGH", "proposal", "000002:WDOJ26"),  # pre-trade breach
        ("HIGH", "signal_flip", "FX_02:USDBRL"),
        ("MEDIUM", "conviction_surge", "RATES_BR_01:DI_PRE"),
        (
            "MEDIUM",
            "expiring_position",
            "DI1H26",
        ),  # matures 2026-03-02: du(2026-02-18, 2026-03-02) = 8 <= 10
        ("LOW", "data_quality", "2026-02-13:pms.MarkToMarket:NTNB_2030:price"),
    ]  # NTNB_2030's stale mark is reported once, through its data-quality issue;
    # the APPROVED proposal gives no item
    assert "in 8 business day(s)" in items[6]["description"]
    assert pack["action_items"]["counts"] == {"CRITICAL": 1, "HIGH": 4, "MEDIUM": 2, "LOW": 1}


def test_stale_mark_without_dq_issue_is_an_action_item():
    inp = make_inputs()
    inp.dq_issues = inp.dq_issues.iloc[0:0]
    items = assemble_pack(inp)["action_items"]["items"]
    stale = [x for x in items if x["category"] == "stale_price"]
    assert len(stale) == 1 and stale[0]["key"] == "NTNB_2030" and stale[0]["priority"] == "MEDIUM"
    assert "2026-02-12 price (1 business day(s) stale)" in stale[0]["description"]


# ============================================================================ market window


def test_market_after_carnival_covers_the_whole_closure(pack):
    """D = Ash Wednesday 2026-02-18: P = last business day = Fri 13th; B3 closed Mon 16/Tue 17."""
    w = pack["market"]["window"]
    assert w["last_session"] == "2026-02-13" == w["start"]
    assert w["previous_session"] == "2026-02-12"
    assert w["d5_session"] == "2026-02-06"
    assert w["end"] == "2026-02-18" and w["calendar_days"] == 5
    assert w["closed_days"] == [
        {"date": "2026-02-16", "name": "Carnival"},
        {"date": "2026-02-17", "name": "Carnival"},
    ]
    assert w["covers_closure"] is True
    di1 = {v["vertex"]: v for v in pack["market"]["di1_curve"]["vertices"]}
    assert list(di1) == ["H26", "F27", "F28", "F29", "F31"]  # by maturity
    assert di1["F27"]["rate_pct"] == 14.25 and di1["F27"]["rate_prev_pct"] == 14.21
    assert di1["F27"]["change_bp"] == 4.0 and di1["F27"]["change_5d_bp"] == -5.0
    assert di1["F27"]["du"] == cal.du(FRI_13, date(2027, 1, 4))
    assert pack["market"]["di1_curve"]["shape"]["label"] == "bear steepener"
    ntnb = {v["instrument_id"]: v for v in pack["market"]["ntnb_real"]["bonds"]}
    assert ntnb["NTNB_2030"]["change_bp"] == -5.0 and ntnb["NTNB_2030"]["rate_pct"] == 6.1
    assert pack["market"]["ibov"]["instrument_id"] == "INDJ26"  # front contract
    assert pack["market"]["ibov"]["change_pct"] == round((128450 / 127300 - 1) * 100, 4)
    fx = {f["kind"]: f for f in pack["market"]["usdbrl"]["fixings"]}
    assert fx["CLOSE"]["rate"] == 4.9355 and fx["CLOSE"]["prev_date"] == "2026-02-12"
    assert fx["PTAX"]["change_pct"] == round((4.9402 / 4.9488 - 1) * 100, 4)
    assert "B3 has been closed since the 2026-02-13 session" in pack["narrative"]["text"]


def test_market_after_year_end_uses_the_last_session_not_dec_31():
    """D = 2026-01-02: P = Dec 31 (ANBIMA day, no B3 session) -> last session Dec 30."""
    d = date(2026, 1, 2)
    p = cal.previous_business_day(d)
    assert p == date(2025, 12, 31)
    pk = assemble_pack(make_inputs(d, p))
    w = pk["market"]["window"]
    assert (w["last_session"], w["previous_session"], w["end"]) == (
        "2025-12-30",
        "2025-12-29",
        "2026-01-02",
    )
    assert [c["date"] for c in w["closed_days"]] == ["2025-12-31", "2026-01-01"]
    assert pk["market"]["di1_curve"]["session"] == "2025-12-30"


def test_market_on_an_ordinary_day_has_no_closure():
    pk = assemble_pack(make_inputs(date(2026, 3, 10)))
    w = pk["market"]["window"]
    assert (w["last_session"], w["previous_session"], w["end"]) == (
        "2026-03-09",
        "2026-03-06",
        "2026-03-10",
    )
    assert w["closed_days"] == [] and w["covers_closure"] is False
    # the fixture still holds DI1H26, which matured on 2026-03-02: flagged, not silently dropped
    exp = [x for x in pk["action_items"]["items"] if x["category"] == "expiring_position"]
    assert [(x["key"], x["priority"]) for x in exp] == [("DI1H26", "HIGH")]
    assert "already matured" in exp[0]["description"]


# ============================================================================ missing inputs


def test_missing_inputs_make_sections_unavailable_never_zero():
    pk = assemble_pack(PackInputs(date=ASH_WED, prev_date=FRI_13))
    for name in ("summary", "positions", "risk", "proposals", "signal_changes"):
        assert pk[name]["status"] == "unavailable", name
        assert pk[name]["reason"], name
    assert pk["market"]["status"] == "unavailable"
    assert pk["market"]["window"]["last_session"] == "2026-02-13"  # the window is calendar fact
    assert pk["series"]["equity_curve"]["status"] == "unavailable"
    assert pk["calendar"]["maturities_ahead"]["status"] == "unavailable"
    # no number anywhere except calendar facts and counts
    numbers = {p for p, v in _walk(pk) if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numbers <= {
        ".schema_version",
        ".market.window.calendar_days",
        ".calendar.next_b3_holiday.business_days_away",
        ".action_items.n_items",
        ".action_items.counts.CRITICAL",
        ".action_items.counts.HIGH",
        ".action_items.counts.MEDIUM",
        ".action_items.counts.LOW",
    }, numbers
    missing = [x["key"] for x in pk["action_items"]["items"] if x["category"] == "missing_input"]
    assert missing == ["market", "positions", "proposals", "risk", "signal_changes", "summary"]
    assert "The book for 2026-02-13 is unavailable." in pk["narrative"]["text"]
    assert (
        "B3 has been closed since the 2026-02-13 session (2026-02-16 Carnival, "
        "2026-02-17 Carnival)." in pk["narrative"]["text"]
    )


def test_partial_summary_when_risk_and_stats_are_missing():
    inp = make_inputs()
    inp.risk = None
    inp.stats = None
    pk = assemble_pack(inp)
    s = pk["summary"]
    assert s["status"] == "partial" and s["book"]["status"] == "ok"
    assert s["var"]["status"] == "unavailable" and s["mtd"]["status"] == "unavailable"
    assert "performance_stats" in s["mtd"]["reason"]
    assert pk["risk"] == {
        "status": "unavailable",
        "reason": "no risk snapshot at 2026-02-13 (MarkToMarket(P))",
    }
    assert "Risk figures are unavailable." in pk["narrative"]["text"]


def test_insufficient_history_leaves_var_empty_not_zero():
    inp = make_inputs()
    inp.risk = dict(
        inp.risk,
        status="INSUFFICIENT_HISTORY",
        var95_brl=None,
        var99_brl=None,
        es975_brl=None,
        param_var95_brl=None,
        param_var99_brl=None,
    )
    inp.risk["details"] = dict(
        inp.risk["details"],
        limits=[
            {
                "limit": "VAR95",
                "metric": "var95_bps",
                "value": None,
                "limit_value": 200.0,
                "utilisation": None,
                "status": "NO_DATA",
            }
        ],
        missing_factors=["REAL_1260"],
    )
    pk = assemble_pack(inp)
    assert all(x["value_brl"] is None and x["bps_of_nav"] is None for x in pk["risk"]["var"])
    assert pk["risk"]["model_status"] == "INSUFFICIENT_HISTORY" and "note" in pk["risk"]
    assert pk["risk"]["missing_factors"] == ["REAL_1260"]
    assert pk["summary"]["var"]["status"] == "unavailable"
    assert (
        pk["risk"]["limits"][0]["status"] == "NO_DATA"
        and pk["risk"]["limits"][0]["light"] == "grey"
    )


def test_no_proposals_today_is_a_real_state_not_missing():
    inp = make_inputs()
    inp.proposals = inp.proposals.iloc[0:0]
    p = assemble_pack(inp)["proposals"]
    assert p["status"] == "ok" and p["n_proposals"] == 0 and p["items"] == []


# ============================================================================ calendar


def test_calendar_next_holiday_and_maturities(pack):
    c = pack["calendar"]
    assert c["next_b3_holiday"] == {
        "date": "2026-04-03",
        "name": "Good Friday",
        "weekday": "Fri",
        "business_days_away": cal.du(ASH_WED, date(2026, 4, 3)),
    }
    assert c["notes"] == ["Ash Wednesday: B3 opens late (13:00 BRT)."]
    assert c["next_b3_session"] == "2026-02-19" and c["b3_session_today"] is True
    assert [(x["instrument_id"], x["held"], x["net_quantity"]) for x in c["maturities_ahead"]] == [
        ("DI1H26", True, 200.0)
    ]


def test_calendar_flags_b3_closed_tomorrow():
    c = assemble_pack(make_inputs(date(2026, 12, 23)))["calendar"]  # Dec 24 is ANBIMA-only
    assert c["next_b3_session"] == "2026-12-28"
    assert "B3 closed on 2026-12-24: next session 2026-12-28." in c["notes"]
    assert c["closures_ahead"][0] == {
        "date": "2026-12-24",
        "name": "Christmas Eve",
        "weekday": "Thu",
    }


# ======================================================================= determinism and guards


def test_same_inputs_same_pack_and_digest_even_with_shuffled_rows():
    a = assemble_pack(make_inputs())
    inp = make_inputs()
    rng = np.random.default_rng(7)
    for name in (
        "marks",
        "attribution",
        "proposals",
        "signals_now",
        "signals_prev",
        "curve_prices",
        "fx",
        "instruments",
        "strategies",
        "dq_issues",
        "stats",
    ):
        df = getattr(inp, name)
        setattr(inp, name, df.iloc[rng.permutation(len(df))].reset_index(drop=True))
    inp.risk["details"]["stress"] = list(reversed(inp.risk["details"]["stress"]))
    b = assemble_pack(inp)
    assert pack_json(a) == pack_json(b)
    assert pack_digest(a) == pack_digest(b)


def test_assemble_does_not_mutate_inputs():
    inp = make_inputs()
    before = copy.deepcopy(inp)
    assemble_pack(inp)
    assert inp.date == before.date and inp.book == before.book
    pd.testing.assert_frame_equal(inp.marks, before.marks)


def test_rejects_holiday_dates_and_snapshots_of_the_wrong_day():
    with pytest.raises(InvalidInput, match="2026-02-17 is not an ANBIMA business day: Carnival"):
        assemble_pack(PackInputs(date=date(2026, 2, 17), prev_date=FRI_13))
    with pytest.raises(InvalidInput, match="prev_date"):
        assemble_pack(PackInputs(date=ASH_WED, prev_date=ASH_WED))
    inp = make_inputs()
    inp.book = dict(inp.book, business_date=date(2026, 2, 12))
    with pytest.raises(
        InvalidInput, match="book snapshot is dated 2026-02-12, expected P = 2026-02-13"
    ):
        assemble_pack(inp)


# ----------------------------------------------------------------------------- flips by size


def _with_signals(inp: PackInputs, pairs: list[tuple[str, float, float]]) -> PackInputs:
    """The inputs with only these (strategy, conviction the day before, conviction at P)."""
    prev_day = cal.previous_business_day(inp.prev_date)
    inp.signals_prev = pd.DataFrame([dict(signal_date=prev_day, strategy_id=s, signal_id="DI_PRE",
                                          conviction=a) for s, a, _ in pairs])
    inp.signals_now = pd.DataFrame([dict(signal_date=inp.prev_date, strategy_id=s,
                                         signal_id="DI_PRE", conviction=b) for s, _, b in pairs])
    return inp


def test_a_signal_flip_is_graded_by_the_size_of_the_change():
    inp = _with_signals(make_inputs(), [("RATES_BR_01", 0.11, -0.08), ("INF_02", 0.20, -0.15),
                                        ("FX_02", 0.30, -0.55)])
    items = assemble_pack(inp)["action_items"]["items"]
    flips = {x["key"]: x for x in items if x["category"] == "signal_flip"}
    # |change| 0.19 < 0.3: LOW; 0.35 from 0.3: MEDIUM; 0.85 from 0.6: HIGH (policy "flips")
    assert {k: x["priority"] for k, x in flips.items()} == {
        "RATES_BR_01:DI_PRE": "LOW", "INF_02:DI_PRE": "MEDIUM", "FX_02:DI_PRE": "HIGH"}
    assert "(+0.11 -> -0.08, change 0.19)" in flips["RATES_BR_01:DI_PRE"]["description"]
    strict = dataclasses.replace(inp, flip_grades=FlipGrades(signal_high_change=0.15,
                                                             signal_medium_change=0.1))
    again = assemble_pack(strict)["action_items"]["items"]
    assert {x["key"]: x["priority"] for x in again if x["category"] == "signal_flip"} == {
        "RATES_BR_01:DI_PRE": "HIGH", "INF_02:DI_PRE": "HIGH", "FX_02:DI_PRE": "HIGH"}


def test_a_flip_proposal_is_critical_only_when_its_trade_is_large():
    inp = make_inputs()
    nav = inp.book["nav_brl"]
    first = inp.proposals.iloc[[0]].assign(proposal_id=20, rank=1, action="FLIP",
                                           conviction=0.65, notional_brl=0.01 * nav)
    big = first.assign(proposal_id=21, rank=2, instrument_id="DI1F29",
                       notional_brl=0.15 * nav)
    risky = first.assign(proposal_id=22, rank=3, instrument_id="DI1F31",
                         risk_impact=[{"risk_1d_brl": 0.002 * nav}])
    inp.proposals = pd.concat([first, big, risky], ignore_index=True)
    items = [x for x in assemble_pack(inp)["action_items"]["items"]
             if x["category"] == "proposal"]
    # 1 % of NAV, conviction 0.65 < 0.8: graded as any proposal (MEDIUM); 15 % of NAV >= 10 %
    # and a 1-day risk of 0.2 % of NAV >= 0.1 %: CRITICAL
    assert [(x["key"], x["priority"]) for x in items] == [
        ("000002:DI1F29", "CRITICAL"), ("000003:DI1F31", "CRITICAL"), ("000001:DI1F28", "MEDIUM")]
    assert "1.0% of NAV" in items[2]["description"] and "[FLIP]" in items[2]["description"]


def test_each_proposal_shows_its_score_parts_share_of_nav_cap_and_roll():
    inp = make_inputs()
    nav = inp.book["nav_brl"]
    impact = {"risk_1d_brl": 52_000.0, "score": 102_000.0,
              "caps": {"capped": True, "capped_by": "notional_pct_nav"},
              "ranking": {"score": 102_000.0, "abs_conviction": 0.85, "budget_target": 15_000.0,
                          "daily_vol": 8.0, "fx_scale": 1.0, "risk_budget_brl": 120_000.0,
                          "count_capped": True},
              "expiry": {"roll_to": None, "roll_from": ["DI1H26"], "view_rolled_from": []}}
    inp.proposals = inp.proposals.iloc[[0]].assign(risk_impact=[impact])
    (item,) = assemble_pack(inp)["proposals"]["items"]
    assert item["score"] == 102_000.0
    assert item["score_parts"] == {"abs_conviction": 0.85, "budget_target": 15_000.0,
                                   "daily_vol": 8.0, "fx_scale": 1.0, "risk_budget_brl": 120_000.0,
                                   "exempt_from_count_cap": False}
    assert item["notional_pct_nav"] == round(26_400_000.0 / nav * 100, 4)
    assert item["risk_1d_pct_nav"] == round(52_000.0 / nav * 100, 4)
    assert (item["capped_by"], item["roll"]) == ("notional_pct_nav", "DI1H26 -> DI1F28")

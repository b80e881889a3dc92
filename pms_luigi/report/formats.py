"""Display formats of the rendered pack: the Jinja filters of the HTML and the helpers the
text summary, the charts and the e-mail subject share.

They take the pack's JSON values as they come (a number, None, ISO text) and apply the
pack's own number rules (``pms_luigi.core.pack.fmt_*``): a value that rounds to zero is
printed unsigned, a missing one ``n/a``. Colours are the pack's palette.
"""
from __future__ import annotations

from datetime import date
from types import MappingProxyType
from typing import Any, Final

from pms_luigi.core.pack import fmt_bps, fmt_brl, fmt_pct

POS: Final = "#1b7f3b"
NEG: Final = "#c62828"
MUTED: Final = "#6b7280"
LIGHT_COLORS: Final = MappingProxyType(
    {"green": "#2e7d32", "amber": "#f9a825", "red": "#c62828", "grey": "#9e9e9e"})
PRIORITY_COLORS: Final = MappingProxyType(
    {"CRITICAL": "#b71c1c", "HIGH": "#e65100", "MEDIUM": "#f9a825", "LOW": "#607d8b"})


def number(x: Any) -> float | None:
    """A pack value as a float; None for None, booleans and non-numbers."""
    if x is None or isinstance(x, bool):
        return None
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def brl(x: Any, nd: int = 0) -> str:
    """``R$ 1,234,568`` / ``-R$ 2,500``."""
    return fmt_brl(number(x), nd)


def brl_signed(x: Any, nd: int = 0) -> str:
    """``+R$ 2,500`` / ``-R$ 2,500`` / ``R$ 0``."""
    return fmt_brl(number(x), nd, signed=True)


def bps(x: Any, nd: int = 1) -> str:
    """``+12.3 bps``."""
    return fmt_bps(number(x), nd)


def pct(x: Any, nd: int = 2, signed: bool = True) -> str:
    """``+0.45%`` (``0.45%`` unsigned)."""
    return fmt_pct(number(x), nd, signed)


def num(x: Any, nd: int = 2, signed: bool = False) -> str:
    """A number with thousands separators, optionally signed; never ``+0.00`` / ``-0.00``.

    >>> num(1234.5), num(-0.001, 2, True), num(None)
    ('1,234.50', '0.00', 'n/a')
    """
    v = number(x)
    if v is None:
        return "n/a"
    if round(v, nd) == 0:
        return f"{0.0:,.{nd}f}"
    return f"{v:+,.{nd}f}" if signed else f"{v:,.{nd}f}"


def usd(x: Any, nd: int = 0) -> str:
    """``US$ 50,000`` / ``-US$ 50,000``."""
    v = number(x)
    if v is None:
        return "n/a"
    return f"-US$ {abs(v):,.{nd}f}" if v < 0 else f"US$ {v:,.{nd}f}"


def longdate(x: Any) -> str:
    """``2026-02-18`` -> ``Wed 18 Feb 2026`` (unambiguous for Brazilian and US readers)."""
    if not x:
        return "n/a"
    return date.fromisoformat(str(x)[:10]).strftime("%a %d %b %Y")


def shortdate(x: Any) -> str:
    """``2026-02-18`` -> ``18 Feb``."""
    if not x:
        return "n/a"
    return date.fromisoformat(str(x)[:10]).strftime("%d %b")


def sign_color(x: Any, nd: int = 2) -> str:
    """Green/red by the sign of the value *as displayed* with ``nd`` decimals: a residual of
    -R$ 0.30 shown as "R$ 0" must not be painted red."""
    v = number(x)
    if v is None or round(v, nd) == 0:
        return "inherit"
    return POS if v > 0 else NEG

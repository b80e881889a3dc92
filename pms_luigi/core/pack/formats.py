"""Numbers as the pack's sentences print them (narrative, action items; the HTML and text
renderers use the same rules): R$ amounts, bps, percent, signed figures; and names as the
pack's folders spell them (:func:`slug`).

A value that rounds to zero at the printed precision is printed unsigned: a "+0" or "-0"
reads as a move that did not happen. A missing value prints ``n/a``.
"""
from __future__ import annotations

import re


def fmt_signed(x: float | None, nd: int = 0) -> str:
    """``+1.5`` / ``-1.5``, ``0.0`` for a value that rounds to zero.

    >>> fmt_signed(1.5, 1), fmt_signed(-0.04, 1), fmt_signed(None)
    ('+1.5', '0.0', 'n/a')
    """
    if x is None:
        return "n/a"
    if round(x, nd) == 0:
        return f"{0.0:,.{nd}f}"
    return f"{x:+,.{nd}f}"


def fmt_brl(x: float | None, nd: int = 0, signed: bool = False) -> str:
    """R$ amounts as a Brazilian PM reads them in an English pack.

    >>> fmt_brl(1234567.8), fmt_brl(-2500), fmt_brl(2500, signed=True)
    ('R$ 1,234,568', '-R$ 2,500', '+R$ 2,500')
    """
    if x is None:
        return "n/a"
    v = 0.0 if round(x, nd) == 0 else x
    if signed and v != 0:
        sign = "+" if v > 0 else "-"
        return f"{sign}R$ {abs(v):,.{nd}f}"
    return f"-R$ {abs(v):,.{nd}f}" if v < 0 else f"R$ {v:,.{nd}f}"


def fmt_bps(x: float | None, nd: int = 1) -> str:
    """Signed bps: ``+12.3 bps``."""
    return "n/a" if x is None else f"{fmt_signed(x, nd)} bps"


def fmt_pct(x: float | None, nd: int = 2, signed: bool = True) -> str:
    """Percent, signed by default: ``+0.45%``."""
    if x is None:
        return "n/a"
    return f"{fmt_signed(x, nd)}%" if signed else f"{x:,.{nd}f}%"


def fmt_num(x: float | None, nd: int = 2) -> str:
    """A plain number with thousands separators, ``n/a`` when missing."""
    return "n/a" if x is None else f"{x:,.{nd}f}"


def unit_suffix(u: str | None) -> str:
    """`` <unit>`` after a number, or nothing."""
    return "" if not u else f" {u}"


def slug(text: str) -> str:
    """A name as one safe path component: lower-case letters and digits joined by single
    hyphens (a fund's or a namespace's folder under the output folder; never ``..``).

    >>> slug("PMS Macro FIM"), slug("../etc"), slug("")
    ('pms-macro-fim', 'etc', 'default')
    """
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "default"

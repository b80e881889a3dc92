"""``pms-luigi pack show|send``: read the stored morning pack of a date; print or e-mail it.

Why from the database and not the output folder: ``morning_packs`` is the record the
pre-open step committed (payload + HTML + digest); the files under
``<output_dir>/<store>/<fund>/<D>/`` may live on another machine or be cleaned up. The charts
and the PDF are re-rendered from the stored payload and HTML — both renderers are
deterministic, so the mail carries the same images and document the step wrote. Nothing here
recomputes the pack: a date that is not an ANBIMA business day is a bad request (exit 2, one
line naming the holiday or weekday), a business date without a stored pack is reported
(exit 3, missing data) with the command that builds it.

Wiring: ``pms_luigi.cli.main.parser()`` calls :func:`register` on its subparsers; this module
also runs alone (``python -m pms_luigi.cli.pack pack show --date D``).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from pms_luigi.cli.common import parse_date, run_alone
from pms_luigi.core.errors import ExitCode, MissingData, NotBusinessDay


def stored_pack(on: date) -> dict[str, Any] | None:
    """The ``morning_packs`` row of ``on`` (payload, html, digest, run_id) or None.

    Raises:
        NotBusinessDay: ``on`` is not an ANBIMA business day (no pack is ever made for it).
    """
    import sqlalchemy as sa

    from pms_luigi.core import calendar
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store import schema as s
    from pms_luigi.store.engine import get_engine

    holiday = calendar.holiday_name(on)
    if holiday is not None:
        raise NotBusinessDay(on, f"{holiday}: no morning pack is made for it")
    with get_engine(cfg.database_url()).connect() as conn:
        row = conn.execute(sa.select(s.morning_packs).where(
            s.morning_packs.c.business_date == on)).mappings().first()
    return None if row is None else dict(row)


def smtp_settings() -> Any:
    """``[pms_smtp]`` as plain :class:`pms_luigi.report.delivery.SmtpSettings` (no password)."""
    import luigi

    from pms_luigi.pipeline import config as cfg
    from pms_luigi.report import delivery

    raw = luigi.configuration.get_config()
    if raw.has_option("pms_smtp", "password"):
        raise delivery.DeliveryError(
            "[pms_smtp] password found in the configuration: secrets belong in the "
            f"environment, not in luigi.cfg — remove it and set {delivery.PASSWORD_ENV}")
    conf = cfg.pms_smtp()
    return delivery.SmtpSettings(
        host=conf.host.strip(), port=int(conf.port), sender=conf.sender.strip(),
        recipients=delivery.parse_recipients(conf.recipients), starttls=bool(conf.starttls),
        username=conf.username.strip(), timeout_seconds=float(conf.timeout_seconds))


def pack_folder(on: date, fund_name: str) -> Path:
    """Where the pre-open of this environment's store wrote the pack of ``on`` for the fund:
    ``<output_dir>/<store>/<fund>/<D>/`` (the same rule as the step)."""
    from pms_luigi import report as render
    from pms_luigi.pipeline import config as cfg
    from pms_luigi.store.identity import store_id

    return render.pack_dir(cfg.output_dir(), store_id(cfg.database_url(), cfg.namespace()),
                           fund_name, on)


def _missing(on: date) -> MissingData:
    return MissingData(f"no morning pack stored for {on}: build it with "
                       f"`pms-luigi run preopen --date {on}`")


def cmd_show(args: argparse.Namespace) -> int:
    """Print the plain-text summary of the stored pack (the e-mail's text part)."""
    from pms_luigi import report as render

    row = stored_pack(args.date)
    if row is None:
        raise _missing(args.date)
    print(render.render_text(row["payload"]), end="")
    print(f"\n(pack digest {row['digest'][:16]}, run {row['run_id']}; files under "
          f"{pack_folder(args.date, row['payload'].get('fund_name') or '')})")
    return ExitCode.OK


def pack_message(row: dict[str, Any], sender: str, recipients: tuple[str, ...],
                 when: datetime | None = None) -> Any:
    """The e-mail of a stored pack: HTML body with the charts by Content-ID, text part, PDF."""
    from pms_luigi import report as render

    pack = row["payload"]
    pngs = render.render_charts(pack)
    cids = render.chart_cids(pngs)
    pdf = render.render_pdf(row["html"], pngs, cids)
    return render.build_email(pack, row["html"], pngs, pdf, sender, list(recipients),
                              cids=cids, when=when)


def cmd_send(args: argparse.Namespace) -> int:
    """E-mail the stored pack through ``[pms_smtp]`` (password from ``PMS_SMTP_PASSWORD``)."""
    from pms_luigi.core import calendar
    from pms_luigi.report import delivery

    row = stored_pack(args.date)
    if row is None:
        raise _missing(args.date)
    settings = smtp_settings()
    if args.dry_run and not settings.host:  # building the message needs no server
        settings = dataclasses.replace(settings, host="localhost")
    to = settings.validate(delivery.parse_recipients(args.to) or None)
    msg = pack_message(row, settings.sender, to, when=datetime.now(calendar.TIMEZONE))
    if args.eml:
        Path(args.eml).write_bytes(msg.as_bytes())
        print(f"written {args.eml}")
    if args.dry_run:
        print(f"dry run: not sent ({len(msg.as_bytes()):,} bytes for {', '.join(to)})")
        return ExitCode.OK
    sent = delivery.send_message(msg, settings, delivery.password_from_env(), to)
    print(f"sent morning pack {args.date} to {', '.join(sent)} via "
          f"{settings.host}:{settings.port}")
    return ExitCode.OK


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``pack show`` and ``pack send`` to the ``pms-luigi`` subcommands."""
    p = subparsers.add_parser("pack", help="show or e-mail the stored morning pack of a date")
    sub = p.add_subparsers(dest="pack_command", required=True)
    s = sub.add_parser("show", help="print the pack's summary in the terminal")
    s.add_argument("--date", type=parse_date, required=True, help="pre-open date D (YYYY-MM-DD)")
    s.set_defaults(fn=cmd_show)
    s = sub.add_parser("send", help="e-mail the pack (HTML + charts + PDF) via [pms_smtp]")
    s.add_argument("--date", type=parse_date, required=True, help="pre-open date D (YYYY-MM-DD)")
    s.add_argument("--to", nargs="+", help="recipients instead of [pms_smtp] recipients")
    s.add_argument("--eml", help="also write the message to this .eml file")
    s.add_argument("--dry-run", action="store_true", help="build the message, do not send")
    s.set_defaults(fn=cmd_send)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m pms_luigi.cli.pack pack …``: the same as ``pms-luigi pack …``."""
    return run_alone(register, argv)


if __name__ == "__main__":
    sys.exit(main())

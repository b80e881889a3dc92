"""Deliver the morning pack by e-mail over SMTP, from plain settings.

Why a separate, luigi-free module: sending is I/O at the edge of the system; the settings
come from ``[pms_smtp]`` in luigi.cfg (read by :mod:`pms_luigi.pipeline.config`, turned into
:class:`SmtpSettings` by the caller), the password only from the environment variable
``PMS_SMTP_PASSWORD`` — never from a file, never logged. Everything here takes plain values so
the tests drive it against a real SMTP server on 127.0.0.1 without any configuration layer.

Safety rules:

* ``starttls`` (default on) upgrades the connection before any credential or pack content
  crosses the network; a server that does not offer STARTTLS is an error, not a silent
  downgrade.
* A username without TLS is refused unless the host is a loopback address (a local relay or
  the test sink), so a password is never sent in clear over a network.
* Every recipient refused by the server is reported; delivery to none is an error.
"""
from __future__ import annotations

import ipaddress
import os
import re
import smtplib
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage

from pms_luigi.core.errors import ExitCode, PmsError

__all__ = ["PASSWORD_ENV", "DeliveryError", "SmtpSettings", "parse_recipients",
           "password_from_env", "send_message"]

#: The only place the SMTP password is read from.
PASSWORD_ENV = "PMS_SMTP_PASSWORD"  # noqa: S105 - the variable's name, not a password

_ADDRESS = re.compile(r"^[^@\s,;<>\"]+@[^@\s,;<>\"]+$")


class DeliveryError(PmsError):
    """The pack could not be delivered (settings incomplete, server refused, network)."""

    exit_code = ExitCode.FAILED


@dataclass(frozen=True)
class SmtpSettings:
    """SMTP delivery settings (``[pms_smtp]``), without the password.

    ``recipients`` is a tuple of bare addresses; ``port`` 587 with STARTTLS is the submission
    default; ``timeout_seconds`` bounds every socket operation so a dead relay cannot hang the
    pre-open batch.
    """

    host: str
    port: int = 587
    sender: str = ""
    recipients: tuple[str, ...] = ()
    starttls: bool = True
    username: str = ""
    timeout_seconds: float = 30.0

    def validate(self, recipients: Sequence[str] | None = None) -> tuple[str, ...]:
        """Check the settings before connecting; returns the effective recipient list.

        ``recipients`` (``pack send --to``) replaces the configured list when given.
        """
        if not self.host:
            raise DeliveryError("SMTP host is not set: [pms_smtp] host in luigi.cfg")
        if not 0 < int(self.port) < 65536:
            raise DeliveryError(f"SMTP port out of range: {self.port}")
        if not self.sender or not _ADDRESS.match(self.sender):
            raise DeliveryError(f"SMTP sender is not an e-mail address: {self.sender!r} "
                                "([pms_smtp] sender)")
        to = tuple(recipients) if recipients else self.recipients
        if not to:
            raise DeliveryError("no recipients: set [pms_smtp] recipients or pass --to")
        bad = [r for r in to if not _ADDRESS.match(r)]
        if bad:
            raise DeliveryError(f"not an e-mail address: {', '.join(map(repr, bad))}")
        if self.username and not self.starttls and not _is_loopback(self.host):
            raise DeliveryError(
                f"refusing to send SMTP credentials without TLS to {self.host}: set "
                "[pms_smtp] starttls = true (plain AUTH is allowed only to a loopback relay)")
        return to


def parse_recipients(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"a@x, b@y c@z"`` or ``["a@x", "b@y,c@z"]`` -> ``("a@x", "b@y", "c@z")``, order kept,
    duplicates dropped (a PM listed twice gets one copy)."""
    if not text:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    out: list[str] = []
    for part in parts:
        for addr in re.split(r"[,;\s]+", part.strip()):
            if addr and addr not in out:
                out.append(addr)
    return tuple(out)


def password_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The SMTP password from ``PMS_SMTP_PASSWORD`` (None when unset or empty)."""
    value = (os.environ if environ is None else environ).get(PASSWORD_ENV)
    return value or None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def send_message(msg: EmailMessage, settings: SmtpSettings, password: str | None = None,
                 recipients: Sequence[str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> tuple[str, ...]:
    """Send ``msg`` through the SMTP server in ``settings``; returns the accepted recipients.

    The envelope uses ``settings.sender`` and ``recipients`` (or the configured ones); the
    ``To`` header of ``msg`` is left as built. With ``settings.username`` the session
    authenticates (after STARTTLS when enabled) with ``password`` — the caller passes
    :func:`password_from_env`. Raises :class:`DeliveryError` naming the server and the
    reason; partial refusals are raised too, listing who did not get the pack.
    """
    to = settings.validate(recipients)
    if settings.username and not password:
        raise DeliveryError(f"[pms_smtp] username is set but {PASSWORD_ENV} is empty")
    where = f"{settings.host}:{settings.port}"
    try:
        with smtplib.SMTP(settings.host, int(settings.port),
                          timeout=float(settings.timeout_seconds)) as smtp:
            smtp.ehlo()
            if settings.starttls:
                if not smtp.has_extn("starttls"):
                    raise DeliveryError(f"SMTP server {where} does not offer STARTTLS "
                                        "([pms_smtp] starttls = true)")
                smtp.starttls(context=ssl_context or ssl.create_default_context())
                smtp.ehlo()
            if settings.username:
                smtp.login(settings.username, password or "")
            refused = smtp.send_message(msg, from_addr=settings.sender, to_addrs=list(to))
    except DeliveryError:
        raise
    except smtplib.SMTPRecipientsRefused as exc:
        raise DeliveryError(f"SMTP server {where} refused every recipient: "
                            f"{_refusals(exc.recipients)}") from exc
    except smtplib.SMTPAuthenticationError as exc:
        raise DeliveryError(f"SMTP login as {settings.username!r} at {where} failed: "
                            f"{exc.smtp_code} {_text(exc.smtp_error)}") from exc
    except smtplib.SMTPResponseException as exc:
        raise DeliveryError(f"SMTP server {where} answered {exc.smtp_code} "
                            f"{_text(exc.smtp_error)}") from exc
    except (smtplib.SMTPException, OSError) as exc:
        raise DeliveryError(f"cannot deliver through SMTP server {where}: "
                            f"{type(exc).__name__}: {exc}") from exc
    if refused:
        raise DeliveryError(f"SMTP server {where} refused some recipients (the others got "
                            f"the pack): {_refusals(refused)}")
    return to


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({code} {_text(err)})" for addr, (code, err) in
                     sorted(refused.items()))

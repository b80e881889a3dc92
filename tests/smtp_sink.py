"""A tiny real SMTP server for tests: accepts mail on 127.0.0.1 and keeps it in memory.

Why our own: the stdlib ``smtpd`` is deprecated (a DeprecationWarning, an error under
``-W error``) and gone in 3.12; aiosmtpd would be a new dependency. This speaks enough of
RFC 5321 for ``smtplib``: EHLO/HELO, AUTH PLAIN, MAIL, RCPT, DATA (dot-unstuffing), RSET,
NOOP, QUIT. It does not offer STARTTLS, so a client configured to require TLS must fail.
Addresses in ``refuse`` get ``550`` at RCPT, to exercise partial delivery.
"""
from __future__ import annotations

import base64
import socketserver
import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Received:
    mail_from: str
    rcpt_to: list[str]
    data: bytes
    auth: tuple[str, str] | None


class _Handler(socketserver.StreamRequestHandler):
    server: SmtpSink

    def _send(self, line: str) -> None:
        self.wfile.write(line.encode("ascii") + b"\r\n")
        self.wfile.flush()

    def handle(self) -> None:
        sink = self.server
        self._send("220 pms-sink ESMTP ready")
        mail_from, rcpts, auth = None, [], None
        while True:
            raw = self.rfile.readline(65536)
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self._send("250-pms-sink")
                self._send("250-8BITMIME")
                self._send("250-SIZE 52428800")
                self._send("250 AUTH PLAIN")
            elif verb == "HELO":
                self._send("250 pms-sink")
            elif verb == "AUTH":
                mech, _, initial = arg.partition(" ")
                if mech.upper() != "PLAIN":
                    self._send("504 mechanism not supported")
                    continue
                if not initial:
                    self._send("334 ")
                    initial = self.rfile.readline(65536).decode("ascii").strip()
                _, user, password = base64.b64decode(initial).decode("utf-8").split("\0")
                if sink.credentials is not None and (user, password) != sink.credentials:
                    self._send("535 5.7.8 authentication failed")
                    continue
                auth = (user, password)
                self._send("235 2.7.0 authenticated")
            elif verb == "MAIL":
                mail_from, rcpts = arg.split(":", 1)[1].split()[0].strip("<>"), []
                self._send("250 OK")
            elif verb == "RCPT":
                addr = arg.split(":", 1)[1].strip().strip("<>")
                if addr in sink.refuse:
                    self._send(f"550 5.1.1 <{addr}> no such user")
                else:
                    rcpts.append(addr)
                    self._send("250 OK")
            elif verb == "DATA":
                if mail_from is None or not rcpts:
                    self._send("503 need MAIL and RCPT first")
                    continue
                self._send("354 end data with <CR><LF>.<CR><LF>")
                lines: list[bytes] = []
                while True:
                    chunk = self.rfile.readline(1 << 20)
                    if not chunk or chunk in (b".\r\n", b".\n"):
                        break
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                with sink.lock:
                    sink.messages.append(Received(mail_from, list(rcpts), b"".join(lines), auth))
                mail_from, rcpts = None, []
                self._send("250 OK queued")
            elif verb == "RSET":
                mail_from, rcpts = None, []
                self._send("250 OK")
            elif verb == "NOOP":
                self._send("250 OK")
            elif verb == "QUIT":
                self._send("221 bye")
                return
            else:
                self._send(f"502 command not implemented: {verb}")


class SmtpSink(socketserver.ThreadingTCPServer):
    """``with SmtpSink() as sink:`` -> listening on ``sink.port`` until the block ends."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, credentials: tuple[str, str] | None = None,
                 refuse: set[str] | None = None) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.credentials = credentials
        self.refuse = set(refuse or ())
        self.messages: list[Received] = []
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def __enter__(self) -> SmtpSink:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()
        self.server_close()
        self._thread.join(timeout=5)

"""``pms-luigi serve``: the desk console (docs/console.md); ``--hash-password`` makes a
users-file password hash.

The console reads the stores through the same functions as the other commands; it binds
127.0.0.1 unless ``--host`` or ``[pms_console] host`` says otherwise. A password is read
from the terminal (asked twice) or from standard input — never from the command line, where
``ps`` and the shell history would keep it.
"""
from __future__ import annotations

import argparse
import getpass
import sys
from typing import Any


def read_password() -> str:
    """The password from the terminal (twice, must match) or the first line of stdin."""
    from pms_luigi.core.errors import BadRequest

    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise BadRequest("the two passwords differ")
    return first


def cmd_serve(args: argparse.Namespace) -> int:
    if args.hash_password:
        from pms_luigi.web.auth import hash_password

        print(hash_password(read_password()))
        return 0
    from pms_luigi.web.app import serve
    from pms_luigi.web.settings import ConsoleSettings

    return serve(ConsoleSettings.load(args.host, args.port, args.users))


def register(sub: Any) -> None:
    """Add ``serve`` to the ``pms-luigi`` subcommands."""
    s = sub.add_parser("serve", help="the desk console: status, runs, proposals, packs (web)")
    s.add_argument("--host", help="address to listen on (default [pms_console] host, 127.0.0.1)")
    s.add_argument("--port", type=int, help="port (default [pms_console] port, 8090)")
    s.add_argument("--users", help="users file (default [pms_console] users_file)")
    s.add_argument("--hash-password", action="store_true",
                   help="print the scrypt hash of a password read from the terminal or stdin")
    s.set_defaults(fn=cmd_serve)

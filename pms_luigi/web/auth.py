"""Who may use the desk console: the users file, password hashes, roles and what they allow.

Passwords are stored as ``scrypt$<salt hex>$<hash hex>`` (stdlib :func:`hashlib.scrypt`,
n = 2**14, r = 8, p = 1, 16-byte random salt, 32-byte key: about 16 MB and 50 ms per check,
the parameters RFC 7914 suggests for interactive logins). ``pms-luigi serve --hash-password``
makes one; the console never sees or stores a password otherwise.

The users file (TOML, ``[pms_console] users_file``) lists one ``[[user]]`` table per person::

    [[user]]
    name = "ana"
    role = "pm"          # viewer | pm | ops
    password = "scrypt$9f1c…$4be0…"

Roles: a *viewer* reads every view; a *pm* also decides proposals (approve, reject,
modify); *ops* also reruns a step with its downstream steps. Nothing else is granted.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from pms_luigi.core.errors import BadRequest

#: scrypt cost parameters (fixed: the stored format carries salt and hash only).
SCRYPT_N, SCRYPT_R, SCRYPT_P, KEY_BYTES, SALT_BYTES = 2**14, 8, 1, 32, 16
MIN_PASSWORD = 10
ROLES = ("viewer", "pm", "ops")
#: what each role may do beyond reading
GRANTS = {"viewer": frozenset(), "pm": frozenset({"decide"}), "ops": frozenset({"rerun"})}
#: a user name: what the journal's ``actor`` column holds (80 characters) and a log can show
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,79}$")
_HASH = re.compile(r"^scrypt\$([0-9a-f]{32})\$([0-9a-f]{64})$")


class UsersFileError(BadRequest):
    """The users file is missing or malformed: the console does not start."""


@dataclass(frozen=True)
class User:
    """One person who may sign in; ``password`` is the stored hash, never a password."""

    name: str
    role: str
    password: str = field(repr=False)

    def may(self, action: str) -> bool:
        """Whether the role grants ``action`` (``decide``, ``rerun``)."""
        return action in GRANTS[self.role]

    @property
    def fingerprint(self) -> str:
        """A short digest of the stored hash, kept in the session cookie: changing a user's
        password (or role) ends the sessions signed before."""
        return hashlib.sha256(f"{self.role}:{self.password}".encode()).hexdigest()[:16]


def _derive(password: str, salt: bytes) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R,
                          p=SCRYPT_P, dklen=KEY_BYTES)


def hash_password(password: str) -> str:
    """``scrypt$<salt>$<hash>`` of ``password`` with a fresh random salt.

    Raises:
        BadRequest: shorter than :data:`MIN_PASSWORD` characters.
    """
    if len(password) < MIN_PASSWORD:
        raise BadRequest(f"password too short: at least {MIN_PASSWORD} characters")
    salt = secrets.token_bytes(SALT_BYTES)
    return f"scrypt${salt.hex()}${_derive(password, salt).hex()}"


#: checked against when the user is unknown, so a wrong name costs the same time as a
#: wrong password (the salt and key are random, no password matches them)
_DECOY = f"scrypt${'0' * 32}${'0' * 64}"


def check_password(stored: str, password: str) -> bool:
    """Whether ``password`` matches the stored hash (constant-time comparison)."""
    found = _HASH.match(stored)
    if found is None:
        return False
    salt, key = bytes.fromhex(found.group(1)), bytes.fromhex(found.group(2))
    return hmac.compare_digest(_derive(password, salt), key)


def authenticate(users: dict[str, User], name: str, password: str) -> User | None:
    """The user when name and password match, else None; the same work either way."""
    user = users.get(name)
    ok = check_password(user.password if user else _DECOY, password)
    return user if ok and user is not None else None


def load_users(path: Path) -> dict[str, User]:
    """The users of a TOML users file, by name.

    Raises:
        UsersFileError: the file is missing or unreadable, or an entry lacks a field, has an
            unknown role, a bad name, a name twice, or a password that is not an
            ``scrypt$…`` hash (a plain password in the file is refused, not hashed).
    """
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsersFileError(f"console users file {path}: {exc}") from None
    entries = doc.get("user", [])
    if not isinstance(entries, list) or not entries:
        raise UsersFileError(f"console users file {path}: no [[user]] entries")
    users: dict[str, User] = {}
    for i, entry in enumerate(entries, start=1):
        where = f"console users file {path}: user #{i}"
        if not isinstance(entry, dict) or set(entry) != {"name", "role", "password"}:
            raise UsersFileError(f"{where}: needs exactly name, role and password")
        name, role, stored = (str(entry[k]) for k in ("name", "role", "password"))
        if not NAME.match(name):
            raise UsersFileError(f"{where}: name {name!r}: letters, digits, . _ @ - only")
        if role not in ROLES:
            raise UsersFileError(f"{where} ({name}): role {role!r} is not one of "
                                 f"{', '.join(ROLES)}")
        if not _HASH.match(stored):
            raise UsersFileError(f"{where} ({name}): password must be a hash made by "
                                 "`pms-luigi serve --hash-password`")
        if name in users:
            raise UsersFileError(f"{where}: {name} is listed twice")
        users[name] = User(name, role, stored)
    return users

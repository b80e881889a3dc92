"""A short, stable, non-secret name for the database a build writes to.

Why: the morning pack's files live on disk, outside the database that holds the pack. Two
stores (the embedded SQLite of a demo and a PostgreSQL one, or two namespaces of one server)
pointed at one output folder used to overwrite each other's ``<out>/<date>/`` files, while
each ``pack show`` still named the folder. Files now go under a folder of their store.

The name is the namespace followed by 10 hex digits of the SHA-256 of where the data lives:
the backend (``sqlite``, ``postgresql``: not the driver, which reaches the same data), the
host, port and database (for SQLite the resolved file path) and the URL's query (e.g. a
``search_path`` option, which selects another schema). The user name and the password are
left out: they do not change which data is read, and a secret must never reach a path.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import sqlalchemy as sa

from pms_luigi.core.pack.formats import slug


def store_location(database_url: str) -> str:
    """Where the data lives, as text without credentials (what :func:`store_id` hashes).

    >>> store_location("postgresql+psycopg2://pms:secret@db.example:5432/pms?sslmode=require")
    'postgresql://db.example:5432/pms?sslmode=require'
    >>> store_location("sqlite:////var/pms/pms.db")
    'sqlite:///var/pms/pms.db'
    >>> store_location("postgresql://u:p@ss/w@rd@host/db")  # a raw '@' or '/' in a password
    'postgresql://host:/db'
    """
    url = sa.engine.make_url(_without_credentials(database_url))
    backend = url.get_backend_name()
    query = "&".join(f"{k}={v}" for k, v in sorted(
        (k, ",".join(v) if isinstance(v, tuple) else v) for k, v in url.query.items()))
    if backend == "sqlite":
        where = url.database or ":memory:"
        if where != ":memory:":
            where = str(Path(where).resolve())
        place = f"sqlite://{where}"
    else:
        place = f"{backend}://{url.host or ''}:{url.port or ''}/{url.database or ''}"
    return f"{place}?{query}" if query else place


def _without_credentials(database_url: str) -> str:
    """The URL with everything before the last ``@`` of its authority dropped, so a password
    holding ``@`` or ``/`` cannot be mistaken for the host (or leak into it)."""
    scheme, sep, rest = database_url.partition("://")
    if not sep or scheme.startswith("sqlite"):  # a file path: no credentials, '@' is a name
        return database_url
    head, q, query = rest.partition("?")
    if "@" in head:
        head = head[head.rindex("@") + 1:]
    return f"{scheme}://{head}{q}{query}"


def store_id(database_url: str, namespace: str) -> str:
    """``<namespace>-<10 hex>``: the folder name of one store's output files.

    >>> store_id("postgresql://u:secret@127.0.0.1:5432/pms", "pms")
    'pms-acd57f7862'
    >>> store_id("postgresql://u:secret@127.0.0.1:5432/pms", "pms") == \\
    ...     store_id("postgresql+psycopg2://other:pw@127.0.0.1:5432/pms", "pms")
    True
    """
    digest = hashlib.sha256(store_location(database_url).encode("utf-8")).hexdigest()[:10]
    return f"{slug(namespace)}-{digest}"

"""Where an index lives: a SQLite file (a path), or a PostgreSQL database (a ``postgresql://`` URL).

Only this module chooses a backend; the PostgreSQL one (and psycopg) is imported only
when a database URL is given, so a SQLite index never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from .records import IndexStore
from .sqlite import SQLiteStore

#: URL schemes that name a PostgreSQL index (libpq accepts both).
DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.lower().startswith(DATABASE_SCHEMES)


def shown_location(location: str | os.PathLike[str]) -> str:
    """The location as messages and JSON show it: a database URL without its password (in the user part or as
    a ``password`` parameter). Plain string surgery: it never fails, whatever the URL holds (several hosts,
    an IPv6 address, a port that is not a number)."""
    if not is_database_url(location):
        return str(location)
    scheme, _, rest = str(location).partition("://")
    netloc, slash, tail = rest.partition("/")
    if "@" in netloc:
        user, _, hosts = netloc.rpartition("@")
        netloc = f"{user.split(':', 1)[0]}@{hosts}"
    path, question, query = tail.partition("?")
    if question:
        kept = [(key, value) for key, value in parse_qsl(query, keep_blank_values=True) if key.lower() != "password"]
        tail = path + (f"?{urlencode(kept)}" if kept else "")
    return f"{scheme}://{netloc}{slash}{tail}"


def open_store(location: str | os.PathLike[str], create: bool = False) -> IndexStore:
    """The store at ``location``: PostgreSQL for a database URL, else the SQLite file at that path."""
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(str(location), create=create)
    return SQLiteStore(Path(location), create=create)

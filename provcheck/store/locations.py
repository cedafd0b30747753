"""Where an index lives: a SQLite file (a path), or a PostgreSQL database (a ``postgresql://`` URL).

Only this module chooses a backend; the PostgreSQL one (and psycopg) is imported only
when a database URL is given, so a SQLite index never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .records import IndexStore
from .sqlite import SQLiteStore

#: URL schemes that name a PostgreSQL index (libpq accepts both).
DATABASE_SCHEMES = ("postgresql://", "postgres://")


def is_database_url(location: str | os.PathLike[str]) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.lower().startswith(DATABASE_SCHEMES)


def shown_location(location: str | os.PathLike[str]) -> str:
    """The location as messages and JSON show it: a database URL without its password."""
    if not is_database_url(location):
        return str(location)
    parts = urlsplit(str(location))
    if parts.password is None:
        return str(location)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port is not None else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def open_store(location: str | os.PathLike[str], create: bool = False) -> IndexStore:
    """The store at ``location``: PostgreSQL for a database URL, else the SQLite file at that path."""
    if is_database_url(location):
        from .postgres import PostgresStore

        return PostgresStore(str(location), create=create)
    return SQLiteStore(Path(location), create=create)

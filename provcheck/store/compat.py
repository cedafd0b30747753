"""The metadata every index carries, and what it must say for this provcheck to read the index.

Both backends write these keys when they create an index and check them when they open
one: an index made by other hashers or an unreadable feature extractor is refused, not
silently matched against.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from ..errors import IndexMismatchError
from ..features import extractor_signature, readable_signature
from ..hashing import hasher_signature

APPLICATION_ID = "provcheck"


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def initial_meta(schema_version: int) -> list[tuple[str, str]]:
    """The metadata rows of a new index."""
    return [
        ("application", APPLICATION_ID),
        ("schema_version", str(schema_version)),
        ("hashers", json.dumps(hasher_signature(), sort_keys=True)),
        ("features", json.dumps(extractor_signature(), sort_keys=True)),
        ("created_at", now_iso()),
    ]


def refuse_incompatible(location: str, meta: dict[str, str]) -> None:
    """Raise unless the index's hashers and local features are this provcheck's.

    Raises:
        IndexMismatchError: made with other hasher versions or an unreadable feature extractor.
    """
    stored_hashers = json.loads(meta.get("hashers", "{}"))
    if stored_hashers != hasher_signature():
        raise IndexMismatchError(
            f"{location}: index was built with hashers {stored_hashers}, this provcheck uses "
            f"{hasher_signature()}; re-index the sources into a new index")
    stored_features = json.loads(meta.get("features", "null"))
    if not readable_signature(stored_features):
        raise IndexMismatchError(
            f"{location}: index was built with local features {stored_features}, this provcheck uses "
            f"{extractor_signature()}; re-index the sources into a new index")

"""The index: sources and their fingerprinted frames, behind one storage protocol.

:mod:`.records` defines what is stored and the :class:`IndexStore` protocol;
:mod:`.sqlite` is the embedded default backend.
"""

from .compat import APPLICATION_ID
from .records import (
    EDITABLE_FIELDS,
    FeatureCoverage,
    FrameHashes,
    FrameRecord,
    FrameTable,
    HashTable,
    IndexStats,
    IndexStore,
    IntegrityReport,
    NewSource,
    SourceRecord,
    StoredFeatures,
)
from .sqlite import BUSY_TIMEOUT_MS, SCHEMA_VERSION, SQLiteStore

__all__ = [
    "APPLICATION_ID", "BUSY_TIMEOUT_MS", "EDITABLE_FIELDS", "SCHEMA_VERSION", "FeatureCoverage", "FrameHashes",
    "FrameRecord", "FrameTable", "HashTable", "IndexStats", "IndexStore", "IntegrityReport", "NewSource", "SQLiteStore",
    "SourceRecord", "StoredFeatures",
]

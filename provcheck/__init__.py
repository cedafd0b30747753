"""provcheck: find the original video frame or photo a claimed image was derived from."""

from __future__ import annotations

from ._version import __version__
from .api import ClaimResult, Index, default_index_path
from .errors import (
    DuplicateSourceError,
    ExitCode,
    IndexMismatchError,
    IndexStoreError,
    MediaError,
    ProvcheckError,
    SourceNotFoundError,
)
from .results import Box, CropBox, Derivation, Match, Verdict
from .store import SourceRecord

__all__ = [
    "ClaimResult",
    "Box",
    "CropBox",
    "Derivation",
    "DuplicateSourceError",
    "ExitCode",
    "Index",
    "IndexMismatchError",
    "IndexStoreError",
    "Match",
    "MediaError",
    "ProvcheckError",
    "SourceNotFoundError",
    "SourceRecord",
    "Verdict",
    "__version__",
    "default_index_path",
]

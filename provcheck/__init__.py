"""provcheck: find the original video frame or photo a claimed image was derived from.

The public API is re-exported here. The names that need NumPy, OpenCV, PyAV or faiss
(``Index``, the result types) are imported on first use (PEP 562 ``__getattr__``), so
``import provcheck`` and ``provcheck --version`` / ``--help`` load none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .errors import (
    DuplicateSourceError,
    ExitCode,
    IndexMismatchError,
    IndexStoreError,
    ManifestError,
    MediaError,
    ProvcheckError,
    SourceNotFoundError,
)
from .paths import default_index_path

if TYPE_CHECKING:
    from .api import Index
    from .dates import ClaimedDate, given_claim_date
    from .evidence import write_evidence
    from .html_report import html_report
    from .manifest import ManifestEntry, read_manifest, write_manifest
    from .results import Box, ClaimResult, CropBox, Derivation, Match, Verdict
    from .store import SourceRecord

#: Public names imported on first use, and the module each comes from.
_LAZY = {
    "ClaimResult": ".results",
    "Box": ".results",
    "CropBox": ".results",
    "Derivation": ".results",
    "Match": ".results",
    "Verdict": ".results",
    "Index": ".api",
    "ClaimedDate": ".dates",
    "given_claim_date": ".dates",
    "write_evidence": ".evidence",
    "html_report": ".html_report",
    "ManifestEntry": ".manifest",
    "read_manifest": ".manifest",
    "write_manifest": ".manifest",
    "SourceRecord": ".store",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})


__all__ = [
    "ClaimResult",
    "ClaimedDate",
    "Box",
    "CropBox",
    "Derivation",
    "DuplicateSourceError",
    "ExitCode",
    "Index",
    "IndexMismatchError",
    "IndexStoreError",
    "ManifestEntry",
    "ManifestError",
    "Match",
    "MediaError",
    "ProvcheckError",
    "SourceNotFoundError",
    "SourceRecord",
    "Verdict",
    "__version__",
    "default_index_path",
    "given_claim_date",
    "html_report",
    "read_manifest",
    "write_evidence",
    "write_manifest",
]

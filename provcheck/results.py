"""The result types of matching: verdicts, matches and how a claim was derived.

Frozen dataclasses only; :mod:`provcheck.report` turns them into text and JSON.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from .dates import ClaimedDate
from .store import SourceRecord


class Verdict(str, enum.Enum):
    """How sure provcheck is that a claim was derived from a source."""

    MATCH = "match"
    POSSIBLE = "possible"
    NONE = "none"

    @property
    def rank(self) -> int:
        return {"match": 2, "possible": 1, "none": 0}[self.value]


@dataclass(frozen=True)
class Box:
    """A rectangle: its top-left corner and size, in pixels or as fractions of an image.

    The field holding a box says which (``crop`` fractions of the source frame,
    ``crop_px`` source pixels, ``picture_px`` claim pixels).
    """

    x: float
    y: float
    w: float
    h: float

    def as_tuple(self) -> tuple[float, float, float, float]:
        return self.x, self.y, self.w, self.h


#: The name the public API has always used for a box of fractions; the same type.
CropBox = Box


@dataclass(frozen=True)
class AddedBand:
    """A band of the claim that its source does not explain: a caption bar, a border, padding.

    ``kind`` is ``caption_bar``, ``border``, ``padding`` or ``unexplained`` (another
    picture, an overlay); ``side`` is ``top``, ``bottom``, ``left`` or ``right``. The box
    is in claim pixels while the derivation is measured and fractions of the claim in a
    :class:`Derivation`.
    """

    kind: str
    side: str
    box: Box


@dataclass(frozen=True)
class ToneChange:
    """Luminance of the claim as a linear function of the source's, and whether colour was dropped."""

    grayscale: bool
    contrast: float
    brightness: float
    changed: bool


@dataclass(frozen=True)
class Derivation:
    """What was seen of how the claim was made from the source.

    ``method`` says which evidence the derivation rests on: ``"features"`` (a verified
    geometric transform: crop, rotation and scale are measured), ``"hash"`` (a
    whole-frame hash match: only mirroring and trimmed bands are known) or
    ``"identical"`` (the claim file is byte for byte an indexed file, and nothing else
    was measured). ``identical`` is true whenever the claim file has the same SHA-256
    as the source file.
    """

    mirrored: bool = False
    crop: Box | None = None
    rotation_deg: float | None = None
    trimmed: tuple[str, ...] = ()
    method: str = "hash"
    crop_px: Box | None = None  # whole pixels
    frame_share: float | None = None
    scale: float | None = None
    added: tuple[AddedBand, ...] = ()
    tone: ToneChange | None = None
    identical: bool = False


@dataclass(frozen=True)
class Evidence:
    """The measured quantities a verdict rests on."""

    inliers: int = 0
    putative: int = 0
    hull_share: float = 0.0
    residual_px: float | None = None
    hash_evidence: float = 0.0
    #: share of the claim's structured cells the warped source reproduces (None: not measured)
    pixel_agreement: float | None = None
    agreement_cells: int = 0


@dataclass(frozen=True)
class Placement:
    """Where the claim lies on its source frame, for drawing evidence (not part of the JSON).

    ``transform`` (3x3, row-major) maps the claim as matched (flipped left-right first
    when ``mirrored``) onto the source frame, whose size is ``frame_size``;
    ``picture`` is the part of that claim which is source picture, and
    ``inliers`` the claim points (x, y) whose keypoints agreed with the frame's.
    """

    transform: tuple[tuple[float, float, float], ...]
    claim_size: tuple[int, int]
    frame_size: tuple[int, int]
    picture: Box
    inliers: tuple[tuple[float, float], ...]
    mirrored: bool


@dataclass(frozen=True)
class Match:
    """One source that the claim was likely derived from."""

    source: SourceRecord
    verdict: Verdict
    confidence: float
    timestamp_s: float | None
    frame: int | None
    window_s: tuple[float, float] | None
    distance: dict[str, int] = field(default_factory=dict)
    derivation: Derivation = field(default_factory=Derivation)
    evidence: Evidence = field(default_factory=Evidence)
    earliest: bool = False
    #: set when the match rests on a verified geometric transform (``derivation.method == "features"``)
    placement: Placement | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ClaimResult:
    """The answer for one claimed photo: its verdict and matches, or the error that stopped it."""

    query: str
    verdict: Verdict
    matches: tuple[Match, ...]
    error: str | None = None
    #: when the claim was made or taken (given, or from the file's metadata), to date its sources against
    claimed_date: ClaimedDate | None = None
    #: SHA-256 of the claim file as read (a URL: of the download); None when it could not be read
    sha256: str | None = None

    def named(self, query: str, said: str | None = None) -> ClaimResult:
        """This result under the name the user gave a claim that was matched from a temporary copy.

        The copy's path becomes ``query``, and ``said`` (default: ``query``) in the error message.
        """
        error = None if self.error is None else self.error.replace(self.query, said or query)
        return replace(self, query=query, error=error)

    @classmethod
    def of(cls, query: str, matches: Sequence[Match], claimed_date: ClaimedDate | None = None,
           sha256: str | None = None) -> ClaimResult:
        """The claim's result from its matches: ``match`` when any source matches, else the best one's verdict."""
        verdict = matches[0].verdict if matches else Verdict.NONE
        if any(m.verdict is Verdict.MATCH for m in matches):
            verdict = Verdict.MATCH
        return cls(query=query, verdict=verdict, matches=tuple(matches), claimed_date=claimed_date, sha256=sha256)


@dataclass(frozen=True)
class SkippedFile:
    """A file ``index add`` did not add: already indexed as ``source_id``."""

    path: str
    source_id: int
    reason: str
    #: the one-line message saying so (not in the JSON document, which has ``reason``)
    message: str = ""


@dataclass(frozen=True)
class FailedFile:
    """A file ``index add`` could not add; ``error`` is its one-line message."""

    path: str
    error: str

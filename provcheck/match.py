"""Matching a claimed photo against the index: candidates by hash, then a verdict.

Stage one compares perceptual hashes of the claim (as given, with added borders
and caption bars trimmed, and the mirror image of each) with every indexed frame,
vectorised over the whole hash table. Each source keeps its best frame; the verdict
needs both hashes to agree (``match``) or one of them (``possible``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from .hashing import HASHERS, hamming_distances
from .index import HashTable, IndexStore, SourceRecord
from .media import Frame, RGBArray
from .normalize import Trim, find_trim

#: PDQ distance (of 256 bits) at or under which two frames are the same picture.
#: 31 is the operating point Meta publishes for PDQ (ThreatExchange, with quality >= 50).
PDQ_MATCH_BITS = 31
#: pHash distance (of 64 bits) at or under which two frames are the same picture:
#: 8/64 is the same 12.5 % share of bits as PDQ's 31/256 and the usual imagehash cut-off.
PHASH_MATCH_BITS = 8
#: PDQ hashes of images under this quality (flat, featureless) are not trusted.
PDQ_MIN_QUALITY = 50
#: A "possible" needs one hash within its match threshold and the other within this
#: multiple of its own: a weaker but real signal, never a verdict on one hash alone.
POSSIBLE_SLACK = 1.6
#: Frames of the same source whose score is within this of the best frame's are
#: reported as the window of times that match equally well.
WINDOW_SCORE_SLACK = 0.1


class Verdict(str, enum.Enum):
    """How sure provcheck is that a claim was derived from a source."""

    MATCH = "match"
    POSSIBLE = "possible"
    NONE = "none"


@dataclass(frozen=True)
class CropBox:
    """A region of the source frame, as fractions of its width and height."""

    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True)
class Derivation:
    """What was seen of how the claim was made from the source."""

    mirrored: bool = False
    crop: CropBox | None = None
    rotation_deg: float | None = None
    trimmed: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class ClaimResult:
    """The answer for one claimed photo: its verdict and matches, or the error that stopped it."""

    query: str
    verdict: Verdict
    matches: tuple[Match, ...]
    error: str | None = None


@dataclass(frozen=True)
class _Variant:
    pixels: RGBArray
    mirrored: bool
    trim: Trim


def claim_variants(pixels: RGBArray) -> list[_Variant]:
    """The claim as given, trimmed of added bands (if any), and the mirror of each."""
    trim = find_trim(pixels)
    bases = [(pixels, Trim(0, 0, 0, 0, ()))]
    if not trim.is_empty:
        bases.append((trim.apply(pixels), trim))
    variants = []
    for base, base_trim in bases:
        variants.append(_Variant(np.ascontiguousarray(base), False, base_trim))
        variants.append(_Variant(np.ascontiguousarray(base[:, ::-1]), True, base_trim))
    return variants


def _score(pdq_bits: NDArray[np.int32], phash_bits: NDArray[np.int32], pdq_trusted: bool) -> NDArray[np.float64]:
    """Distance in units of each hash's match threshold: <= 1 on both means match.

    The score is the larger of the two normalised distances, so one hash agreeing by
    chance does not make a match. Without a trusted PDQ, pHash alone decides.
    """
    phash_units = phash_bits / PHASH_MATCH_BITS
    if not pdq_trusted:
        return phash_units.astype(np.float64)
    return np.maximum(pdq_bits / PDQ_MATCH_BITS, phash_units).astype(np.float64)


def _verdict(pdq_bits: int, phash_bits: int, pdq_trusted: bool) -> Verdict:
    pdq_units = pdq_bits / PDQ_MATCH_BITS if pdq_trusted else phash_bits / PHASH_MATCH_BITS
    phash_units = phash_bits / PHASH_MATCH_BITS
    if max(pdq_units, phash_units) <= 1.0:
        return Verdict.MATCH
    if min(pdq_units, phash_units) <= 1.0 and max(pdq_units, phash_units) <= POSSIBLE_SLACK:
        return Verdict.POSSIBLE
    return Verdict.NONE


def _confidence(score: float) -> float:
    """Map the normalised distance to [0, 1]: 1 at distance 0, 0.5 at the match threshold."""
    return float(np.clip(1.0 - score / 2.0, 0.0, 1.0))


class MatchEngine:
    """Holds an index's hash tables in memory and matches claims against them."""

    def __init__(self, store: IndexStore) -> None:
        self._store = store
        self._tables: dict[str, HashTable] = {hasher.name: store.hash_table(hasher.name) for hasher in HASHERS}
        self._sources = {record.id: record for record in store.list_sources()}

    @property
    def frame_count(self) -> int:
        return int(self._tables["pdq"].frame_ids.shape[0])

    def match(self, claim: Frame, top: int = 5) -> list[Match]:
        """Find the sources a claimed photo was likely derived from, best first.

        Args:
            claim: the claimed photo.
            top: at most this many sources are returned.

        Returns:
            Matches with verdict ``match`` or ``possible``, best first; empty if none.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}.")
        pdq_table, phash_table = self._tables["pdq"], self._tables["phash"]
        if pdq_table.frame_ids.shape[0] == 0:
            return []
        hashers = {hasher.name: hasher for hasher in HASHERS}
        best_score: NDArray[np.float64] | None = None
        best_variant = np.zeros(pdq_table.frame_ids.shape[0], dtype=np.int64)
        per_variant: list[tuple[NDArray[np.int32], NDArray[np.int32], bool]] = []
        variants = claim_variants(claim.pixels)
        for number, variant in enumerate(variants):
            pdq_value = hashers["pdq"].compute(variant.pixels)
            phash_value = hashers["phash"].compute(variant.pixels)
            pdq_trusted = (pdq_value.quality or 0) >= PDQ_MIN_QUALITY
            pdq_bits = hamming_distances(pdq_value.packed, pdq_table.hashes)
            phash_bits = hamming_distances(phash_value.packed, phash_table.hashes)
            per_variant.append((pdq_bits, phash_bits, pdq_trusted))
            score = _score(pdq_bits, phash_bits, pdq_trusted)
            if best_score is None:
                best_score = score
            else:
                better = score < best_score
                best_score = np.where(better, score, best_score)
                best_variant = np.where(better, number, best_variant)
        assert best_score is not None  # at least one variant always exists
        return self._aggregate(best_score, best_variant, per_variant, variants, top)

    def _aggregate(
        self,
        score: NDArray[np.float64],
        variant_of: NDArray[np.int64],
        per_variant: list[tuple[NDArray[np.int32], NDArray[np.int32], bool]],
        variants: list[_Variant],
        top: int,
    ) -> list[Match]:
        table = self._tables["pdq"]
        # Best frame of each source, ties broken by frame id: sort by (source, score, id).
        order = np.lexsort((table.frame_ids, score, table.source_ids))
        _, first = np.unique(table.source_ids[order], return_index=True)
        matches: list[Match] = []
        for row in order[first]:
            source_id = int(table.source_ids[row])
            variant_number = int(variant_of[row])
            pdq_bits, phash_bits, pdq_trusted = per_variant[variant_number]
            verdict = _verdict(int(pdq_bits[row]), int(phash_bits[row]), pdq_trusted)
            if verdict is Verdict.NONE:
                continue
            variant = variants[variant_number]
            source = self._sources[source_id]
            timestamp = None if np.isnan(table.times_s[row]) else float(table.times_s[row])
            matches.append(
                Match(
                    source=source,
                    verdict=verdict,
                    confidence=round(_confidence(float(score[row])), 4),
                    timestamp_s=timestamp,
                    frame=int(table.frame_numbers[row]) if source.kind == "video" else None,
                    window_s=self._window(score, source_id, float(score[row])) if source.kind == "video" else None,
                    distance={"pdq": int(pdq_bits[row]), "phash": int(phash_bits[row])},
                    derivation=Derivation(mirrored=variant.mirrored, trimmed=variant.trim.labels),
                )
            )
        matches.sort(key=lambda m: (-m.confidence, m.source.id))
        return matches[:top]

    def _window(self, score: NDArray[np.float64], source_id: int, best: float) -> tuple[float, float] | None:
        table = self._tables["pdq"]
        close = (table.source_ids == source_id) & (score <= best + WINDOW_SCORE_SLACK)
        times = table.times_s[close]
        times = times[~np.isnan(times)]
        if times.size == 0:
            return None
        return float(times.min()), float(times.max())

"""Matching a claimed photo against the index: shortlist, verify, decide, explain.

Two stages, as the field does it:

1. **Shortlist.** Perceptual hashes of the claim (as given, with added bands
   trimmed, and mirrored) are compared with every indexed frame in one vectorised
   pass; the claim's SIFT descriptors (and its mirror's) vote for the frames whose
   stored descriptors they are nearest to. The best frames by either go on.
2. **Verification.** Each shortlisted frame is checked geometrically (RANSAC on
   matched keypoints, :mod:`provcheck.verify`); a verified transform gives the crop
   box, rotation, mirroring and added bands (:mod:`provcheck.derive`) and, for
   videos, the exact frame (:mod:`provcheck.refine`). The source's pixels, warped
   by that transform, must then reproduce the claim's picture, not only the few
   places where the inliers lie (:mod:`provcheck.agreement`): a shared watermark,
   logo or HUD gives inliers, never a picture that agrees everywhere.

A source's verdict comes from the stronger of the two kinds of evidence. Every
threshold is a named constant below with the measurement it comes from.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from . import derive
from .agreement import PixelAgreement, pixel_agreement
from .errors import MediaError
from .features import QUERY_KEYPOINTS, QUERY_MAX_SIDE, QUERY_MIN_SIDE, LocalFeatures, extract
from .hashing import HASHERS, hamming_distances
from .index import HashTable, IndexStore, SourceRecord
from .media import Frame, RGBArray, load_image
from .normalize import Trim, find_trim
from .refine import Anchor, decode_frame, refine_time
from .results import (
    AddedBand,
    ClaimResult,
    CropBox,
    Derivation,
    Evidence,
    Match,
    PixelBox,
    ToneChange,
    Verdict,
)
from .search import DescriptorIndex
from .verify import Verification, map_points, verify

__all__ = ["ClaimResult", "CropBox", "Derivation", "Match", "MatchEngine", "Verdict", "claim_variants"]

# --- hash stage ---------------------------------------------------------------------

#: PDQ hashes of images under this quality (flat, featureless) are not trusted
#: (Meta's ThreatExchange uses the same cut-off of 50).
PDQ_MIN_QUALITY = 50
#: Evidence is counted in standard deviations of chance agreement: two unrelated
#: n-bit hashes differ in n/2 +- sqrt(n)/2 bits, so a distance d is worth
#: (n/2 - d) / (sqrt(n)/2) of evidence, and the claim's evidence for a frame is the
#: sum over pHash and PDQ. Measured on the demo corpus (seed 2017, 15 claims x 4
#: variants x 463 frames): unrelated claims peaked at 6.25, whole-frame derived
#: claims (caption, logo, border, mirror, grayscale, rotation 3 deg, q40) at 11.25-23.
MATCH_EVIDENCE = 10.0
#: A weaker but real signal, still above every unrelated pair measured.
POSSIBLE_EVIDENCE = 8.0
#: For a match each hash on its own must also be this far from chance, so one hash
#: agreeing by accident cannot carry the verdict.
MIN_EVIDENCE_EACH = 2.0
#: Hash confidence maps evidence linearly: 0 at this, 1 at FULL_CONFIDENCE_EVIDENCE
#: (so a hash match starts at 0.5 and a possible at 0.25).
ZERO_CONFIDENCE_EVIDENCE = 6.0
FULL_CONFIDENCE_EVIDENCE = 18.0
#: Frames of the same source whose evidence is within this of the best frame's are
#: reported as the window of times that match equally well (hash-only matches).
WINDOW_EVIDENCE_SLACK = 1.0

# --- feature stage ------------------------------------------------------------------

#: Frames shortlisted by descriptor votes per claim, and at most this many per source
#: (neighbouring frames of a pan all vote; other sources must still get a look).
SHORTLIST_FRAMES = 12
SHORTLIST_PER_SOURCE = 3
#: Frames shortlisted by hash evidence in addition.
SHORTLIST_BY_HASH = 3
#: Geometric verification. On the demo corpus (seed 2017) true claims, including
#: crops to 15 % of the frame, verified with 143-820 inliers; unrelated frames gave at
#: most 8 once degenerate fits were refused, and 18 on a HUD burned into every frame
#: before overlay keypoints were excluded. Re-measured on the accuracy bench.
MATCH_INLIERS = 20
POSSIBLE_INLIERS = 12
#: Inliers must span at least this share of the claim (a logo or a HUD corner alone
#: cannot make a match; a picture inset in a collage still can).
MIN_HULL_SHARE = 0.03
#: Sampled frames of the matched source verified again to anchor timestamp refinement:
#: those with at least this share of the source's best vote count ...
ANCHOR_VOTE_SHARE = 0.25
#: ... within this many seconds of it (a static shot can verify equally well for a
#: long time; the demo's closest call had the true frame 2.4 s from the best sampled one) ...
ANCHOR_RADIUS_S = 3.0
#: ... and kept as anchors with at least this share of the best frame's inliers.
ANCHOR_INLIER_SHARE = 0.5
#: At most this many sampled frames of the matched video are verified besides the
#: shortlisted ones (the most voted), to choose the best frame and anchor refinement.
SOURCE_VERIFY_FRAMES = 32
#: A frame "holds" the claim when this share of the claim's picture falls inside it
#: (checked on a COVERAGE_GRID x COVERAGE_GRID grid of points).
FULL_COVERAGE = 0.95
COVERAGE_GRID = 16
#: The time is refined again without the bands the refined frame's pixels show the
#: trimmer missed, when they leave less than this share of its picture.
REFINE_AGAIN_PICTURE_SHARE = 0.95
#: Claims and frames with at least this many keypoints are "textured": between two
#: such, a hash match that fails geometric verification is downgraded to possible.
TEXTURED_KEYPOINTS = 150
#: Logistic slope of feature confidence in inliers: 0.5 at MATCH_INLIERS, ~0.96 at +20.
CONFIDENCE_INLIER_SLOPE = 6.5

# --- pixel agreement --------------------------------------------------------------

#: Share of the claim's structured cells that the warped source reproduces
#: (:mod:`provcheck.agreement`). Measured before it was used: bench seed 2024 (sampled
#: frames, before refinement): true sources 0.78-1.0 (143 claims), other sources' chance
#: transforms 0-0.36; an agency watermark shared by unrelated claims and eight indexed
#: stills: 0-0.17 at 12-62 inliers (each of those was a `match` on inliers alone);
#: photos of a screen (bezel around the picture): 0.58-0.73. At or
#: above AGREEMENT_CONFIRMS a verified transform (>= POSSIBLE_INLIERS) is a match;
#: under AGREEMENT_REFUTES it is no evidence; in between, at most possible.
AGREEMENT_CONFIRMS = 0.5
AGREEMENT_REFUTES = 0.3
#: Fewer judged cells than this (a claim that is mostly flat sky) cannot be judged:
#: the inliers alone decide.
AGREEMENT_MIN_CELLS = 8
#: One picture of a collage (or a picture-in-picture) is cut from a larger frame whose
#: warp spills over its neighbours, so it is also judged on its own, inside the picture
#: box the derivation found: confirmed when that box holds at least INSET_MIN_CELLS
#: judged cells and INSET_CONFIRMS of them agree (collage pictures: 12-30 cells, all
#: agreeing; the picture box grown around a shared watermark: at most 0.54 of 12-18).
INSET_MIN_CELLS = 10
INSET_CONFIRMS = 0.8
#: A transform with fewer inliers than POSSIBLE_INLIERS but at least WEAK_INLIERS (a crop
#: of soft cloud, flat shading, heavy JPEG) is a match on its pixels alone: when at least
#: WEAK_MIN_CELLS cells are judged and WEAK_CONFIRMS of them agree. Chance transforms of
#: unrelated sources agreed on at most 0.36 of their cells (bench seed 2024, 5-11
#: inliers; 0.17 at 7-11), true sources on at least 0.83: the cut is set between them.
WEAK_INLIERS = 8
WEAK_MIN_CELLS = 16
WEAK_CONFIRMS = 0.6


def hash_evidence(distance_bits: NDArray[np.int32] | int, bits: int) -> NDArray[np.float64]:
    """Agreement beyond chance of hashes at a Hamming distance, in standard deviations."""
    evidence: NDArray[np.float64] = (bits / 2 - np.asarray(distance_bits, dtype=np.float64)) / (np.sqrt(bits) / 2)
    return evidence


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


def _evidence(pdq_bits: NDArray[np.int32], phash_bits: NDArray[np.int32], pdq_trusted: bool) -> NDArray[np.float64]:
    """Summed evidence of both hashes; an untrusted (flat-image) PDQ counts nothing."""
    phash = hash_evidence(phash_bits, 64)
    if not pdq_trusted:
        return phash
    return phash + hash_evidence(pdq_bits, 256)


def _hash_verdict(pdq_bits: int, phash_bits: int, pdq_trusted: bool) -> Verdict:
    phash = float(hash_evidence(phash_bits, 64))
    pdq = float(hash_evidence(pdq_bits, 256)) if pdq_trusted else 0.0
    total = phash + pdq
    if total >= MATCH_EVIDENCE and min(phash, pdq) >= MIN_EVIDENCE_EACH:
        return Verdict.MATCH
    if total >= POSSIBLE_EVIDENCE:
        return Verdict.POSSIBLE
    return Verdict.NONE


def _hash_confidence(evidence: float) -> float:
    span = FULL_CONFIDENCE_EVIDENCE - ZERO_CONFIDENCE_EVIDENCE
    return float(np.clip((evidence - ZERO_CONFIDENCE_EVIDENCE) / span, 0.0, 1.0))


def feature_verdict(verification: Verification | None) -> Verdict:
    """Verdict of a geometric verification: enough inliers spanning enough of the claim."""
    if verification is None or verification.hull_share < MIN_HULL_SHARE:
        return Verdict.NONE
    if verification.inliers >= MATCH_INLIERS:
        return Verdict.MATCH
    if verification.inliers >= POSSIBLE_INLIERS:
        return Verdict.POSSIBLE
    return Verdict.NONE


def feature_confidence(verification: Verification) -> float:
    """Logistic in the inlier count: 0.5 at :data:`MATCH_INLIERS`."""
    return 1.0 / (1.0 + math.exp(-(verification.inliers - MATCH_INLIERS) / CONFIDENCE_INLIER_SLOPE))


def weak_geometry(verification: Verification | None) -> bool:
    """Too few inliers for a verdict, yet enough for the pixels alone to decide (:data:`WEAK_INLIERS`)."""
    return (verification is not None and WEAK_INLIERS <= verification.inliers < POSSIBLE_INLIERS
            and verification.hull_share >= MIN_HULL_SHARE)


def agreed_verdict(
    geometric: Verdict, agreement: PixelAgreement | None, picture: tuple[float, float, float, float],
    weak: bool = False,
) -> tuple[Verdict, float | None]:
    """A geometric verdict confirmed, raised or refuted by pixel agreement, and the share that decided.

    Unchanged (share None) when there are no source pixels or too few cells with
    structure to judge. ``picture`` is the claim's picture box from the derivation.
    ``weak``: the transform has too few inliers for a verdict of its own
    (:func:`weak_geometry`); only a strong agreement makes it a match.
    """
    if agreement is None:
        return geometric, None
    judged, _ = agreement.counts()
    if weak:
        if judged >= WEAK_MIN_CELLS and agreement.share() >= WEAK_CONFIRMS:
            return Verdict.MATCH, agreement.share()
        return Verdict.NONE, None
    if geometric is Verdict.NONE:
        return geometric, None
    if judged < AGREEMENT_MIN_CELLS:
        return geometric, None
    share = agreement.share()
    inset_judged, inset_agreeing = agreement.counts(picture)
    if inset_judged >= INSET_MIN_CELLS and inset_agreeing >= INSET_CONFIRMS * inset_judged:
        return Verdict.MATCH, max(share, inset_agreeing / inset_judged)
    if share >= AGREEMENT_CONFIRMS:
        return Verdict.MATCH, share
    if share < AGREEMENT_REFUTES:
        return Verdict.NONE, share
    return Verdict.POSSIBLE, share


@dataclass(frozen=True)
class _HashStage:
    evidence: NDArray[np.float64]
    variant_of: NDArray[np.int64]
    per_variant: list[tuple[NDArray[np.int32], NDArray[np.int32], bool]]
    variants: list[_Variant]


@dataclass(frozen=True)
class _Verified:
    row: int
    mirrored: bool
    verification: Verification


@dataclass(frozen=True)
class _FeatureStage:
    verified: dict[int, _Verified]
    claims: dict[bool, LocalFeatures]
    votes: dict[bool, NDArray[np.float64]]
    attempted: set[int]


class MatchEngine:
    """Holds an index's hashes and local features in memory and matches claims against them."""

    def __init__(self, store: IndexStore, refine: bool = True) -> None:
        self._store = store
        self._refine = refine
        self._tables: dict[str, HashTable] = {hasher.name: store.hash_table(hasher.name) for hasher in HASHERS}
        self._sources = {record.id: record for record in store.list_sources()}
        table = self._tables["pdq"]
        self._row_of_frame = {int(frame_id): row for row, frame_id in enumerate(table.frame_ids)}
        self._features: dict[int, LocalFeatures] = {}
        descriptors, owners = [], []
        for stored in store.feature_table():
            row = self._row_of_frame.get(stored.frame_id)
            if row is None:
                continue
            usable = stored.features.subset(~stored.static)
            self._features[row] = usable
            descriptors.append(usable.descriptors)
            owners.append(np.full(len(usable), row, dtype=np.int64))
        self._descriptors = DescriptorIndex(
            np.concatenate(descriptors) if descriptors else np.zeros((0, 128), np.uint8),
            np.concatenate(owners) if owners else np.zeros(0, np.int64),
            self.frame_count,
        )

    @property
    def frame_count(self) -> int:
        return int(self._tables["pdq"].frame_ids.shape[0])

    @property
    def frames_without_features(self) -> int:
        return self.frame_count - len(self._features)

    def match(self, claim: Frame, top: int = 5) -> list[Match]:
        """Find the sources a claimed photo was likely derived from.

        Args:
            claim: the claimed photo.
            top: at most this many sources are returned.

        Returns:
            Matches with verdict ``match`` or ``possible``: confirmed matches first,
            oldest publication first, then possible ones by confidence.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}.")
        if self.frame_count == 0:
            return []
        hashes = self._hash_stage(claim.pixels)
        features = self._feature_stage(claim.pixels, hashes)
        matches = [m for m in (self._source_match(source_id, hashes, features, claim.pixels)
                               for source_id in self._candidate_sources(hashes, features.verified)) if m is not None]
        return _order(matches)[:top]

    def frame_evidence(self, pixels: RGBArray) -> NDArray[np.float64]:
        """Hash evidence of every indexed frame (row order of the hash table), best over claim variants."""
        return self._hash_stage(pixels).evidence

    # -- stage 1 -----------------------------------------------------------------------

    def _hash_stage(self, pixels: RGBArray) -> _HashStage:
        pdq_table, phash_table = self._tables["pdq"], self._tables["phash"]
        hashers = {hasher.name: hasher for hasher in HASHERS}
        best: NDArray[np.float64] | None = None
        variant_of = np.zeros(self.frame_count, dtype=np.int64)
        per_variant: list[tuple[NDArray[np.int32], NDArray[np.int32], bool]] = []
        variants = claim_variants(pixels)
        for number, variant in enumerate(variants):
            pdq_value = hashers["pdq"].compute(variant.pixels)
            phash_value = hashers["phash"].compute(variant.pixels)
            trusted = (pdq_value.quality or 0) >= PDQ_MIN_QUALITY
            pdq_bits = hamming_distances(pdq_value.packed, pdq_table.hashes)
            phash_bits = hamming_distances(phash_value.packed, phash_table.hashes)
            per_variant.append((pdq_bits, phash_bits, trusted))
            evidence = _evidence(pdq_bits, phash_bits, trusted)
            if best is None:
                best = evidence
            else:
                better = evidence > best
                best = np.where(better, evidence, best)
                variant_of = np.where(better, number, variant_of)
        if best is None:  # pragma: no cover - claim_variants always returns variants
            raise RuntimeError("no claim variant")
        return _HashStage(best, variant_of, per_variant, variants)

    def _shortlist(self, votes: NDArray[np.float64], hashes: _HashStage) -> list[int]:
        """Frame rows to verify: the most-voted (a few per source) and the best by hash."""
        table = self._tables["pdq"]
        chosen: list[int] = []
        per_source: dict[int, int] = {}
        for row in np.argsort(-votes, kind="stable"):
            if votes[row] <= 0 or len(chosen) >= SHORTLIST_FRAMES:
                break
            source = int(table.source_ids[row])
            if per_source.get(source, 0) >= SHORTLIST_PER_SOURCE:
                continue
            per_source[source] = per_source.get(source, 0) + 1
            chosen.append(int(row))
        for row in np.argsort(-hashes.evidence, kind="stable")[:SHORTLIST_BY_HASH]:
            if int(row) not in chosen:
                chosen.append(int(row))
        return [row for row in chosen if row in self._features]

    # -- stage 2 -----------------------------------------------------------------------

    def _feature_stage(self, pixels: RGBArray, hashes: _HashStage) -> _FeatureStage:
        """Best verification per frame row over the claim and its mirror, with the claim's features and votes."""
        found: dict[int, _Verified] = {}
        claims: dict[bool, LocalFeatures] = {}
        all_votes: dict[bool, NDArray[np.float64]] = {}
        attempted: set[int] = set()
        if not self._features:
            return _FeatureStage(found, claims, all_votes, set())
        for mirrored in (False, True):
            view = np.ascontiguousarray(pixels[:, ::-1]) if mirrored else pixels
            claim = extract(view, max_side=QUERY_MAX_SIDE, wanted=QUERY_KEYPOINTS, min_side=QUERY_MIN_SIDE)
            claims[mirrored] = claim
            if len(claim) < 4:
                continue
            votes = self._descriptors.votes(claim.descriptors)
            all_votes[mirrored] = votes
            for row in self._shortlist(votes, hashes):
                attempted.add(row)
                verification = verify(claim, self._features[row])
                if verification is None:
                    continue
                current = found.get(row)
                if current is None or verification.inliers > current.verification.inliers:
                    found[row] = _Verified(row, mirrored, verification)
        return _FeatureStage(found, claims, all_votes, attempted)

    def _candidate_sources(self, hashes: _HashStage, verified: dict[int, _Verified]) -> list[int]:
        table = self._tables["pdq"]
        sources = {int(table.source_ids[row]) for row in verified}
        order = np.lexsort((table.frame_ids, -hashes.evidence, table.source_ids))
        _, first = np.unique(table.source_ids[order], return_index=True)
        for row in order[first]:
            pdq_bits, phash_bits, trusted = hashes.per_variant[int(hashes.variant_of[row])]
            if _hash_verdict(int(pdq_bits[row]), int(phash_bits[row]), trusted) is not Verdict.NONE:
                sources.add(int(table.source_ids[row]))
        return sorted(sources)

    def _source_match(
        self,
        source_id: int,
        hashes: _HashStage,
        features: _FeatureStage,
        pixels: RGBArray,
    ) -> Match | None:
        """The best evidence for one source, as a Match (or None when it is not enough)."""
        table = self._tables["pdq"]
        source = self._sources[source_id]
        in_source = np.flatnonzero(table.source_ids == source_id)
        hash_row = int(in_source[np.lexsort((table.frame_ids[in_source], -hashes.evidence[in_source]))[0]])
        pdq_bits, phash_bits, trusted = hashes.per_variant[int(hashes.variant_of[hash_row])]
        hash_verdict = _hash_verdict(int(pdq_bits[hash_row]), int(phash_bits[hash_row]), trusted)
        hash_conf = _hash_confidence(float(hashes.evidence[hash_row]))
        candidates = [v for row, v in features.verified.items() if int(table.source_ids[row]) == source_id]
        best_verified = max(candidates, key=lambda v: (v.verification.inliers, -v.row), default=None)
        geometric = feature_verdict(best_verified.verification if best_verified else None)
        weak = geometric is Verdict.NONE and weak_geometry(best_verified.verification if best_verified else None)
        if hash_verdict is Verdict.MATCH and geometric is Verdict.NONE and self._geometry_refutes(hash_row, features):
            hash_verdict = Verdict.POSSIBLE
        if geometric is Verdict.NONE and hash_verdict is Verdict.NONE and not weak:
            return None
        if best_verified is not None and (geometric.rank >= hash_verdict.rank or weak):
            found = self._feature_match(source, best_verified, geometric, hash_conf, hashes, pixels, features, weak)
            if found is not None or hash_verdict is Verdict.NONE:
                return found
        variant = hashes.variants[int(hashes.variant_of[hash_row])]
        return Match(
            source=source,
            verdict=hash_verdict,
            confidence=round(hash_conf, 4),
            timestamp_s=self._time(hash_row),
            frame=int(table.frame_numbers[hash_row]) if source.kind == "video" else None,
            window_s=self._hash_window(hashes.evidence, source_id, float(hashes.evidence[hash_row]))
            if source.kind == "video" else None,
            distance={"pdq": int(pdq_bits[hash_row]), "phash": int(phash_bits[hash_row])},
            derivation=Derivation(mirrored=variant.mirrored, trimmed=variant.trim.labels, method="hash"),
            evidence=Evidence(hash_evidence=round(float(hashes.evidence[hash_row]), 3)),
        )

    def _feature_match(
        self,
        source: SourceRecord,
        found: _Verified,
        verdict: Verdict,
        hash_conf: float,
        hashes: _HashStage,
        pixels: RGBArray,
        features: _FeatureStage,
        weak: bool = False,
    ) -> Match | None:
        """The match a verified frame makes, or None when the source's pixels refute it (or do not confirm a weak one)."""
        table = self._tables["pdq"]
        view = np.ascontiguousarray(pixels[:, ::-1]) if found.mirrored else pixels
        trim = find_trim(view)
        claim_size = (view.shape[1], view.shape[0])
        frame_size = (self._features[found.row].width, self._features[found.row].height)
        geometry = derive.geometry(found.verification, trim, claim_size, frame_size)
        nearby: dict[int, Verification] = {}
        if source.kind == "video" and self._refine:
            claim_features = features.claims[found.mirrored]
            holds = _coverage(found.verification.transform, geometry.picture_px, frame_size) >= FULL_COVERAGE
            # the whole video is searched for a better frame only when the best one does not hold the claim
            nearby = self._verify_source(source.id, found, claim_features, features.votes[found.mirrored],
                                         radius_s=ANCHOR_RADIUS_S if holds else None)
            if not holds:
                found = _most_covering(found, nearby, geometry.picture_px, frame_size, verdict)
                geometry = derive.geometry(found.verification, trim, claim_size, frame_size)
        row = found.row
        verification = found.verification
        timestamp = self._time(row)
        frame_number: int | None = int(table.frame_numbers[row]) if source.kind == "video" else None
        window: tuple[float, float] | None = (timestamp, timestamp) if timestamp is not None else None
        source_pixels: RGBArray | None = None
        pixels_transform = verification.transform  # claim to source_pixels
        if source.kind == "video" and self._refine and timestamp is not None and Path(source.path).exists():
            anchors = self._anchors(found, nearby)
            refined = refine_time(Path(source.path), view, _box(geometry.picture_px), anchors, timestamp)
            if refined is not None:
                # A band the trimmer missed (a caption over fog) agrees with no frame and
                # blurs every comparison alike: seen against the refined frame's pixels,
                # it is left out and the time refined again.
                checked = derive.geometry(replace(verification, transform=refined.transform), trim, claim_size,
                                          frame_size, view, refined.pixels)
                picture = checked.picture_px
                if (any(band.kind != "padding" for band in checked.added)
                        and picture.w * picture.h < REFINE_AGAIN_PICTURE_SHARE * geometry.picture_px.w
                        * geometry.picture_px.h):
                    refined = refine_time(Path(source.path), view, _box(picture), anchors, timestamp) or refined
            if refined is not None:
                timestamp, frame_number, window = refined.time_s, refined.frame_number, refined.window_s
                source_pixels, pixels_transform = refined.pixels, refined.transform
                exact = verify(claim_features, extract(refined.pixels))
                if exact is not None and exact.inliers >= verification.inliers * ANCHOR_INLIER_SHARE:
                    verification, pixels_transform = exact, exact.transform
                    geometry = derive.geometry(verification, trim, claim_size, frame_size)
        elif source.kind == "image":
            source_pixels = _load_source_pixels(source)
        if source_pixels is None and source.kind == "video" and timestamp is not None and Path(source.path).exists():
            source_pixels = decode_frame(Path(source.path), timestamp)  # not refined: the sampled frame itself
        if source_pixels is not None:
            geometry = derive.geometry(verification, trim, claim_size, frame_size, view,
                                       source_pixels)
        tone = None
        if source_pixels is not None:
            measured = derive.tone(view, source_pixels, verification, geometry.picture_px)
            if measured is not None:
                tone = ToneChange(measured.grayscale, round(measured.contrast, 3), round(measured.brightness, 1),
                                  measured.changed)
        agreement = None
        if source_pixels is not None:
            agreement = pixel_agreement(view, source_pixels, pixels_transform, _trimmed_box(trim, view.shape))
        geometric = verdict
        verdict, agreement_share = agreed_verdict(geometric, agreement, _box(geometry.picture_px), weak)
        if verdict is Verdict.NONE:
            return None
        pdq_bits, phash_bits, _ = hashes.per_variant[int(hashes.variant_of[row])]
        confidence = max(feature_confidence(verification), hash_conf)
        if verdict is not geometric:  # pixel agreement decided: keep confidence on its verdict's side of 0.5
            confidence = max(confidence, 0.5) if verdict is Verdict.MATCH else min(confidence, 0.49)
        return Match(
            source=source,
            verdict=verdict,
            confidence=round(confidence, 4),
            timestamp_s=timestamp,
            frame=frame_number,
            window_s=window if source.kind == "video" else None,
            distance={"pdq": int(pdq_bits[row]), "phash": int(phash_bits[row])},
            derivation=_derivation(found.mirrored, verification, geometry, frame_size, view.shape, tone),
            evidence=Evidence(
                inliers=verification.inliers,
                putative=verification.putative,
                hull_share=round(verification.hull_share, 4),
                residual_px=round(verification.residual_px, 2),
                hash_evidence=round(float(hashes.evidence[row]), 3),
                pixel_agreement=None if agreement_share is None else round(agreement_share, 3),
                agreement_cells=agreement.counts()[0] if agreement is not None else 0,
            ),
        )

    def _geometry_refutes(self, row: int, features: _FeatureStage) -> bool:
        """True when a frame and the claim are both well textured yet did not verify.

        A whole-frame copy of a textured frame always verifies geometrically; when it
        does not, hash agreement alone (similar layouts: sky over sea, two night shots)
        is not enough for a match.
        """
        if row not in features.attempted or row not in self._features:
            return False
        claim_keypoints = min((len(claim) for claim in features.claims.values()), default=0)
        return claim_keypoints >= TEXTURED_KEYPOINTS and len(self._features[row]) >= TEXTURED_KEYPOINTS

    def _verify_source(
        self, source_id: int, found: _Verified, claim: LocalFeatures, votes: NDArray[np.float64],
        radius_s: float | None,
    ) -> dict[int, Verification]:
        """Verifications of the claim against the source's sampled frames that drew enough votes.

        Within ``radius_s`` of the best frame (None: anywhere in the video). The shortlist
        verifies at most a few frames per source; the frame with the most inliers is not
        always the one the claim was cut from (on a pan, an earlier frame can show a
        well-textured part of the crop while the rest lies outside it).
        """
        table = self._tables["pdq"]
        rows = np.flatnonzero(table.source_ids == source_id)
        strongest = float(votes[rows].max()) if rows.size else 0.0
        best_time = float(table.times_s[found.row])
        voted = [int(row) for row in rows[np.argsort(-votes[rows], kind="stable")]
                 if votes[row] >= ANCHOR_VOTE_SHARE * strongest and int(row) in self._features
                 and (radius_s is None or abs(float(table.times_s[row]) - best_time) <= radius_s)]
        checked = {found.row: found.verification}
        for row in voted[:SOURCE_VERIFY_FRAMES]:
            if row not in checked:
                verification = verify(claim, self._features[row])
                if verification is not None:
                    checked[row] = verification
        return checked

    def _anchors(self, found: _Verified, nearby: dict[int, Verification]) -> list[Anchor]:
        """Verified sampled frames around the best one, with their transforms (for refinement)."""
        table = self._tables["pdq"]
        best_time = float(table.times_s[found.row])
        anchors = [Anchor(best_time, found.verification.transform)]
        for row, checked in nearby.items():
            if row == found.row or abs(float(table.times_s[row]) - best_time) > ANCHOR_RADIUS_S:
                continue
            if checked.inliers >= ANCHOR_INLIER_SHARE * found.verification.inliers:
                anchors.append(Anchor(float(table.times_s[row]), checked.transform))
        return anchors

    def _time(self, row: int) -> float | None:
        value = float(self._tables["pdq"].times_s[row])
        return None if np.isnan(value) else value

    def _hash_window(self, evidence: NDArray[np.float64], source_id: int, best: float) -> tuple[float, float] | None:
        table = self._tables["pdq"]
        close = (table.source_ids == source_id) & (evidence >= best - WINDOW_EVIDENCE_SLACK)
        times = table.times_s[close]
        times = times[~np.isnan(times)]
        if times.size == 0:
            return None
        return float(times.min()), float(times.max())


def _coverage(transform: NDArray[np.float64], picture: derive.Box, frame_size: tuple[int, int]) -> float:
    """Share of the claim's picture that falls inside the frame under ``transform``."""
    xs = picture.x + (np.arange(COVERAGE_GRID) + 0.5) * picture.w / COVERAGE_GRID
    ys = picture.y + (np.arange(COVERAGE_GRID) + 0.5) * picture.h / COVERAGE_GRID
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    mapped = map_points(transform, grid)
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] <= frame_size[0]) & (mapped[:, 1] >= 0) & (mapped[:, 1] <= frame_size[1])
    return float(inside.mean())


def _most_covering(
    found: _Verified, nearby: dict[int, Verification], picture: derive.Box, frame_size: tuple[int, int], verdict: Verdict
) -> _Verified:
    """The verified frame to report: the one with most inliers among those that hold the whole claim.

    A claim cut from a frame lies inside it. When the frame with most inliers leaves
    part of the claim's picture outside, a frame of the same source that verifies as
    strongly and holds all of it is the better answer (and refinement searches around it).
    """
    if _coverage(found.verification.transform, picture, frame_size) >= FULL_COVERAGE:
        return found
    holding = [(verification.inliers, -row, row) for row, verification in nearby.items()
               if feature_verdict(verification).rank >= verdict.rank
               and _coverage(verification.transform, picture, frame_size) >= FULL_COVERAGE]
    if not holding:
        return found
    _, _, row = max(holding)
    return _Verified(row, found.mirrored, nearby[row])


def _box(box: derive.Box) -> tuple[float, float, float, float]:
    return box.x, box.y, box.w, box.h


def _trimmed_box(trim: Trim, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """The claim without the bands the trimmer found, as (x, y, w, h)."""
    height, width = shape[:2]
    return trim.left, trim.top, width - trim.left - trim.right, height - trim.top - trim.bottom


def _load_source_pixels(source: SourceRecord) -> RGBArray | None:
    try:
        return np.asarray(load_image(Path(source.path)), dtype=np.uint8)
    except MediaError:
        return None


def _derivation(
    mirrored: bool,
    verification: Verification,
    geometry: derive.Geometry,
    frame_size: tuple[int, int],
    claim_shape: tuple[int, ...],
    tone: ToneChange | None,
) -> Derivation:
    frame_w, frame_h = frame_size
    claim_h, claim_w = claim_shape[0], claim_shape[1]
    crop = crop_px = None
    if geometry.crop_px is not None:
        box = geometry.crop_px
        crop = CropBox(round(box.x / frame_w, 4), round(box.y / frame_h, 4), round(box.w / frame_w, 4),
                       round(box.h / frame_h, 4))
        crop_px = PixelBox(round(box.x), round(box.y), round(box.w), round(box.h))
    added = []
    for region in geometry.added:
        x = claim_w - region.box.x - region.box.w if mirrored else region.box.x
        side = {"left": "right", "right": "left"}.get(region.side, region.side) if mirrored else region.side
        added.append(AddedBand(region.kind, side, CropBox(
            round(x / claim_w, 4), round(region.box.y / claim_h, 4),
            round(region.box.w / claim_w, 4), round(region.box.h / claim_h, 4))))
    trimmed = tuple(f"caption_{band.side}" if band.kind == "caption_bar" else band.kind
                    for band in added if band.kind != "padding")
    rotation = verification.rotation_deg
    return Derivation(
        mirrored=mirrored,
        crop=crop,
        rotation_deg=round(-rotation if mirrored else rotation, 2),
        trimmed=tuple(dict.fromkeys(trimmed)),
        method="features",
        crop_px=crop_px,
        frame_share=round(geometry.frame_share, 4),
        scale=round(1.0 / verification.scale, 4),
        added=tuple(added),
        tone=tone,
    )


def _order(matches: list[Match]) -> list[Match]:
    """Confirmed matches oldest publication first (the earliest known source leads), then the rest."""
    confirmed = sorted(
        (m for m in matches if m.verdict is Verdict.MATCH),
        key=lambda m: (m.source.published is None, m.source.published or "", -m.confidence, m.source.id),
    )
    others = sorted((m for m in matches if m.verdict is not Verdict.MATCH), key=lambda m: (-m.confidence, m.source.id))
    if confirmed:
        confirmed[0] = replace(confirmed[0], earliest=True)
    return confirmed + others

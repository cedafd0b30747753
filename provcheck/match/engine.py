"""The matching pipeline, top to bottom: hashes, shortlist, verify, locate, measure, decide.

1. **Hashes** (:mod:`.hashes`): every variant of the claim (as given, trimmed, mirrored)
   against every indexed frame's perceptual hashes, in one vectorised pass.
2. **Shortlist and verify**: the claim's SIFT descriptors (and its mirror's) vote for
   the frames whose stored descriptors are nearest (:mod:`provcheck.search`); the best
   frames by votes or by hashes are verified geometrically (:mod:`provcheck.verify`).
3. **Locate** (:mod:`.locate`): a verified source's frame, time and pixels, with the
   transform that maps the claim onto those pixels (the exact frame for a video).
4. **Measure** (:mod:`.findings`): crop box, added bands, tone and pixel agreement,
   once, from the located frame.
5. **Decide** (:mod:`.policy`): evidence in, verdict and confidence out.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from itertools import islice

import numpy as np
from numpy.typing import NDArray

from ..agreement import PixelAgreement
from ..dates import earliest_first
from ..features import QUERY_KEYPOINTS, QUERY_MAX_SIDE, QUERY_MIN_SIDE, LocalFeatures, extract
from ..hashing import HASHERS
from ..media import Frame, RGBArray
from ..normalize import find_trim
from ..results import Derivation, Evidence, Match, Verdict
from ..search import DescriptorIndex
from ..shortlist.inverted import InvertedFile
from ..store import FeatureCoverage, FrameTable, IndexStore, SourceRecord
from ..verify import Verification, verify
from . import policy
from .findings import feature_derivation, measure, placement
from .hashes import HashStage, hash_stage
from .locate import ClaimView, Locator, Verified, box_tuple
from .ranking import Groups, descending
from .settings import DEFAULT_SETTINGS, MatchSettings
from .stored import FeatureRows

#: A claim view with fewer keypoints than this neither votes nor verifies (a similarity
#: needs two point pairs and RANSAC a few more to tell a fit from chance).
MIN_CLAIM_KEYPOINTS = 4


@dataclass(frozen=True)
class FeatureStage:
    """Best verification per frame row over the claim and its mirror, with the claim's features and votes."""

    verified: dict[int, Verified]
    claims: dict[bool, LocalFeatures]
    votes: dict[bool, NDArray[np.float64]]
    attempted: frozenset[int]


@dataclass(frozen=True)
class Assessment:
    """Everything one claim was matched on: the matches and the evidence behind every source looked at.

    ``hash_evidence`` and ``verified`` are per frame row (the order of :attr:`MatchEngine.frames`);
    ``agreements`` holds the pixel agreement measured for each source judged on its pixels.
    """

    matches: tuple[Match, ...]
    hash_evidence: NDArray[np.float64]
    verified: dict[int, Verification]
    agreements: dict[int, PixelAgreement]


class MatchEngine:
    """Holds an index's hashes and local features in memory and matches claims against them."""

    def __init__(self, store: IndexStore, settings: MatchSettings = DEFAULT_SETTINGS) -> None:
        self._settings = settings
        self._hashers = HASHERS
        loaded = store.frame_hashes()  # one pass over the frames for the table and every hasher's hashes
        self.frames: FrameTable = loaded.frames
        self._hashes = {hasher.name: loaded.hashes[hasher.name] for hasher in self._hashers}
        self._sources_of_rows = Groups(self.frames.source_ids)
        self._sources = {record.id: record for record in store.list_sources()}
        self._source_of_sha256 = {record.sha256: record.id for record in self._sources.values()}
        # the word file beside the index holds most postings; only newer ones are read into memory
        vocabulary, word_file, newer = store.shortlist_postings() if settings.shortlist_search == "auto" else (
            None, None, [])
        self._features = FeatureRows(store, self.frames, load_all=vocabulary is None)
        self._descriptors: DescriptorIndex | InvertedFile
        if vocabulary is not None:
            self._descriptors = InvertedFile(vocabulary, newer, self.frames.frame_ids, word_file)
        else:
            self._descriptors = DescriptorIndex(*self._features.descriptors(), self.frame_count)
        self._locator = Locator(self.frames, self._features, settings)

    @property
    def settings(self) -> MatchSettings:
        return self._settings

    @property
    def frame_count(self) -> int:
        return len(self.frames)

    @property
    def frames_without_features(self) -> int:
        return self.feature_coverage.frames_without_features

    @property
    def feature_coverage(self) -> FeatureCoverage:
        """Frames loaded, and those with local features (as the store's :meth:`feature_coverage` counts them)."""
        return FeatureCoverage(frames=self.frame_count, frames_with_features=len(self._features))

    def match(self, claim: Frame, top: int = 5, claim_sha256: str | None = None) -> list[Match]:
        """Find the sources a claimed photo was likely derived from.

        Args:
            claim: the claimed photo.
            top: at most this many sources are returned.
            claim_sha256: the claim file's SHA-256, when it is a file: a byte-identical
                indexed source is a match whatever else is measured.

        Returns:
            Matches with verdict ``match`` or ``possible``: confirmed matches first,
            oldest publication first, then possible ones by confidence.
        """
        if top < 1:
            raise ValueError(f"top must be at least 1, not {top}.")
        return list(self.assess(claim, claim_sha256).matches[:top])

    def assess(self, claim: Frame, claim_sha256: str | None = None) -> Assessment:
        """Match a claim and keep the evidence of every source looked at (for calibration and benches)."""
        empty: NDArray[np.float64] = np.zeros(0, np.float64)
        if self.frame_count == 0:
            return Assessment((), empty, {}, {})
        hashes = hash_stage(claim.pixels, self._hashers, self._hashes)
        features = self._feature_stage(claim.pixels, hashes)
        same_file = self._source_of_sha256.get(claim_sha256) if claim_sha256 is not None else None
        identical = set() if same_file is None else {same_file}
        agreements: dict[int, PixelAgreement] = {}
        matches = []
        for source_id in sorted(set(self._candidate_sources(hashes, features.verified)) | identical):
            found = self._source_match(self._sources[source_id], hashes, features, claim.pixels, agreements)
            if source_id in identical:
                found = _identical(found, self._sources[source_id])
            if found is not None:
                matches.append(found)
        verified = {row: v.verification for row, v in features.verified.items()}
        return Assessment(tuple(_order(matches)), hashes.evidence, verified, agreements)

    def frame_evidence(self, pixels: RGBArray) -> NDArray[np.float64]:
        """Hash evidence of every indexed frame (row order of :attr:`frames`), best over claim variants."""
        return hash_stage(pixels, self._hashers, self._hashes).evidence

    # -- shortlist and verification --------------------------------------------------------

    def _shortlist(self, votes: NDArray[np.float64], hashes: HashStage) -> list[int]:
        """Frame rows to verify: the most-voted (a few per source) and the best by hash."""
        settings = self._settings
        chosen: list[int] = []
        per_source: dict[int, int] = {}
        for row in descending(votes):
            if votes[row] <= 0 or len(chosen) >= settings.shortlist_frames:
                break
            source = int(self.frames.source_ids[row])
            if per_source.get(source, 0) >= settings.shortlist_per_source:
                continue
            per_source[source] = per_source.get(source, 0) + 1
            chosen.append(int(row))
        for row in islice(descending(hashes.evidence), settings.shortlist_by_hash):
            if row not in chosen:
                chosen.append(row)
        return [row for row in chosen if row in self._features]

    def _feature_stage(self, pixels: RGBArray, hashes: HashStage) -> FeatureStage:
        """Best verification per frame row over the claim and its mirror."""
        found: dict[int, Verified] = {}
        claims: dict[bool, LocalFeatures] = {}
        all_votes: dict[bool, NDArray[np.float64]] = {}
        attempted: set[int] = set()
        if not self._features:
            return FeatureStage(found, claims, all_votes, frozenset())
        with ThreadPoolExecutor(max_workers=1) as helper:
            # the mirror's SIFT runs beside the claim's own search (OpenCV releases the GIL): -0.07 s a claim
            mirror = helper.submit(_claim_features, np.ascontiguousarray(pixels[:, ::-1]))
            claims[False] = _claim_features(pixels)
            self._verify_view(False, claims[False], hashes, found, all_votes, attempted)
            claims[True] = mirror.result()
            self._verify_view(True, claims[True], hashes, found, all_votes, attempted)
        return FeatureStage(found, claims, all_votes, frozenset(attempted))

    def _verify_view(self, mirrored: bool, claim: LocalFeatures, hashes: HashStage, found: dict[int, Verified],
                     all_votes: dict[bool, NDArray[np.float64]], attempted: set[int]) -> None:
        """Shortlist and verify the frames for one view of the claim (as given, or mirrored)."""
        if len(claim) < MIN_CLAIM_KEYPOINTS:
            return
        votes = self._descriptors.votes(claim.descriptors)
        all_votes[mirrored] = votes
        shortlist = self._shortlist(votes, hashes)
        self._features.prefetch(shortlist)
        for row in shortlist:
            attempted.add(row)
            verification = verify(claim, self._features[row])
            if verification is None:
                continue
            current = found.get(row)
            if current is None or verification.inliers > current.verification.inliers:
                found[row] = Verified(row, mirrored, verification)

    def _candidate_sources(self, hashes: HashStage, verified: dict[int, Verified]) -> list[int]:
        """Sources with a verified frame, or whose best frame by hashes is at least possible."""
        frames = self.frames
        sources = {int(frames.source_ids[row]) for row in verified}
        for row in self._sources_of_rows.best_rows(hashes.evidence):  # rows are in frame id order
            if policy.hash_verdict(hashes.readings(int(row)), self._settings) is not Verdict.NONE:
                sources.add(int(frames.source_ids[row]))
        return sorted(sources)

    # -- one source -------------------------------------------------------------------------

    def _source_match(self, source: SourceRecord, hashes: HashStage, features: FeatureStage, pixels: RGBArray,
                      agreements: dict[int, PixelAgreement]) -> Match | None:
        """The best evidence for one source, as a Match (or None when it is not enough)."""
        settings, frames = self._settings, self.frames
        in_source = np.flatnonzero(frames.source_ids == source.id)
        hash_row = int(in_source[np.lexsort((frames.frame_ids[in_source], -hashes.evidence[in_source]))[0]])
        readings = hashes.readings(hash_row)
        candidates = [v for row, v in features.verified.items() if int(frames.source_ids[row]) == source.id]
        best = max(candidates, key=lambda v: (v.verification.inliers, -v.row), default=None)
        inliers, hull = (best.verification.inliers, best.verification.hull_share) if best else (0, 0.0)
        geometric = policy.feature_verdict(inliers, hull, settings) if best else Verdict.NONE
        weak = geometric is Verdict.NONE and best is not None and policy.weak_geometry(inliers, hull, settings)
        refuted = geometric is Verdict.NONE and policy.geometry_refutes(
            min((len(claim) for claim in features.claims.values()), default=0),
            len(self._features[hash_row]) if hash_row in self._features else 0,
            hash_row in features.attempted and hash_row in self._features,
            policy.exact_hash_copy(readings, settings), settings)
        by_hashes = policy.decide_by_hashes(readings, refuted, settings)
        if geometric is Verdict.NONE and by_hashes.verdict is Verdict.NONE and not weak:
            return None
        if best is not None and policy.feature_path_first(by_hashes.verdict, geometric, weak):
            hash_conf = policy.hash_confidence(float(hashes.evidence[hash_row]), settings)
            found = self._feature_match(source, best, geometric, weak, hash_conf, hashes, features, pixels, agreements)
            if found is not None or by_hashes.verdict is Verdict.NONE:
                return found
        return self._hash_match(source, hash_row, hashes, by_hashes)

    def _hash_match(self, source: SourceRecord, row: int, hashes: HashStage, decision: policy.HashDecision) -> Match:
        """A match resting on hash evidence alone (whole frame: only mirroring and trimmed bands are known)."""
        variant = hashes.variant(row)
        video = source.kind == "video"
        return Match(
            source=source,
            verdict=decision.verdict,
            confidence=round(decision.confidence, 4),
            timestamp_s=self._locator.time(row),
            frame=int(self.frames.frame_numbers[row]) if video else None,
            window_s=self._hash_window(hashes.evidence, source.id, float(hashes.evidence[row])) if video else None,
            distance=hashes.distances(row),
            derivation=Derivation(mirrored=variant.mirrored, trimmed=variant.trim.labels, method="hash"),
            evidence=Evidence(hash_evidence=round(float(hashes.evidence[row]), 3)),
        )

    def _feature_match(
        self, source: SourceRecord, best: Verified, geometric: Verdict, weak: bool, hash_conf: float,
        hashes: HashStage, features: FeatureStage, pixels: RGBArray, agreements: dict[int, PixelAgreement],
    ) -> Match | None:
        """The match a verified frame makes, or None when the source's pixels refute it (or do not confirm a weak one)."""
        view = np.ascontiguousarray(pixels[:, ::-1]) if best.mirrored else pixels
        claim = ClaimView(view, find_trim(view), features.claims.get(best.mirrored), features.votes.get(best.mirrored))
        located = self._locator.locate(source, best, geometric, claim)
        findings = measure(located, claim)
        if findings.agreement is not None:
            agreements[source.id] = findings.agreement
        verdict, share = policy.agreed_verdict(geometric, findings.agreement, box_tuple(findings.geometry.picture_px),
                                               weak, self._settings)
        if verdict is Verdict.NONE:
            return None
        verification = located.verification
        confidence = policy.feature_match_confidence(verdict, verification.inliers, hash_conf, self._settings)
        return Match(
            source=source,
            verdict=verdict,
            confidence=round(confidence, 4),
            timestamp_s=located.time_s,
            frame=located.frame_number if source.kind == "video" else None,
            window_s=located.window_s if source.kind == "video" else None,
            distance=hashes.distances(located.row),
            derivation=feature_derivation(best.mirrored, located, findings, view.shape),
            evidence=Evidence(
                inliers=verification.inliers,
                putative=verification.putative,
                hull_share=round(verification.hull_share, 4),
                residual_px=round(verification.residual_px, 2),
                hash_evidence=round(float(hashes.evidence[located.row]), 3),
                pixel_agreement=None if share is None else round(share, 3),
                agreement_cells=findings.agreement.counts()[0] if findings.agreement is not None else 0,
            ),
            placement=placement(best.mirrored, verification, findings.geometry.picture_px, view.shape,
                                located.frame_size),
        )

    def _hash_window(self, evidence: NDArray[np.float64], source_id: int, best: float) -> tuple[float, float] | None:
        """Times of the source's frames whose hash evidence is as good as its best frame's (within the slack)."""
        close = (self.frames.source_ids == source_id) & (evidence >= best - self._settings.window_evidence_slack)
        times = self.frames.times_s[close]
        times = times[~np.isnan(times)]
        if times.size == 0:
            return None
        return float(times.min()), float(times.max())


def _identical(found: Match | None, source: SourceRecord) -> Match:
    """A byte-identical file: a match with full confidence, said so in the derivation."""
    if found is None:
        found = Match(source=source, verdict=Verdict.MATCH, confidence=1.0, timestamp_s=None, frame=None,
                      window_s=None, derivation=Derivation(method="identical"))
    return replace(found, verdict=Verdict.MATCH, confidence=1.0, derivation=replace(found.derivation, identical=True))


def _order(matches: list[Match]) -> list[Match]:
    """Confirmed matches oldest publication first (the earliest known source leads), then the rest.

    Undated sources follow the dated ones; only a dated source is marked earliest (an
    undated copy may be older or newer: the report says it cannot be placed).
    """
    confirmed = sorted(
        (m for m in matches if m.verdict is Verdict.MATCH),
        key=lambda m: (*earliest_first(m.source.published), -m.confidence, m.source.id),
    )
    others = sorted((m for m in matches if m.verdict is not Verdict.MATCH), key=lambda m: (-m.confidence, m.source.id))
    if confirmed and confirmed[0].source.published is not None:
        confirmed[0] = replace(confirmed[0], earliest=True)
    return confirmed + others


def _claim_features(view: RGBArray) -> LocalFeatures:
    """The local features of one view of a claim, at the query's size and keypoint budget."""
    return extract(view, max_side=QUERY_MAX_SIDE, wanted=QUERY_KEYPOINTS, min_side=QUERY_MIN_SIDE)

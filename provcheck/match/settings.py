"""The matcher's thresholds, in one frozen record that can be passed in.

Every default is the value the engine has been measured with; the comment above each
says what it decides and the measurement behind it. A bench or a user who wants to
try another value builds ``MatchSettings(...)`` with it and passes that to the engine
(``Index(path, settings=...)``) instead of patching module globals.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal


@dataclass(frozen=True)
class MatchSettings:
    """Thresholds of the shortlist, verification, exact-frame and verdict stages."""

    # --- hash evidence -----------------------------------------------------------
    #: Evidence is counted in standard deviations of chance agreement: two unrelated
    #: n-bit hashes differ in n/2 +- sqrt(n)/2 bits, so a distance d is worth
    #: (n/2 - d) / (sqrt(n)/2), summed over the hashers. Demo corpus (seed 2017,
    #: 15 claims x 4 variants x 463 frames): unrelated claims peaked at 6.25,
    #: whole-frame derived claims (caption, logo, border, mirror, grayscale,
    #: rotation 3 deg, q40) at 11.25-23.
    match_evidence: float = 10.0
    #: A weaker but real signal, still above every unrelated pair measured.
    possible_evidence: float = 8.0
    #: For a match each hash on its own must also be this far from chance, so one hash
    #: agreeing by accident cannot carry the verdict.
    min_evidence_each: float = 2.0
    #: Hash confidence is linear in evidence: 0 at the first, 1 at the second (so a hash
    #: match starts at 0.5 and a possible at 0.25).
    zero_confidence_evidence: float = 6.0
    full_confidence_evidence: float = 18.0
    #: Frames of a source whose evidence is within this of its best frame's form the
    #: reported window of a hash-only match.
    window_evidence_slack: float = 1.0
    #: Every hasher at most this far from an indexed frame is an exact copy of it (24 sigma
    #: with pHash and PDQ): no geometric check can refute that; fine per-pixel texture can
    #: leave SIFT without a single inlier on a copy of itself.
    exact_copy_distance_bits: int = 0

    # --- shortlist -----------------------------------------------------------------
    #: Which descriptor search votes: ``"auto"`` (the index's inverted file of visual
    #: words when it has trained one, else the exact search) or ``"exact"`` (every stored
    #: descriptor in memory: the reference the inverted file is measured against).
    shortlist_search: Literal["auto", "exact"] = "auto"
    #: Frames shortlisted by descriptor votes per claim, and at most this many per source
    #: (neighbouring frames of a pan all vote; other sources must still get a look).
    shortlist_frames: int = 12
    shortlist_per_source: int = 3
    #: Frames shortlisted by hash evidence in addition.
    shortlist_by_hash: int = 3

    # --- geometric evidence -------------------------------------------------------------
    #: Demo corpus (seed 2017): true claims, crops to 15 % of the frame included,
    #: verified with 143-820 inliers; unrelated frames gave at most 8 once degenerate fits
    #: were refused, and 18 on a HUD burned into every frame before overlay keypoints were
    #: excluded. Re-measured on the accuracy bench.
    match_inliers: int = 20
    possible_inliers: int = 12
    #: Inliers must span at least this share of the claim (a logo or a HUD corner alone
    #: cannot make a match; a picture inset in a collage still can).
    min_hull_share: float = 0.03
    #: Claims and frames with at least this many keypoints are "textured": between two
    #: such, a hash match that fails geometric verification is downgraded to possible.
    textured_keypoints: int = 150
    #: Logistic slope of feature confidence in inliers: 0.5 at match_inliers, ~0.96 at +20.
    confidence_inlier_slope: float = 6.5

    # --- locating the exact frame -----------------------------------------------------------
    #: Sampled frames of the matched source verified again to anchor refinement: those
    #: with at least this share of the source's best vote count ...
    anchor_vote_share: float = 0.25
    #: ... within this many seconds of it (a static shot can verify equally well for a
    #: long time; the demo's closest call had the true frame 2.4 s from the best one) ...
    anchor_radius_s: float = 3.0
    #: ... and kept as anchors with at least this share of the best frame's inliers (also
    #: what the refined frame's own verification must reach to replace the sampled one's).
    anchor_inlier_share: float = 0.5
    #: At most this many sampled frames of the matched video are verified besides the
    #: shortlisted ones (the most voted), to choose the best frame and anchor refinement.
    source_verify_frames: int = 32
    #: A frame "holds" the claim when this share of the claim's picture falls inside it,
    #: checked on a coverage_grid x coverage_grid grid of points.
    full_coverage: float = 0.95
    coverage_grid: int = 16
    #: The time is refined again without the bands the refined frame's pixels show the
    #: trimmer missed, when they leave less than this share of its picture.
    refine_again_picture_share: float = 0.95
    #: Decode the video again around the best sampled frame to find the exact frame.
    refine: bool = True

    # --- pixel agreement ------------------------------------------------------------
    #: Share of the claim's structured cells the warped source reproduces. Measured
    #: before it was used: bench seed 2024 (sampled frames): true sources 0.78-1.0 (143
    #: claims), other sources' chance transforms 0-0.36; an agency watermark shared by
    #: unrelated claims and eight indexed stills 0-0.17 at 12-62 inliers; photos of a
    #: screen (bezel) 0.58-0.73. At or above agreement_confirms a verified transform
    #: (>= possible_inliers) is a match; under agreement_refutes it is no evidence; in
    #: between, at most possible.
    agreement_confirms: float = 0.5
    agreement_refutes: float = 0.3
    #: Fewer judged cells than this (a claim that is mostly flat sky) cannot be judged:
    #: the inliers alone decide.
    agreement_min_cells: int = 8
    #: One picture of a collage is also judged inside the picture box the derivation
    #: found: confirmed when the box holds at least inset_min_cells judged cells and
    #: inset_confirms of them agree (collage pictures: 12-30 cells, all agreeing; the
    #: box grown around a shared watermark: at most 0.54 of 12-18).
    inset_min_cells: int = 10
    inset_confirms: float = 0.8
    #: A transform with fewer inliers than possible_inliers but at least weak_inliers (a
    #: crop of soft cloud, flat shading, heavy JPEG) is a match on its pixels alone when
    #: at least weak_min_cells cells are judged and weak_confirms of them agree. Chance
    #: transforms of unrelated sources agreed on at most 0.36 of their cells (bench seed
    #: 2024, 5-11 inliers; 0.17 at 7-11), true sources on at least 0.83.
    weak_inliers: int = 8
    weak_min_cells: int = 16
    weak_confirms: float = 0.6

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
                raise ValueError(f"MatchSettings.{item.name} must not be negative, not {value}.")
        if self.shortlist_search not in ("auto", "exact"):
            raise ValueError(f"MatchSettings.shortlist_search must be 'auto' or 'exact', not {self.shortlist_search!r}.")
        if self.possible_evidence > self.match_evidence:
            raise ValueError("MatchSettings.possible_evidence must not exceed match_evidence.")
        if not self.weak_inliers <= self.possible_inliers <= self.match_inliers:
            raise ValueError("MatchSettings needs weak_inliers <= possible_inliers <= match_inliers.")
        if self.agreement_refutes > self.agreement_confirms:
            raise ValueError("MatchSettings.agreement_refutes must not exceed agreement_confirms.")
        if self.full_confidence_evidence <= self.zero_confidence_evidence:
            raise ValueError("MatchSettings.full_confidence_evidence must exceed zero_confidence_evidence.")
        if self.coverage_grid < 1 or self.shortlist_frames < 1:
            raise ValueError("MatchSettings.coverage_grid and shortlist_frames must be at least 1.")


DEFAULT_SETTINGS = MatchSettings()

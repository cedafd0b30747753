"""Stage 2b: locate the frame a verified claim was cut from, and the pixels to judge it against.

A verification says "this sampled frame, this transform". For a video that is not yet
the answer: another sampled frame may hold the whole claim where the best one holds
only part of it, and the claim's true frame usually lies between two sampled ones, so
the video is decoded again around it (:mod:`provcheck.refine`). The result is one
:class:`LocatedFrame`: the frame, its time and window, its pixels, and a verification
whose transform maps the claim onto *those* pixels. Everything downstream (crop box,
added bands, tone, pixel agreement) is measured once, from that record.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from .. import derive
from ..errors import MediaError
from ..features import LocalFeatures, extract
from ..media import RGBArray, load_image
from ..normalize import Trim
from ..refine import Anchor, decode_frame, refine_time
from ..results import Box, Verdict
from ..store import FrameTable, SourceRecord
from ..verify import Verification, verify
from ..warp import map_points
from .policy import feature_verdict
from .settings import MatchSettings


@dataclass(frozen=True)
class Verified:
    """A frame row that verified, for the claim as given or mirrored."""

    row: int
    mirrored: bool
    verification: Verification


@dataclass(frozen=True)
class ClaimView:
    """The claim as it was verified (mirrored when the copy is), with its bands and features."""

    pixels: RGBArray
    trim: Trim
    features: LocalFeatures | None
    votes: NDArray[np.float64] | None

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[0]


@dataclass(frozen=True)
class LocatedFrame:
    """The frame a claim was cut from.

    ``verification`` keeps the evidence (inliers, hull share) of the frame that verified;
    its transform maps the claim onto ``pixels`` when there are pixels (the exact frame
    after refinement, the sampled frame decoded again, or the still itself).
    """

    row: int
    verification: Verification
    time_s: float | None
    frame_number: int | None
    window_s: tuple[float, float] | None
    pixels: RGBArray | None
    frame_size: tuple[int, int]


#: A function verifying the claim against a stored frame row (None when it does not verify).
VerifyRow = Callable[[int], Verification | None]


def coverage(transform: NDArray[np.float64], picture: Box, frame_size: tuple[int, int], grid: int) -> float:
    """Share of the claim's picture that falls inside the frame under ``transform`` (on a grid x grid of points)."""
    xs = picture.x + (np.arange(grid) + 0.5) * picture.w / grid
    ys = picture.y + (np.arange(grid) + 0.5) * picture.h / grid
    points = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    mapped = map_points(transform, points)
    inside = (mapped[:, 0] >= 0) & (mapped[:, 0] <= frame_size[0]) & (mapped[:, 1] >= 0) & (mapped[:, 1] <= frame_size[1])
    return float(inside.mean())


def most_covering(
    found: Verified, nearby: dict[int, Verification], picture: Box, frame_size: tuple[int, int],
    verdict: Verdict, settings: MatchSettings,
) -> Verified:
    """The verified frame to report: the one with most inliers among those that hold the whole claim.

    A claim cut from a frame lies inside it. When the frame with most inliers leaves
    part of the claim's picture outside, a frame of the same source that verifies as
    strongly and holds all of it is the better answer (and refinement searches around it).
    """
    grid = settings.coverage_grid
    if coverage(found.verification.transform, picture, frame_size, grid) >= settings.full_coverage:
        return found
    holding = [(verification.inliers, -row, row) for row, verification in nearby.items()
               if feature_verdict(verification.inliers, verification.hull_share, settings).rank >= verdict.rank
               and coverage(verification.transform, picture, frame_size, grid) >= settings.full_coverage]
    if not holding:
        return found
    _, _, row = max(holding)
    return Verified(row, found.mirrored, nearby[row])


def box_tuple(box: Box) -> tuple[float, float, float, float]:
    return box.x, box.y, box.w, box.h


class Locator:
    """Locates verified claims in the frames of one index (its frame table and stored features)."""

    def __init__(self, frames: FrameTable, features: Mapping[int, LocalFeatures], settings: MatchSettings) -> None:
        self._frames = frames
        self._features = features
        self._settings = settings

    def frame_size(self, row: int) -> tuple[int, int]:
        return self._features[row].width, self._features[row].height

    def time(self, row: int) -> float | None:
        value = float(self._frames.times_s[row])
        return None if np.isnan(value) else value

    def locate(self, source: SourceRecord, found: Verified, verdict: Verdict, claim: ClaimView) -> LocatedFrame:
        """The frame, time and pixels of a source that a verified claim was cut from."""
        if source.kind == "image":
            return self._still(found, _load_still(source))
        if not self._settings.refine or claim.features is None or claim.votes is None:
            return self._sampled(source, found)
        frame_size = self.frame_size(found.row)
        picture = derive.geometry(found.verification, claim.trim, claim.size, frame_size).picture_px
        holds = coverage(found.verification.transform, picture, frame_size,
                         self._settings.coverage_grid) >= self._settings.full_coverage
        # the whole video is searched for a better frame only when the best one does not hold the claim
        nearby = self._verify_source(source.id, found, claim, radius_s=self._settings.anchor_radius_s if holds else None)
        if not holds:
            found = most_covering(found, nearby, picture, frame_size, verdict, self._settings)
            picture = derive.geometry(found.verification, claim.trim, claim.size, frame_size).picture_px
        return self._refined(source, found, nearby, picture, claim)

    def _still(self, found: Verified, pixels: RGBArray | None) -> LocatedFrame:
        return LocatedFrame(found.row, found.verification, self.time(found.row), None, None, pixels,
                            self.frame_size(found.row))

    def _sampled(self, source: SourceRecord, found: Verified) -> LocatedFrame:
        """The sampled frame itself, decoded again for its pixels."""
        time_s = self.time(found.row)
        pixels = None
        if time_s is not None and Path(source.path).exists():
            pixels = decode_frame(Path(source.path), time_s)
        return LocatedFrame(found.row, found.verification, time_s, int(self._frames.frame_numbers[found.row]),
                            None if time_s is None else (time_s, time_s), pixels, self.frame_size(found.row))

    def _refined(self, source: SourceRecord, found: Verified, nearby: dict[int, Verification], picture: Box,
                 claim: ClaimView) -> LocatedFrame:
        """The exact frame around the best sampled one, decoded at the video's full rate."""
        time_s = self.time(found.row)
        if time_s is None or not Path(source.path).exists():
            return self._sampled(source, found)
        path, anchors = Path(source.path), self._anchors(found, nearby)
        refined = refine_time(path, claim.pixels, box_tuple(picture), anchors, time_s)
        if refined is None:
            return self._sampled(source, found)
        # A band the trimmer missed (a caption over fog) agrees with no frame and blurs
        # every comparison alike: seen against the refined frame's pixels, it is left
        # out and the time refined again.
        seen = derive.geometry(replace(found.verification, transform=refined.transform), claim.trim, claim.size,
                               self.frame_size(found.row), claim.pixels, refined.pixels)
        shrunk = seen.picture_px.w * seen.picture_px.h < self._settings.refine_again_picture_share * picture.w * picture.h
        if shrunk and any(band.kind != "padding" for band in seen.added):
            refined = refine_time(path, claim.pixels, box_tuple(seen.picture_px), anchors, time_s) or refined
        verification = replace(found.verification, transform=refined.transform)
        assert claim.features is not None  # locate() refines only with the claim's features
        exact = verify(claim.features, extract(refined.pixels))
        if exact is not None and exact.inliers >= found.verification.inliers * self._settings.anchor_inlier_share:
            verification = exact
        return LocatedFrame(found.row, verification, refined.time_s, refined.frame_number, refined.window_s,
                            refined.pixels, self.frame_size(found.row))

    def _verify_source(self, source_id: int, found: Verified, claim: ClaimView, radius_s: float | None
                       ) -> dict[int, Verification]:
        """Verifications of the claim against the source's sampled frames that drew enough votes.

        Within ``radius_s`` of the best frame (None: anywhere in the video). The shortlist
        verifies at most a few frames per source; the frame with the most inliers is not
        always the one the claim was cut from (on a pan, an earlier frame can show a
        well-textured part of the crop while the rest lies outside it).
        """
        assert claim.features is not None and claim.votes is not None
        votes, frames = claim.votes, self._frames
        rows = np.flatnonzero(frames.source_ids == source_id)
        strongest = float(votes[rows].max()) if rows.size else 0.0
        best_time = float(frames.times_s[found.row])
        voted = [int(row) for row in rows[np.argsort(-votes[rows], kind="stable")]
                 if votes[row] >= self._settings.anchor_vote_share * strongest and int(row) in self._features
                 and (radius_s is None or abs(float(frames.times_s[row]) - best_time) <= radius_s)]
        checked = {found.row: found.verification}
        for row in voted[:self._settings.source_verify_frames]:
            if row not in checked:
                verification = verify(claim.features, self._features[row])
                if verification is not None:
                    checked[row] = verification
        return checked

    def _anchors(self, found: Verified, nearby: dict[int, Verification]) -> list[Anchor]:
        """Verified sampled frames around the best one, with their transforms (for refinement)."""
        times = self._frames.times_s
        best_time = float(times[found.row])
        anchors = [Anchor(best_time, found.verification.transform)]
        for row, checked in nearby.items():
            if row == found.row or abs(float(times[row]) - best_time) > self._settings.anchor_radius_s:
                continue
            if checked.inliers >= self._settings.anchor_inlier_share * found.verification.inliers:
                anchors.append(Anchor(float(times[row]), checked.transform))
        return anchors


def _load_still(source: SourceRecord) -> RGBArray | None:
    try:
        return np.asarray(load_image(Path(source.path)), dtype=np.uint8)
    except MediaError:
        return None

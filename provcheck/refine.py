"""Timestamp refinement: find the exact video frame a claim was grabbed from.

Sampling at 2 fps leaves up to half a second between the claim's true frame and the
nearest indexed one, and on slow pans, zooms or near-static shots several sampled
frames verify almost equally well (inlier counts differ by noise). So refinement is
photometric: the source video is decoded again, at its full frame rate, over the
span of sampled frames that verified, and each decoded frame is compared with the
claim by normalised cross-correlation after warping it into the claim's coordinates.

The warp comes from the verified sampled frames ("anchors"): interpolated between
them, carried on past the outermost one (the last half second of a shot has no
sampled frame after it), corrected by phase correlation for every frame, and aligned
directly (ECC) for the best few and their neighbours. Only once aligned to a fraction
of a pixel do moving things (a vehicle, an explosion, drifting smoke) decide between
frames that local features cannot tell apart. Claim pixels that no frame explains (a
logo, a player's controls) are left out before the final comparison. Frames scoring
nearly as well as the best form the reported window.

This module owns the search over decoded frames and its scoring; the shrink, warps,
fits and direct alignment it uses come from :mod:`.warp`. Only opening and decoding
the video may fail on a file that changed since it was indexed: those failures (and
only those) make the search give up and keep the sampled time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import av
import av.error
import cv2
import numpy as np
from numpy.typing import NDArray

from .errors import MediaError
from .media import RGBArray, open_footage, upright_grey, upright_pixels
from .warp import OUTSIDE, area_resize, ecc_align, fill_outside, fitted_residual, shrink_region, warp_to_claim

#: Seconds decoded beyond the first and last verified sampled frame (the sampling
#: step is 0.5 s, so the true frame can lie a step beyond the outermost anchor).
SPAN_MARGIN_S = 1.0
#: Longest span decoded, in seconds (a long static shot: only the part nearest the
#: best sampled frame is searched).
MAX_SPAN_S = 12.0
#: The claim is compared at this size (long side, pixels): enough for vehicles ...
COMPARE_MAX_SIDE = 256
#: ... and neither the claim nor a decoded frame is shrunk below this many pixels a side.
MIN_COMPARE_SIZE = 8
#: A decoded frame is shrunk (area-averaged) before warping when it would be shrunk to
#: under this share of its size anyway (a milder shrink is left to the warp's interpolation).
FRAME_SHRINK_BELOW = 0.8
#: A frame that covers less than this share of the compared claim pixels is neither
#: realigned nor corrected, and scores UNCOVERED_ERROR (worse than any correlation).
MIN_COVERED_SHARE = 0.5
UNCOVERED_ERROR = 2.0
#: Fewer claim pixels than this (about a 4x4 patch) are too few for a tone fit or a noise level.
MIN_FIT_PIXELS = 16
#: Frames whose correlation error is within this share of the spread between the best
#: and the median frame match "equally well" (the reported window).
WINDOW_ERROR_SHARE = 0.1
#: Frames (best by interpolated alignment) realigned directly before the best is chosen.
REALIGN_FRAMES = 8
#: Decoded frames kept for this many best frames (the reported frame is almost always one
#: of them; otherwise it is decoded again). 8 decoded frames of 4K video are 100 MB.
KEPT_FRAMES = 8
#: Frame rate assumed for a stream that declares none (frame numbers only; times come from the stream).
FALLBACK_FRAME_RATE = 25.0
#: Direct alignment (affine): iterations and convergence, Gaussian pre-filter (pixels, odd).
ECC_CRITERIA = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 50, 1e-5)
ECC_GAUSSIAN_SIZE = 3
#: Phase correlation corrects an interpolated transform by a translation only when its
#: peak is this distinct and the shift is under this share of the claim's long side.
PHASE_MIN_RESPONSE = 0.05
PHASE_MAX_SHIFT_SHARE = 0.1
#: Claim pixels whose best residual over all frames exceeds this many times the typical
#: best residual (robust noise level), and this share of the claim's contrast, are
#: "unexplained" and left out (when they are at most UNEXPLAINED_MAX_SHARE of it).
UNEXPLAINED_NOISE_FACTOR = 6.0
UNEXPLAINED_CONTRAST_SHARE = 0.5
UNEXPLAINED_MAX_SHARE = 0.4
#: Median absolute deviation to standard deviation for Gaussian noise (1 / Phi^-1(3/4)).
MAD_TO_SIGMA = 1.4826
#: Smallest absolute slack for the window, in correlation-error units (JPEG noise).
WINDOW_MIN_SLACK = 0.002


@dataclass(frozen=True)
class Anchor:
    """A sampled frame that verified: its time and claim-to-frame transform."""

    time_s: float
    transform: NDArray[np.float64]


@dataclass(frozen=True)
class RefinedFrame:
    """The best frame found, the window of equally good times, and its pixels."""

    time_s: float
    frame_number: int
    window_s: tuple[float, float]
    error: float
    transform: NDArray[np.float64]
    pixels: RGBArray


def _transforms_at(anchors: Sequence[Anchor], time_s: float) -> list[NDArray[np.float64]]:
    """Candidate claim-to-frame transforms at a time.

    Between two anchors: the transform interpolated between them. Beyond the outermost
    anchor (the last half second of a shot before a cut or the clip's end has no sampled
    frame after it) two candidates: the outermost anchor's transform (a static shot)
    and the motion of the two outermost anchors carried on linearly (a pan or a zoom).
    """
    times = [anchor.time_s for anchor in anchors]
    position = int(np.searchsorted(times, time_s))
    if 0 < position < len(anchors):
        before, after = anchors[position - 1], anchors[position]
        return [_blend(before, after, time_s)]
    if len(anchors) < 2:
        return [anchors[0].transform]
    inner, outer = (anchors[1], anchors[0]) if position <= 0 else (anchors[-2], anchors[-1])
    return [outer.transform, _blend(inner, outer, time_s)]


def _blend(a: Anchor, b: Anchor, time_s: float) -> NDArray[np.float64]:
    """The transform at ``time_s`` on the straight line through two anchors' transforms."""
    share = (time_s - a.time_s) / (b.time_s - a.time_s) if abs(b.time_s - a.time_s) > 1e-9 else 0.0
    blended: NDArray[np.float64] = (1 - share) * a.transform + share * b.transform
    return blended


def _dot(a: NDArray[np.float64], b: NDArray[np.float64]) -> float:
    """Dot product in this thread (BLAS would wake its thread pool for a few microseconds of work)."""
    return float(np.einsum("i,i->", a, b))


class _Centred:
    """Values less their mean, and their spread: one side of a normalised cross-correlation."""

    def __init__(self, values: NDArray[np.float32]) -> None:
        self.count = int(values.size)
        self.values = values.astype(np.float64)
        if self.count:
            self.values -= self.values.mean()
        spread = float(np.sqrt(_dot(self.values, self.values) / self.count)) if self.count else 0.0
        # a flat patch (no spread) is compared unscaled, and so correlates with nothing
        self.scale = spread if spread > 1e-6 else 1.0

    def correlation(self, other: _Centred) -> float:
        """Mean product of the two sides, each divided by its spread (1 when they vary alike)."""
        return _dot(self.values, other.values) / (self.count * self.scale * other.scale)


class _FrameView:
    """A decoded frame, grey and shrunk to about the claim's comparison scale."""

    def __init__(self, grey: NDArray[np.float32], frame_per_small: float) -> None:
        height, width = grey.shape
        shrink = min(1.0, 1.0 / max(frame_per_small, 1e-6))
        if shrink < FRAME_SHRINK_BELOW:
            size = (max(MIN_COMPARE_SIZE, round(width * shrink)), max(MIN_COMPARE_SIZE, round(height * shrink)))
            self.grey, self.from_frame = area_resize(grey, size)
        else:
            self.grey, self.from_frame = grey, np.eye(3)


class _ClaimView:
    """The claim's picture region, small and grey, ready for correlation."""

    def __init__(self, claim: RGBArray, picture: tuple[float, float, float, float]) -> None:
        _, _, w, h = picture
        # the shrink is taken from the picture box as given, not from the part of it inside the claim
        region = shrink_region(claim, picture, COMPARE_MAX_SIDE, MIN_COMPARE_SIZE, long_side=max(w, h, 1.0))
        self.size, self.grey = region.size, region.grey
        offset = np.array([[1, 0, -region.left], [0, 1, -region.top], [0, 0, 1]], dtype=np.float64)
        #: maps the claim's small pixels to claim pixels (agreement composes it the other way round; see ShrunkRegion)
        self.to_claim = np.asarray(np.linalg.inv(region.to_small @ offset), dtype=np.float64)
        # single precision: the pixels compared are float32 already, and a 256-pixel FFT runs 2.5x faster
        self.window = cv2.createHanningWindow(self.size, cv2.CV_32F)
        self._used = np.ones((self.size[1], self.size[0]), dtype=bool)
        self._whole_claim = _Centred(self.grey.ravel())

    @property
    def used(self) -> NDArray[np.bool_]:
        """The claim pixels compared (not the ones no frame explains: a logo, a player's controls)."""
        return self._used

    @used.setter
    def used(self, used: NDArray[np.bool_]) -> None:
        self._used = used
        self._whole_claim = _Centred(self.grey[used])

    def residual(self, warped: NDArray[np.float32]) -> NDArray[np.float32]:
        """Per pixel |claim - (a * frame + b)| after the best linear tone fit; inf where the frame does not reach.

        ``warped`` is the frame seen in the claim's small coordinates (:meth:`warp`).
        """
        fitted = (warped >= 0) & self.used
        if fitted.sum() < MIN_FIT_PIXELS:
            return np.full(warped.shape, np.inf, dtype=np.float32)
        return fitted_residual(self.grey, warped, fitted)

    def exclude_unexplained(self, best_residual: NDArray[np.float32]) -> bool:
        """Stop comparing the claim pixels that no decoded frame explains; True if any were found.

        ``best_residual`` is each pixel's smallest residual over all frames. A moving
        vehicle agrees with its own frame, so only what no frame shows stays large: a
        logo, a watermark, a player's controls over the picture. On a low-contrast
        claim (fog, haze) such an overlay holds most of the variance and would
        otherwise decide the correlation for every frame alike.
        """
        finite = np.isfinite(best_residual)
        if finite.sum() < MIN_FIT_PIXELS:
            return False
        noise = MAD_TO_SIGMA * float(np.median(best_residual[finite]))
        limit = max(UNEXPLAINED_NOISE_FACTOR * noise, UNEXPLAINED_CONTRAST_SHARE * float(self.grey.std()))
        unexplained = finite & (best_residual > limit)
        unexplained = cv2.dilate(unexplained.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        share = float(unexplained.mean())
        if share == 0.0 or share > UNEXPLAINED_MAX_SHARE:
            return False
        self.used = ~unexplained
        return True

    def frame(self, grey: NDArray[np.float32], transform: NDArray[np.float64]) -> _FrameView:
        """The frame prepared for comparison (``transform``, claim to frame, gives the scale)."""
        linear = (transform @ self.to_claim)[:2, :2]
        return _FrameView(grey, float(np.sqrt(abs(np.linalg.det(linear)))))

    def error(self, frame: _FrameView, transform: NDArray[np.float64]) -> float:
        """1 - normalised cross-correlation of the claim and the frame warped onto it (see :meth:`score`)."""
        return self.score(self.warp(frame, transform))

    def realign(self, frame: _FrameView, transform: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """``transform`` corrected by direct (ECC) alignment of the frame onto the claim, or None.

        Transforms interpolated between sampled frames are off by a pixel or two on a
        zoom or an uneven pan, which is as much as a moving vehicle: the exact frame
        only stands out once aligned to a fraction of a pixel.
        """
        correction = ecc_align(self.grey, self.warp(frame, transform), "affine", ECC_CRITERIA, ECC_GAUSSIAN_SIZE,
                               MIN_COVERED_SHARE, self.used)
        if correction is None:
            return None  # too little covered, or did not converge: keep the interpolated transform
        return self._corrected(transform, correction)

    def shift(self, warped: NDArray[np.float32], transform: NDArray[np.float64]) -> NDArray[np.float64]:
        """``transform`` corrected by the translation phase correlation finds (a cheap first realignment).

        ``warped`` is the frame seen through ``transform`` (:meth:`warp`). Returns
        ``transform`` itself when there is nothing trustworthy to correct.
        """
        valid = warped >= 0
        if valid.mean() < MIN_COVERED_SHARE:
            return transform
        (dx, dy), response = cv2.phaseCorrelate(self.grey, fill_outside(warped, valid, np.float32), self.window)
        if response < PHASE_MIN_RESPONSE or max(abs(dx), abs(dy)) > PHASE_MAX_SHIFT_SHARE * max(self.size):
            return transform
        return self._corrected(transform, np.array([[1, 0, dx], [0, 1, dy], [0, 0, 1]], dtype=np.float64))

    def warp(self, frame: _FrameView, transform: NDArray[np.float64]) -> NDArray[np.float32]:
        """The frame seen in the claim's small coordinates; OUTSIDE where the frame does not reach."""
        return warp_to_claim(frame.grey, frame.from_frame @ transform @ self.to_claim, self.size, OUTSIDE)

    def _corrected(self, transform: NDArray[np.float64], correction: NDArray[np.float64]) -> NDArray[np.float64]:
        """``transform`` after a correction found in the claim's small coordinates."""
        corrected: NDArray[np.float64] = transform @ self.to_claim @ correction @ np.linalg.inv(self.to_claim)
        return corrected

    def score(self, warped: NDArray[np.float32]) -> float:
        """1 - normalised cross-correlation of the claim and ``warped`` (:meth:`warp`).

        Claim pixels that the frame does not cover count as fully wrong: on a pan over
        a still scene every frame aligns equally well where it overlaps the claim, and
        only coverage tells the frame the claim was grabbed from.
        """
        valid = (warped >= 0) & self.used
        compared = int(valid.sum())
        covered = compared / max(1, self._whole_claim.count)
        if covered < MIN_COVERED_SHARE:
            return UNCOVERED_ERROR
        # the claim's side is computed once for the frames that cover every compared pixel (most of them)
        claim = self._whole_claim if compared == self._whole_claim.count else _Centred(self.grey[valid])
        return float(covered * (1.0 - claim.correlation(_Centred(warped[valid]))) + (1.0 - covered))


def refine_time(
    path: Path, claim: RGBArray, picture: tuple[float, float, float, float], anchors: Sequence[Anchor], best_s: float
) -> RefinedFrame | None:
    """Find the frame of ``path`` that best reproduces the claim, near the verified sampled frames.

    Args:
        path: the source video.
        claim: the claim's pixels (mirrored already if the claim is mirrored).
        picture: (x, y, w, h) of the claim's picture region in claim pixels.
        anchors: verified sampled frames of this video, with their transforms.
        best_s: time of the best verified sampled frame.

    Returns:
        The best frame, or None when the video cannot be read any more.
    """
    anchors = sorted(anchors, key=lambda anchor: anchor.time_s)
    start = max(0.0, max(anchors[0].time_s, best_s - MAX_SPAN_S / 2) - SPAN_MARGIN_S)
    end = min(anchors[-1].time_s, best_s + MAX_SPAN_S / 2) + SPAN_MARGIN_S
    view = _ClaimView(claim, picture)
    try:
        scored, best_residual = _score_span(view, anchors, _decoded(path, start), end)
    except _Unreadable:
        return None  # the file changed or is damaged since it was indexed: keep the sampled time
    if not scored:
        return None
    if view.exclude_unexplained(best_residual):
        for entry in scored:
            entry.error = view.error(entry.small, entry.transform)
    _realign_best(view, scored)
    errors = np.array([entry.error for entry in scored])
    best_index = int(np.argmin(errors))
    low, high = _window(errors, best_index)
    best = scored[best_index]
    pixels = _converted(best.kept) if best.kept is not None else decode_frame(path, best.time_s)
    if pixels is None:
        return None
    return RefinedFrame(best.time_s, best.number, (scored[low].time_s, scored[high].time_s), best.error,
                        best.transform, pixels)


def _score_span(view: _ClaimView, anchors: Sequence[Anchor], frames: Iterator[_Decoded], end_s: float
                ) -> tuple[list[_Scored], NDArray[np.float32]]:
    """Score each decoded frame up to ``end_s``, and each claim pixel's smallest residual over them.

    Raises:
        _Unreadable: decoding failed (only decoding raises it: a scoring error is a bug and propagates).
    """
    scored: list[_Scored] = []
    best_residual = np.full(view.used.shape, np.inf, dtype=np.float32)
    for decoded in frames:
        if decoded.time_s > end_s + 1e-6:
            break
        candidates = _transforms_at(anchors, decoded.time_s)
        small = view.frame(decoded.pixels(grey=True).astype(np.float32), candidates[0])
        error, transform, warped = _best_candidate(view, small, candidates)
        scored.append(_Scored(round(decoded.time_s, 6), int(round(decoded.time_s * decoded.rate)), error, transform,
                              small))
        best_residual = np.minimum(best_residual, view.residual(warped))
        _keep_pixels(scored, decoded)
    return scored, best_residual


def _window(errors: NDArray[np.float64], best_index: int) -> tuple[int, int]:
    """First and last index of the run of frames around the best that score nearly as well."""
    slack = max(WINDOW_MIN_SLACK, WINDOW_ERROR_SHARE * float(np.median(errors) - errors[best_index]))
    low = high = best_index
    while low > 0 and errors[low - 1] <= errors[best_index] + slack:
        low -= 1
    while high < len(errors) - 1 and errors[high + 1] <= errors[best_index] + slack:
        high += 1
    return low, high


def _converted(decoded: _Decoded) -> RGBArray | None:
    """The RGB pixels of a kept frame, or None when the conversion fails."""
    try:
        return decoded.pixels()
    except _Unreadable:
        return None


def decode_frame(path: Path, time_s: float) -> RGBArray | None:
    """The frame of ``path`` presented at ``time_s`` (decoded again: its pixels were not kept)."""
    try:
        for decoded in _decoded(path, time_s):
            return decoded.pixels()
    except _Unreadable:
        return None
    return None


#: What opening, seeking, decoding and converting frames of a video that changed or was
#: damaged since it was indexed can raise: FFmpeg's errors, MediaError (no footage stream
#: any more), OSError (the file is gone), and the ValueError, AttributeError and IndexError
#: PyAV lets through on malformed streams. Caught around those calls only.
DECODE_ERRORS = (av.error.FFmpegError, MediaError, OSError, ValueError, AttributeError, IndexError)


class _Unreadable(Exception):
    """The video could not be opened or decoded (any more)."""


@dataclass(frozen=True)
class _Decoded:
    """A decoded frame, its time and the stream's frame rate."""

    frame: av.VideoFrame
    time_s: float
    rate: float

    def pixels(self, grey: bool = False) -> NDArray[np.uint8]:
        """The frame's pixels upright, RGB or grey levels; converting them is decoding too.

        Raises:
            _Unreadable: the conversion failed.
        """
        try:
            return upright_grey(self.frame) if grey else upright_pixels(self.frame)
        except DECODE_ERRORS as exc:
            raise _Unreadable(f"frame at {self.time_s:.3f} s: {exc}") from exc


def _decoded(path: Path, start_s: float) -> Iterator[_Decoded]:
    """Frames of ``path`` from ``start_s`` on (seeks first).

    Everything in this generator is opening and decoding: what the caller does with a
    frame runs in the caller's frame, so its errors never pass through this handler.

    Raises:
        _Unreadable: the file cannot be opened, sought or decoded.
    """
    try:
        container, stream = open_footage(path)
        with container:
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.base_rate or FALLBACK_FRAME_RATE)
            if start_s > 0 and stream.time_base is not None:
                container.seek(int(start_s / stream.time_base), stream=stream, backward=True, any_frame=False)
            for frame in container.decode(stream):
                if frame.time is not None and frame.time >= start_s - 1e-6:
                    yield _Decoded(frame, float(frame.time), rate)
    except DECODE_ERRORS as exc:
        raise _Unreadable(f"{path}: {exc}") from exc


def _best_candidate(view: _ClaimView, frame: _FrameView, candidates: Sequence[NDArray[np.float64]]
                    ) -> tuple[float, NDArray[np.float64], NDArray[np.float32]]:
    """The best of the candidate transforms and their phase-corrected twins: (error, transform, warped frame)."""
    best: tuple[float, NDArray[np.float64], NDArray[np.float32]] | None = None
    for candidate in candidates:
        warped = view.warp(frame, candidate)
        tried = [(view.score(warped), candidate, warped)]
        shifted = view.shift(warped, candidate)
        if shifted is not candidate:
            shifted_warp = view.warp(frame, shifted)
            tried.append((view.score(shifted_warp), shifted, shifted_warp))
        for entry in tried:
            if best is None or entry[0] < best[0]:
                best = entry
    assert best is not None  # there is always at least one candidate
    return best


@dataclass
class _Scored:
    """One decoded frame's score; the decoded frame is kept (unconverted) only for the few best frames."""

    time_s: float
    number: int
    error: float
    transform: NDArray[np.float64]
    small: _FrameView
    kept: _Decoded | None = None
    realigned: bool = False


def _keep_pixels(scored: list[_Scored], decoded: _Decoded) -> None:
    """Keep the newest decoded frame if it is among the KEPT_FRAMES best so far; drop the one it displaces.

    Frames are kept as decoded and converted to RGB only once the best is known: most
    frames enter the best few early in a span and would otherwise be converted for nothing.
    """
    newest = scored[-1]
    kept = [entry for entry in scored[:-1] if entry.kept is not None]
    if len(kept) >= KEPT_FRAMES:
        worst = max(kept, key=lambda entry: entry.error)
        if worst.error <= newest.error:
            return
        worst.kept = None
    newest.kept = decoded


def _realign_best(view: _ClaimView, scored: list[_Scored]) -> None:
    """Realign the best frames directly, then walk in time from the best while neighbours improve."""

    def realign(index: int) -> None:
        entry = scored[index]
        if entry.realigned:
            return
        entry.realigned = True
        corrected = view.realign(entry.small, entry.transform)
        if corrected is not None:
            error = view.error(entry.small, corrected)
            if error < entry.error:
                entry.error, entry.transform = error, corrected

    for index in np.argsort([entry.error for entry in scored])[:REALIGN_FRAMES]:
        realign(int(index))
    while True:
        best = min(range(len(scored)), key=lambda index: scored[index].error)
        neighbours = [index for index in (best - 1, best + 1) if 0 <= index < len(scored) and not scored[index].realigned]
        if not neighbours:
            return
        for index in neighbours:
            realign(index)

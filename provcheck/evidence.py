"""Evidence images: what a fact-check publishes beside its verdict.

One PNG per claim that matched (or possibly matched): the claim on the left, the
source frame on the right, readable at :data:`WIDTH` pixels wide. On the source the
region the claim reuses is outlined (the claim's picture carried through the verified
transform, so a rotated claim gives a rotated outline); thinned lines join claim
points to the frame points they agreed with; bands the claim added (a caption bar, a
border) are shaded on the claim; a caption strip says the source's title, URL and
date, the time in the video, the verdict and confidence, and the derivation in words.
A match that rests on hashes alone (a whole frame) gets the two pictures and the
caption without an outline. The source frame is also written at full resolution.

Drawing needs the claim's pixels as matched and the source frame's pixels, decoded
again at the reported time; a source file that is gone gives no image, said so.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, ImageDraw, ImageFont

from .errors import MediaError
from .media import RGBArray, image_frame
from .refine import decode_frame
from .report import describe_derivation, time_phrases
from .results import ClaimResult, Match, Placement, Verdict

#: Width of an evidence image, pixels.
WIDTH = 1200
#: Space around and between the two pictures, pixels.
MARGIN = 16
#: Tallest a picture is drawn, pixels (a portrait claim does not make a page-long image).
MAX_PICTURE_HEIGHT = 640
#: Inlier lines drawn at most (evenly through the placement's points).
MAX_LINES = 30
CAPTION_FONT_SIZE = 18
CAPTION_LINE = 26
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
#: The outline of the reused region on the source, and its width in pixels.
OUTLINE = (230, 0, 0)
OUTLINE_WIDTH = 4
LINE = (0, 170, 60, 150)
#: Added bands (caption bars, borders) on the claim.
BAND = (255, 150, 0, 110)


@dataclass(frozen=True)
class Panel:
    """Where a picture sits in the evidence image: its top-left corner and the scale it is drawn at."""

    left: int
    top: int
    scale: float

    def place(self, x: float, y: float) -> tuple[float, float]:
        """A point of the picture (its pixels) in evidence-image pixels."""
        return self.left + x * self.scale, self.top + y * self.scale


@dataclass(frozen=True)
class Evidence:
    """A drawn evidence image and where its two pictures are."""

    image: Image.Image
    claim: Panel
    source: Panel


def source_frame(match: Match) -> RGBArray | None:
    """The source's frame at the match's time (a still: the image), or None when it cannot be read any more."""
    path = Path(match.source.path)
    if match.source.kind == "video":
        return decode_frame(path, match.timestamp_s or 0.0)
    try:
        return image_frame(path).pixels
    except MediaError:  # changed or gone since it was indexed: no picture
        return None


def outline(placement: Placement) -> NDArray[np.float64]:
    """The corners of the claim's picture on the source frame (4 x 2, frame pixels), clockwise from top-left."""
    box = placement.picture
    corners = np.array([[box.x, box.y, 1], [box.x + box.w, box.y, 1], [box.x + box.w, box.y + box.h, 1],
                        [box.x, box.y + box.h, 1]], dtype=np.float64)
    mapped = corners @ np.asarray(placement.transform, dtype=np.float64).T
    result: NDArray[np.float64] = mapped[:, :2] / mapped[:, 2:3]
    return result


def render(claim: RGBArray, frame: RGBArray, match: Match, result: ClaimResult) -> Evidence:
    """Draw the evidence image of one match of a claim (``claim``: its pixels as the matcher read them)."""
    panel_width = (WIDTH - 3 * MARGIN) // 2
    claim_scale = _fit(claim, panel_width)
    frame_scale = _fit(frame, panel_width)
    pictures_height = max(round(claim.shape[0] * claim_scale), round(frame.shape[0] * frame_scale))
    caption = _caption(match, result)
    font = ImageFont.load_default(size=CAPTION_FONT_SIZE)
    height = MARGIN + pictures_height + MARGIN + CAPTION_LINE * len(caption) + MARGIN
    image = Image.new("RGB", (WIDTH, height), BACKGROUND)
    claim_panel = Panel(MARGIN, MARGIN, claim_scale)
    source_panel = Panel(2 * MARGIN + panel_width, MARGIN, frame_scale)
    for panel, pixels in ((claim_panel, claim), (source_panel, frame)):
        size = (max(1, round(pixels.shape[1] * panel.scale)), max(1, round(pixels.shape[0] * panel.scale)))
        image.paste(Image.fromarray(pixels).resize(size, Image.Resampling.LANCZOS), (panel.left, panel.top))
    overlay = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    if match.placement is not None:
        _draw_placement(draw, match.placement, claim_panel, source_panel, frame)
    for band in match.derivation.added:  # fractions of the claim, as the report gives them
        x, y = claim_panel.place(band.box.x * claim.shape[1], band.box.y * claim.shape[0])
        draw.rectangle((x, y, x + band.box.w * claim.shape[1] * claim_scale,
                        y + band.box.h * claim.shape[0] * claim_scale), fill=BAND)
    image = Image.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    text = ImageDraw.Draw(image)
    top = MARGIN + pictures_height + MARGIN
    for number, line in enumerate(caption):
        text.text((MARGIN, top + number * CAPTION_LINE), line, fill=TEXT, font=font)
    return Evidence(image, claim_panel, source_panel)


def _fit(pixels: RGBArray, width: int) -> float:
    return min(width / int(pixels.shape[1]), MAX_PICTURE_HEIGHT / int(pixels.shape[0]))


def _draw_placement(draw: ImageDraw.ImageDraw, placement: Placement, claim_panel: Panel, source_panel: Panel,
                    frame: RGBArray) -> None:
    """The outline of the reused region on the source and thinned inlier lines from the claim to it."""
    # the frame decoded again may differ in size from the one matched (a re-encoded file): scale to it
    sx, sy = frame.shape[1] / placement.frame_size[0], frame.shape[0] / placement.frame_size[1]
    corners = [source_panel.place(x * sx, y * sy) for x, y in outline(placement)]
    draw.line([*corners, corners[0]], fill=OUTLINE, width=OUTLINE_WIDTH, joint="curve")
    transform = np.asarray(placement.transform, dtype=np.float64)
    points = placement.inliers[::max(1, -(-len(placement.inliers) // MAX_LINES))]
    claim_width = placement.claim_size[0]
    for x, y in points:
        mapped = transform @ np.array([x, y, 1.0])
        shown_x = claim_width - 1 - x if placement.mirrored else x  # drawn on the claim as published
        start = claim_panel.place(shown_x, y)
        end = source_panel.place(mapped[0] / mapped[2] * sx, mapped[1] / mapped[2] * sy)
        draw.line([start, end], fill=LINE, width=1)
        draw.ellipse((start[0] - 2, start[1] - 2, start[0] + 2, start[1] + 2), fill=LINE)


def _caption(match: Match, result: ClaimResult) -> list[str]:
    source = match.source
    lines = [f"{match.verdict.value.upper()}, confidence {match.confidence:.2f}"
             + (f", {match.evidence.inliers} inliers" if match.evidence.inliers else "")
             + f"   claim: {Path(result.query).name}"
             + (f" (dated {result.claimed_date.date})" if result.claimed_date is not None else "")]
    lines.append(f"Source: {source.title}  [{source.kind} #{source.id}]")
    lines.append(f"Published {source.published or 'unknown (undated)'}   {source.url or '(no URL)'}")
    phrases = time_phrases(match)
    if phrases is not None:
        at, window = phrases
        lines.append(f"At {at}" + (f", equally good {window}" if window else ""))
    lines.append(f"Derivation: {describe_derivation(match.derivation)}")
    return lines


def evidence_match(result: ClaimResult) -> Match | None:
    """The match an evidence image shows: the claim's first (the earliest confirmed source), or None for ``none``."""
    if result.error is not None or result.verdict is Verdict.NONE or not result.matches:
        return None
    return result.matches[0]


@dataclass(frozen=True)
class EvidenceFiles:
    """What :func:`write_evidence` wrote for one claim."""

    image: Path
    source_frame: Path


def write_evidence(result: ClaimResult, folder: Path, number: int) -> EvidenceFiles | None:
    """Write a claim's evidence image and its source frame at full resolution into ``folder``.

    Files are named ``NNN_<claim>_evidence.png`` and ``NNN_<claim>_source.png`` (``number``
    keeps claims with the same file name apart). Returns None when there is nothing
    to show (verdict ``none``, an error) or nothing to draw from (a claim given as a
    URL, whose download is gone; a source file that cannot be read any more).

    Raises:
        OSError: the folder cannot be written.
    """
    drawn = draw(result)
    if drawn is None:
        return None
    evidence, frame = drawn
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{number:03d}_{Path(result.query).stem}"
    files = EvidenceFiles(folder / f"{stem}_evidence.png", folder / f"{stem}_source.png")
    evidence.image.save(files.image, optimize=True)
    Image.fromarray(frame).save(files.source_frame, optimize=True)
    return files


def draw(result: ClaimResult) -> tuple[Evidence, RGBArray] | None:
    """A claim's evidence image and the source frame it shows, or None (see :func:`write_evidence`)."""
    from .api import load_claim  # the API is above this module: imported when evidence is drawn

    match = evidence_match(result)
    if match is None or not Path(result.query).is_file():
        return None
    try:
        claim = load_claim(result.query).pixels
    except MediaError:  # changed since it was matched: nothing to draw
        return None
    frame = source_frame(match)
    if frame is None:
        return None
    return render(claim, frame, match, result), frame

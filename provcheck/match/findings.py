"""Stage 3: what a located frame shows of how the claim was made, measured once.

From a :class:`~provcheck.match.locate.LocatedFrame` (the frame's pixels and the
transform onto them): the crop box and the bands added around the picture
(:mod:`provcheck.derive`), tone changes, and pixel agreement (:mod:`provcheck.agreement`).
Then the result types the report prints.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .. import derive
from ..agreement import PixelAgreement, pixel_agreement
from ..normalize import Trim
from ..results import AddedBand, Box, Derivation, Placement, ToneChange
from ..verify import Verification
from .locate import ClaimView, LocatedFrame


@dataclass(frozen=True)
class Findings:
    """Geometry, tone and pixel agreement of one located frame (tone and agreement need its pixels)."""

    geometry: derive.Geometry
    tone: ToneChange | None
    agreement: PixelAgreement | None


def measure(located: LocatedFrame, claim: ClaimView) -> Findings:
    """Crop box, added bands, tone and pixel agreement of the claim against its located frame."""
    verification = located.verification
    geometry = derive.geometry(verification, claim.trim, claim.size, located.frame_size, claim.pixels, located.pixels)
    if located.pixels is None:
        return Findings(geometry, None, None)
    tone = derive.tone(claim.pixels, located.pixels, verification, geometry.picture_px)
    if tone is not None:
        tone = replace(tone, contrast=round(tone.contrast, 3), brightness=round(tone.brightness, 1))
    agreement = pixel_agreement(claim.pixels, located.pixels, verification.transform,
                                trimmed_box(claim.trim, claim.pixels.shape))
    return Findings(geometry, tone, agreement)


def trimmed_box(trim: Trim, shape: tuple[int, ...]) -> tuple[float, float, float, float]:
    """The claim without the bands the trimmer found, as (x, y, w, h)."""
    height, width = shape[:2]
    return trim.left, trim.top, width - trim.left - trim.right, height - trim.top - trim.bottom


def feature_derivation(mirrored: bool, located: LocatedFrame, findings: Findings, claim_shape: tuple[int, ...]
                       ) -> Derivation:
    """How the claim was made from its located frame, in the report's terms (fractions and pixels)."""
    verification: Verification = located.verification
    geometry = findings.geometry
    frame_w, frame_h = located.frame_size
    claim_h, claim_w = claim_shape[0], claim_shape[1]
    crop = crop_px = None
    if geometry.crop_px is not None:
        box = geometry.crop_px
        crop = Box(round(box.x / frame_w, 4), round(box.y / frame_h, 4), round(box.w / frame_w, 4),
                   round(box.h / frame_h, 4))
        crop_px = Box(round(box.x), round(box.y), round(box.w), round(box.h))
    added = []
    for region in geometry.added:
        x = claim_w - region.box.x - region.box.w if mirrored else region.box.x
        side = {"left": "right", "right": "left"}.get(region.side, region.side) if mirrored else region.side
        added.append(AddedBand(region.kind, side, Box(
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
        tone=findings.tone,
    )


#: Inlier points a placement keeps (evenly spaced through the list): enough to draw, small to pickle.
PLACEMENT_INLIERS = 60


def placement(mirrored: bool, verification: Verification, picture_px: Box, claim_shape: tuple[int, ...],
              frame_size: tuple[int, int]) -> Placement:
    """Where the claim (as matched) lies on its frame: the transform, picture box and a sample of inliers."""
    points = verification.claim_inliers_xy
    step = max(1, -(-len(points) // PLACEMENT_INLIERS))
    return Placement(
        transform=tuple((float(row[0]), float(row[1]), float(row[2])) for row in verification.transform),
        claim_size=(int(claim_shape[1]), int(claim_shape[0])),
        frame_size=(int(frame_size[0]), int(frame_size[1])),
        picture=picture_px,
        inliers=tuple((float(x), float(y)) for x, y in points[::step]),
        mirrored=mirrored,
    )

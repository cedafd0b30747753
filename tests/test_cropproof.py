"""Crop-proof matching: derivations with known answers, exact frames, overlays that must not match."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from provcheck import Index, Verdict, synth
from provcheck.features import OverlayDetector, extract
from provcheck.search import DescriptorIndex, brute_force_neighbours

PHOTO_SIZE = (960, 600)  # width, height of the generated still


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NDArray[np.uint8]]:
    folder = tmp_path_factory.mktemp("photo")
    pixels = synth.press_photo(np.random.default_rng(31), PHOTO_SIZE[0], PHOTO_SIZE[1])
    path = folder / "press.png"
    Image.fromarray(pixels).save(path)
    return path, pixels


@pytest.fixture(scope="module")
def photo_index(tmp_path_factory: pytest.TempPathFactory, photo: tuple[Path, NDArray[np.uint8]]) -> Index:
    index = Index(tmp_path_factory.mktemp("photo-index") / "index.sqlite")
    index.add(photo[0], title="Press photo", published="2016-06-30")
    other = synth.terrain_texture(np.random.default_rng(77), 600, 960, "color")
    other_path = photo[0].parent / "other.png"
    Image.fromarray(other).save(other_path)
    index.add(other_path, title="Other still", published="2015-01-01")
    return index


def crop_px(pixels: NDArray[np.uint8], box: tuple[int, int, int, int]) -> NDArray[np.uint8]:
    x, y, w, h = box
    return np.ascontiguousarray(pixels[y : y + h, x : x + w])


@pytest.mark.parametrize("box", [(300, 150, 336, 210), (40, 320, 250, 190), (500, 60, 420, 500)])
def test_crop_box_is_reported_within_a_few_pixels(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index,
                                                  box: tuple[int, int, int, int]) -> None:
    claim = crop_px(photo[1], box)
    best = photo_index.match(claim)[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Press photo"
    found = best.derivation.crop_px
    assert found is not None and best.derivation.method == "features"
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array(box)).max() <= 4
    assert best.derivation.crop is not None
    assert best.derivation.crop.x == pytest.approx(box[0] / PHOTO_SIZE[0], abs=0.01)
    assert best.derivation.frame_share == pytest.approx(box[2] * box[3] / (PHOTO_SIZE[0] * PHOTO_SIZE[1]), abs=0.02)
    assert best.derivation.mirrored is False


def test_tenth_of_the_frame_crop_with_caption_and_recompression(photo: tuple[Path, NDArray[np.uint8]],
                                                                photo_index: Index) -> None:
    box = (600, 380, 300, 190)  # 9.9 % of the area
    claim = synth.jpeg(synth.add_caption_bar(synth.downscale(crop_px(photo[1], box), 480), "CONVOY"), 60)
    best = photo_index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Press photo"
    found = best.derivation.crop_px
    assert found is not None
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array(box)).max() <= 6
    assert [(band.kind, band.side) for band in best.derivation.added] == [("caption_bar", "bottom")]
    caption = best.derivation.added[0].box
    assert caption.y + caption.h == pytest.approx(1.0, abs=0.01) and 0.08 <= caption.h <= 0.16


@pytest.mark.parametrize("corner", [(558, 253), (335, 107), (201, 16), (49, 6), (114, 323), (426, 363)])
def test_tenth_of_a_still_as_a_tiny_thumbnail(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index,
                                              corner: tuple[int, int]) -> None:
    """A still keeps enough keypoints that a tenth of it, 120 px wide and recompressed, still verifies."""
    box = (*corner, 304, 202)
    claim = synth.jpeg(synth.downscale(crop_px(photo[1], box), 120), 50)
    best = photo_index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Press photo"
    found = best.derivation.crop_px
    assert found is not None
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array(box)).max() <= 8


def test_mirrored_crop_says_mirrored(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index) -> None:
    box = (200, 100, 400, 300)
    claim = np.ascontiguousarray(crop_px(photo[1], box)[:, ::-1])
    best = photo_index.match(claim)[0]
    assert best.verdict is Verdict.MATCH and best.derivation.mirrored is True
    found = best.derivation.crop_px
    assert found is not None
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array(box)).max() <= 4


@pytest.mark.parametrize("degrees", [-4.0, 3.0])
def test_rotation_is_measured(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index, degrees: float) -> None:
    claim = np.asarray(synth.rotate(crop_px(photo[1], (150, 100, 600, 400)), degrees))
    best = photo_index.match(claim)[0]
    assert best.verdict is Verdict.MATCH
    assert best.derivation.rotation_deg == pytest.approx(degrees, abs=0.3)


def test_grayscale_is_reported(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index) -> None:
    best = photo_index.match(np.asarray(synth.grayscale(crop_px(photo[1], (100, 100, 500, 400)))))[0]
    assert best.derivation.tone is not None and best.derivation.tone.grayscale is True


def test_same_imagery_in_two_sources_oldest_first(tmp_path: Path, photo: tuple[Path, NDArray[np.uint8]]) -> None:
    index = Index(tmp_path / "index.sqlite")
    repost = tmp_path / "repost.jpg"
    synth.jpeg(synth.downscale(photo[1], 800), 80).save(repost)
    index.add(repost, title="Repost", published="2017-11-14")
    index.add(photo[0], title="Original", published="2016-06-30")
    matches = index.match(crop_px(photo[1], (300, 200, 400, 300)))
    assert [m.source.title for m in matches] == ["Original", "Repost"]
    assert [m.verdict for m in matches] == [Verdict.MATCH, Verdict.MATCH]
    assert matches[0].earliest and not matches[1].earliest


@pytest.fixture(scope="module")
def hud_videos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("hud")
    indexed, other = folder / "indexed.mp4", folder / "other.mp4"
    for path, seed in ((indexed, 101), (other, 202)):
        synth.render_video(path, seed, style="thermal", size=(480, 272), duration_s=4.0, hud="gunship")
    return indexed, other


@pytest.fixture(scope="module")
def hud_index(tmp_path_factory: pytest.TempPathFactory, hud_videos: tuple[Path, Path]) -> Index:
    index = Index(tmp_path_factory.mktemp("hud-index") / "index.sqlite")
    index.add(hud_videos[0], title="Gunship video", published="2016-06-30")
    return index


@pytest.mark.parametrize("time_s", [0.5, 1.7, 3.2])
def test_same_hud_over_other_terrain_never_matches(hud_videos: tuple[Path, Path], hud_index: Index,
                                                   time_s: float) -> None:
    frame, _ = synth.extract_frame(hud_videos[1], time_s)
    assert [m for m in hud_index.match(np.asarray(frame)) if m.verdict is Verdict.MATCH] == []


@pytest.mark.parametrize("share", [0.35, 0.1])
@pytest.mark.parametrize("time_s", [1.1, 2.9])
def test_crop_around_the_shared_hud_centre_never_matches(hud_videos: tuple[Path, Path], hud_index: Index,
                                                        time_s: float, share: float) -> None:
    """A crop where the HUD's reticle fills much of the claim: the HUD agrees, the terrain does not."""
    frame = np.asarray(synth.extract_frame(hud_videos[1], time_s)[0])
    height, width = frame.shape[:2]
    h, w = int(height * share ** 0.5), int(width * share ** 0.5)
    claim = frame[(height - h) // 2:(height + h) // 2, (width - w) // 2:(width + w) // 2]
    assert hud_index.match(np.ascontiguousarray(claim)) == []


@pytest.mark.parametrize("time_s", [0.68, 2.36])
def test_heavy_crop_of_a_hud_video_gets_its_exact_frame(hud_videos: tuple[Path, Path], hud_index: Index,
                                                        time_s: float) -> None:
    frame, true_time = synth.extract_frame(hud_videos[0], time_s)
    claim = synth.jpeg(synth.add_caption_bar(synth.crop(frame, (0.1, 0.15, 0.55, 0.6)), "STRIKE"), 70)
    best = hud_index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Gunship video"
    assert best.timestamp_s == pytest.approx(true_time, abs=0.041)  # within one frame at 25 fps
    assert best.window_s is not None and best.window_s[0] <= best.timestamp_s <= best.window_s[1]


def test_overlay_keypoints_are_flagged_on_a_hud_video(hud_videos: tuple[Path, Path]) -> None:
    from provcheck.media import sample_video

    detector = OverlayDetector()
    frames = list(sample_video(hud_videos[0]))
    for frame in frames:
        detector.update(frame.pixels)
    mask = detector.mask()
    assert mask is not None and 0.005 < mask.mean() < 0.3
    flags = detector.flags(extract(frames[0].pixels))
    assert 0 < flags.sum() < len(flags)


def test_faiss_neighbours_equal_brute_force() -> None:
    rng = np.random.default_rng(5)
    stored = rng.integers(0, 120, (3000, 128), dtype=np.uint8)
    query = np.concatenate([stored[rng.choice(3000, 40)], rng.integers(0, 120, (40, 128), dtype=np.uint8)])
    owners = rng.integers(0, 30, 3000).astype(np.int64)
    index = DescriptorIndex(stored, owners, 30)
    from provcheck.features import rootsift

    fast_sim, fast_rows = index.neighbours(rootsift(query), 8)
    slow_sim, slow_rows = brute_force_neighbours(stored, query, 8)
    assert np.array_equal(fast_rows, slow_rows)
    assert np.allclose(fast_sim, slow_sim, atol=1e-5)


def screen_photo(pixels: NDArray[np.uint8], seed: int = 3) -> NDArray[np.uint8]:
    """A photo taken of a screen showing the picture: perspective, bezel, blur, glare and noise."""
    import cv2

    rng = np.random.default_rng(seed)
    height, width = pixels.shape[:2]
    out_w, out_h = int(width * 1.3), int(height * 1.35)
    corners = np.float32([[0, 0], [width, 0], [width, height], [0, height]])
    placed = np.float32([[0.12 * out_w, 0.10 * out_h], [0.90 * out_w, 0.16 * out_h],
                         [0.86 * out_w, 0.84 * out_h], [0.10 * out_w, 0.90 * out_h]])
    matrix = cv2.getPerspectiveTransform(corners, placed)
    canvas = cv2.warpPerspective(pixels, matrix, (out_w, out_h), borderValue=(20, 20, 24)).astype(np.float32)
    canvas = cv2.GaussianBlur(canvas, (0, 0), 0.8)
    yy, xx = np.mgrid[0:out_h, 0:out_w]
    glare = np.exp(-(((xx - 0.7 * out_w) / (0.3 * out_w)) ** 2 + ((yy - 0.3 * out_h) / (0.3 * out_h)) ** 2))
    canvas += 25 * glare[..., None]
    canvas += rng.normal(0, 3, canvas.shape)
    return np.clip(canvas, 0, 255).astype(np.uint8)


def test_photo_of_a_screen_matches(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index) -> None:
    box = (250, 120, 480, 320)
    best = photo_index.match(screen_photo(crop_px(photo[1], box)))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Press photo"
    found = best.derivation.crop_px
    assert found is not None
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array(box)).max() <= 40


@pytest.mark.parametrize(("corner", "seed"), [((9, 201), 1), ((268, 201), 0), ((187, 128), 2)])
def test_angled_photo_of_a_screen_is_a_match(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index,
                                             corner: tuple[int, int], seed: int) -> None:
    """Perspective leaves a similarity with a fraction of the putative matches: a homography is fitted."""
    x, y = corner
    best = photo_index.match(screen_photo(photo[1][y:y + 320, x:x + 480], seed=seed))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Press photo"
    assert best.evidence.pixel_agreement is not None and best.evidence.pixel_agreement >= 0.5


def test_collage_reports_every_source(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index) -> None:
    other = synth.terrain_texture(np.random.default_rng(77), 600, 960, "color")
    left = crop_px(photo[1], (100, 100, 400, 300))
    right = crop_px(other, (500, 200, 400, 300))
    collage = np.full((340, 840, 3), 255, dtype=np.uint8)
    collage[20:320, 10:410] = left
    collage[20:320, 430:830] = right
    matches = photo_index.match(collage)
    assert {m.source.title for m in matches if m.verdict is Verdict.MATCH} == {"Press photo", "Other still"}
    assert matches[0].source.title == "Other still"  # published 2015: the earliest known source leads
    press = next(m for m in matches if m.source.title == "Press photo")
    assert press.derivation.crop_px is not None
    found = press.derivation.crop_px
    assert np.abs(np.array([found.x, found.y, found.w, found.h]) - np.array([100, 100, 400, 300])).max() <= 6


def test_inverted_file_search_keeps_most_neighbours() -> None:
    """Above the exact-search size the approximate index must still find nearly all true neighbours."""
    rng = np.random.default_rng(6)
    centres = rng.integers(0, 200, (400, 128))
    stored = np.clip(centres[rng.integers(0, 400, 80_000)] + rng.integers(-12, 12, (80_000, 128)), 0, 255).astype(np.uint8)
    query = stored[rng.choice(80_000, 200, replace=False)]
    owners = np.arange(80_000, dtype=np.int64) // 100
    from provcheck.features import rootsift

    approximate = DescriptorIndex(stored, owners, 800, exact_max=10_000)
    assert not approximate.exact
    fast_sim, fast_rows = approximate.neighbours(rootsift(query), 1)
    slow_sim, slow_rows = brute_force_neighbours(stored, query, 1)
    assert float((fast_rows[:, 0] == slow_rows[:, 0]).mean()) >= 0.9


@pytest.fixture(scope="module")
def zoom_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Index, list[float]]:
    """A panning, zooming clip with a cut: its shots end between sampled frames."""
    folder = tmp_path_factory.mktemp("zoom")
    path = folder / "zoom.mp4"
    cuts = synth.render_video(path, 7, style="thermal", size=(480, 272), duration_s=4.0, scenes=2, hud="pod",
                              zoom=True)
    index = Index(folder / "index.sqlite")
    index.add(path, title="Zooming pod video")
    return path, index, cuts


@pytest.mark.parametrize("before_end_s", [0.08, 0.2])
@pytest.mark.parametrize("shot", ["before the cut", "before the clip ends"])
def test_last_frames_of_a_moving_shot_get_their_exact_frame(zoom_video: tuple[Path, Index, list[float]], shot: str,
                                                            before_end_s: float) -> None:
    # No sampled frame follows these: the camera's motion must be carried past the last one.
    path, index, cuts = zoom_video
    end = cuts[0] if shot == "before the cut" else 4.0
    frame, true_time = synth.extract_frame(path, end - before_end_s)
    claim = synth.add_caption_bar(synth.crop(frame, (0.05, 0.05, 0.7, 0.7)), "CONVOY")
    best = index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH
    assert best.timestamp_s == pytest.approx(true_time, abs=0.041)


def test_band_check_against_a_uniform_source_patch_does_not_fail() -> None:
    # A claim over a flat part of the source (clear sky, a wall) must not make the
    # photometric band check divide by a zero variance or warn.
    from provcheck import derive
    from provcheck.normalize import find_trim
    from provcheck.verify import Verification

    claim = np.full((120, 160, 3), 90, np.uint8)
    claim[:, 80:] = 200  # the claim varies, the source under it does not
    source = np.full((120, 160, 3), 128, np.uint8)
    inliers = np.array([[10, 10], [150, 10], [10, 110], [150, 110]], np.float32)
    verification = Verification(4, 4, np.eye(3), 0.9, 0.0, inliers)
    geometry = derive.geometry(verification, find_trim(claim), (160, 120), (160, 120), claim, source)
    assert np.all(np.isfinite(geometry.picture_px.as_tuple()))
    assert geometry.picture_px.w >= 140 and geometry.picture_px.h >= 100  # grown from the inliers, not collapsed


@pytest.fixture(scope="module")
def fog_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Index]:
    """A pan under a thick drifting veil: low contrast, so an overlay holds most of a claim's variance."""
    folder = tmp_path_factory.mktemp("fog")
    path = folder / "fog.mp4"
    synth.render_video(path, 11, style="color", size=(480, 272), duration_s=4.0, look="fog")
    index = Index(folder / "index.sqlite")
    index.add(path, title="Fog video")
    return path, index


@pytest.mark.parametrize("time_s", [1.64, 2.36, 3.08])
def test_logo_over_a_low_contrast_claim_does_not_decide_its_frame(fog_video: tuple[Path, Index], time_s: float) -> None:
    path, index = fog_video
    frame, true_time = synth.extract_frame(path, time_s)
    claim = synth.add_logo(synth.mirror(synth.crop(frame, (0.1, 0.2, 0.8, 0.75))), "@warfeed", "bottom-left", 0.9)
    best = index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.derivation.mirrored
    assert best.timestamp_s == pytest.approx(true_time, abs=0.041)


@pytest.mark.parametrize("mirrored", [False, True])
def test_thin_border_is_reported_on_every_side(photo: tuple[Path, NDArray[np.uint8]], photo_index: Index,
                                               mirrored: bool) -> None:
    # 10 px on a 980 px wide claim is 1 %: thinner than any band reported from the
    # picture's extent alone, but the trimmer saw it on all four sides.
    terrain = Image.open(photo[0].parent / "other.png").convert("RGB")
    image = synth.mirror(terrain) if mirrored else terrain
    claim = synth.add_border(image, 10, (20, 20, 20))
    best = photo_index.match(np.asarray(claim))[0]
    assert best.verdict is Verdict.MATCH and best.source.title == "Other still"
    assert best.derivation.mirrored is mirrored
    assert sorted(band.side for band in best.derivation.added if band.kind == "border") == [
        "bottom", "left", "right", "top"]


def test_crops_of_soft_cloud_beside_textured_ground_verify() -> None:
    """Every grid cell keeps its own keypoints: clouds next to sharp terrain are not starved.

    A global detector threshold spent the whole keypoint budget on the terrain under
    the horizon, and crops of the sky found nothing to match (0 of 10 verified).
    """
    from provcheck.features import QUERY_KEYPOINTS, QUERY_MAX_SIDE, QUERY_MIN_SIDE
    from provcheck.verify import verify
    from provcheck.warp import map_points

    located = []
    for seed in (1, 2, 3, 4, 5):
        frame = synth.render_frame(seed, size=(640, 352), t_s=1.0, look="sky", duration_s=4.0)
        stored = extract(frame)
        for left in (32, 288):  # a quarter of the frame, all above the horizon
            top = 18
            claim = frame[top:top + 176, left:left + 320]
            found = verify(extract(claim, max_side=QUERY_MAX_SIDE, wanted=QUERY_KEYPOINTS, min_side=QUERY_MIN_SIDE),
                           stored)
            if found is None or found.inliers < 12:
                continue
            corners = np.array([[0.0, 0.0], [claim.shape[1], claim.shape[0]]])
            expected = corners + [left, top]
            located.append(float(np.abs(map_points(found.transform, corners) - expected).max()))
    assert len(located) >= 4, f"only {len(located)} of 10 sky crops verified"
    assert max(located) < 4.0


def watermarked(pixels: NDArray[np.uint8], text: str = "© REUTERS / Photo Agency 2016") -> NDArray[np.uint8]:
    """The same agency credit, stamped in the same place, as every photo of an agency carries."""
    return np.asarray(synth.stamp_credit(pixels, text))


@pytest.fixture(scope="module")
def agency_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Index, list[NDArray[np.uint8]]]:
    folder = tmp_path_factory.mktemp("agency")
    index = Index(folder / "index.sqlite")
    stills = []
    for seed in range(3):
        for name, pixels in (("press", synth.press_photo(np.random.default_rng(100 + seed), 960, 640)),
                             ("terrain", synth.terrain_texture(np.random.default_rng(200 + seed), 640, 960, "color"))):
            stamped = watermarked(pixels)
            Image.fromarray(stamped).save(folder / f"{name}{seed}.png")
            index.add(folder / f"{name}{seed}.png", title=f"{name} {seed}")
            stills.append(stamped)
    return index, stills


@pytest.mark.parametrize("seed", [300, 401, 302, 403])
@pytest.mark.parametrize("view", ["whole", "corner crop"])
def test_shared_watermark_alone_never_matches(agency_index: tuple[Index, list[NDArray[np.uint8]]], seed: int,
                                              view: str) -> None:
    """An unrelated photo with the same agency credit: the credit's inliers are refuted by the pixels."""
    index, _ = agency_index
    make = synth.press_photo if seed % 2 == 0 else (lambda rng, w, h: synth.terrain_texture(rng, h, w, "color"))
    claim = watermarked(make(np.random.default_rng(seed), 960, 640))
    if view == "corner crop":
        claim = claim[320:, 480:]
    assert index.match(claim) == []


def test_watermarked_source_still_matches_with_full_agreement(
        agency_index: tuple[Index, list[NDArray[np.uint8]]]) -> None:
    index, stills = agency_index
    matches = index.match(stills[2][320:, 480:])
    assert [m.source.title for m in matches if m.verdict is Verdict.MATCH] == ["press 1"]
    assert matches[0].evidence.pixel_agreement is not None and matches[0].evidence.pixel_agreement >= 0.9

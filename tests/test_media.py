"""Reading stills and sampling videos into timed frames."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import CLIP_FPS, encode_clip, pan_frames, texture
from PIL import Image

from provcheck.errors import MediaError
from provcheck.media import image_frame, load_image, media_kind, probe_video, sample_video, upright_grey, upright_pixels


def test_sampler_takes_two_per_second_plus_the_scene_cut(pan_clip: Path) -> None:
    frames = list(sample_video(pan_clip, fps=2.0))
    times = [frame.time_s for frame in frames]
    # the first frame at or after every 0.5 s (frames are 40 ms apart), plus the cut at frame 43
    assert times == pytest.approx([0.0, 0.52, 1.0, 1.52, 1.72, 2.0, 2.52, 3.0, 3.52])
    for frame in frames:
        assert frame.time_s is not None
        assert frame.index == round(frame.time_s * CLIP_FPS)
        assert frame.pixels.shape == (176, 320, 3) and frame.pixels.dtype == np.uint8


def test_sampled_pixels_are_the_frames_at_those_times(pan_clip: Path) -> None:
    expected = pan_frames(seed=1, count=100, cut_at=43)
    for frame in sample_video(pan_clip, fps=1.0):
        difference = np.abs(frame.pixels.astype(int) - expected[frame.index].astype(int)).mean()
        neighbour = np.abs(frame.pixels.astype(int) - expected[min(frame.index + 5, 99)].astype(int)).mean()
        assert difference < 6 < neighbour


def test_sampler_rate_is_configurable(pan_clip: Path) -> None:
    times = [frame.time_s for frame in sample_video(pan_clip, fps=4.0)]
    assert times[:4] == pytest.approx([0.0, 0.24, 0.48, 0.76], abs=0.041)
    assert len(times) >= 16


def test_static_shot_collapses_to_one_frame(tmp_path: Path) -> None:
    still = texture(3)[:176, :320]
    clip = encode_clip(tmp_path / "static.mp4", [still] * 75)
    assert [frame.time_s for frame in sample_video(clip)] == [0.0]


def test_variable_frame_rate_times_come_from_timestamps(tmp_path: Path) -> None:
    frames = pan_frames(seed=4, count=12, step_px=20)
    pts_ms = [0, 40, 80, 500, 540, 1300, 1340, 1380, 2000, 2040, 2700, 3100]
    clip = encode_clip(tmp_path / "vfr.mp4", frames, pts=pts_ms, time_base=Fraction(1, 1000))
    sampled = {frame.index: frame.time_s for frame in sample_video(clip, fps=2.0)}
    for number, time_s in sampled.items():
        assert time_s == pytest.approx(pts_ms[number] / 1000, abs=0.002)
    assert 3 in sampled and sampled[3] == pytest.approx(0.5, abs=0.002)


def test_probe_reports_size_and_duration(pan_clip: Path) -> None:
    info = probe_video(pan_clip)
    assert (info.width, info.height) == (320, 176)
    assert info.duration_s == pytest.approx(4.0, abs=0.1)
    assert info.frame_rate == pytest.approx(25)


@pytest.mark.parametrize("rotation", [-90, 90, 180])
def test_video_display_rotation_is_applied(tmp_path: Path, rotation: int) -> None:
    frames = pan_frames(4, 6)
    clip = encode_clip(tmp_path / "phone.mp4", frames, display_rotation=rotation)
    stored_height, stored_width = frames[0].shape[:2]
    info = probe_video(clip)
    expected_size = (stored_height, stored_width) if rotation % 180 else (stored_width, stored_height)
    assert (info.width, info.height) == expected_size
    for frame in sample_video(clip, fps=2.0):
        upright = np.rot90(frames[frame.index], rotation // 90)
        assert frame.pixels.shape == upright.shape
        assert np.abs(frame.pixels.astype(int) - upright).mean() < 4


@pytest.mark.parametrize("pixel_format", ["yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p",
                                          "nv12", "nv21", "rgb24", "yuv420p10le"])
@pytest.mark.parametrize("color_range", [0, 1, 2])
def test_grey_from_the_luma_plane_is_what_swscale_gives(pixel_format: str, color_range: int) -> None:
    """Every one of the 256 luma levels, in every format and colour range: the fast path against swscale."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pixel_format)
    if pixel_format in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12", "nv21"):
        plane = frame.planes[0]
        levels = np.resize(np.arange(256, dtype=np.uint8), (frame.height, plane.line_size))
        plane.update(levels.tobytes())  # all 256 levels, each several times
    frame.color_range = color_range
    assert np.array_equal(upright_grey(frame), upright_pixels(frame, "gray"))


def test_grey_of_a_turned_video_frame_is_turned_too(tmp_path: Path) -> None:
    clip = encode_clip(tmp_path / "phone.mp4", pan_frames(4, 3), display_rotation=90)
    with av.open(str(clip)) as container:
        for frame in container.decode(video=0):
            grey = upright_grey(frame)
            assert np.array_equal(grey, upright_pixels(frame, "gray"))
            assert grey.shape[0] > grey.shape[1]  # stored landscape, displayed portrait


#: How each EXIF orientation (TIFF/EXIF tag 0x0112) turns the stored pixels into the picture
#: as displayed, written independently of provcheck's own table with NumPy: 1 as stored,
#: 2 mirrored, 3 turned 180°, 4 flipped upside down, 5 transposed (mirrored, then 90°
#: counter-clockwise), 6 turned 90° clockwise, 7 transversed, 8 turned 90° counter-clockwise.
_DISPLAYED = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1, :],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).transpose(1, 0, 2),
    8: lambda a: np.rot90(a, 1),
}
#: Each display transform undone: the pixels a camera stores for an upright picture.
_STORED = {1: _DISPLAYED[1], 2: _DISPLAYED[2], 3: _DISPLAYED[3], 4: _DISPLAYED[4], 5: _DISPLAYED[5],
           6: _DISPLAYED[8], 7: _DISPLAYED[7], 8: _DISPLAYED[6]}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(tmp_path: Path, orientation: int) -> None:
    upright = texture(9, 60, 100)  # wider than tall, no symmetry: a wrong turn or flip cannot pass
    stored = np.ascontiguousarray(_STORED[orientation](upright))
    assert np.array_equal(_DISPLAYED[orientation](stored), upright)
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(tmp_path / "stored.png", exif=exif)  # lossless: pixels compare exactly
    Image.fromarray(stored).save(tmp_path / "stored.jpg", exif=exif, quality=95)
    assert np.array_equal(np.asarray(load_image(tmp_path / "stored.png")), upright)
    from_jpeg = np.asarray(load_image(tmp_path / "stored.jpg")).astype(int)
    assert from_jpeg.shape == upright.shape
    assert np.abs(from_jpeg - upright).mean() < 15  # JPEG loss on this detailed texture: about 7
    for wrong in (2, 3, 4):  # the same size as upright but mirrored or turned: the tolerance tells them apart
        assert np.abs(from_jpeg - _DISPLAYED[wrong](upright)).mean() > 40  # measured 73-92


@pytest.mark.parametrize("mode", ["RGBA", "P", "L", "CMYK", "I;16", "LA"])
def test_every_mode_loads_as_rgb(tmp_path: Path, mode: str) -> None:
    base = Image.fromarray(texture(2, 40, 50))
    converted = base.convert("I").convert("I;16") if mode == "I;16" else base.convert(mode)
    suffix = ".tif" if mode == "CMYK" else ".png"
    converted.save(tmp_path / f"img{suffix}")
    frame = image_frame(tmp_path / f"img{suffix}")
    assert frame.pixels.shape == (40, 50, 3) and frame.pixels.dtype == np.uint8


def test_animated_gif_gives_first_frame(tmp_path: Path) -> None:
    red = Image.new("RGB", (20, 20), (255, 0, 0))
    blue = Image.new("RGB", (20, 20), (0, 0, 255))
    red.save(tmp_path / "anim.gif", save_all=True, append_images=[blue])
    pixels = image_frame(tmp_path / "anim.gif").pixels
    assert pixels[10, 10, 0] > 200 and pixels[10, 10, 2] < 50


def test_media_kind_sniffs_content_not_extension(tmp_path: Path, pan_clip: Path, still_path: Path) -> None:
    disguised = tmp_path / "really_a_png.mp4"
    disguised.write_bytes(still_path.read_bytes())
    assert media_kind(disguised) == "image"
    video_as_jpg = tmp_path / "really_a_video.jpg"
    video_as_jpg.write_bytes(pan_clip.read_bytes())
    assert media_kind(video_as_jpg) == "video"


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.png"
    Image.new("1", (20_000, 20_000)).save(bomb)
    with pytest.raises(MediaError, match="bomb"):
        load_image(bomb)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty.jpg", b"", "empty file"),
        ("noise.jpg", bytes(range(256)) * 8, "not a supported image"),
        ("notes.txt", b"just some text\n" * 20, "not a supported image"),
    ],
)
def test_unreadable_images_raise_media_error(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(MediaError, match=message) as caught:
        load_image(path)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_truncated_jpeg_raises_media_error(tmp_path: Path, still_path: Path) -> None:
    jpeg = tmp_path / "full.jpg"
    Image.open(still_path).save(jpeg, quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(jpeg.read_bytes()[: jpeg.stat().st_size // 2])
    with pytest.raises(MediaError, match="truncated"):
        load_image(truncated)


def test_truncated_video_is_not_sampled_partially(tmp_path: Path, pan_clip: Path) -> None:
    data = pan_clip.read_bytes()
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(MediaError) as caught:
        list(sample_video(truncated))
    assert str(truncated) in str(caught.value)


def test_sampling_rate_must_be_positive(pan_clip: Path) -> None:
    with pytest.raises(ValueError, match="positive"):
        list(sample_video(pan_clip, fps=0))

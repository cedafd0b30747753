"""The edits kit: what is done to a frame grab or photo before it is posted as a "claimed photo".

This module owns every edit the corpora apply (crop, caption bar, border, logo, credit
stamp, JPEG round trip, downscale, mirror, rotation, grayscale, contrast, screenshot in
a fake UI) and the font helpers they draw text with.  Every edit takes a Pillow image
or a uint8 RGB array and returns a new RGB Pillow image; none uses randomness, a clock
or a system font (Pillow's built-in scalable font only).
"""

from __future__ import annotations

import io
import math
from functools import lru_cache

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFont

from .base import ImageLike

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


@lru_cache(maxsize=64)
def font(size: int) -> Font:
    """Pillow's built-in font at ``size`` px (at least 6), cached.

    Args:
        size: Font size in pixels.

    Returns:
        The font (shared through the cache: do not draw with it from two threads at once).
    """
    return ImageFont.load_default(size=max(6, int(size)))


def text_size(draw: ImageDraw.ImageDraw, text: str, font: Font) -> tuple[int, int]:
    """Width and height of the ink of ``text`` drawn with ``font``.

    Args:
        draw: Any drawing context (only measures).
        text: The text.
        font: The font, e.g. from :func:`font`.

    Returns:
        ``(width, height)`` of the text's bounding box in pixels.
    """
    box = draw.textbbox((0, 0), text, font=font)
    return int(box[2] - box[0]), int(box[3] - box[1])


def _to_pil(img: ImageLike) -> Image.Image:
    if isinstance(img, Image.Image):
        return img.convert("RGB")
    return Image.fromarray(np.ascontiguousarray(img, dtype=np.uint8)).convert("RGB")


def crop(img: ImageLike, box_frac: tuple[float, float, float, float]) -> Image.Image:
    """Crop a region given in fractions of the image size.

    Args:
        img: Input image.
        box_frac: ``(x, y, w, h)``, each in ``[0, 1]`` relative to the image size.

    Returns:
        The cropped image.
    """
    im = _to_pil(img)
    x, y, w, h = box_frac
    W, H = im.size
    return im.crop((round(x * W), round(y * H), round((x + w) * W), round((y + h) * H)))


def add_caption_bar(img: ImageLike, text: str, position: str = "bottom", extend: bool = True,
                    height_frac: float = 0.13, tag: str | None = None) -> Image.Image:
    """Add a news-style caption bar (dark blue, white text, optional red tag).

    Args:
        img: Input image.
        text: Caption; the font shrinks (and the text is truncated) to fit.
        position: ``"bottom"`` or ``"top"``.
        extend: Add the bar outside the picture (default) instead of covering it.
        height_frac: Bar height as a fraction of the image height.
        tag: Optional short label in a red box at the left of the bar.

    Returns:
        The captioned image.
    """
    im = _to_pil(img)
    W, H = im.size
    bar_h = max(16, round(H * height_frac))
    if extend:
        out = Image.new("RGB", (W, H + bar_h), (14, 22, 46))
        out.paste(im, (0, bar_h if position == "top" else 0))
    else:
        out = im.copy()
    y0 = 0 if position == "top" else out.height - bar_h
    dr = ImageDraw.Draw(out)
    dr.rectangle([0, y0, W, y0 + bar_h], fill=(14, 22, 46))
    x = round(0.02 * W)
    size = round(bar_h * 0.5)
    if tag:
        tf = font(size)
        tw, _ = text_size(dr, tag, tf)
        dr.rectangle([0, y0, x + tw + x, y0 + bar_h], fill=(196, 18, 30))
        dr.text((x, y0 + bar_h / 2), tag, font=tf, fill=(255, 255, 255), anchor="lm")
        x += tw + 2 * x
    avail = W - x - round(0.02 * W)
    while size > 7 and text_size(dr, text, font(size))[0] > avail:
        size -= 1
    while len(text) > 4 and text_size(dr, text, font(size))[0] > avail:
        text = text[:-4] + "..."
    dr.text((x, y0 + bar_h / 2), text, font=font(size), fill=(255, 255, 255), anchor="lm")
    return out


def add_border(img: ImageLike, px: int, color: tuple[int, int, int] = (255, 255, 255)) -> Image.Image:
    """Pad the image with a solid border.

    Args:
        img: Input image.
        px: Border width in pixels on every side.
        color: Border RGB colour.

    Returns:
        The image, ``2 * px`` larger in each dimension.
    """
    im = _to_pil(img)
    out = Image.new("RGB", (im.width + 2 * px, im.height + 2 * px), color)
    out.paste(im, (px, px))
    return out


def add_logo(img: ImageLike, text: str, corner: str = "top-right", opacity: float = 0.7) -> Image.Image:
    """Stamp a small semi-opaque rounded logo/watermark in a corner.

    Args:
        img: Input image.
        text: Logo text (rendered at ~5.5 % of the image height).
        corner: ``"top-left"``, ``"top-right"``, ``"bottom-left"`` or ``"bottom-right"``.
        opacity: Logo opacity in ``[0, 1]``.

    Returns:
        The stamped image (same size).
    """
    im = _to_pil(img).convert("RGBA")
    W, H = im.size
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    dr = ImageDraw.Draw(layer)
    face = font(round(H * 0.055))
    tw, th = text_size(dr, text, face)
    pad, m = round(H * 0.015) + 2, round(H * 0.03)
    bw, bh = tw + 2 * pad, th + 2 * pad
    x = m if "left" in corner else W - m - bw
    y = m if "top" in corner else H - m - bh
    a = round(255 * opacity)
    dr.rounded_rectangle([x, y, x + bw, y + bh], radius=pad, fill=(160, 16, 24, a),
                         outline=(255, 255, 255, a), width=1)
    dr.text((x + bw / 2, y + bh / 2), text, font=face, fill=(255, 255, 255, a), anchor="mm")
    return Image.alpha_composite(im, layer).convert("RGB")


def stamp_credit(img: ImageLike, text: str, corner: str = "bottom-right", size: int = 28, margin: int = 20,
                 opacity: float = 0.85) -> Image.Image:
    """Stamp an agency credit line: plain white text, no box, as agencies and broadcasters do.

    Every photo of an agency carries the same credit in the same place, which is what the
    shared-credit bench and tests need.

    Args:
        img: Input image.
        text: The credit, e.g. ``"AFP PHOTO / STR"``.
        corner: ``"bottom-right"`` (default), ``"bottom-left"``, ``"top-left"`` or ``"top-right"``.
        size: Font size in pixels.
        margin: Distance of the text's ink box from the two nearest edges, in pixels.
        opacity: Text opacity in ``[0, 1]``.

    Returns:
        The stamped image (same size).
    """
    im = _to_pil(img).convert("RGBA")
    layer = Image.new("RGBA", im.size, (0, 0, 0, 0))
    dr = ImageDraw.Draw(layer)
    face = font(size)
    width, height = text_size(dr, text, face)
    x = margin if "left" in corner else im.width - width - margin
    y = margin if "top" in corner else im.height - height - margin
    dr.text((x, y), text, font=face, fill=(255, 255, 255, round(255 * opacity)))
    return Image.alpha_composite(im, layer).convert("RGB")


def jpeg(img: ImageLike, quality: int) -> Image.Image:
    """Simulate a JPEG recompression.

    Args:
        img: Input image.
        quality: Pillow JPEG quality (1-95), 4:2:0 chroma subsampling.

    Returns:
        The decoded result of the round trip.
    """
    buf = io.BytesIO()
    _to_pil(img).save(buf, format="JPEG", quality=quality)
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def downscale(img: ImageLike, width: int) -> Image.Image:
    """Resize (Lanczos) keeping the aspect ratio; never upscales.

    Args:
        img: Input image.
        width: Target width in pixels.

    Returns:
        The resized image (a copy when already narrower).
    """
    im = _to_pil(img)
    if width >= im.width:
        return im.copy()
    return im.resize((width, max(1, round(im.height * width / im.width))), Image.Resampling.LANCZOS)


def mirror(img: ImageLike) -> Image.Image:
    """Flip left-right (a mirrored copy of ``img``)."""
    return _to_pil(img).transpose(Image.Transpose.FLIP_LEFT_RIGHT)


def rotation_crop_scale(width: int, height: int, deg: float) -> float:
    """Scale of the largest centred, same-aspect rectangle inside a rotated image.

    Args:
        width: Image width.
        height: Image height.
        deg: Rotation angle in degrees.

    Returns:
        The factor ``k`` (<= 1) such that a ``k * width`` by ``k * height`` centred
        rectangle has no empty corners after rotation.
    """
    c, s = abs(math.cos(math.radians(deg))), abs(math.sin(math.radians(deg)))
    return min(width / (width * c + height * s), height / (width * s + height * c))


def rotation_crop_box(width: int, height: int, deg: float) -> tuple[float, float, float, float]:
    """The box :func:`rotate` crops from the rotated image: the inscribed rectangle, inset a little.

    Args:
        width: Image width.
        height: Image height.
        deg: Rotation angle in degrees.

    Returns:
        ``(x, y, w, h)`` in fractions of the image size (as :func:`crop` takes): the
        :func:`rotation_crop_scale` rectangle shrunk by 0.2 % of the size on every side,
        so that no interpolated edge pixel remains.
    """
    k = rotation_crop_scale(width, height, deg)
    inset, side = (1 - k) / 2 + 0.002, k - 0.004
    return inset, inset, side, side


def rotate(img: ImageLike, deg: float, expand: bool = False) -> Image.Image:
    """Rotate counter-clockwise by ``deg`` (bicubic).

    Args:
        img: Input image.
        deg: Angle in degrees.
        expand: Grow the canvas (black corners) instead of cropping to the
            largest centred rectangle of the original aspect ratio
            (:func:`rotation_crop_box`).

    Returns:
        The rotated image.
    """
    im = _to_pil(img)
    if expand:
        return im.rotate(deg, Image.Resampling.BICUBIC, expand=True)
    r = im.rotate(deg, Image.Resampling.BICUBIC)
    return crop(r, rotation_crop_box(im.width, im.height, deg))


def grayscale(img: ImageLike) -> Image.Image:
    """Convert to luminance, returned as 3-channel RGB."""
    return _to_pil(img).convert("L").convert("RGB")


def contrast(img: ImageLike, factor: float, gamma: float = 1.0) -> Image.Image:
    """Change contrast, then apply a gamma curve.

    Args:
        img: Input image.
        factor: Contrast factor around the mean grey (1.0 = unchanged).
        gamma: Exponent of ``out = 255 * (in / 255) ** gamma`` (1.0 = unchanged).

    Returns:
        The adjusted image.
    """
    im = ImageEnhance.Contrast(_to_pil(img)).enhance(factor)
    lut = [min(255, round(255 * (v / 255) ** gamma)) for v in range(256)]
    return im.point(lut * 3)


def screenshot(img: ImageLike, style: str = "phone", header: str = "@mod_news",
               caption: str = "", url: str = "https://video.example.org/watch") -> Image.Image:
    """Paste the image into a fake UI: a phone social-media post or a desktop video player.

    Args:
        img: The picture shown inside the UI.
        style: ``"phone"`` (status bar, account row, post text, action row) or
            ``"player"`` (browser window chrome, address bar, progress bar, title).
        header: Account name (phone) or window title (player).
        caption: Post text (phone) or video title under the player.
        url: Address-bar text (player only).

    Returns:
        The screenshot.  The picture is scaled to the UI width (phone: 540 px,
        player: 800 px), never cropped.
    """
    im = _to_pil(img)
    if style == "phone":
        return _phone_post(im, header, caption)
    if style != "player":
        raise ValueError(f"unknown screenshot style {style!r}")
    return _player_window(im, header, caption, url)


def _phone_post(im: Image.Image, header: str, caption: str) -> Image.Image:
    """``im`` 540 px wide in a social-media post: status bar, account row, text, action row."""
    cw = 540
    pic = im.resize((cw, round(im.height * cw / im.width)), Image.Resampling.LANCZOS)
    top, ph = 150, pic.height
    out = Image.new("RGB", (cw, top + ph + 110), (255, 255, 255))
    dr = ImageDraw.Draw(out)
    dr.rectangle([0, 0, cw, 30], fill=(20, 20, 20))
    dr.text((14, 15), "9:41", font=font(16), fill=(255, 255, 255), anchor="lm")
    dr.rectangle([cw - 44, 9, cw - 14, 21], outline=(255, 255, 255), width=2)
    dr.rectangle([cw - 42, 11, cw - 24, 19], fill=(255, 255, 255))
    dr.ellipse([14, 44, 58, 88], fill=(30, 60, 120))
    dr.text((70, 54), header, font=font(18), fill=(20, 20, 20), anchor="lm")
    dr.text((70, 78), "2h", font=font(14), fill=(120, 120, 120), anchor="lm")
    dr.text((14, 118), caption[:60], font=font(16), fill=(20, 20, 20), anchor="lm")
    out.paste(pic, (0, top))
    y = top + ph + 40
    for k, label in enumerate(("Reply", "Repost 1,204", "Like 2,310", "Share")):
        dr.text((14 + k * 130, y), label, font=font(14), fill=(90, 90, 90), anchor="lm")
    dr.line([(0, y + 30), (cw, y + 30)], fill=(220, 220, 220), width=1)
    return out


def _player_window(im: Image.Image, header: str, caption: str, url: str) -> Image.Image:
    """``im`` 800 px wide in a desktop browser's video player: window chrome, address bar, progress, title."""
    cw = 800
    pic = im.resize((cw, round(im.height * cw / im.width)), Image.Resampling.LANCZOS)
    top = 72
    out = Image.new("RGB", (cw + 40, top + pic.height + 120), (248, 248, 248))
    dr = ImageDraw.Draw(out)
    dr.rectangle([0, 0, out.width, 30], fill=(222, 225, 230))
    for k, col in enumerate(((236, 95, 88), (245, 190, 80), (98, 196, 84))):
        dr.ellipse([12 + k * 20, 9, 24 + k * 20, 21], fill=col)
    dr.text((90, 15), header, font=font(13), fill=(40, 40, 40), anchor="lm")
    dr.rounded_rectangle([20, 38, out.width - 20, 62], radius=10, fill=(255, 255, 255),
                         outline=(200, 200, 200))
    dr.text((34, 50), url, font=font(13), fill=(60, 60, 60), anchor="lm")
    out.paste(pic, (20, top))
    y = top + pic.height
    dr.rectangle([20, y, 20 + cw, y + 26], fill=(15, 15, 15))
    dr.rectangle([20, y + 2, 20 + int(cw * 0.62), y + 5], fill=(230, 30, 30))
    dr.text((30, y + 16), "0:08 / 0:14", font=font(12), fill=(235, 235, 235), anchor="lm")
    dr.text((20, y + 50), caption[:80], font=font(18), fill=(20, 20, 20), anchor="lm")
    dr.text((20, y + 80), "GameDev Studio  -  48,211 views", font=font(13), fill=(110, 110, 110),
            anchor="lm")
    return out

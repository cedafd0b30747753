"""A still's own capture date, from its EXIF or XMP metadata, for dating a claim.

Only the dates that say when the picture was taken are read: EXIF DateTimeOriginal,
then DateTimeDigitized (with their OffsetTime tags when present), then XMP
``exif:DateTimeOriginal``, ``photoshop:DateCreated`` or ``xmp:CreateDate``. EXIF
``DateTime`` is left out: editors set it when they save, and a claim is usually an
edit. A date-time without a zone keeps only its date (its instant is unknown). A
date that is malformed, zeroed or in the future is ignored: metadata is the claim's
own word, not evidence, and a report says where its date came from.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

from PIL import Image

from ..dates import ClaimedDate, parse_published
from .sniff import _pillow_formats

_EXIF_IFD = 0x8769
#: (date tag, its offset tag) in the EXIF sub-IFD, in order of preference.
_EXIF_DATES = ((0x9003, 0x9011), (0x9004, 0x9012))
_EXIF_FORMAT = re.compile(r"^(\d{4}):(\d{2}):(\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_XMP_DATES = ("exif:DateTimeOriginal", "photoshop:DateCreated", "xmp:CreateDate")


def capture_date(path: Path) -> ClaimedDate | None:
    """The capture date a still's metadata gives, or None (none, unreadable, not plausible)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns on corrupt EXIF: stray lines on stderr otherwise
            with Image.open(path, formats=_pillow_formats()) as image:
                exif = image.getexif().get_ifd(_EXIF_IFD)
                xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    except Exception:  # noqa: BLE001 - metadata is optional: a hostile file's EXIF may raise anything Pillow's parser meets
        return None
    for date_tag, offset_tag in _EXIF_DATES:
        found = _exif_date(exif.get(date_tag), exif.get(offset_tag))
        if found is not None:
            return ClaimedDate(found, "exif")
    if xmp:
        text = xmp.decode("utf-8", "replace") if isinstance(xmp, bytes) else str(xmp)
        for name in _XMP_DATES:
            match = re.search(re.escape(name) + r"""\s*=\s*["']([^"']+)["']|<""" + re.escape(name) + r">([^<]+)<", text)
            found = _plausible(match.group(1) or match.group(2)) if match else None
            if found is not None:
                return ClaimedDate(found, "xmp")
    return None


def _exif_date(value: object, offset: object) -> str | None:
    match = _EXIF_FORMAT.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        return None
    year, month, day, hour, minute, second = match.groups()
    zone = offset.strip() if isinstance(offset, str) and re.fullmatch(r"\s*[+-]\d{2}:\d{2}\s*", offset) else ""
    exact = _plausible(f"{year}-{month}-{day}T{hour}:{minute}:{second}{zone}") if zone else None
    return exact or _plausible(f"{year}-{month}-{day}")  # a bad time (or none with a zone) keeps the date


def _plausible(text: str) -> str | None:
    """``text`` as a stored date if it is a real, past date (a zone-less date-time keeps its date), else None."""
    text = text.strip()
    if len(text) > 10 and not re.search(r"(Z|[+-]\d{2}:?\d{2})$", text):
        text = text[:10]
    try:
        return parse_published(text)
    except ValueError:
        return None

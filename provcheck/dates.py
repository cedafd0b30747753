"""Publication dates: what is accepted, how it is stored, and how two are ordered.

A source's date is what a fact-check leans on ("published two years before the
claim"), so it is checked on the way in: a real calendar date (``2016-06-30``) or an
ISO date-time with its zone (``2016-06-30T14:05:00+03:00``, ``...Z``). A date-time
without a zone is refused (its instant is unknown), and so is a date in the future
(a typo, or a wrong column). Dates are stored as given, normalised; they are
ordered by their instant in UTC, a plain date counting from its midnight in UTC.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

#: A plain date is in the future only once it has begun everywhere (the earliest zone is UTC+14).
_EARLIEST_ZONE = dt.timedelta(hours=14)


def parse_published(value: str | None, now: dt.datetime | None = None) -> str | None:
    """Check a publication date and return it normalised (None for none given).

    Args:
        value: ``YYYY-MM-DD``, or an ISO 8601 date-time with a zone offset or ``Z``.
        now: the present (default: the clock), for testing.

    Raises:
        ValueError: not a real date or date-time with zone, or in the future.
    """
    if value is None or value.strip() == "":
        return None
    text = value.strip()
    if not _EXTENDED.match(text):  # the extended form only: 20160630 is not taken for a date-time
        raise ValueError(_SHAPE.format(value=value))
    if text[-1:] in ("Z", "z"):  # Python 3.10's fromisoformat does not read the Z suffix
        text = text[:-1] + "+00:00"
    present = now or dt.datetime.now(dt.timezone.utc)
    if len(text) == 10:
        try:
            day = dt.date.fromisoformat(text)
        except ValueError:
            raise ValueError(_SHAPE.format(value=value)) from None
        if day > (present + _EARLIEST_ZONE).date():
            raise ValueError(f"The publication date {value!r} is in the future.")
        return day.isoformat()
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(_SHAPE.format(value=value)) from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"The publication time {value!r} has no zone: add one, e.g. {text}Z or {text}+03:00.")
    if moment > present:
        raise ValueError(f"The publication time {value!r} is in the future.")
    return moment.isoformat()


_EXTENDED = re.compile(r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}.*)?$")
_SHAPE = ("The publication date must be a real date written YYYY-MM-DD, or an ISO date-time with a zone "
          "(2016-06-30T14:05:00+03:00), not {value!r}.")


def published_instant(published: str) -> dt.datetime:
    """The UTC instant of a stored publication date (a plain date: its midnight in UTC)."""
    if len(published) == 10:
        return dt.datetime.combine(dt.date.fromisoformat(published), dt.time(), tzinfo=dt.timezone.utc)
    return dt.datetime.fromisoformat(published).astimezone(dt.timezone.utc)


def earliest_first(published: str | None) -> tuple[bool, dt.datetime]:
    """Sort key: dated before undated, then the earlier instant first."""
    if published is None:
        return True, dt.datetime.min.replace(tzinfo=dt.timezone.utc)
    return False, published_instant(published)


@dataclass(frozen=True)
class ClaimedDate:
    """When the claim was made or taken, and where that date comes from.

    ``origin`` is ``"given"`` (``match --claimed-date``), ``"exif"`` or ``"xmp"`` (the
    claim file's own capture date, which an editor may have kept or rewritten).
    """

    date: str
    origin: str


def given_claim_date(value: str, now: dt.datetime | None = None) -> ClaimedDate:
    """A claim date given by the user, checked as a publication date is.

    Raises:
        ValueError: not a date or zoned date-time, or in the future.
    """
    date = parse_published(value, now)
    if date is None:
        raise ValueError("The claim date is empty.")
    return ClaimedDate(date, "given")


def days_before(published: str, claimed: str) -> float:
    """Days from a source's publication to the claim's date (negative: published after the claim).

    When either is a plain date the two are compared as calendar days, each as
    written (a date-time counts on the date of its own zone); otherwise to the second.
    """
    if len(published) == 10 or len(claimed) == 10:
        return float((dt.date.fromisoformat(claimed[:10]) - dt.date.fromisoformat(published[:10])).days)
    return (published_instant(claimed) - published_instant(published)).total_seconds() / 86400.0

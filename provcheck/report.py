"""Rendering results as human text or as the ``--json`` contract. Pure: returns strings.

Every document the CLI prints on stdout is built here (``match``, ``index add``,
``list``, ``info``, ``check``, ``remove``); ``cli.py`` only echoes them. The JSON forms
are a public interface (documented in the README); their keys only ever grow, and
``schema`` is bumped on any incompatible change.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .dates import ClaimedDate, days_before
from .results import Box, ClaimResult, Derivation, FailedFile, Match, SkippedFile
from .store import IndexStats, IntegrityReport, SourceRecord

if TYPE_CHECKING:  # the migration module brings psycopg, which only `index migrate` needs
    from .store.migrate import Migrated

JSON_SCHEMA_VERSION = 1
#: The JSON Schema of every document below (and of each ``--json-lines`` line and the error object).
OUTPUT_SCHEMA = Path(__file__).parent / "schemas" / "output.schema.json"


def _head(index_location: str | None) -> dict[str, Any]:
    """What every JSON document (and every ``--json-lines`` line) starts with; the error object has no index."""
    head: dict[str, Any] = {"schema": JSON_SCHEMA_VERSION, "provcheck": __version__}
    if index_location is not None:
        head["index"] = index_location
    return head


def _dumped(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def error_json(message: str, exit_code: int) -> str:
    """The one object ``--json`` and ``--json-lines`` print when a command stops with an error."""
    return json.dumps({**_head(None), "error": message, "exit_code": exit_code}, ensure_ascii=False)

_TRIM_WORDS = {
    "border": "border trimmed",
    "caption_bottom": "caption bar at bottom trimmed",
    "caption_top": "caption bar at top trimmed",
}


def format_timestamp(seconds: float) -> str:
    """``HH:MM:SS.ss`` as video players show it, to the frame, e.g. ``00:00:41.52``."""
    hundredths = int(round(seconds * 100))
    hours, rest = divmod(hundredths, 360000)
    minutes, rest = divmod(rest, 6000)
    return f"{hours:02d}:{minutes:02d}:{rest / 100:05.2f}"


def source_json(source: SourceRecord, full: bool = False) -> dict[str, Any]:
    """A source as a JSON object; ``full`` adds file and stream details."""
    data: dict[str, Any] = {
        "id": source.id,
        "kind": source.kind,
        "title": source.title,
        "url": source.url,
        "published": source.published,
        "path": source.path,
    }
    if full:
        data.update(
            notes=source.notes,
            sha256=source.sha256,
            duration_s=source.duration_s,
            width=source.width,
            height=source.height,
            frames=source.frame_count,
            added_at=source.added_at,
        )
    return data


def _box(box: Box | None) -> dict[str, float] | None:
    return None if box is None else {"x": box.x, "y": box.y, "w": box.w, "h": box.h}


def derivation_json(derivation: Derivation) -> dict[str, Any]:
    tone = derivation.tone
    crop_px = derivation.crop_px
    return {
        "mirrored": derivation.mirrored,
        "crop": _box(derivation.crop),
        "rotation_deg": derivation.rotation_deg,
        "trimmed": list(derivation.trimmed),
        "method": derivation.method,
        "identical": derivation.identical,
        "crop_px": None if crop_px is None else {"x": crop_px.x, "y": crop_px.y, "w": crop_px.w, "h": crop_px.h},
        "frame_share": derivation.frame_share,
        "scale": derivation.scale,
        "added": [{"kind": band.kind, "side": band.side, "box": _box(band.box)} for band in derivation.added],
        "tone": None if tone is None else {
            "grayscale": tone.grayscale, "contrast": tone.contrast, "brightness": tone.brightness,
            "changed": tone.changed,
        },
    }


def time_phrases(match: Match) -> tuple[str, str | None] | None:
    """Where in its video a match is, in words: the time (and frame), and the window of times as good, if any.

    None for a still image. E.g. ``("00:00:08.92 (frame 223)", "00:00:08.88-00:00:09.00")``.
    """
    if match.timestamp_s is None:
        return None
    at = format_timestamp(match.timestamp_s) + (f" (frame {match.frame})" if match.frame is not None else "")
    window = match.window_s
    if window is None or window[1] <= window[0]:
        return at, None
    return at, f"{format_timestamp(window[0])}-{format_timestamp(window[1])}"


def days_before_claim(match: Match, claimed: ClaimedDate | None) -> float | None:
    """Days from the source's publication to the claim (negative: after it); None when either is undated."""
    if claimed is None or match.source.published is None:
        return None
    return round(days_before(match.source.published, claimed.date), 2)


def match_json(match: Match, claimed: ClaimedDate | None = None) -> dict[str, Any]:
    window = match.window_s
    evidence = match.evidence
    days = days_before_claim(match, claimed)
    return {
        "source": source_json(match.source),
        "verdict": match.verdict.value,
        "earliest": match.earliest,
        "days_before_claim": days,
        "published_after_claim": None if days is None else days < 0,
        "timestamp": match.timestamp_s,
        "frame": match.frame,
        "window": None if window is None else {"start": window[0], "end": window[1]},
        "confidence": match.confidence,
        "distance": dict(sorted(match.distance.items())),
        "evidence": {
            "inliers": evidence.inliers,
            "putative": evidence.putative,
            "hull_share": evidence.hull_share,
            "residual_px": evidence.residual_px,
            "hash_evidence": evidence.hash_evidence,
            "pixel_agreement": evidence.pixel_agreement,
            "agreement_cells": evidence.agreement_cells,
        },
        "derivation": derivation_json(match.derivation),
    }


def claim_json(result: ClaimResult) -> dict[str, Any]:
    """One claim's result: an entry of the ``match --json`` ``results`` list."""
    claimed = result.claimed_date
    return {
        "query": result.query,
        "sha256": result.sha256,
        "verdict": result.verdict.value,
        "error": result.error,
        "claimed_date": None if claimed is None else {"date": claimed.date, "from": claimed.origin},
        "matches": [match_json(match, claimed) for match in result.matches],
    }


def results_json(results: Sequence[ClaimResult], index_location: str) -> str:
    """The ``match --json`` document."""
    return _dumped({**_head(index_location), "results": [claim_json(result) for result in results]})


def claim_line(result: ClaimResult, index_location: str) -> str:
    """One line of ``match --json-lines``: :func:`claim_json` with ``schema`` and ``index``, on one line."""
    document = {**_head(index_location), **claim_json(result)}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


_SIDES = {"top": "at top", "bottom": "at bottom", "left": "on the left", "right": "on the right"}
_KINDS = {"caption_bar": "caption bar", "border": "border", "padding": "padding",
          "unexplained": "content not from this source"}


def describe_derivation(derivation: Derivation) -> str:
    """One line saying how the claim differs from its source.

    E.g. ``cropped to 31 % of the frame (x 0.42 y 0.18 w 0.50 h 0.62), mirrored,
    caption bar added at bottom``.
    """
    parts: list[str] = ["byte-identical file (same SHA-256)"] if derivation.identical else []
    crop = derivation.crop
    if derivation.identical and derivation.method == "identical":
        return parts[0]
    if crop is not None:
        share = derivation.frame_share if derivation.frame_share is not None else crop.w * crop.h
        parts.append(
            f"cropped to {share * 100:.0f} % of the frame (x {crop.x:.2f} y {crop.y:.2f} w {crop.w:.2f} h {crop.h:.2f})"
        )
    else:
        parts.append("whole frame")
    if derivation.mirrored:
        parts.append("mirrored")
    if derivation.rotation_deg is not None and abs(derivation.rotation_deg) >= 0.5:
        direction = "counter-clockwise" if derivation.rotation_deg > 0 else "clockwise"
        parts.append(f"rotated {abs(derivation.rotation_deg):.1f}° {direction}")
    if derivation.method == "features":
        sides_of: dict[str, list[str]] = {}
        for band in derivation.added:
            sides_of.setdefault(band.kind, []).append(band.side)
        for kind, sides in sides_of.items():
            where = "on all sides" if len(set(sides)) == 4 else " and ".join(_SIDES.get(side, side) for side in sides)
            parts.append(f"{_KINDS.get(kind, kind)} added {where}")
    else:
        parts.extend(_TRIM_WORDS.get(label, f"{label} trimmed") for label in derivation.trimmed)
    tone = derivation.tone
    if tone is not None:
        if tone.grayscale:
            parts.append("grayscale")
        if tone.changed:
            parts.append(f"tone changed (contrast x{tone.contrast:.2f}, brightness {tone.brightness:+.0f})")
    return ", ".join(parts)


def _dating_text(match: Match, claimed: ClaimedDate | None) -> str:
    """How the source's date stands to the claim's, in words (empty when there is nothing to say)."""
    if match.source.published is None:
        return "  (undated: cannot be ordered against other copies or the claim)"
    days = days_before_claim(match, claimed)
    if days is None:
        return "  (earliest known source)" if match.earliest else ""
    earliest = ", earliest known source" if match.earliest else ""
    if days < 0:
        return f"  ({-days:g} days AFTER the claim: unlikely to be its origin{earliest})"
    return f"  ({days:g} days before the claim{earliest})"


def _match_text(rank: int, match: Match, claimed: ClaimedDate | None = None) -> list[str]:
    source = match.source
    lines = [f"  {rank}. {source.title}  [{source.kind} #{source.id}]"]
    phrases = time_phrases(match)
    if phrases is not None:
        at, window = phrases
        lines.append(f"     at {at}" + (f", equally good {window}" if window else ""))
    dating = _dating_text(match, claimed)
    lines.append(f"     published {source.published or 'unknown'}  {source.url or '(no url)'}{dating}")
    distances = ", ".join(f"{name} {bits}" for name, bits in sorted(match.distance.items()))
    evidence = f"{match.evidence.inliers} inliers, " if match.evidence.inliers else ""
    if match.evidence.pixel_agreement is not None:
        evidence += f"{match.evidence.pixel_agreement:.0%} of the picture reproduced, "
    lines.append(f"     {match.verdict.value}, confidence {match.confidence:.2f} ({evidence}{distances})")
    lines.append(f"     derivation: {describe_derivation(match.derivation)}")
    lines.append(f"     file: {source.path}")
    return lines


_ORIGIN_WORDS = {"given": "as given", "exif": "from its EXIF capture date", "xmp": "from its XMP capture date"}


def results_text(results: Sequence[ClaimResult]) -> str:
    """Human-readable report of ``match`` results, one block per claim."""
    blocks: list[str] = []
    for result in results:
        if result.error is not None:
            blocks.append(f"{result.query}: ERROR {result.error}")
            continue
        claimed = result.claimed_date
        dated = "" if claimed is None else f"  (claim dated {claimed.date}, {_ORIGIN_WORDS[claimed.origin]})"
        lines = [f"{result.query}: {result.verdict.value.upper()}{dated}"]
        if not result.matches:
            lines.append("  no indexed source matches")
        for rank, match in enumerate(result.matches, start=1):
            lines.extend(_match_text(rank, match, claimed))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def sources_json(sources: Sequence[SourceRecord], index_location: str) -> str:
    return _dumped({**_head(index_location), "sources": [source_json(s, full=True) for s in sources]})


def sources_text(sources: Sequence[SourceRecord]) -> str:
    """The ``index list`` table: a header, then a line a source (the URL last: it is the longest)."""
    rows = [("ID", "KIND", "LENGTH", "FRAMES", "PUBLISHED", "TITLE", "URL")]
    for source in sources:
        length = f"{source.duration_s:.1f} s" if source.duration_s is not None else "still"
        rows.append((str(source.id), source.kind, length, str(source.frame_count), source.published or "-",
                     source.title, source.url or "-"))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    right = {0, 2, 3}  # numbers line up on the right
    lines = []
    for row in rows:
        cells = [cell.rjust(width) if column in right else cell.ljust(width)
                 for column, (cell, width) in enumerate(zip(row, widths, strict=False))]
        lines.append("  ".join([*cells, row[-1]]))
    return "\n".join(lines)


def stats_json(stats: IndexStats) -> str:
    return _dumped(
        {
            **_head(stats.location),
            "schema_version": stats.schema_version,
            "sources": stats.sources,
            "videos": stats.videos,
            "images": stats.images,
            "frames": stats.frames,
            "frames_with_features": stats.frames_with_features,
            "size_bytes": stats.size_bytes,
            "hashers": stats.hashers,
            "created_at": stats.created_at,
            "shortlist": {
                "words": stats.shortlist_words,
                "training_descriptors": stats.shortlist_training_descriptors,
                "postings": stats.shortlist_postings,
                "word_file_postings": stats.word_file_postings,
            },
            "compact_frames": stats.compact_frames,
        }
    )


def stats_text(stats: IndexStats) -> str:
    hashers = ", ".join(f"{name} v{spec['version']} ({spec['bits']} bits)" for name, spec in stats.hashers.items())
    return "\n".join(
        [
            f"index:    {stats.location}",
            f"schema:   {stats.schema_version}",
            f"sources:  {stats.sources} ({stats.videos} videos, {stats.images} images)",
            f"frames:   {stats.frames} ({stats.frames_with_features} with local features)",
            f"size:     {stats.size_bytes / 1e6:.2f} MB",
            f"hashers:  {hashers}",
            f"shortlist: {_shortlist_line(stats)}",
            f"descriptors: {_descriptors_line(stats)}",
            f"created:  {stats.created_at}",
        ]
    )


def _shortlist_line(stats: IndexStats) -> str:
    if not stats.shortlist_words:
        return "not trained (exact search; trained once the index holds a few frames)"
    on_disk = f", {stats.word_file_postings:,} of them sorted into the word lists" if stats.word_file_postings else ""
    return (f"{stats.shortlist_words:,} visual words trained on {stats.shortlist_training_descriptors:,} descriptors,"
            f" {stats.shortlist_postings:,} postings{on_disk}")


def _descriptors_line(stats: IndexStats) -> str:
    if not stats.compact_frames:
        return "raw (128 bytes a keypoint; 'index compact' stores 16)"
    return f"compact (16-byte codes) for {stats.compact_frames:,} of {stats.frames_with_features:,} frames"


def compacted_json(frames: int, bytes_before: int, bytes_after: int, index_location: str) -> str:
    """The ``index compact --json`` document."""
    return _dumped({**_head(index_location), "frames_encoded": frames, "size_bytes_before": bytes_before,
                    "size_bytes_after": bytes_after})


def compacted_text(frames: int, bytes_before: int, bytes_after: int) -> str:
    """The line ``index compact`` prints."""
    return (f"compacted the descriptors of {frames:,} frames: {bytes_before / 1e6:,.1f} MB -> "
            f"{bytes_after / 1e6:,.1f} MB")


#: What became of one file given to ``index add``.
AddOutcome = SourceRecord | SkippedFile | FailedFile


def added_text(source: SourceRecord) -> str:
    """The line ``index add`` prints for a source it added."""
    lasting = f"{source.duration_s:.1f} s, " if source.duration_s is not None else ""
    return f"added #{source.id} {source.kind} {source.title!r} ({lasting}{source.frame_count} frames)"


def add_json(outcomes: Sequence[AddOutcome], index_location: str) -> str:
    """The ``index add --json`` document: the added sources, then the skipped and the failed files."""
    document = {
        **_head(index_location),
        "added": [source_json(item, full=True) for item in outcomes if isinstance(item, SourceRecord)],
        "skipped": [
            {"path": item.path, "source_id": item.source_id, "reason": item.reason}
            for item in outcomes
            if isinstance(item, SkippedFile)
        ],
        "errors": [{"path": item.path, "error": item.error} for item in outcomes if isinstance(item, FailedFile)],
    }
    return _dumped(document)


def add_summary(outcomes: Sequence[AddOutcome]) -> str:
    """``N added, N skipped, N failed`` for a batch ``index add``."""
    added = sum(isinstance(item, SourceRecord) for item in outcomes)
    skipped = sum(isinstance(item, SkippedFile) for item in outcomes)
    failed = sum(isinstance(item, FailedFile) for item in outcomes)
    return f"{added} added, {skipped} skipped, {failed} failed"


def migrated_json(migrated: Migrated, from_location: str, index_location: str) -> str:
    """The ``index migrate --json`` document: where from, and the rows copied a table."""
    return _dumped({**_head(index_location), "migrated_from": from_location, "rows": migrated.rows,
                    "word_list_postings": migrated.word_list_postings})


def migrated_text(migrated: Migrated, from_location: str, index_location: str) -> str:
    return (f"migrated {migrated.rows.get('sources', 0):,} sources and {migrated.rows.get('frames', 0):,} frames"
            f" from {from_location} to {index_location}")


def removed_json(source: SourceRecord, index_location: str) -> str:
    """The ``index remove --json`` document."""
    return _dumped({**_head(index_location), "removed": source_json(source, full=True)})


def edited_json(source: SourceRecord, index_location: str) -> str:
    """The ``index edit --json`` document: the source as now stored."""
    return _dumped({**_head(index_location), "edited": source_json(source, full=True)})


def removed_text(source: SourceRecord) -> str:
    """The line ``index remove`` prints."""
    return f"removed #{source.id} {source.kind} {source.title!r}"


def trained_json(words: int, training_descriptors: int, index_location: str) -> str:
    """The ``index train --json`` document."""
    return _dumped({**_head(index_location),
                    "shortlist": {"words": words, "training_descriptors": training_descriptors}})


def trained_text(words: int, training_descriptors: int) -> str:
    """The line ``index train`` prints."""
    return f"trained the shortlist: {words:,} visual words from {training_descriptors:,} stored descriptors"


def integrity_json(checked: IntegrityReport) -> str:
    """The ``index check --json`` document."""
    return _dumped({**_head(checked.location), "ok": checked.ok, "sources": checked.sources, "frames": checked.frames,
                    "features": checked.features, "problems": list(checked.problems)})


def integrity_text(checked: IntegrityReport) -> str:
    """What ``index check`` prints: a status line, then one indented line per problem."""
    status = "ok" if checked.ok else f"{len(checked.problems)} problem(s)"
    lines = [
        f"{checked.location}: {status} ({checked.sources} sources, {checked.frames} frames, "
        f"{checked.features} with features)"
    ]
    lines.extend(f"  {problem}" for problem in checked.problems)
    return "\n".join(lines)

"""Source manifests: a row of metadata per file, so each source keeps its own title, URL and date.

One ``--published`` given to ``index add`` lands on every file of a folder; a
manifest gives each file its own. Two formats, chosen by the file's suffix:

- CSV (``.csv``), UTF-8, with a header row naming the columns;
- JSON (``.json``): a list of objects, or ``{"sources": [...]}``.

Columns (keys): ``path`` (required: a file, relative to the manifest's folder, or an
http(s) URL), ``title``, ``url``, ``published``, ``notes``. An empty cell is no value.
Any other column, a row without a path or a bad date is refused with the manifest's
name, the row and the problem, before anything is indexed.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .dates import parse_published
from .errors import ManifestError
from .fetch import is_url

FIELDS = ("path", "title", "url", "published", "notes")


@dataclass(frozen=True)
class ManifestEntry:
    """One source to add: where it is, and what to store with it."""

    path: str
    title: str | None = None
    url: str | None = None
    published: str | None = None
    notes: str | None = None


def read_manifest(manifest: Path) -> list[ManifestEntry]:
    """The entries of a CSV or JSON manifest, paths resolved against its folder.

    Raises:
        ManifestError: unreadable, an unknown format or column, a row without a path,
            a value that is not text, a bad publication date, or no rows at all.
    """
    rows = _json_rows(manifest) if manifest.suffix.lower() == ".json" else _csv_rows(manifest)
    entries = [_entry(manifest, number, row) for number, row in rows]
    if not entries:
        raise ManifestError(f"{manifest}: the manifest lists no sources")
    return entries


def write_manifest(manifest: Path, entries: Sequence[ManifestEntry]) -> None:
    """Write entries as a CSV or JSON manifest (by suffix); paths inside its folder are written relative to it."""
    folder = manifest.parent.resolve()
    rows = []
    for entry in entries:
        path = entry.path
        if not is_url(path) and Path(path).resolve().is_relative_to(folder):
            path = Path(path).resolve().relative_to(folder).as_posix()
        rows.append({"path": path, "title": entry.title, "url": entry.url, "published": entry.published,
                     "notes": entry.notes})
    if manifest.suffix.lower() == ".json":
        manifest.write_text(json.dumps({"sources": rows}, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        return
    with manifest.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({key: "" if value is None else value for key, value in row.items()} for row in rows)


def _csv_rows(manifest: Path) -> list[tuple[int, dict[str, Any]]]:
    if manifest.suffix.lower() != ".csv":
        raise ManifestError(f"{manifest}: a manifest is a .csv or .json file")
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            _check_columns(manifest, reader.fieldnames or [])
            # numbered as a spreadsheet shows them (the header is row 1), a cell's line breaks notwithstanding
            return [(number, row) for number, row in enumerate(reader, start=2) if not _blank(row)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest ({exc})") from exc


def _blank(row: dict[str | None, Any]) -> bool:
    """A row with nothing in it (surplus cells, under the key None, count as something)."""
    return not any(value.strip() if isinstance(value, str) else value for value in row.values())


def _json_rows(manifest: Path) -> list[tuple[int, dict[str, Any]]]:
    try:
        data = json.loads(manifest.read_text(encoding="utf-8-sig"), object_pairs_hook=_unique_keys(manifest))
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{manifest}: cannot read the manifest ({exc})") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{manifest}: not JSON (line {exc.lineno}: {exc.msg})") from exc
    rows = data.get("sources") if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise ManifestError(f"{manifest}: expected a list of objects, or {{\"sources\": [...]}}")
    for row in rows:
        _check_columns(manifest, list(row))
    return list(enumerate(rows, start=1))


def _unique_keys(manifest: Path) -> Any:
    """A JSON object hook refusing a key given twice (json keeps the last one without a word)."""

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ManifestError(f"{manifest}: key {', '.join(map(repr, repeated))} given twice in one object")
        return dict(pairs)

    return hook


def _check_columns(manifest: Path, columns: Sequence[str | None]) -> None:
    repeated = sorted({str(column) for column in columns if columns.count(column) > 1})
    if repeated:
        raise ManifestError(f"{manifest}: column {', '.join(map(repr, repeated))} given twice")
    unknown = [str(column) for column in columns if column not in FIELDS]
    if unknown:
        raise ManifestError(f"{manifest}: unknown column {', '.join(map(repr, unknown))} "
                            f"(the columns are {', '.join(FIELDS)})")
    if "path" not in columns:
        raise ManifestError(f"{manifest}: no 'path' column (the columns are {', '.join(FIELDS)})")


def _entry(manifest: Path, number: int, row: dict[str, Any]) -> ManifestEntry:
    where = f"{manifest}: row {number}"
    if None in row:
        raise ManifestError(f"{where}: more cells than the header has columns")
    values: dict[str, str | None] = {}
    for field in FIELDS:
        value = row.get(field)
        if value is not None and not isinstance(value, str):
            raise ManifestError(f"{where}: {field} must be text, not {json.dumps(value)}")
        values[field] = value.strip() if value is not None and value.strip() else None
    path = values.pop("path")
    if path is None:
        raise ManifestError(f"{where}: no path")
    if not is_url(path) and not Path(path).is_absolute():
        path = str(manifest.parent / path)
    try:
        values["published"] = parse_published(values["published"])
    except ValueError as exc:
        raise ManifestError(f"{where}: {exc}") from exc
    return ManifestEntry(path=path, **values)

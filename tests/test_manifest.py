"""Per-source metadata: manifests, publication dates, editing a source, the sources table."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import texture, write_still

from provcheck import Index
from provcheck.cli import cli
from provcheck.dates import earliest_first, parse_published
from provcheck.errors import ExitCode, ManifestError
from provcheck.manifest import ManifestEntry, read_manifest, write_manifest

NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.timezone.utc)


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def stills(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "media"
    folder.mkdir()
    return [write_still(folder / f"photo_{n}.png", texture(900 + n, 240, 360)) for n in range(3)]


# publication dates


@pytest.mark.parametrize(("given", "stored"), [
    ("2016-06-30", "2016-06-30"),
    (" 2016-06-30 ", "2016-06-30"),
    ("2016-06-30T14:05:00+03:00", "2016-06-30T14:05:00+03:00"),
    ("2016-06-30T14:05Z", "2016-06-30T14:05:00+00:00"),
    ("2016-06-30T14:05:00z", "2016-06-30T14:05:00+00:00"),
    ("", None),
    (None, None),
])
def test_a_date_or_a_zoned_date_time_is_accepted(given: str | None, stored: str | None) -> None:
    assert parse_published(given, now=NOW) == stored


@pytest.mark.parametrize(("given", "says"), [
    ("2016-02-30", "real date"),
    ("30/06/2016", "real date"),
    ("20160630", "real date"),
    ("2016-06-30 14:05:00+00:00", "real date"),
    ("2016-06-30T14:05:00", "no zone"),
    ("2026-12-08", "future"),
    ("2026-12-06T13:00:00+00:00", "future"),
])
def test_a_bad_naive_or_future_date_is_refused(given: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_published(given, now=NOW)


def test_today_in_the_earliest_zone_is_not_the_future() -> None:
    # at 12:00 UTC it is already 7 December in UTC+14
    assert parse_published("2026-12-07", now=NOW) == "2026-12-07"


def test_dates_order_by_instant_across_zones_and_undated_last() -> None:
    dates = [None, "2016-07-01T01:00:00+00:00", "2016-06-30T23:00:00-05:00", "2016-06-30"]
    ordered = sorted(dates, key=earliest_first)
    # 23:00 at UTC-5 is 04:00 UTC on 1 July, after 01:00 UTC; a plain date counts from its midnight in UTC
    assert ordered == ["2016-06-30", "2016-07-01T01:00:00+00:00", "2016-06-30T23:00:00-05:00", None]


# manifests


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_a_manifest_round_trips_with_paths_relative_to_it(tmp_path: Path, stills: list[Path], suffix: str) -> None:
    entries = [
        ManifestEntry(str(stills[0]), "First, with a comma", "https://example.org/1", "2016-06-30", "note \"quoted\""),
        ManifestEntry(str(stills[1]), None, None, "2016-06-29T10:00:00+03:00", None),
        ManifestEntry("https://example.org/remote.mp4", "Remote", None, None, None),
    ]
    manifest = tmp_path / f"sources{suffix}"
    write_manifest(manifest, entries)
    assert "media/photo_0.png" in manifest.read_text()  # written relative to the manifest's folder
    assert read_manifest(manifest) == [
        ManifestEntry(str(tmp_path / "media" / "photo_0.png"), entries[0].title, entries[0].url, entries[0].published,
                      entries[0].notes),
        ManifestEntry(str(tmp_path / "media" / "photo_1.png"), None, None, "2016-06-29T10:00:00+03:00", None),
        entries[2],
    ]


@pytest.mark.parametrize(("name", "text", "says"), [
    ("a.csv", "path,title,author\nx.png,X,Y\n", "unknown column 'author'"),
    ("a.csv", "title,url\nX,https://example.org\n", "no 'path' column"),
    ("a.csv", "path,title\nx.png,X\n,Y\n", "row 3: no path"),
    ("a.csv", "path,published\nx.png,2016-06-30\ny.png,30.06.2016\n", "row 3: The publication date"),
    ("a.csv", "path,published\nx.png,2999-01-01\n", "row 2: The publication date '2999-01-01' is in the future"),
    ("a.csv", "path,title\nx.png,X,surplus\n", "row 2: more cells than the header has columns"),
    ("a.csv", "path,title\n", "lists no sources"),
    ("a.csv", "path,title\n,,surplus\n", "row 2: more cells than the header has columns"),
    ("a.csv", "path,title,title\nx.png,First,Second\n", "column 'title' given twice"),
    ("a.csv", "path,published\n\"x\ny.png\",2016-06-30\nz.png,June\n", "row 3: The publication date"),
    ("a.json", "[{\"path\": \"x.png\", \"title\": \"A\", \"title\": \"B\"}]", "key 'title' given twice"),
    ("a.json", "[{\"path\": \"x.png\", \"published\": 2016}]", "row 1: published must be text, not 2016"),
    ("a.json", "{\"sources\": [{\"path\": \"x.png\"},", "not JSON (line 1"),
    ("a.json", "{\"files\": []}", "expected a list of objects"),
    ("a.txt", "path\nx.png\n", "a manifest is a .csv or .json file"),
    ("missing.csv", None, "cannot read the manifest"),
])
def test_a_bad_manifest_is_refused_naming_the_file_row_and_problem(
    tmp_path: Path, name: str, text: str | None, says: str,
) -> None:
    manifest = tmp_path / name
    if text is not None:
        manifest.write_text(text, encoding="utf-8")
    with pytest.raises(ManifestError) as raised:
        read_manifest(manifest)
    message = str(raised.value)
    assert message.startswith(str(manifest)) and says in message and "\n" not in message


def test_index_add_from_a_manifest_stores_each_files_own_metadata(tmp_path: Path, stills: list[Path]) -> None:
    manifest = tmp_path / "media" / "sources.csv"
    manifest.write_text(
        "path,title,url,published,notes\n"
        "photo_0.png,Agency photo,https://example.org/a,2016-06-28,first\n"
        "photo_1.png,Satellite scene,,2016-06-25T09:30:00Z,\n"
        "photo_2.png,,,,\n", encoding="utf-8")
    index = tmp_path / "index.sqlite"
    code, out, err = run("index", "add", "--manifest", manifest, "--index", index, "--jobs", "1", "--json")
    assert code == 0, err
    assert "warning" not in err
    added = {Path(s["path"]).name: s for s in json.loads(out)["added"]}
    assert added["photo_0.png"]["title"] == "Agency photo" and added["photo_0.png"]["url"] == "https://example.org/a"
    assert added["photo_1.png"]["published"] == "2016-06-25T09:30:00+00:00" and added["photo_1.png"]["url"] is None
    assert added["photo_2.png"]["title"] == "photo_2.png" and added["photo_2.png"]["published"] is None


def test_a_bad_manifest_row_adds_nothing(tmp_path: Path, stills: list[Path]) -> None:
    manifest = tmp_path / "media" / "sources.csv"
    manifest.write_text("path,published\nphoto_0.png,2016-06-28\nphoto_1.png,June 2016\n", encoding="utf-8")
    index = tmp_path / "index.sqlite"
    code, out, err = run("index", "add", "--manifest", manifest, "--index", index)
    assert code == ExitCode.USAGE and out == ""
    assert err.count("\n") == 1 and "row 3" in err and str(manifest) in err
    assert not index.exists()


@pytest.mark.parametrize("extra", [["--published", "2016-06-30"], ["{still}"]])
def test_a_manifest_cannot_be_mixed_with_files_or_shared_metadata(
    tmp_path: Path, stills: list[Path], extra: list[str],
) -> None:
    manifest = tmp_path / "sources.csv"
    write_manifest(manifest, [ManifestEntry(str(stills[0]))])
    args = [arg.format(still=stills[1]) for arg in extra]
    code, _, err = run("index", "add", "--manifest", manifest, *args, "--index", tmp_path / "index.sqlite")
    assert code == ExitCode.USAGE and "--manifest" in err


def test_one_date_for_several_files_is_warned_about(tmp_path: Path, stills: list[Path]) -> None:
    index = tmp_path / "index.sqlite"
    code, _, err = run("index", "add", stills[0].parent, "--published", "2016-06-30", "--jobs", "1",
                       "--index", index)
    assert code == 0
    assert "warning: the same --published is stored with all 3 files" in err
    code, _, err = run("index", "add", stills[0], "--published", "2016-06-30", "--index", tmp_path / "one.sqlite")
    assert code == 0 and "warning" not in err


@pytest.mark.parametrize(("published", "says"), [("2016-06-30T14:05", "no zone"), ("2999-01-01", "future")])
def test_index_add_refuses_a_naive_or_future_date(tmp_path: Path, stills: list[Path], published: str,
                                                  says: str) -> None:
    code, out, err = run("index", "add", stills[0], "--published", published, "--index", tmp_path / "i.sqlite")
    assert code == ExitCode.USAGE and out == "" and says in err


# editing a source


def test_index_edit_changes_metadata_without_reindexing(tmp_path: Path, stills: list[Path]) -> None:
    index = tmp_path / "index.sqlite"
    assert run("index", "add", stills[0], "--title", "Old", "--url", "https://example.org/old", "--notes", "n",
               "--index", index)[0] == 0
    before = json.loads(run("index", "list", "--json", "--index", index)[1])["sources"][0]
    code, out, err = run("index", "edit", str(before["id"]), "--title", "New title", "--published",
                         "2016-06-30T08:00:00+03:00", "--notes", "", "--index", index, "--json")
    assert code == 0, err
    edited = json.loads(out)["edited"]
    assert edited["title"] == "New title" and edited["published"] == "2016-06-30T08:00:00+03:00"
    assert edited["notes"] is None and edited["url"] == "https://example.org/old"  # untouched
    after = json.loads(run("index", "list", "--json", "--index", index)[1])["sources"][0]
    unchanged = ("id", "sha256", "frames", "width", "height", "added_at", "path")
    assert {key: after[key] for key in unchanged} == {key: before[key] for key in unchanged}
    assert after == edited


@pytest.mark.parametrize(("args", "code", "says"), [
    (["99", "--title", "X"], ExitCode.INPUT_ERROR, "no source with id 99"),
    (["1", "--published", "yesterday"], ExitCode.USAGE, "real date"),
    (["1", "--title", " "], ExitCode.USAGE, "title cannot be empty"),
    (["1"], ExitCode.USAGE, "Nothing to change"),
])
def test_index_edit_refuses_with_one_line(tmp_path: Path, stills: list[Path], args: list[str], code: int,
                                          says: str) -> None:
    index = tmp_path / "index.sqlite"
    assert run("index", "add", stills[0], "--index", index)[0] == 0
    got, out, err = run("index", "edit", *args, "--index", index)
    assert got == code and out == "" and says in err


def test_a_match_reports_the_edited_date_from_the_same_index_object(tmp_path: Path, stills: list[Path]) -> None:
    with Index(tmp_path / "index.sqlite") as index:
        source = index.add(stills[0], published="2016-06-30")
        assert index.match(stills[0])[0].source.published == "2016-06-30"
        index.edit(source.id, published="2015-01-02")
        assert index.match(stills[0])[0].source.published == "2015-01-02"


def test_index_list_has_a_header_and_url_and_date_columns(tmp_path: Path, stills: list[Path]) -> None:
    index = tmp_path / "index.sqlite"
    run("index", "add", stills[0], "--title", "Agency photo", "--url", "https://example.org/a",
        "--published", "2016-06-28", "--index", index)
    run("index", "add", stills[1], "--index", index)
    lines = run("index", "list", "--index", index)[1].splitlines()
    assert lines[0].split() == ["ID", "KIND", "LENGTH", "FRAMES", "PUBLISHED", "TITLE", "URL"]
    assert lines[1].split()[-4:] == ["2016-06-28", "Agency", "photo", "https://example.org/a"]
    assert lines[2].split()[4:] == ["-", "photo_1.png", "-"]
    # the columns line up: every title starts under the header's TITLE
    column = lines[0].index("TITLE")
    assert lines[1][column:].startswith("Agency photo") and lines[2][column:].startswith("photo_1.png")


def test_a_corrected_manifest_row_reaches_a_file_already_indexed(tmp_path: Path, stills: list[Path]) -> None:
    manifest = tmp_path / "media" / "sources.csv"
    manifest.write_text("path,title,published\nphoto_0.png,Agency photo,2016-06-28\nphoto_1.png,,\n", encoding="utf-8")
    index = tmp_path / "index.sqlite"
    assert run("index", "add", "--manifest", manifest, "--index", index, "--jobs", "1")[0] == 0
    manifest.write_text("path,title,published\nphoto_0.png,Agency photo,2016-06-27\nphoto_1.png,,\n", encoding="utf-8")
    code, out, err = run("index", "add", "--manifest", manifest, "--index", index, "--jobs", "1", "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["added"] == []
    reasons = {Path(entry["path"]).name: entry["reason"] for entry in document["skipped"]}
    assert reasons == {"photo_0.png": "already indexed; published updated from the manifest",
                       "photo_1.png": "already indexed"}  # an empty cell changes nothing
    sources = {Path(s["path"]).name: s for s in json.loads(run("index", "list", "--json", "--index", index)[1])["sources"]}
    assert sources["photo_0.png"]["published"] == "2016-06-27" and sources["photo_1.png"]["title"] == "photo_1.png"
    assert len(sources) == 2  # nothing indexed twice

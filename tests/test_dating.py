"""Dates that settle a case: the claim's date (given or from its metadata) against each source's."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import texture, write_still
from PIL import Image, PngImagePlugin

from provcheck import Index
from provcheck.cli import cli
from provcheck.dates import ClaimedDate, days_before
from provcheck.errors import ExitCode
from provcheck.media.capture import capture_date

EXIF_IFD, DATE_ORIGINAL, OFFSET_ORIGINAL, DATE_DIGITIZED, DATE_TIME = 0x8769, 0x9003, 0x9011, 0x9004, 0x0132


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def _jpeg_with_exif(path: Path, tags: dict[int, str], top: dict[int, str] | None = None,
                    pixels: np.ndarray | None = None) -> Path:
    image = Image.fromarray(texture(31, 120, 160) if pixels is None else pixels)
    exif = Image.Exif()
    for tag, value in (top or {}).items():
        exif[tag] = value
    sub = exif.get_ifd(EXIF_IFD)
    sub.update(tags)
    image.save(path, exif=exif, quality=90)
    return path


@pytest.mark.parametrize(("tags", "top", "date"), [
    ({DATE_ORIGINAL: "2017:11:14 10:00:00", OFFSET_ORIGINAL: "+03:00"}, None, "2017-11-14T10:00:00+03:00"),
    ({DATE_ORIGINAL: "2017:11:14 10:00:00"}, None, "2017-11-14"),  # no zone: the date only
    ({DATE_DIGITIZED: "2017:11:13 23:59:59"}, None, "2017-11-13"),
    ({DATE_ORIGINAL: "0000:00:00 00:00:00", DATE_DIGITIZED: "2017:11:12 08:00:00"}, None, "2017-11-12"),
    ({DATE_ORIGINAL: "2017:11:14 24:00:00", OFFSET_ORIGINAL: "+03:00"}, None, "2017-11-14"),  # bad time: the date
])
def test_the_capture_date_comes_from_exif(tmp_path: Path, tags: dict[int, str], top: dict[int, str] | None,
                                          date: str) -> None:
    assert capture_date(_jpeg_with_exif(tmp_path / "claim.jpg", tags, top)) == ClaimedDate(date, "exif")


@pytest.mark.parametrize(("tags", "top"), [
    ({}, {DATE_TIME: "2017:11:14 10:00:00"}),  # the date an editor saved it: not a capture date
    ({DATE_ORIGINAL: "0000:00:00 00:00:00"}, None),
    ({DATE_ORIGINAL: "2999:01:01 00:00:00"}, None),  # in the future: not plausible
    ({DATE_ORIGINAL: "yesterday"}, None),
])
def test_no_plausible_capture_date_is_none(tmp_path: Path, tags: dict[int, str], top: dict[int, str] | None) -> None:
    assert capture_date(_jpeg_with_exif(tmp_path / "claim.jpg", tags, top)) is None


@pytest.mark.parametrize(("packet", "date"), [
    ('<x:xmpmeta><rdf:Description xmp:CreateDate="2017-11-14T09:30:00+03:00"/></x:xmpmeta>',
     "2017-11-14T09:30:00+03:00"),
    ("<x:xmpmeta><photoshop:DateCreated>2017-11-14T09:30:00</photoshop:DateCreated></x:xmpmeta>", "2017-11-14"),
])
def test_the_capture_date_comes_from_xmp(tmp_path: Path, packet: str, date: str) -> None:
    info = PngImagePlugin.PngInfo()
    info.add_itxt("XML:com.adobe.xmp", packet)
    path = tmp_path / "claim.png"
    Image.fromarray(texture(32, 80, 100)).save(path, pnginfo=info)
    assert capture_date(path) == ClaimedDate(date, "xmp")


def test_a_file_without_metadata_or_not_an_image_has_no_capture_date(tmp_path: Path) -> None:
    assert capture_date(write_still(tmp_path / "plain.png", texture(33, 80, 100))) is None
    (tmp_path / "notes.jpg").write_text("not a picture")
    assert capture_date(tmp_path / "notes.jpg") is None


def test_days_before_counts_calendar_days_or_exact_time() -> None:
    assert days_before("2016-06-30", "2017-11-14") == 502
    assert days_before("2017-11-15", "2017-11-14") == -1
    # a date-time against a date: calendar days, each date as written in its own zone
    assert days_before("2017-11-14T23:30:00-05:00", "2017-11-14") == 0
    assert days_before("2017-11-14T12:00:00+00:00", "2017-11-15T00:00:00+12:00") == 0
    assert days_before("2017-11-14T00:00:00+00:00", "2017-11-15T12:00:00+00:00") == 1.5


@pytest.fixture(scope="module")
def dated_index(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """An index of two stills, one published 2016-06-30 and one undated, and a copy of each as a claim."""
    folder = tmp_path_factory.mktemp("dated")
    dated = write_still(folder / "dated.png", texture(40, 300, 400))
    undated = write_still(folder / "undated.png", texture(41, 300, 400))
    path = folder / "index.sqlite"
    with Index(path) as index:
        index.add(dated, title="Dated", published="2016-06-30")
        index.add(undated, title="Undated")
    claim = _jpeg_with_exif(folder / "claim.jpg", {DATE_ORIGINAL: "2017:11:14 10:00:00", OFFSET_ORIGINAL: "+03:00"},
                            pixels=texture(40, 300, 400))
    undated_claim = write_still(folder / "undated_claim.jpg", texture(41, 300, 400), quality=90)
    return path, claim, undated_claim


def _result(index: Path, *args: str | Path) -> dict[str, object]:
    code, out, err = run("match", *args, "--index", index, "--json", "--jobs", "1")
    assert code == 0, err
    result: dict[str, object] = json.loads(out)["results"][0]
    return result


def test_a_given_claim_date_gives_each_source_its_days_before(dated_index: tuple[Path, Path, Path]) -> None:
    index, claim, _ = dated_index
    result = _result(index, claim, "--claimed-date", "2017-11-14")
    assert result["claimed_date"] == {"date": "2017-11-14", "from": "given"}
    (match,) = result["matches"]  # type: ignore[misc]
    assert match["source"]["title"] == "Dated" and match["earliest"] is True
    assert match["days_before_claim"] == 502 and match["published_after_claim"] is False


def test_the_claims_own_exif_date_is_used_and_said(dated_index: tuple[Path, Path, Path]) -> None:
    index, claim, _ = dated_index
    result = _result(index, claim)
    assert result["claimed_date"] == {"date": "2017-11-14T10:00:00+03:00", "from": "exif"}
    code, out, _ = run("match", claim, "--index", index, "--jobs", "1")
    assert code == 0 and "claim dated 2017-11-14T10:00:00+03:00, from its EXIF capture date" in out
    assert "502 days before the claim, earliest known source" in out


def test_a_source_published_after_the_claim_is_flagged(dated_index: tuple[Path, Path, Path]) -> None:
    index, claim, _ = dated_index
    match = _result(index, claim, "--claimed-date", "2016-06-01")["matches"][0]  # type: ignore[index]
    assert match["days_before_claim"] == -29 and match["published_after_claim"] is True
    code, out, _ = run("match", claim, "--index", index, "--claimed-date", "2016-06-01", "--jobs", "1")
    assert "29 days AFTER the claim: unlikely to be its origin" in out


def test_an_undated_source_is_never_earliest_and_carries_a_caveat(dated_index: tuple[Path, Path, Path]) -> None:
    index, _, undated_claim = dated_index
    result = _result(index, undated_claim, "--claimed-date", "2017-11-14")
    (match,) = result["matches"]  # type: ignore[misc]
    assert match["source"]["title"] == "Undated" and match["verdict"] == "match"
    assert match["earliest"] is False and match["days_before_claim"] is None and match["published_after_claim"] is None
    code, out, _ = run("match", undated_claim, "--index", index, "--jobs", "1")
    assert "undated: cannot be ordered" in out and "earliest known source" not in out


def test_a_claim_without_a_date_has_none(dated_index: tuple[Path, Path, Path]) -> None:
    index, _, undated_claim = dated_index
    result = _result(index, undated_claim)
    assert result["claimed_date"] is None and result["matches"][0]["days_before_claim"] is None  # type: ignore[index]


def test_the_given_date_dates_claims_matched_in_workers(dated_index: tuple[Path, Path, Path]) -> None:
    index, claim, undated_claim = dated_index
    code, out, err = run("match", claim, undated_claim, "--index", index, "--json-lines", "--jobs", "2",
                         "--claimed-date", "2017-11-14")
    assert code == 0, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line["claimed_date"] for line in lines] == [{"date": "2017-11-14", "from": "given"}] * 2
    assert lines[0]["matches"][0]["days_before_claim"] == 502


@pytest.mark.parametrize("given", ["14/11/2017", "2999-01-01", "2017-11-14T10:00"])
def test_a_bad_claim_date_is_a_usage_error(dated_index: tuple[Path, Path, Path], given: str) -> None:
    index, claim, _ = dated_index
    code, out, err = run("match", claim, "--index", index, "--claimed-date", given)
    assert code == ExitCode.USAGE and out == "" and "--claimed-date" in err

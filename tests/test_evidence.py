"""Evidence images and the HTML report: drawn where the derivation says, only for claims that matched."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import texture, write_still
from numpy.typing import NDArray
from PIL import Image

from provcheck import Index
from provcheck.cli import cli
from provcheck.evidence import OUTLINE, WIDTH, draw, outline, write_evidence
from provcheck.html_report import html_report
from provcheck.results import ClaimResult

CROP = (240, 110, 300, 200)  # x, y, w, h of the claim in the source still (720 x 480)


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def case(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    """An index of one still ('<b>Agency</b> photo', a title to escape), a crop of it, an unrelated picture."""
    folder = tmp_path_factory.mktemp("evidence")
    source = texture(61, 480, 720)
    source_path = write_still(folder / "source.png", source)
    x, y, w, h = CROP
    claim = write_still(folder / "claim.png", source[y:y + h, x:x + w])
    unrelated = write_still(folder / "unrelated.png", texture(62, 240, 320))
    index = folder / "index.sqlite"
    with Index(index) as store:
        store.add(source_path, title="<b>Agency</b> photo", url="https://example.org/a?x=1&y=2",
                  published="2016-06-28")
    return index, source_path, claim, unrelated


def _checked(index: Path, claim: Path) -> ClaimResult:
    with Index(index) as store:
        return store.check(claim)


def _red(pixels: NDArray[np.uint8], x: float, y: float, reach: int = 3) -> bool:
    """Whether the outline's colour is drawn within ``reach`` pixels of (x, y)."""
    patch = pixels[round(y) - reach:round(y) + reach + 1, round(x) - reach:round(x) + reach + 1].astype(int)
    return bool(np.any(np.all(np.abs(patch - np.array(OUTLINE)) < 40, axis=-1)))


def test_the_outline_sits_where_the_derivation_says(case: tuple[Path, Path, Path, Path]) -> None:
    index, _, claim, _ = case
    result = _checked(index, claim)
    match = result.matches[0]
    assert match.placement is not None and match.derivation.crop_px is not None
    # the placement's outline is the reported crop box, to the pixel
    corners = outline(match.placement)
    x, y, w, h = CROP
    assert np.allclose(corners, [[x, y], [x + w, y], [x + w, y + h], [x, y + h]], atol=1.5)
    crop = match.derivation.crop_px
    assert (crop.x, crop.y, crop.w, crop.h) == pytest.approx(CROP, abs=1.5)
    drawn = draw(result)
    assert drawn is not None
    evidence, frame = drawn
    pixels = np.asarray(evidence.image)
    assert evidence.image.width == WIDTH and frame.shape[:2] == (480, 720)
    panel = evidence.source
    # on each edge's midpoint of the crop box, in the image, the outline is drawn ...
    for px, py in ((x + w / 2, y), (x + w / 2, y + h), (x, y + h / 2), (x + w, y + h / 2)):
        assert _red(pixels, *panel.place(px, py)), (px, py)
    # ... and not inside the box, nor on the same box shifted by a tenth of the frame
    assert not _red(pixels, *panel.place(x + w / 2, y + h / 2))
    assert not _red(pixels, *panel.place(x + w / 2 + 72, y + 48))


def test_a_none_claim_gets_no_evidence_image(case: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    index, _, _, unrelated = case
    result = _checked(index, unrelated)
    assert result.matches == ()
    assert draw(result) is None
    assert write_evidence(result, tmp_path / "out", 1) is None
    assert not (tmp_path / "out").exists()


def test_match_writes_evidence_and_a_self_contained_report(case: tuple[Path, Path, Path, Path],
                                                           tmp_path: Path) -> None:
    index, _, claim, unrelated = case
    folder, report = tmp_path / "evidence", tmp_path / "report.html"
    code, out, err = run("match", claim, unrelated, "--index", index, "--jobs", "1", "--json",
                         "--evidence", folder, "--report", report)
    assert code == 0, err
    assert [r["verdict"] for r in json.loads(out)["results"]] == ["match", "none"]
    written = sorted(path.name for path in folder.iterdir())
    assert written == ["001_claim_evidence.png", "001_claim_source.png"]  # nothing for the unrelated claim
    with Image.open(folder / "001_claim_source.png") as frame:
        assert frame.size == (720, 480)  # the source frame at full resolution
    with Image.open(folder / "001_claim_evidence.png") as image:
        assert image.width == WIDTH
    html = report.read_text(encoding="utf-8")
    assert html.count("<section>") == 2 and html.count('src="data:image/jpeg;base64,') == 1
    assert "&lt;b&gt;Agency&lt;/b&gt; photo" in html and "<b>Agency</b>" not in html  # index text is escaped
    assert 'href="https://example.org/a?x=1&amp;y=2"' in html
    assert "No indexed source matches." in html and str(unrelated) in html
    assert "http://" not in html.replace('href="https://', "")  # self-contained: nothing fetched from elsewhere


def test_the_report_gives_the_same_facts_as_the_json(case: tuple[Path, Path, Path, Path]) -> None:
    index, _, claim, _ = case
    result = _checked(index, claim)
    html = html_report([result], str(index))
    match = result.matches[0]
    for fact in (f"confidence {match.confidence:.2f}", f"{match.evidence.inliers} inliers", "2016-06-28",
                 "earliest known source", "MATCH"):
        assert fact in html, fact


def test_a_claim_from_stdin_gets_its_evidence_in_the_report(case: tuple[Path, Path, Path, Path],
                                                            tmp_path: Path) -> None:
    index, _, claim, _ = case
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["match", "-", "--index", str(index), "--jobs", "1", "--report", str(report),
                                      "--evidence", str(tmp_path / "evidence")], input=claim.read_bytes())
    assert result.exit_code == 0, result.stderr
    html = report.read_text(encoding="utf-8")
    assert "<h2>-</h2>" in html and html.count("data:image/jpeg;base64,") == 1
    assert sorted(p.name for p in (tmp_path / "evidence").iterdir()) == ["001_stdin_evidence.png",
                                                                         "001_stdin_source.png"]


@pytest.mark.parametrize("option", ["--report", "--evidence"])
def test_an_unwritable_destination_is_refused_before_matching(case: tuple[Path, Path, Path, Path], tmp_path: Path,
                                                              option: str) -> None:
    index, _, claim, _ = case
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / ("report.html" if option == "--report" else "evidence")
    code, out, err = run("match", claim, "--index", index, "--json", option, target)
    assert code == 2 and option in err
    assert json.loads(out)["exit_code"] == 2  # one JSON object, and no claim was matched: no results in it

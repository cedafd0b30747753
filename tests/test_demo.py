"""The built-in demo on the small generated corpus: right sources, right times, no false matches.

The demo writes its ground truth to ``corpus/manifest.json``; every claim's answer is
checked against that file, not against the demo's own scoring.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from provcheck import Index, read_manifest
from provcheck.cli import cli

#: Edits that keep the whole frame: [core] must trace every claim made only of these.
WHOLE_FRAME_EDITS = {"caption", "border", "logo", "jpeg", "downscale", "mirror", "grayscale", "contrast"}
#: A video claim's reported time may be off by this many frames of its source (claims of
#: one video lie 6 frames apart, so this still tells them apart).
TIME_TOLERANCE_FRAMES = 3


@dataclass(frozen=True)
class DemoRun:
    """One ``provcheck demo --small --json`` run: its output, and the manifest of the corpus it made."""

    out_dir: Path
    document: dict[str, Any]
    manifest: dict[str, Any]
    stderr: str

    @property
    def corpus(self) -> Path:
        return self.out_dir / "corpus"

    def answers(self) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(manifest claim, JSON result) pairs, in the manifest's order."""
        by_query = {result["query"]: result for result in self.document["results"]}
        return [(claim, by_query[str(self.corpus / claim["path"])]) for claim in self.manifest["claims"]]

    def source(self, relative: str) -> dict[str, Any]:
        (found,) = [source for source in self.manifest["sources"] if source["path"] == relative]
        return found


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    out_dir = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--small", "--out", str(out_dir), "--json", "--quiet"])
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((out_dir / "corpus" / "manifest.json").read_text(encoding="utf-8"))
    return DemoRun(out_dir, json.loads(result.stdout), manifest, result.stderr)


def test_demo_json_is_the_match_contract(demo: DemoRun) -> None:
    assert demo.stderr == ""
    assert demo.document["schema"] == 1 and demo.document["index"] == str(demo.out_dir / "index.sqlite")
    queries = [result["query"] for result in demo.document["results"]]
    assert queries == [str(demo.corpus / claim["path"]) for claim in demo.manifest["claims"]]
    assert len(queries) >= 8


def test_every_derived_claim_names_its_manifest_source_and_time(demo: DemoRun) -> None:
    derived = [(claim, result) for claim, result in demo.answers() if claim["should_match"]]
    whole = [claim for claim, _ in derived if claim["crop"] is None and set(claim["edits"]) <= WHOLE_FRAME_EDITS]
    assert len(derived) >= 6 and len(whole) >= 4  # [core]: every whole-frame claim is traced
    for claim, result in derived:
        assert result["verdict"] == "match" and result["error"] is None, claim["path"]
        best = result["matches"][0]
        assert best["verdict"] == "match" and best["earliest"] is True, claim["path"]
        assert Path(best["source"]["path"]) == (demo.corpus / claim["source_path"]).resolve(), claim["path"]
        assert best["derivation"]["mirrored"] is claim["mirrored"], claim["path"]
        source = demo.source(claim["source_path"])
        if claim["time_s"] is None:
            assert source["kind"] == "image" and best["timestamp"] is None, claim["path"]
        else:
            assert source["kind"] == "video", claim["path"]
            off_by = abs(best["timestamp"] - claim["time_s"]) * source["fps"]
            assert off_by <= TIME_TOLERANCE_FRAMES, (claim["path"], best["timestamp"], claim["time_s"])


def test_the_demo_indexes_from_a_source_manifest_each_file_with_its_own_metadata(demo: DemoRun) -> None:
    entries = read_manifest(demo.corpus / "sources.csv")
    truth = {str(demo.corpus / source["path"]): source for source in demo.manifest["sources"]}
    assert sorted(entry.path for entry in entries) == sorted(truth)
    with Index(demo.out_dir / "index.sqlite") as index:
        stored = {source.path: source for source in index.sources()}
    assert len({entry.published for entry in entries}) > 1  # not one date copied onto every file
    for entry in entries:
        source = stored[str(Path(entry.path).resolve())]
        expected = truth[entry.path]
        assert (source.title, source.url, source.published, source.notes) == (
            expected["title"], expected["url"], expected["published"], expected["notes"])


def test_the_demo_writes_evidence_for_every_matched_claim_and_one_report(demo: DemoRun) -> None:
    matched = [n for n, result in enumerate(demo.document["results"], start=1) if result["verdict"] != "none"]
    images = sorted(path.name for path in (demo.out_dir / "evidence").glob("*_evidence.png"))
    assert len(images) == len(matched) >= 6
    assert [int(name[:3]) for name in images] == matched  # numbered by claim: none for the unrelated ones
    html = (demo.out_dir / "report.html").read_text(encoding="utf-8")
    assert html.count("<section>") == len(demo.document["results"])
    assert html.count("data:image/jpeg;base64,") == len(matched)


def test_unrelated_claims_come_back_with_no_source(demo: DemoRun) -> None:
    unrelated = [(claim, result) for claim, result in demo.answers() if not claim["should_match"]]
    assert len(unrelated) >= 3
    for claim, result in unrelated:
        assert (result["verdict"], result["matches"], result["error"]) == ("none", [], None), claim["path"]


def test_demo_command_prints_report_and_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--small", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Iraqi Airstrikes Hit ISIS Convoy Fleeing Fallujah" in out
    assert "published 2016-" in out and "at 00:00:0" in out and "https://" in out
    claims = json.loads((tmp_path / "corpus" / "manifest.json").read_text(encoding="utf-8"))["claims"]
    derived = sum(claim["should_match"] for claim in claims)
    unrelated = len(claims) - derived
    assert f"derived claims found: {derived}/{derived} " in out
    assert f"unrelated claims kept clean: {unrelated}/{unrelated}; false matches: 0, wrong source: 0" in out
    assert "generating the corpus" in result.stderr

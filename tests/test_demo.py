"""The built-in demo on the small generated corpus: right sources, right times, no false matches."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from provcheck.cli import cli
from provcheck.demo import DemoOutcome, run_demo

#: Edits that keep the whole frame: [core] must trace every claim made only of these.
WHOLE_FRAME_EDITS = {"caption", "border", "logo", "jpeg", "downscale", "mirror", "grayscale", "contrast"}


@pytest.fixture(scope="module")
def outcome(tmp_path_factory: pytest.TempPathFactory) -> DemoOutcome:
    return run_demo(tmp_path_factory.mktemp("demo"), seed=2017, small=True)


def test_whole_frame_claims_name_source_and_time(outcome: DemoOutcome) -> None:
    whole = [o for o in outcome.outcomes if o.claim.source_path is not None and o.claim.crop is None
             and set(o.claim.edits) <= WHOLE_FRAME_EDITS]
    assert len(whole) >= 4
    assert {o.claim.path.name: o.status for o in whole} == {o.claim.path.name: "ok" for o in whole}


def test_unrelated_claims_come_back_none(outcome: DemoOutcome) -> None:
    unrelated = [o for o in outcome.outcomes if o.claim.source_path is None]
    assert len(unrelated) >= 3
    assert all(o.result.verdict.value == "none" for o in unrelated)


def test_no_claim_is_matched_to_a_wrong_source(outcome: DemoOutcome) -> None:
    assert [o.claim.path.name for o in outcome.outcomes if o.status in ("wrong source", "false match")] == []


def test_demo_command_prints_report_and_table(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--small", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "Iraqi Airstrikes Hit ISIS Convoy Fleeing Fallujah" in out
    assert "published 2016-" in out and "at 00:00:0" in out and "https://" in out
    assert "derived claims found:" in out and "false matches: 0" in out
    assert "generating the corpus" in result.stderr


def test_demo_json_is_the_match_contract(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["demo", "--small", "--out", str(tmp_path), "--json", "--quiet"])
    assert result.exit_code == 0 and result.stderr == ""
    document = json.loads(result.stdout)
    assert document["schema"] == 1 and len(document["results"]) >= 8

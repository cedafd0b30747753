"""The CI example: the script the GitHub Actions job runs, run here as it is, on a cold and a warm index."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import texture, valid_document, valid_lines, write_still

from provcheck.errors import ExitCode

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "examples" / "ci" / "check-uploads.sh"
WORKFLOW = REPO / "examples" / "ci" / "github-actions.yml"


def _run(*args: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PROVCHECK": f"{sys.executable} -m provcheck"}
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True, env=env,
                          timeout=600, check=False)


def test_the_workflow_runs_the_script_this_test_runs() -> None:
    workflow = WORKFLOW.read_text(encoding="utf-8")
    assert "run: bash examples/ci/check-uploads.sh footage/sources.csv .provcheck/index.sqlite uploads" in workflow
    assert "actions/cache/restore" in workflow and "actions/cache/save" in workflow


def test_the_ci_script_fails_on_a_match_and_keeps_the_evidence(tmp_path: Path) -> None:
    footage, uploads = tmp_path / "footage", tmp_path / "uploads"
    footage.mkdir()
    uploads.mkdir()
    known = texture(71, 360, 540)
    write_still(footage / "agency.png", known)
    write_still(footage / "archive.png", texture(72, 360, 540))
    (footage / "sources.csv").write_text(
        "path,title,url,published\n"
        "agency.png,Agency photo,https://example.org/agency,2016-06-28\n"
        "archive.png,Archive photo,,2015-01-02\n", encoding="utf-8")
    write_still(uploads / "a_reused.jpg", known[60:300, 100:460], quality=85)
    write_still(uploads / "b_fresh.jpg", texture(73, 240, 320), quality=85)
    index, out = tmp_path / ".provcheck" / "index.sqlite", tmp_path / "out"

    cold = _run(footage / "sources.csv", index, uploads, out)
    assert cold.returncode == ExitCode.FAIL_ON, cold.stderr
    assert len(valid_document((out / "indexed.json").read_text())["added"]) == 2
    results = valid_lines((out / "results.jsonl").read_text())
    assert [(Path(r["query"]).name, r["verdict"]) for r in results] == [("a_reused.jpg", "match"), ("b_fresh.jpg", "none")]
    assert results[0]["matches"][0]["source"]["title"] == "Agency photo"
    assert sorted(p.name for p in (out / "evidence").iterdir()) == ["001_a_reused_evidence.png", "001_a_reused_source.png"]
    assert (out / "report.html").read_text(encoding="utf-8").count("<section>") == 2

    # the next job restores the index from the cache: nothing is fingerprinted again, same answers
    warm = _run(footage / "sources.csv", index, uploads, out)
    assert warm.returncode == ExitCode.FAIL_ON, warm.stderr
    indexed = json.loads((out / "indexed.json").read_text())
    assert indexed["added"] == [] and len(indexed["skipped"]) == 2
    assert valid_lines((out / "results.jsonl").read_text()) == results

    # nothing reused: the job passes
    (uploads / "a_reused.jpg").unlink()
    assert _run(footage / "sources.csv", index, uploads, out).returncode == 0

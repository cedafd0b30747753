"""The command line: output contracts, exit codes, one-line errors, help with examples."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from conftest import frame_at, texture, valid_document, valid_lines, write_still

from provcheck import Index, __version__
from provcheck.api import AddProgress
from provcheck.cli import _add_progress_text, cli
from provcheck.errors import ExitCode


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture()
def claim(tmp_path: Path, pan_clip: Path) -> Path:
    return write_still(tmp_path / "claim.jpg", frame_at(pan_clip, 50), quality=70)


@pytest.fixture()
def unrelated(tmp_path: Path) -> Path:
    return write_still(tmp_path / "unrelated.png", texture(404, 176, 320))


def test_version() -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out


#: Modules that --help and --version must not load (they cost most of a second to import).
HEAVY_MODULES = frozenset({"numpy", "cv2", "av", "faiss", "PIL", "imagehash", "flask", "dask", "distributed"})


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["match", "-h"], ["index", "add", "--help"]], ids=" ".join)
def test_help_and_version_import_no_heavy_module(args: list[str]) -> None:
    """In a real process: ``python -X importtime -m provcheck --version`` lists every module imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "provcheck", *args], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout or __version__ in done.stdout
    imported = {line.rsplit("|", 1)[1].strip().split(".")[0] for line in done.stderr.splitlines()
                if line.startswith("import time:")}
    assert {"provcheck", "click"} <= imported  # the list is the real one
    assert not imported & HEAVY_MODULES


def all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found.extend(all_commands(command, (*prefix, name)))
    return found


@pytest.mark.parametrize("command", all_commands(cli), ids=" ".join)
def test_every_command_has_help_with_an_example(command: tuple[str, ...]) -> None:
    code, out, _ = run(*command, "-h")
    assert code == 0
    assert "Examples:" in out and "provcheck " in out.split("Examples:")[1]


def test_add_then_match_text(index_path: Path, pan_clip: Path, claim: Path, unrelated: Path) -> None:
    code, out, err = run("index", "add", pan_clip, "--title", "Strike video", "--url", "https://v.example/1",
                         "--published", "2016-06-30", "--index", index_path)
    assert code == 0, err
    assert out.startswith("added #1 video 'Strike video'")
    code, out, err = run("match", claim, unrelated, "--index", index_path)
    assert code == 0, err
    assert f"{claim}: MATCH" in out and "Strike video" in out and "https://v.example/1" in out
    assert "published 2016-06-30" in out and "at 00:00:02.00 (frame 50)" in out
    assert f"{unrelated}: NONE" in out
    assert err == ""


def test_match_json_contract(built_index: Path, claim: Path, unrelated: Path) -> None:
    code, out, err = run("match", claim, unrelated, "--index", built_index, "--json")
    assert code == 0, err
    document = json.loads(out)
    assert document["schema"] == 1 and document["index"] == str(built_index)
    assert document["provcheck"] == __version__
    first, second = document["results"]
    assert first["query"] == str(claim) and first["verdict"] == "match" and first["error"] is None
    assert first["sha256"] == hashlib.sha256(claim.read_bytes()).hexdigest()
    assert second == {"query": str(unrelated), "sha256": hashlib.sha256(unrelated.read_bytes()).hexdigest(),
                      "verdict": "none", "error": None, "claimed_date": None, "matches": []}
    match = first["matches"][0]
    assert set(match) >= {"source", "timestamp", "frame", "confidence", "distance", "derivation", "verdict",
                          "days_before_claim", "published_after_claim"}
    assert set(match["source"]) == {"id", "kind", "title", "url", "published", "path"}
    assert match["source"]["kind"] == "video" and match["source"]["published"] == "2016-06-30"
    assert abs(match["timestamp"] - 2.0) <= 1.0 and isinstance(match["frame"], int)
    assert 0.0 <= match["confidence"] <= 1.0
    assert set(match["derivation"]) >= {"mirrored", "crop", "rotation_deg", "trimmed"}
    assert match["derivation"]["mirrored"] is False
    assert match["earliest"] is True


@pytest.fixture(scope="module")
def reposted_index(tmp_path_factory: pytest.TempPathFactory, pan_clip: Path) -> Path:
    """The pan clip and three stills cut from its frame 50, published on dates that order them differently.

    By id: clip, re-upload, left half, corner. By date: corner, left half, clip, re-upload.
    The corner holds a quarter of the frame: a whole-frame claim can only possibly come from it.
    """
    folder = tmp_path_factory.mktemp("reposted")
    frame = frame_at(pan_clip, 50)
    stills = [
        ("Re-upload", write_still(folder / "reupload.png", frame), "2016-07-09"),
        ("Left half", write_still(folder / "left.png", frame[:, :160]), "2016-06-02"),
        ("Corner", write_still(folder / "corner.png", frame[:88, :160]), "2016-05-01"),
    ]
    path = folder / "reposted.sqlite"
    with Index(path) as index:
        index.add(pan_clip, title="Pan clip", published="2016-06-30")
        for title, still, published in stills:
            index.add(still, title=title, published=published)
    return path


def test_matches_list_confirmed_oldest_first_then_possible_by_confidence(reposted_index: Path, claim: Path) -> None:
    code, out, err = run("match", claim, "--index", reposted_index, "--json", "--top", "10")
    assert code == 0, err
    matches = json.loads(out)["results"][0]["matches"]
    shown = [(m["source"]["title"], m["verdict"], m["earliest"]) for m in matches]
    assert shown == [
        ("Left half", "match", True),  # the oldest confirmed source leads, though its confidence is the lowest
        ("Pan clip", "match", False),
        ("Re-upload", "match", False),
        ("Corner", "possible", False),  # the oldest of all, but only possible: after every confirmed match
    ]
    confirmed = [m["confidence"] for m in matches if m["verdict"] == "match"]
    assert confirmed != sorted(confirmed, reverse=True)  # the order is by date, not by confidence


def test_duplicate_add_says_so_and_changes_nothing(index_path: Path, still_path: Path) -> None:
    assert run("index", "add", still_path, "--index", index_path)[0] == 0
    code, out, err = run("index", "add", still_path, "--index", index_path, "--json")
    assert code == 0
    assert json.loads(out)["skipped"][0]["source_id"] == 1 and json.loads(out)["added"] == []
    assert "already indexed" in err
    listed = json.loads(run("index", "list", "--index", index_path, "--json")[1])["sources"]
    assert len(listed) == 1
    code, out, _ = run("index", "add", still_path, "--index", index_path, "--replace")
    assert code == 0 and out.startswith("added #1")  # re-indexed under the same id
    assert [s["id"] for s in json.loads(run("index", "list", "--index", index_path, "--json")[1])["sources"]] == [1]


def test_add_folder_list_info_remove(tmp_path: Path, index_path: Path, pan_clip: Path, still_path: Path) -> None:
    folder = tmp_path / "corpus"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(pan_clip.read_bytes())
    (folder / "b.png").write_bytes(still_path.read_bytes())
    (folder / "readme.txt").write_text("not media")
    code, out, _ = run("index", "add", folder, "--index", index_path, "--published", "2016-01-01")
    assert code == 0 and out.count("added #") == 2
    info = json.loads(run("index", "info", "--index", index_path, "--json")[1])
    assert (info["sources"], info["videos"], info["images"]) == (2, 1, 1)
    assert info["hashers"]["pdq"]["bits"] == 256
    shortlist = info["shortlist"]  # past shortlist_upkeep.TRAIN_AT keypoints: trained by the add, every frame quantised
    assert shortlist["words"] > 0 and shortlist["training_descriptors"] == shortlist["postings"] > 4_000
    assert shortlist["word_file_postings"] == 0
    code, out, _ = run("index", "remove", "1", "--index", index_path)
    assert code == 0 and "removed #1" in out
    assert "a.mp4" not in run("index", "list", "--index", index_path)[1]


def test_index_from_environment(monkeypatch: pytest.MonkeyPatch, index_path: Path, still_path: Path) -> None:
    monkeypatch.setenv("PROVCHECK_INDEX", str(index_path))
    assert run("index", "add", still_path)[0] == 0
    assert index_path.exists()


# --- exit codes -----------------------------------------------------------------


def test_exit_1_unreadable_claim_others_still_reported(built_index: Path, tmp_path: Path, claim: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 100)
    code, out, err = run("match", corrupt, claim, "--index", built_index, "--json")
    assert code == ExitCode.INPUT_ERROR
    results = json.loads(out)["results"]
    assert results[0]["error"] and str(corrupt) in results[0]["error"] and results[0]["verdict"] == "none"
    assert results[1]["verdict"] == "match"
    assert err.count("\n") == 1 and str(corrupt) in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("name", "content"),
    [("notes.txt", b"plain text " * 100), ("broken.mp4", b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 500)],
)
def test_exit_1_non_media_and_broken_video_on_add(index_path: Path, tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    code, out, err = run("index", "add", path, "--index", index_path)
    assert code == ExitCode.INPUT_ERROR and out == ""
    assert err.strip().count("\n") == 0 and str(path) in err and "Traceback" not in err


def test_exit_1_truncated_video_leaves_index_unchanged(index_path: Path, tmp_path: Path, pan_clip: Path,
                                                     still_path: Path) -> None:
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(pan_clip.read_bytes()[: pan_clip.stat().st_size // 2])
    code, out, err = run("index", "add", still_path, truncated, "--index", index_path)
    assert code == ExitCode.INPUT_ERROR
    assert "added #1 image" in out and str(truncated) in err and "Traceback" not in err
    assert len(json.loads(run("index", "list", "--index", index_path, "--json")[1])["sources"]) == 1


def test_exit_2_usage(index_path: Path, still_path: Path) -> None:
    assert run("match")[0] == ExitCode.USAGE
    assert run("match", still_path, "--fail-on", "maybe")[0] == ExitCode.USAGE
    code, _, err = run("index", "add", still_path, "--published", "June 2016", "--index", index_path)
    assert code == ExitCode.USAGE and "YYYY-MM-DD" in err
    assert not index_path.exists()


def test_exit_3_missing_index(tmp_path: Path, claim: Path) -> None:
    missing = tmp_path / "nope.sqlite"
    code, out, err = run("match", claim, "--index", missing)
    assert code == ExitCode.INDEX_ERROR and out == ""
    assert str(missing) in err and err.count("\n") == 1
    assert not missing.exists()
    assert run("index", "list", "--index", missing)[0] == ExitCode.INDEX_ERROR


def test_exit_3_damaged_index_is_not_overwritten(tmp_path: Path, claim: Path, still_path: Path) -> None:
    damaged = tmp_path / "damaged.sqlite"
    damaged.write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 2000)
    before = damaged.read_bytes()
    for args in (("match", claim), ("index", "add", still_path), ("index", "info")):
        code, _, err = run(*args, "--index", damaged)
        assert code == ExitCode.INDEX_ERROR and str(damaged) in err and "Traceback" not in err
    assert damaged.read_bytes() == before


def test_exit_4_fail_on(built_index: Path, claim: Path, unrelated: Path) -> None:
    assert run("match", claim, "--index", built_index, "--fail-on", "match")[0] == ExitCode.FAIL_ON
    assert run("match", unrelated, "--index", built_index, "--fail-on", "match")[0] == 0
    assert run("match", unrelated, "--index", built_index, "--fail-on", "none")[0] == ExitCode.FAIL_ON
    assert run("match", claim, "--index", built_index, "--fail-on", "possible")[0] == ExitCode.FAIL_ON


def test_exit_130_on_interrupt(monkeypatch: pytest.MonkeyPatch, built_index: Path, claim: Path) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("provcheck.api.Index.check", interrupted)
    code, _, err = run("match", claim, "--index", built_index)
    assert code == ExitCode.INTERRUPTED and "interrupted" in err


def test_traceback_flag_shows_the_trace(tmp_path: Path, claim: Path) -> None:
    """In a real process: the error is one line without --traceback, Python's full trace with it."""
    missing = tmp_path / "x.db"
    args = ["match", str(claim), "--index", str(missing)]
    plain, traced = (subprocess.Popen([sys.executable, "-m", "provcheck", *flags, *args], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True) for flags in ([], ["--traceback"]))
    _, plain_err = plain.communicate(timeout=120)
    _, traced_err = traced.communicate(timeout=120)
    assert plain.returncode == ExitCode.INDEX_ERROR
    assert plain_err.count("\n") == 1 and plain_err.startswith("provcheck: error: ") and "Traceback" not in plain_err
    assert traced.returncode == 1  # an uncaught exception
    assert traced_err.startswith("Traceback (most recent call last):")
    assert traced_err.rstrip().splitlines()[-1].startswith(f"provcheck.errors.IndexStoreError: {missing}: index not found")


# --- batches: folders, --from-file, --json-lines, progress ---------------------------


def queries(out: str) -> list[str]:
    return [result["query"] for result in json.loads(out)["results"]]


def test_folder_claims_every_media_file_sorted_recursively(built_index: Path, tmp_path: Path, claim: Path,
                                                         unrelated: Path, pan_clip: Path) -> None:
    folder = tmp_path / "uploads"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a_claim.jpg").write_bytes(claim.read_bytes())
    (folder / "b_unrelated.png").write_bytes(unrelated.read_bytes())
    (folder / "notes.txt").write_text("not media")
    video = folder / "c_clip.mp4"
    video.write_bytes(pan_clip.read_bytes())
    code, out, err = run("match", folder, "--index", built_index, "--json")
    assert code == ExitCode.INPUT_ERROR  # the video, as below
    results = json.loads(out)["results"]
    assert [r["query"] for r in results] == [str(folder / "b_unrelated.png"), str(video), str(folder / "sub/a_claim.jpg")]
    assert [r["verdict"] for r in results] == ["none", "none", "match"]
    # a video in a folder is what a video given alone is: an error result naming it
    alone = json.loads(run("match", video, "--index", built_index, "--json")[1])["results"][0]
    assert results[1] == alone and "not a still image" in alone["error"]
    assert err.count("\n") == 1 and str(video) in err


def test_empty_folder_warns_and_reports_nothing(built_index: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    code, out, err = run("match", tmp_path / "empty", "--index", built_index, "--json")
    assert code == 0 and json.loads(out)["results"] == []
    assert "no media files in folder" in err and "no claims to check" in err


def test_from_file_lists_claims_after_the_arguments(built_index: Path, tmp_path: Path, claim: Path,
                                                   unrelated: Path) -> None:
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "copy.jpg").write_bytes(claim.read_bytes())
    listing = tmp_path / "claims.txt"
    listing.write_text(f"# claims from the inbox\n\n  {unrelated}  \n#{claim}\n{folder}\n", encoding="utf-8")
    code, out, err = run("match", claim, "--from-file", listing, "--index", built_index, "--json")
    assert code == 0, err
    assert queries(out) == [str(claim), str(unrelated), str(folder / "copy.jpg")]
    assert [r["verdict"] for r in json.loads(out)["results"]] == ["match", "none", "match"]


def test_from_file_dash_reads_stdin(built_index: Path, claim: Path, unrelated: Path) -> None:
    result = CliRunner().invoke(cli, ["match", "--from-file", "-", "--index", str(built_index), "--json"],
                                input=f"{unrelated}\n\n{claim}\n", catch_exceptions=False)
    assert result.exit_code == 0, result.stderr
    assert queries(result.stdout) == [str(unrelated), str(claim)]


def test_from_stdin_in_a_real_process(built_index: Path, claim: Path, unrelated: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "provcheck", "match", "--from-file", "-", "--index", str(built_index),
                           "--json-lines", "--fail-on", "match"],
                          input=f"# two claims\n{claim}\n{unrelated}\n", capture_output=True, text=True, timeout=300)
    assert done.returncode == ExitCode.FAIL_ON, done.stderr
    lines = valid_lines(done.stdout)
    assert [(line["query"], line["verdict"]) for line in lines] == [(str(claim), "match"), (str(unrelated), "none")]
    assert done.stderr == ""


def test_json_lines_are_the_json_results_one_per_line(built_index: Path, tmp_path: Path, claim: Path,
                                                     unrelated: Path) -> None:
    corrupt = tmp_path / "corrupt.jpg"
    corrupt.write_bytes(b"\xff\xd8\xff\xe0" + b"garbage" * 100)
    claims = [claim, corrupt, unrelated]
    json_code, json_out, _ = run("match", *claims, "--index", built_index, "--json")
    code, out, err = run("match", *claims, "--index", built_index, "--json-lines")
    assert code == json_code == ExitCode.INPUT_ERROR
    assert out.endswith("\n") and len(out.splitlines()) == len(claims)
    document = json.loads(json_out)
    for line, expected in zip(out.splitlines(), document["results"], strict=True):
        entry = json.loads(line)
        assert list(entry)[:3] == ["schema", "provcheck", "index"]
        assert (entry.pop("schema"), entry.pop("provcheck"), entry.pop("index")) == (
            document["schema"], document["provcheck"], document["index"]) == (1, __version__, str(built_index))
        assert entry == expected
    assert str(corrupt) in err


@pytest.mark.parametrize(("args", "code", "says"), [
    (["match", "{claim}", "--index", "{missing}", "--json"], ExitCode.INDEX_ERROR, "missing.sqlite"),
    (["index", "list", "--index", "{missing}", "--json"], ExitCode.INDEX_ERROR, "missing.sqlite"),
    (["match", "{claim}", "--index", "{index}", "--json-lines", "--top", "0"], ExitCode.USAGE, "--top"),
    (["index", "edit", "7", "--title", "X", "--index", "{index}", "--json"], ExitCode.INPUT_ERROR, "no source with id 7"),
])
def test_an_error_under_json_is_one_json_object_with_its_exit_code(
    built_index: Path, claim: Path, tmp_path: Path, args: list[str], code: int, says: str,
) -> None:
    filled = [arg.format(claim=claim, missing=tmp_path / "missing.sqlite", index=built_index) for arg in args]
    got, out, err = run(*filled)
    assert got == code and says in err
    (line,) = out.splitlines()
    document = json.loads(line)
    assert document["exit_code"] == code and says in document["error"] and "\n" not in document["error"]


def test_a_claim_read_from_stdin(built_index: Path, claim: Path) -> None:
    result = CliRunner().invoke(cli, ["match", "-", "--index", str(built_index), "--json", "--jobs", "1"],
                                input=claim.read_bytes())
    assert result.exit_code == 0, result.stderr
    (entry,) = json.loads(result.stdout)["results"]
    assert entry["query"] == "-" and entry["verdict"] == "match"
    assert entry["sha256"] == hashlib.sha256(claim.read_bytes()).hexdigest()
    garbage = CliRunner().invoke(cli, ["match", "-", "--index", str(built_index), "--json"], input=b"not a picture")
    assert garbage.exit_code == ExitCode.INPUT_ERROR
    (entry,) = json.loads(garbage.stdout)["results"]
    assert entry["query"] == "-" and "standard input" in entry["error"] and "provcheck-stdin" not in entry["error"]


def test_json_lines_fail_on_exits_4(built_index: Path, claim: Path) -> None:
    code, out, _ = run("match", claim, "--index", built_index, "--json-lines", "--fail-on", "match")
    assert code == ExitCode.FAIL_ON and json.loads(out)["verdict"] == "match"


def test_json_and_json_lines_together_are_a_usage_error(built_index: Path, claim: Path, tmp_path: Path) -> None:
    code, out, err = run("match", claim, "--index", built_index, "--json", "--json-lines")
    assert code == ExitCode.USAGE and "--json and --json-lines" in err
    # still one JSON object on stdout, for a jq step that reads it
    assert json.loads(out) == {"schema": 1, "provcheck": __version__,
                               "error": "--json and --json-lines cannot be used together.", "exit_code": 2}
    assert run("match", "--from-file", tmp_path / "missing.txt", "--index", built_index)[0] == ExitCode.USAGE


def test_json_lines_printed_before_an_interrupt_stay(monkeypatch: pytest.MonkeyPatch, built_index: Path, claim: Path,
                                                     unrelated: Path) -> None:
    real_check = Index.check
    checked: list[str] = []

    def check_then_interrupt(self: Index, image: str, *args: object, **kwargs: object) -> object:
        if checked:
            raise KeyboardInterrupt
        checked.append(image)
        return real_check(self, image, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr("provcheck.api.Index.check", check_then_interrupt)
    code, out, err = run("match", claim, unrelated, "--index", built_index, "--json-lines", "--jobs", "1")
    assert code == ExitCode.INTERRUPTED and "interrupted" in err
    (line,) = out.splitlines()
    assert json.loads(line)["query"] == str(claim) and json.loads(line)["verdict"] == "match"


def test_json_lines_reach_a_pipe_before_the_process_dies(built_index: Path, claim: Path, unrelated: Path) -> None:
    """SIGKILL during the second claim: the first claim's line was flushed into the pipe, whole."""
    script = (
        "import os, signal, sys\n"
        "from provcheck import api\n"
        "from provcheck.cli import main\n"
        "real_check = api.Index.check\n"
        "calls = []\n"
        "def check(self, *args, **kwargs):\n"
        "    calls.append(args)\n"
        "    if len(calls) == 2:\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
        "    return real_check(self, *args, **kwargs)\n"
        "api.Index.check = check\n"
        "main()\n"
    )
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}  # a real pipe's buffer
    done = subprocess.run([sys.executable, "-c", script, "match", str(claim), str(unrelated), "--index",
                           str(built_index), "--json-lines", "--jobs", "1"], capture_output=True, text=True,
                          timeout=300, env=buffered)
    assert done.returncode == -9, done.stderr
    (line,) = done.stdout.splitlines()
    assert valid_document(line)["query"] == str(claim) and done.stdout.endswith("\n")


def test_progress_bar_over_claims_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch, built_index: Path,
                                                     claim: Path, unrelated: Path) -> None:
    monkeypatch.setattr("provcheck.cli._stderr_is_terminal", lambda: True)
    code, out, err = run("match", claim, unrelated, "--index", built_index, "--json")
    assert code == 0 and queries(out) == [str(claim), str(unrelated)]  # stdout: the document only
    assert "matching" in err
    assert run("match", claim, unrelated, "--index", built_index, "--json", "--quiet")[2] == ""
    assert run("match", claim, "--index", built_index, "--json")[2] == ""  # one claim: no bar
    monkeypatch.setattr("provcheck.cli._stderr_is_terminal", lambda: False)
    assert run("match", unrelated, claim, "--index", built_index, "--json")[2] == ""


def test_index_add_progress_bar_on_stderr_on_a_terminal_only(tmp_path: Path, pan_clip: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    def add(*extra: str) -> tuple[int, str, str]:
        index = tmp_path / f"index{len(list(tmp_path.iterdir()))}.sqlite"
        result = CliRunner().invoke(cli, ["index", "add", str(pan_clip), "--index", str(index), "--jobs", "1",
                                          *extra], catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    monkeypatch.setattr("provcheck.cli._stderr_is_terminal", lambda: True)
    code, out, err = add()
    assert code == 0 and "pan.mp4" in out and "indexing" not in out
    assert "indexing" in err  # click draws the rest only on a real terminal
    assert add("--quiet")[2] == ""
    monkeypatch.setattr("provcheck.cli._stderr_is_terminal", lambda: False)
    code, out, err = add()
    assert code == 0 and "pan.mp4" in out and err == ""


def test_index_add_progress_text_names_files_frames_and_speed() -> None:
    state = AddProgress(files_done=1, files_total=3, frames=40, files_read=1.5, video_s=30.0)
    assert _add_progress_text(state, 2.0) == "1/3 files, 40 frames, 15.0x realtime"
    assert _add_progress_text(AddProgress(0, 3, 0), 0.0) == "0/3 files, 0 frames"


# --- URLs -----------------------------------------------------------------------------


@pytest.fixture()
def media_server(tmp_path: Path, still_path: Path, claim: Path):  # type: ignore[no-untyped-def]
    """A real HTTP server on 127.0.0.1 serving the still, the claim and an HTML page."""
    import http.server
    import threading

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "photo.png").write_bytes(still_path.read_bytes())
    (tmp_path / "site" / "claim.jpg").write_bytes(claim.read_bytes())
    (tmp_path / "site" / "page.html").write_text("<html>not media</html>")

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):  # type: ignore[no-untyped-def]
            super().__init__(*args, directory=str(tmp_path / "site"), **kwargs)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_urls_on_loopback_are_refused_by_default(media_server: str, built_index: Path, index_path: Path) -> None:
    code, out, err = run("match", f"{media_server}/claim.jpg", "--index", built_index, "--json")
    assert code == ExitCode.INPUT_ERROR
    result = json.loads(out)["results"][0]
    assert result["query"] == f"{media_server}/claim.jpg" and "loopback" in result["error"]
    code, _, err = run("index", "add", f"{media_server}/photo.png", "--index", index_path)
    assert code == ExitCode.INPUT_ERROR and "loopback" in err and "Traceback" not in err


def test_urls_as_claims_and_sources_with_allow_private(media_server: str, built_index: Path, index_path: Path) -> None:
    code, out, err = run("match", f"{media_server}/claim.jpg", f"{media_server}/page.html", "--index", built_index,
                         "--json", "--allow-private")
    assert code == ExitCode.INPUT_ERROR, err
    claim_result, page_result = json.loads(out)["results"]
    assert claim_result["verdict"] == "match" and claim_result["matches"][0]["source"]["title"] == "Pan clip"
    assert "text/html" in page_result["error"]
    code, out, err = run("index", "add", f"{media_server}/photo.png", "--index", index_path, "--allow-private",
                         "--published", "2016-06-30", "--json")
    assert code == 0, err
    added = json.loads(out)["added"][0]
    assert added["url"] == f"{media_server}/photo.png" and added["title"] == "photo.png"
    assert Path(added["path"]).parent == index_path.parent / "downloads"

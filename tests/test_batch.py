"""Matching many claims in worker processes (provcheck.batch): same results, same order, a dying worker survived."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import assert_gone, children_of, frame_at, texture, valid_document, write_still

from provcheck import Index
from provcheck.batch import ClaimCheck, ClaimWorkers
from provcheck.cli import cli
from provcheck.errors import ExitCode
from provcheck.fetch import FetchPolicy
from provcheck.match import MatchSettings
from provcheck.results import ClaimResult, Verdict


@pytest.fixture(scope="module")
def claims(tmp_path_factory: pytest.TempPathFactory, pan_clip: Path, still_path: Path) -> list[Path]:
    """Crops of an indexed clip, an unrelated picture and an unreadable file, in a fixed order."""
    folder = tmp_path_factory.mktemp("batch-claims")
    made = []
    for number in (10, 40):
        made.append(write_still(folder / f"a_crop_{number}.jpg", frame_at(pan_clip, number)[40:250, 60:380], quality=90))
    made.append(write_still(folder / "b_unrelated.png", texture(77, 360, 640)))
    broken = folder / "c_broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    made.append(broken)
    made.append(write_still(folder / "d_crop_70.jpg", frame_at(pan_clip, 70)[100:300, 200:520], quality=85))
    return made


def _match(built_index: Path, claims: list[Path], jobs: int) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["match", *map(str, claims), "--json-lines", "--jobs", str(jobs),
                                      "--index", str(built_index)], catch_exceptions=False)
    return result.exit_code, result.stdout


def test_two_workers_give_the_same_lines_in_the_same_order_as_one_process(built_index: Path,
                                                                          claims: list[Path]) -> None:
    alone = _match(built_index, claims, jobs=1)
    side_by_side = _match(built_index, claims, jobs=2)
    assert alone[0] == side_by_side[0] == ExitCode.INPUT_ERROR  # the broken file
    assert side_by_side[1] == alone[1]
    lines = side_by_side[1].splitlines()
    assert [line.split('"query":"')[1].split('"')[0] for line in lines] == [str(claim) for claim in claims]
    assert lines[0].count('"verdict":"match"') >= 1 and '"error":' in lines[3]


_DIE_ON = "d_crop_70"


def _dying_checker(index_path: str, settings: MatchSettings) -> ClaimCheck:
    """A worker's real claim check, except that the worker process dies on one claim (a decoder crash)."""
    check = Index(index_path, settings=settings).check_safely

    def checked(image: str, top: int, policy: FetchPolicy) -> ClaimResult:
        if _DIE_ON in image:
            os._exit(1)
        return check(image, top, policy)

    return checked


def test_a_claim_that_kills_its_worker_gets_an_error_and_the_others_their_results(built_index: Path,
                                                                                  claims: list[Path]) -> None:
    order = [claims[4], claims[0], claims[2], claims[1]]  # the killer first: its neighbours are in flight
    with ClaimWorkers(_dying_checker, built_index, MatchSettings(), workers=2) as workers:
        results = list(workers.check([str(claim) for claim in order], 5, FetchPolicy()))
    assert [result.query for result in results] == [str(claim) for claim in order]
    assert results[0].error is not None and "died" in results[0].error
    assert results[1].verdict is Verdict.MATCH and results[3].verdict is Verdict.MATCH
    assert results[2].error is None


def test_check_many_in_this_process_when_one_job_or_one_claim(built_index: Path, claims: list[Path]) -> None:
    index = Index(built_index)
    one = list(index.check_many([str(claims[0])], jobs=4))
    assert len(one) == 1 and one[0].verdict is Verdict.MATCH
    with pytest.raises(ValueError):
        list(index.check_many([str(claims[0])], jobs=0))


def test_ctrl_c_ends_the_workers_and_keeps_the_lines_printed(built_index: Path, claims: list[Path]) -> None:
    """SIGINT to the process group (what a terminal's Ctrl-C sends) after the first line: exit 130, whole lines."""
    many = [str(claims[0]), *[str(claims[4])] * 12]
    process = subprocess.Popen([sys.executable, "-m", "provcheck", "match", *many, "--json-lines", "--jobs", "2",
                                "--index", str(built_index)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    os.killpg(process.pid, signal.SIGINT)
    rest, err = process.communicate(timeout=60)
    assert process.returncode == ExitCode.INTERRUPTED, err
    assert "interrupted" in err and "Traceback" not in err
    lines = [first, *rest.splitlines()]
    assert 1 <= len(lines) < len(many)
    assert [valid_document(line)["query"] for line in lines] == many[:len(lines)]


def test_workers_end_when_the_match_command_is_killed(built_index: Path, claims: list[Path]) -> None:
    """kill -9 of `match --jobs 2` (an OOM kill, a CI timeout): its workers do not wait for work forever."""
    many = [str(claims[4])] * 40
    process = subprocess.Popen([sys.executable, "-m", "provcheck", "match", *many, "--json-lines", "--jobs", "2",
                                "--index", str(built_index)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                               text=True)
    assert process.stdout is not None
    process.stdout.readline()  # the workers are up and matching
    workers = children_of(process.pid)
    assert workers
    process.kill()
    process.wait(timeout=60)
    process.stdout.close()
    assert_gone(workers)

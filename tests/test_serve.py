"""The local web page, end to end: a real `provcheck serve` process, real HTTP, a real headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from conftest import OUTPUT_SCHEMA, texture, write_still

from provcheck import Index, __version__

#: Debian's Chromium (installed by .ci/run); Playwright drives it instead of downloading its own browser.
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: What a headless Chromium needs on a closed network, as root (no sandbox) and without a GPU.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """An index of one dated still, a claim cropped from it, and an unrelated picture."""
    folder = tmp_path_factory.mktemp("serve")
    source = texture(81, 360, 540)
    write_still(folder / "source.png", source)
    with Index(folder / "index.sqlite") as index:
        index.add(folder / "source.png", title="Agency photo", url="https://example.org/agency", published="2016-06-28")
    claim = write_still(folder / "claimed photo.jpg", source[40:280, 90:450], quality=88)
    unrelated = write_still(folder / "unrelated.png", texture(82, 200, 300))
    return folder / "index.sqlite", claim, unrelated


@pytest.fixture(scope="module")
def server(corpus: tuple[Path, Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`provcheck serve --port 0` in its own process, with its own temporary folder; yields (URL, that folder)."""
    scratch = tmp_path_factory.mktemp("server-tmp")
    process = subprocess.Popen([sys.executable, "-m", "provcheck", "serve", "--index", str(corpus[0]), "--port", "0"],
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "TMPDIR": str(scratch)},
                               start_new_session=True)
    assert process.stderr is not None
    line = process.stderr.readline()
    found = re.search(r"serving (http://127\.0\.0\.1:\d+/)", line)
    assert found, line
    try:
        yield found.group(1), scratch
    finally:
        os.killpg(process.pid, signal.SIGINT)
        _, rest = process.communicate(timeout=30)
        assert "Traceback" not in rest, rest  # Ctrl-C stops it cleanly


def test_the_api_returns_the_result_object_of_match_json(server: tuple[str, Path],
                                                         corpus: tuple[Path, Path, Path]) -> None:
    url, scratch = server
    index, claim, unrelated = corpus
    with claim.open("rb") as handle:
        reply = requests.post(url + "api/match", files={"claim": (claim.name, handle, "image/jpeg")}, timeout=120)
    assert reply.status_code == 200, reply.text
    served = reply.json()
    done = subprocess.run([sys.executable, "-m", "provcheck", "match", str(claim), "--index", str(index), "--json"],
                          capture_output=True, text=True, timeout=300, check=True)
    (expected,) = json.loads(done.stdout)["results"]
    assert served["query"] == claim.name and served["verdict"] == "match"
    assert {**served, "query": None} == {**expected, "query": None}
    OUTPUT_SCHEMA.validate({"schema": 1, "provcheck": __version__, "index": str(index), "results": [served]})
    with unrelated.open("rb") as handle:
        none = requests.post(url + "api/match", files={"claim": ("x.png", handle)}, timeout=120).json()
    assert (none["verdict"], none["matches"]) == ("none", [])
    assert list(scratch.iterdir()) == []  # every upload was removed once answered


def test_bad_requests_are_refused(server: tuple[str, Path]) -> None:
    url, scratch = server
    empty = requests.post(url + "api/match", data={}, timeout=30)
    assert empty.status_code == 400 and "no photo" in empty.json()["error"]
    big = requests.post(url + "api/match", files={"claim": ("big.jpg", b"\0" * (51 * 1024 * 1024))}, timeout=60)
    assert big.status_code == 413 and "larger than 50 MB" in big.json()["error"]
    page = requests.post(url, files={"claim": ("big.jpg", b"\0" * (51 * 1024 * 1024))}, timeout=60)
    assert page.status_code == 413 and '<p class="error">upload larger than 50 MB</p>' in page.text
    garbage = requests.post(url + "api/match", files={"claim": ("notes.jpg", b"not a picture")}, timeout=30)
    reply = garbage.json()
    assert garbage.status_code == 200 and reply["error"].startswith("notes.jpg: ") and reply["verdict"] == "none"
    private = requests.post(url + "api/match", data={"url": "http://127.0.0.1:9/photo.jpg"}, timeout=30)
    assert private.status_code == 400 and "127.0.0.1" in private.json()["error"]
    assert list(scratch.iterdir()) == []


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed (.ci/run installs it)")
def test_a_desk_uploads_a_photo_and_reads_the_verdict_in_a_browser(
    server: tuple[str, Path], corpus: tuple[Path, Path, Path], tmp_path: Path,
) -> None:
    from playwright.sync_api import sync_playwright

    url, _ = server
    _, claim, _ = corpus
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(url)
            page.set_input_files("#claim", str(claim))
            page.click("#check")
            page.wait_for_selector("span.verdict", timeout=120_000)
            assert page.inner_text("span.verdict") == "MATCH"
            assert "Agency photo" in page.inner_text("table") and "2016-06-28" in page.inner_text("table")
            assert page.inner_text("h2") == claim.name
            width = page.eval_on_selector("img.evidence", "image => image.naturalWidth")
            assert width == 1200  # the evidence image, drawn and embedded
            shot = tmp_path / "page.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 10_000
        finally:
            browser.close()


def test_listening_beyond_loopback_is_warned_about(corpus: tuple[Path, Path, Path]) -> None:
    process = subprocess.Popen([sys.executable, "-m", "provcheck", "serve", "--index", str(corpus[0]), "--host",
                                "0.0.0.0", "--port", "0"], stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert process.stderr is not None
    try:
        warning, serving = process.stderr.readline(), process.stderr.readline()
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.communicate(timeout=30)
    assert warning.startswith("provcheck: warning: listening on 0.0.0.0: anyone who can reach this machine")
    assert re.match(r"provcheck: serving http://0\.0\.0\.0:\d+/", serving)


def test_serving_a_missing_index_is_one_line_and_exit_3(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "provcheck", "serve", "--index", str(tmp_path / "none.sqlite")],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 3 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "none.sqlite" in done.stderr


def test_the_page_follows_changes_made_to_the_index_by_other_processes(server: tuple[str, Path],
                                                                       corpus: tuple[Path, Path, Path]) -> None:
    url, _ = server
    index, claim, _ = corpus

    def served() -> dict[str, object]:
        with claim.open("rb") as handle:
            reply: dict[str, object] = requests.post(url + "api/match", files={"claim": ("c.jpg", handle)},
                                                     timeout=120).json()
        return reply

    first = served()["matches"][0]  # type: ignore[index]
    with Index(index) as store:
        store.edit(first["source"]["id"], published="2015-03-01")
    try:
        assert served()["matches"][0]["source"]["published"] == "2015-03-01"  # type: ignore[index]
    finally:
        with Index(index) as store:
            store.edit(first["source"]["id"], published=first["source"]["published"])


def test_another_site_cannot_use_it(server: tuple[str, Path], corpus: tuple[Path, Path, Path]) -> None:
    url, _ = server
    _, claim, _ = corpus
    rebound = requests.get(url, headers={"Host": "attacker.example"}, timeout=30)
    assert rebound.status_code == 400  # DNS rebinding: a Host that is not loopback's
    with claim.open("rb") as handle:
        posted = requests.post(url + "api/match", files={"claim": ("c.jpg", handle)},
                               headers={"Origin": "https://attacker.example"}, timeout=30)
    assert posted.status_code == 403 and "attacker.example" in posted.json()["error"]


def test_a_long_upload_name_is_not_used_as_a_file_name(server: tuple[str, Path], corpus: tuple[Path, Path, Path]) -> None:
    url, scratch = server
    _, claim, _ = corpus
    name = "a" * 300 + ".jpg"
    with claim.open("rb") as handle:
        reply = requests.post(url + "api/match", files={"claim": (name, handle)}, timeout=120)
    assert reply.status_code == 200 and reply.json()["query"] == name and reply.json()["verdict"] == "match"
    assert list(scratch.iterdir()) == []

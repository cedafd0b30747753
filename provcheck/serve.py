"""The local web page: drop a photo (or paste its URL), see the verdict, the evidence and the sources.

``provcheck serve`` runs it on 127.0.0.1 by default. A desk without a terminal gets
what ``match`` gives: the page shows the verdict, the evidence image and each source
with its date; ``POST /api/match`` returns exactly the result object of
``match --json`` (one entry of its ``results``) for scripts.

Uploads are capped at :data:`MAX_UPLOAD_BYTES`, written to a temporary folder for the
one request and removed with it; a URL is fetched under the CLI's rules (private
addresses refused unless allowed). One claim is matched at a time: the index is opened
once and shared by the requests, behind a lock.
"""

from __future__ import annotations

import dataclasses
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from html import escape
from pathlib import Path

from flask import Flask, Response, jsonify, request
from PIL import Image
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.utils import secure_filename

from ._version import __version__
from .api import Index
from .errors import ProvcheckError
from .evidence import draw
from .fetch import FetchPolicy, fetch, is_url
from .html_report import STYLE, claim_section
from .report import claim_json
from .results import ClaimResult

#: Largest upload accepted, bytes (a claim is a photo; more is refused with 413 before it is stored).
MAX_UPLOAD_BYTES = 50 * 1024 * 1024

_FORM = """
<form method="post" enctype="multipart/form-data" id="claim-form">
  <div id="drop" class="drop">Drop a photo here, or choose one:
    <input type="file" name="claim" id="claim" accept="image/*"></div>
  <p>or its address: <input type="url" name="url" id="url" size="60" placeholder="https://..."></p>
  <p><button type="submit" id="check">Check</button></p>
</form>
<script>
const drop = document.getElementById("drop"), input = document.getElementById("claim");
drop.addEventListener("dragover", event => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", event => {
  event.preventDefault(); input.files = event.dataTransfer.files; document.getElementById("claim-form").submit();
});
</script>
"""
_PAGE_STYLE = ".drop { border: 2px dashed #888; padding: 2em; margin: 1em 0; } .drop.over { background: #eef; }"


def create_app(index_path: Path, fetch_policy: FetchPolicy | None = None) -> Flask:
    """The web application over the index at ``index_path`` (opened now: a missing index fails here)."""
    index = Index(index_path)
    index.info()  # refuse a missing or damaged index before serving anything
    policy = fetch_policy or FetchPolicy()
    lock = threading.Lock()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES

    def checked() -> tuple[ClaimResult, Image.Image | None]:
        """The claim of this request (an upload or a URL) matched, and its evidence image (when drawn)."""
        with _request_folder() as folder:
            upload = request.files.get("claim")
            address = (request.form.get("url") or "").strip()
            if upload is not None and upload.filename:
                name = upload.filename
                path = folder / (secure_filename(name) or "upload")
                upload.save(path)
            elif address:
                if not is_url(address):
                    raise _BadRequest(f"{address}: not an http(s) URL")
                name, path = address, fetch(address, folder, policy).path
            else:
                raise _BadRequest("no photo: upload one (field 'claim') or give its address (field 'url')")
            with lock:
                result = index.check(path)
                drawn = draw(result)
            # the result is named as the user named the claim, not by the temporary file
            error = None if result.error is None else result.error.replace(str(path), name)
            shown = dataclasses.replace(result, query=name, error=error)
            return shown, None if drawn is None else drawn[0].image

    @app.get("/")
    def page() -> str:
        return _page("")

    @app.post("/")
    def check_page() -> tuple[str, int]:
        try:
            result, evidence = checked()
        except (_BadRequest, ProvcheckError) as exc:
            return _page(f'<p class="error">{escape(str(exc))}</p>'), 400
        return _page(claim_section(result, evidence)), 200

    @app.post("/api/match")
    def check_api() -> tuple[Response, int]:
        try:
            result, _ = checked()
        except (_BadRequest, ProvcheckError) as exc:
            return jsonify({"error": str(exc)}), 400
        return jsonify(claim_json(result)), 200

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> tuple[Response, int]:
        return jsonify({"error": f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"}), 413

    return app


class _BadRequest(Exception):
    """The request names no claim, or not a usable one."""


@contextmanager
def _request_folder() -> Iterator[Path]:
    """A temporary folder for one request's claim, removed with everything in it when the request ends."""
    with tempfile.TemporaryDirectory(prefix="provcheck-upload-") as folder:
        yield Path(folder)


def _page(body: str) -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>provcheck</title>'
            f"<style>{STYLE}{_PAGE_STYLE}</style></head><body><h1>provcheck {escape(__version__)}</h1>"
            f"<p>Where does this photo come from? It is compared with the indexed footage and photos, offline.</p>"
            f"{_FORM}{body}</body></html>")

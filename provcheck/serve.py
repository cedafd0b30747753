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

import tempfile
import threading
from collections.abc import Hashable, Iterator, Sequence
from contextlib import contextmanager
from html import escape
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, Response, jsonify, request
from PIL import Image
from werkzeug.exceptions import InternalServerError, RequestEntityTooLarge
from werkzeug.utils import secure_filename

from ._version import __version__
from .api import Index
from .errors import IndexStoreError, ProvcheckError
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


def create_app(index_path: str | Path, fetch_policy: FetchPolicy | None = None,
               trusted_hosts: Sequence[str] | None = None) -> Flask:
    """The web application over the index at ``index_path`` (opened now: a missing index fails here).

    ``trusted_hosts``: the only Host headers answered (the loopback names when it listens
    on loopback), so that a web page elsewhere cannot reach it by DNS rebinding.
    """
    current = _CurrentIndex(index_path)
    current.get().info()  # refuse a missing or damaged index before serving anything
    policy = fetch_policy or FetchPolicy()
    lock = threading.Lock()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_UPLOAD_BYTES
    if trusted_hosts is not None:
        app.config["TRUSTED_HOSTS"] = list(trusted_hosts)

    @app.before_request
    def same_origin_only() -> tuple[Response, int] | None:
        """A form posted from another site's page is refused (browsers send its Origin)."""
        origin = request.headers.get("Origin")
        if request.method == "POST" and origin is not None and urlsplit(origin).netloc != request.host:
            return jsonify({"error": f"requests from {origin} are refused"}), 403
        return None

    def checked(with_evidence: bool) -> tuple[ClaimResult, Image.Image | None]:
        """The claim of this request (an upload or a URL) matched, and its evidence image (for the page only)."""
        with _request_folder() as folder:
            upload = request.files.get("claim")
            address = (request.form.get("url") or "").strip()
            if upload is not None and upload.filename:
                name = upload.filename
                path = folder / ("claim" + Path(secure_filename(name)).suffix[:16])  # never the sender's file name
                upload.save(path)
            elif address:
                if not is_url(address):
                    raise _BadRequest(f"{address}: not an http(s) URL")
                name, path = address, fetch(address, folder, policy).path
            else:
                raise _BadRequest("no photo: upload one (field 'claim') or give its address (field 'url')")
            with lock:
                result = current.get().check(path)
                drawn = draw(result) if with_evidence else None
            return result.named(name), None if drawn is None else drawn[0].image

    @app.get("/")
    def page() -> str:
        return _page("")

    @app.post("/")
    def check_page() -> tuple[str, int]:
        try:
            result, evidence = checked(with_evidence=True)
        except (_BadRequest, ProvcheckError, OSError) as exc:
            return _page(f'<p class="error">{escape(_said(exc))}</p>'), _status(exc)
        return _page(claim_section(result, evidence)), 200

    @app.post("/api/match")
    def check_api() -> tuple[Response, int]:
        try:
            result, _ = checked(with_evidence=False)  # the API returns no picture: none is drawn
        except (_BadRequest, ProvcheckError, OSError) as exc:
            return jsonify({"error": _said(exc)}), _status(exc)
        return jsonify(claim_json(result)), 200

    @app.errorhandler(InternalServerError)
    def failed(error: InternalServerError) -> tuple[Response | str, int]:
        """A bug: said in one line, as JSON on the API (a script reads it) and on the page otherwise."""
        cause = error.original_exception or error
        message = f"internal error: {type(cause).__name__}: {' '.join(str(cause).split())}"
        if request.path.startswith("/api/"):
            return jsonify({"error": message}), 500
        return _page(f'<p class="error">{escape(message)}</p>'), 500

    @app.errorhandler(RequestEntityTooLarge)
    def too_large(_: RequestEntityTooLarge) -> tuple[Response | str, int]:
        message = f"upload larger than {MAX_UPLOAD_BYTES // (1024 * 1024)} MB"
        if request.path.startswith("/api/"):
            return jsonify({"error": message}), 413
        return _page(f'<p class="error">{escape(message)}</p>'), 413

    return app


class _BadRequest(Exception):
    """The request names no claim, or not a usable one."""


def _status(error: Exception) -> int:
    """400 for what the request got wrong (no photo, a refused URL), 503 for the index, 500 for this server."""
    if isinstance(error, IndexStoreError):
        return 503
    return 400 if isinstance(error, (_BadRequest, ProvcheckError)) else 500


def _said(error: Exception) -> str:
    return " ".join(str(error).split()) if not isinstance(error, OSError) else f"cannot store the upload ({error.strerror})"


class _CurrentIndex:
    """The index, opened again once another process has changed it (an add, an edit, a remove).

    A matcher keeps the sources it loaded: without this, the page would go on showing a
    source's old date, or a source removed since.
    """

    def __init__(self, location: str | Path) -> None:
        self.location = location
        self._index: Index | None = None
        self._stamp: Hashable = None

    def get(self) -> Index:
        if self._index is not None:
            try:
                if self._index.change_stamp() == self._stamp:
                    return self._index
            except IndexStoreError:
                pass  # a database index whose connection was lost (a server restart): opened again below
            self._index.close()
        self._index = Index(self.location)
        self._stamp = self._index.change_stamp()  # before the matcher loads: a later change reopens it
        return self._index


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

"""Downloading URLs: refusals, limits, redirects and pinning, against real servers on 127.0.0.1.

Limits on time are tested without upper bounds on the clock: a server that drips or
stays silent does so until the client hangs up (it reports that it saw the client
leave) or the test releases it, and the policies are chosen so that a limit that did
not work would end the download with a different message (another limit, or success).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.server
import importlib
import io
import itertools
import queue
import select
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from provcheck import __version__
from provcheck.errors import ExitCode, MediaError
from provcheck.fetch import (
    FetchError,
    FetchPolicy,
    choose_extension,
    classify_address,
    fetch,
    is_url,
)
from provcheck.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, load_image

#: The module itself (not the ``fetch`` function a package may re-export under the same name).
fetch_module = importlib.import_module("provcheck.fetch")

#: Loopback test servers need the private-address opt-in.
LOCAL = FetchPolicy(allow_private=True, connect_timeout_s=2.0, read_timeout_s=3.0, total_timeout_s=5.0)
#: Longest a holding server handler or a stuck stub waits for the client or the test. Reached
#: only when the code under test is broken: it turns that hang into a failure, never a pass.
SAFETY_S = 30.0
#: Pause between dripped bytes (far below every read timeout used with the drip).
DRIP_PAUSE_S = 0.05
#: Bytes a dripping handler sends at most before giving up (SAFETY_S of dripping).
DRIP_MAX_BYTES = int(SAFETY_S / DRIP_PAUSE_S)
#: Declared size of the "huge" endpoint: 10 GB.
HUGE_BYTES = 10_000_000_000
#: Bytes the endless endpoint streams at most when nobody stops it: far more than the
#: socket buffers between it and the client can hold, so reaching it means the client read on.
STREAM_CAP_BYTES = 256 * 1024 * 1024
#: How each holding handler (drip, silence, endless stream) ended.
CLIENT_LEFT = "client left"


def _png_bytes() -> bytes:
    image = Image.new("RGB", (32, 24))
    image.putdata([((x * 8) % 256, (y * 10) % 256, (x * y) % 256) for y in range(24) for x in range(32)])
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


PNG = _png_bytes()


@dataclass
class Server:
    """A running test server: its base URL and what it saw."""

    base: str
    port: int
    requests: list[dict[str, str]] = field(default_factory=list)
    sni: list[str | None] = field(default_factory=list)
    #: Set when the test is over: handlers still holding a connection let go.
    release: threading.Event = field(default_factory=threading.Event)
    #: How each holding handler ended: CLIENT_LEFT, or "released" / "gave up" / "sent everything".
    ended: queue.Queue[str] = field(default_factory=queue.Queue)


class Handler(http.server.BaseHTTPRequestHandler):
    """Routes for every behaviour under test (see the ``do_GET`` table)."""

    server: RecordingServer

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: bytes = b"", content_type: str | None = "image/png", length: bool = True,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if content_type is not None:
            self.send_header("Content-Type", content_type)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _drip(self, data: bytes, release: threading.Event) -> str:
        """Write ``data`` over and over, a byte every DRIP_PAUSE_S, until the client hangs up."""
        for byte in itertools.islice(itertools.cycle(data), DRIP_MAX_BYTES):
            if release.wait(DRIP_PAUSE_S):
                return "released"
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:  # broken pipe, reset, or a TLS error on a closed connection
                return CLIENT_LEFT
        return "gave up"

    def _stay_silent(self, release: threading.Event) -> str:
        """Send nothing more, until the client closes the connection."""
        self.wfile.flush()
        waited_s = 0.0
        while waited_s < SAFETY_S and not release.is_set():
            readable, _, _ = select.select([self.connection], [], [], DRIP_PAUSE_S)
            waited_s += DRIP_PAUSE_S
            if readable:
                try:
                    if not self.connection.recv(4096):
                        return CLIENT_LEFT
                except OSError:
                    return CLIENT_LEFT
        return "released" if release.is_set() else "gave up"

    def _stream(self, release: threading.Event) -> str:
        """Stream zeros until the client hangs up (or STREAM_CAP_BYTES are out)."""
        chunk = b"\x00" * 65536
        try:
            for _ in range(STREAM_CAP_BYTES // len(chunk)):
                if release.is_set():
                    return "released"
                self.wfile.write(chunk)
        except OSError:
            return CLIENT_LEFT
        return "sent everything"

    def do_GET(self) -> None:  # noqa: N802 - the base class's name
        record = self.server.record
        release, endings = record.release, record.ended  # this test's, even if the handler outlives it
        record.requests.append({"path": self.path, **{k: v for k, v in self.headers.items()}})
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        try:
            ended = self._route(path, query, release)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return  # the client went away: expected for every refused download
        if ended is not None:
            endings.put(ended)

    def _route(self, path: str, query: dict[str, list[str]], release: threading.Event) -> str | None:
        """Answer one request; a handler that holds the connection returns how that ended."""
        if path in ("/img.png", "/noext", "/photo.JPG", "/pic.gif", "/download"):
            types = {"/noext": "image/png", "/photo.JPG": "image/jpeg", "/download": "application/octet-stream"}
            self._send(200, PNG, types.get(path, "image/png"))
        elif path == "/untyped":
            self._send(200, PNG, None)
        elif path == "/param":
            self._send(200, PNG, "Image/PNG; charset=binary")
        elif path == "/html":
            self._send(200, b"<html><body>not a photo</body></html>", "text/html; charset=utf-8")
        elif path == "/json":
            self._send(200, b'{"image": "no"}', "application/json")
        elif path == "/text":
            self._send(200, b"hello", "text/plain")
        elif path == "/empty":
            self._send(200, b"", "image/png")
        elif path.startswith("/status/"):
            self._send(int(path.rsplit("/", 1)[1]), b"oops", "text/plain")
        elif path == "/loop":
            self._send(302, headers={"Location": "/loop"})
        elif path.startswith("/chain/"):
            remaining = int(path.rsplit("/", 1)[1])
            if remaining == 0:
                self._send(200, PNG, "image/png")
            elif remaining % 2:  # relative and absolute Locations alternate
                self._send(301, headers={"Location": f"/chain/{remaining - 1}"})
            else:
                host = self.headers.get("Host", "")
                self._send(307, headers={"Location": f"http://{host}/chain/{remaining - 1}"})
        elif path == "/redirect":
            self._send(302, headers={"Location": query["to"][0]})
        elif path == "/redirect-nowhere":
            self._send(302)
        elif path == "/huge-declared":
            self.send_response(200)
            self.send_header("Content-Type", "video/mp4")
            self.send_header("Content-Length", str(HUGE_BYTES))
            self.end_headers()
            self.wfile.write(b"\x00" * 1024)
            return self._stay_silent(release)  # a client reading the body would wait here
        elif path == "/huge-stream":
            self._send(200, b"", "video/mp4", length=False)
            return self._stream(release)
        elif path == "/drip":
            self._send(200, b"", "image/png", headers={"Content-Length": "100000"}, length=False)
            return self._drip(PNG, release)
        elif path == "/drip-headers":
            self.wfile.write(b"HTTP/1.0 200 OK\r\nX-Drip: ")
            return self._drip(b"a", release)
        elif path == "/silent":
            self._send(200, b"", "image/png", headers={"Content-Length": str(len(PNG))}, length=False)
            return self._stay_silent(release)
        elif path == "/silent-headers":
            return self._stay_silent(release)
        else:
            self._send(404, b"no such route", "text/plain")
        return None


class RecordingServer(http.server.ThreadingHTTPServer):
    """A threading server that keeps a record of requests and can tell slow handlers to stop."""

    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # failed TLS handshakes and vanished clients are what these tests provoke

    def __init__(self, record: Server | None = None) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.record = record or Server(base="", port=0)


@dataclass
class Running:
    server: RecordingServer
    thread: threading.Thread


def _start(server: RecordingServer, scheme: str = "http") -> Running:
    port = server.server_address[1]
    server.record.port = int(port)
    server.record.base = f"{scheme}://127.0.0.1:{port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return Running(server, thread)


def _stop(running: Running) -> None:
    running.server.record.release.set()
    running.server.shutdown()
    running.server.server_close()
    running.thread.join(timeout=5)


@pytest.fixture(scope="module")
def http_server() -> Iterator[Server]:
    running = _start(RecordingServer())
    yield running.server.record
    _stop(running)


@pytest.fixture()
def server(http_server: Server) -> Iterator[Server]:
    """The module's server, with this test's own record of requests and handler endings."""
    http_server.requests.clear()
    http_server.release = threading.Event()
    http_server.ended = queue.Queue()
    yield http_server
    http_server.release.set()


@pytest.fixture()
def dest(tmp_path: Path) -> Path:
    return tmp_path / "downloads"


def _left_over(folder: Path) -> list[Path]:
    return sorted(folder.iterdir()) if folder.exists() else []


def _fails(url: str, dest: Path, policy: FetchPolicy = LOCAL) -> str:
    """Fetch ``url`` expecting a FetchError; check it is one line and nothing is left behind."""
    with pytest.raises(FetchError) as caught:
        fetch(url, dest, policy)
    message = str(caught.value)
    assert "\n" not in message
    assert _left_over(dest) == []
    return message


def _fake_public(monkeypatch: pytest.MonkeyPatch, names: dict[str, list[str]]) -> list[str]:
    """Resolve ``names`` to the given addresses and treat 127.0.0.1 as public for those names only.

    Any other host (``localhost``) is resolved and checked for real. Returns the lookups made.
    """
    real_resolve = fetch_module.resolve_host
    real_refusal = fetch_module.address_refusal
    lookups: list[str] = []

    def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return list(names[host]) if host in names else real_resolve(host, port)

    def refusal(address: str, policy: FetchPolicy) -> str | None:
        pretend = address == "127.0.0.1" and bool(lookups) and lookups[-1] in names
        return None if pretend else real_refusal(address, policy)

    monkeypatch.setattr(fetch_module, "resolve_host", resolve)
    monkeypatch.setattr(fetch_module, "address_refusal", refusal)
    return lookups


# --------------------------------------------------------------------------- successful downloads


def test_downloads_a_png(server: Server, dest: Path) -> None:
    got = fetch(f"{server.base}/img.png", dest, LOCAL)
    assert got.path.parent == dest
    assert got.path.suffix == ".png"
    assert got.path.read_bytes() == PNG
    assert got.size == len(PNG)
    assert got.sha256 == hashlib.sha256(PNG).hexdigest()
    assert got.content_type == "image/png"
    assert got.url == got.final_url == f"{server.base}/img.png"
    assert load_image(got.path).size == (32, 24)
    assert _left_over(dest) == [got.path]


def test_sends_provcheck_user_agent_and_asks_for_identity_encoding(server: Server, dest: Path) -> None:
    fetch(f"{server.base}/img.png", dest, LOCAL)
    (seen,) = server.requests
    assert seen["User-Agent"] == f"provcheck/{__version__}"
    assert seen["Accept-Encoding"] == "identity"


def test_uppercase_scheme_is_accepted(server: Server, dest: Path) -> None:
    assert fetch(f"HTTP://127.0.0.1:{server.port}/img.png", dest, LOCAL).size == len(PNG)


@pytest.mark.parametrize(
    ("path", "content_type", "extension"),
    [
        ("/noext", "image/png", ".png"),  # from the type
        ("/photo.JPG", "image/jpeg", ".jpg"),  # from the URL, lower-cased
        ("/pic.gif", "image/png", ".gif"),  # the URL's media extension wins
        ("/download", "application/octet-stream", ".bin"),  # neither
        ("/untyped", None, ".bin"),  # a missing type is accepted
        ("/param", "image/png", ".png"),  # parameters and case ignored
    ],
)
def test_accepted_types_and_file_extensions(
    server: Server, dest: Path, path: str, content_type: str | None, extension: str
) -> None:
    got = fetch(f"{server.base}{path}", dest, LOCAL)
    assert got.content_type == content_type
    assert got.path.suffix == extension
    assert got.path.read_bytes() == PNG


def test_choose_extension_table() -> None:
    assert choose_extension(["https://x.org/a/clip.MP4?x=1"], "video/webm") == ".mp4"
    assert choose_extension(["https://x.org/watch?v=1", "https://x.org/orig.webm"], None) == ".webm"
    assert choose_extension(["https://x.org/page.html"], "video/quicktime") == ".mov"
    assert choose_extension(["https://x.org/file.exe"], None) == ".bin"
    assert choose_extension(["https://x.org/a%2Ephoto.jpeg"], None) == ".jpeg"
    assert set(fetch_module.TYPE_EXTENSIONS.values()) <= IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


# --------------------------------------------------------------------------- schemes, credentials, URL shape


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("file:///etc/passwd", "not file:"),
        ("ftp://example.org/a.png", "not ftp:"),
        ("data:image/png;base64," + "iVBORw0KGgo" * 100, "not data:"),
        ("gopher://example.org/1", "not gopher:"),
        ("javascript:alert(1)", "not javascript:"),
        ("example.org/a.png", "not no scheme"),
        ("http://user:pass@example.org/a.png", "credentials"),
        ("https://token@example.org/a.png", "credentials"),
        ("http:///a.png", "no host"),
        ("http://example.org:99999/a.png", "malformed URL"),
        ("http://exa mple.org/a.png", "spaces or control characters"),
        ("http://example.org/a\n.png", "spaces or control characters"),
        ("http://exa%6dple.org/a.png", "invalid host name"),
    ],
)
def test_refused_urls(dest: Path, url: str, expected: str) -> None:
    message = _fails(url, dest, FetchPolicy())
    assert expected in message
    assert message.startswith(url.strip()[:40].replace("\n", "\\n"))
    assert len(message) < 400  # a long data: URL is cut in the message


def test_fetch_error_is_a_media_error_with_exit_code_1(dest: Path) -> None:
    with pytest.raises(MediaError) as caught:
        fetch("ftp://example.org/a.png", dest)
    assert isinstance(caught.value, FetchError)
    assert caught.value.exit_code == ExitCode.INPUT_ERROR
    assert caught.value.url == "ftp://example.org/a.png"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("https://example.org/a.jpg", True),
        ("HTTP://example.org", True),
        ("ftp://example.org/a.jpg", True),
        ("file:///etc/passwd", True),
        ("file:/etc/passwd", True),
        ("data:image/png;base64,AAAA", True),
        ("javascript:alert(1)", True),
        ("  https://example.org/a.jpg  ", True),
        ("claimed.jpg", False),
        ("uploads/x.jpg", False),
        ("/abs/path/x.mp4", False),
        ("C:\\photos\\x.jpg", False),
        ("C:/photos/x.jpg", False),
        ("2016-06-30 12:00:00.jpg", False),
        ("shot:1.png", False),
        ("", False),
    ],
)
def test_is_url(text: str, expected: bool) -> None:
    assert is_url(text) is expected


def test_policy_rejects_nonsense_limits() -> None:
    with pytest.raises(ValueError):
        FetchPolicy(max_bytes=0)
    with pytest.raises(ValueError):
        FetchPolicy(total_timeout_s=float("inf"))
    with pytest.raises(ValueError):
        FetchPolicy(read_timeout_s=0)
    with pytest.raises(ValueError):
        FetchPolicy(max_redirects=-1)


# --------------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("10.0.0.1", "private"),
        ("172.16.5.4", "private"),
        ("192.168.1.1", "private"),
        ("127.0.0.1", "loopback"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:127.0.0.1", "loopback (IPv4-mapped)"),
        ("::ffff:10.1.2.3", "private (IPv4-mapped)"),
        ("64:ff9b::a9fe:a9fe", "link-local (NAT64)"),
        ("2002:7f00:1::1", "loopback (6to4)"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("100.64.0.1", "carrier-grade NAT"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.1", "private"),  # documentation range: is_private in the standard library
        ("ff02::1", "multicast"),
        ("not an address", "unparsable"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2606:4700::1", None),
        ("::ffff:8.8.8.8", None),
        ("2002:808:808::1", None),
    ],
)
def test_classify_address(address: str, kind: str | None) -> None:
    assert classify_address(address) == kind


def test_allow_private_allows_every_address() -> None:
    policy = FetchPolicy(allow_private=True)
    assert fetch_module.address_refusal("127.0.0.1", policy) is None
    assert fetch_module.address_refusal("10.0.0.1", FetchPolicy()) == "private"


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.integers(0, 2**32 - 1), st.integers(0, 2**128 - 1)))
def test_classify_address_never_raises(number: int) -> None:
    import ipaddress

    address = str(ipaddress.ip_address(number))
    kind = classify_address(address)
    assert kind is None or isinstance(kind, str)
    if kind is None:
        assert not ipaddress.ip_address(address).is_loopback


def test_loopback_server_is_refused_by_default_and_fetched_when_allowed(server: Server, dest: Path) -> None:
    url = f"{server.base}/img.png"
    message = _fails(url, dest, FetchPolicy())
    assert "127.0.0.1 is a loopback address" in message
    assert "private" in message
    assert server.requests == []  # refused before connecting
    assert fetch(url, dest, FetchPolicy(allow_private=True)).size == len(PNG)


@pytest.mark.parametrize(
    "host",
    ["localhost", "127.1", "2130706433", "0x7f.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "0.0.0.0", "169.254.169.254"],
)
def test_names_and_spellings_of_local_addresses_are_refused(server: Server, dest: Path, host: str) -> None:
    message = _fails(f"http://{host}:{server.port}/img.png", dest, FetchPolicy())
    assert "refused" in message
    assert any(kind in message for kind in ("loopback", "unspecified", "link-local"))
    assert server.requests == []


def test_any_private_address_among_several_refuses(server: Server, dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_public(monkeypatch, {"mixed.test": ["127.0.0.1", "10.1.2.3"]})
    message = _fails(f"http://mixed.test:{server.port}/img.png", dest, FetchPolicy())
    assert "mixed.test resolves to 10.1.2.3, a private address" in message
    assert server.requests == []


def test_dns_failure_is_a_short_message(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(fetch_module, "resolve_host", broken)
    message = _fails("https://nowhere.test/a.png", dest, FetchPolicy())
    assert message == "https://nowhere.test/a.png: cannot resolve host nowhere.test (Name or service not known)"


def test_stuck_resolver_is_cut_by_the_connect_timeout(dest: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The lookup stays stuck until the test lets it go: the fetch must give up on it first."""
    release, answered = threading.Event(), threading.Event()

    def stuck(host: str, port: int) -> list[str]:
        release.wait(SAFETY_S)
        answered.set()
        return ["10.0.0.1"]  # a fetch that waited for this answer would be refused for it instead

    monkeypatch.setattr(fetch_module, "resolve_host", stuck)
    try:
        message = _fails("https://slow-dns.test/a.png", dest, FetchPolicy(connect_timeout_s=0.3))
        assert not answered.is_set()  # it gave up while the lookup was still stuck
    finally:
        release.set()
    assert message == "https://slow-dns.test/a.png: looking up host slow-dns.test timed out after 0.3 s"


# --------------------------------------------------------------------------- pinning (DNS rebinding)


def test_connection_is_pinned_to_the_checked_address(
    server: Server, dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A second DNS answer (the rebinding) is never asked for: requests does not resolve the name itself."""
    lookups: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        lookups.append(host)
        return ["127.0.0.1"] if len(lookups) == 1 else ["10.0.0.1"]  # public first, then private

    monkeypatch.setattr(fetch_module, "resolve_host", rebinding)
    monkeypatch.setattr(
        fetch_module, "address_refusal", lambda address, policy: None if address == "127.0.0.1" else "private"
    )
    system_lookups: list[str] = []
    real_getaddrinfo = socket.getaddrinfo

    def spy(host: object, *args: object, **kwargs: object) -> object:
        system_lookups.append(str(host))
        return real_getaddrinfo(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", spy)
    got = fetch(f"http://public.test:{server.port}/img.png", dest, FetchPolicy())
    assert got.path.read_bytes() == PNG
    assert lookups == ["public.test"]
    assert "public.test" not in system_lookups  # the connection went to the checked 127.0.0.1
    assert server.requests[0]["Host"] == f"public.test:{server.port}"  # the name is kept for the server


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.2:{port}/img.png",
        "http://localhost:{port}/img.png",
        "http://[::1]:{port}/img.png",
        "http://169.254.169.254/latest/meta-data/",
        "http://internal.test:{port}/img.png",
        "http://10.0.0.1/img.png",
    ],
)
def test_redirect_from_public_host_to_private_address_is_refused(
    server: Server, dest: Path, monkeypatch: pytest.MonkeyPatch, location: str
) -> None:
    """public.test passes the check (pretending 127.0.0.1 is public); the redirect target is checked for real."""
    lookups = _fake_public(monkeypatch, {"public.test": ["127.0.0.1"]})
    monkeypatch.setattr(fetch_module, "resolve_host", _with_internal(fetch_module.resolve_host))
    target = location.format(port=server.port)
    message = _fails(f"http://public.test:{server.port}/redirect?to={target}", dest, FetchPolicy())
    assert f"redirected to {target}: refused" in message
    assert any(kind in message for kind in ("loopback", "private", "link-local"))
    assert [request["path"].split("?")[0] for request in server.requests] == ["/redirect"]
    assert lookups[0] == "public.test"


def _with_internal(resolve: Callable[[str, int], list[str]]) -> Callable[[str, int], list[str]]:
    """A resolver where internal.test is a private address (checked for real)."""

    def wrapped(host: str, port: int) -> list[str]:
        return ["10.9.8.7"] if host == "internal.test" else resolve(host, port)

    return wrapped


def test_redirect_to_another_scheme_is_refused(server: Server, dest: Path) -> None:
    message = _fails(f"{server.base}/redirect?to=file:///etc/passwd", dest)
    assert message.endswith("redirected to file:///etc/passwd: only http and https URLs are fetched, not file:")


# --------------------------------------------------------------------------- redirects


@pytest.mark.parametrize("hops", [1, 3, 5])
def test_redirect_chain_within_the_limit(server: Server, dest: Path, hops: int) -> None:
    got = fetch(f"{server.base}/chain/{hops}", dest, LOCAL)
    assert got.path.read_bytes() == PNG
    assert got.final_url == f"{server.base}/chain/0"
    assert got.url == f"{server.base}/chain/{hops}"
    assert got.path.name.startswith("0-")  # named after the final URL's last segment
    assert len(server.requests) == hops + 1


def test_redirect_chain_over_the_limit(server: Server, dest: Path) -> None:
    assert "too many redirects (more than 5)" in _fails(f"{server.base}/chain/6", dest)
    assert len(server.requests) == 6
    policy = FetchPolicy(allow_private=True, max_redirects=0)
    assert "too many redirects (more than 0)" in _fails(f"{server.base}/chain/1", dest, policy)


def test_redirect_loop(server: Server, dest: Path) -> None:
    assert "too many redirects" in _fails(f"{server.base}/loop", dest)


def test_redirect_without_location(server: Server, dest: Path) -> None:
    assert "HTTP 302 without a Location" in _fails(f"{server.base}/redirect-nowhere", dest)


# --------------------------------------------------------------------------- statuses and types


@pytest.mark.parametrize(
    ("status", "expected"), [(404, "server answered HTTP 404 Not Found"), (500, "server answered HTTP 500 Internal")]
)
def test_http_errors_name_the_status(server: Server, dest: Path, status: int, expected: str) -> None:
    assert expected in _fails(f"{server.base}/status/{status}", dest)


@pytest.mark.parametrize(
    ("path", "media_type"), [("/html", "text/html"), ("/json", "application/json"), ("/text", "text/plain")]
)
def test_wrong_content_type_is_refused(server: Server, dest: Path, path: str, media_type: str) -> None:
    message = _fails(f"{server.base}{path}", dest)
    assert message.endswith(f"server sent {media_type}, not an image or video")


def test_empty_body_is_refused(server: Server, dest: Path) -> None:
    assert "empty body" in _fails(f"{server.base}/empty", dest)


def test_closed_port_is_connection_refused(dest: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    message = _fails(f"http://127.0.0.1:{port}/x.png", dest)
    assert message == f"http://127.0.0.1:{port}/x.png: connection refused"


# --------------------------------------------------------------------------- size and time limits


def test_declared_size_over_the_limit_is_refused_up_front(server: Server, dest: Path) -> None:
    """The body never comes (the server holds the connection after 1 KB): only the header can decide."""
    message = _fails(f"{server.base}/huge-declared", dest)
    assert message.endswith("server announced 10,000,000,000 bytes, above the limit of 209,715,200 bytes")
    assert server.ended.get(timeout=SAFETY_S) == CLIENT_LEFT


def test_undeclared_body_is_cut_at_the_limit(server: Server, dest: Path) -> None:
    """The server streams until the client hangs up: it must hang up at the limit, not read on."""
    policy = FetchPolicy(allow_private=True, max_bytes=100_000, total_timeout_s=5.0)
    assert _fails(f"{server.base}/huge-stream", dest, policy).endswith("download exceeds the limit of 100,000 bytes")
    assert server.ended.get(timeout=SAFETY_S) == CLIENT_LEFT  # long before STREAM_CAP_BYTES


@pytest.mark.parametrize("path", ["/drip", "/drip-headers"])
def test_slow_drip_is_cut_by_the_total_deadline(server: Server, dest: Path, path: str) -> None:
    """Each byte comes well within the read timeout and the drip never ends: only the total deadline can end it."""
    policy = FetchPolicy(allow_private=True, read_timeout_s=3.0, total_timeout_s=1.0)
    started = time.monotonic()
    message = _fails(f"{server.base}{path}", dest, policy)
    elapsed = time.monotonic() - started
    assert message.endswith("download took longer than the total limit of 1 s")
    assert server.ended.get(timeout=SAFETY_S) == CLIENT_LEFT  # cut while the server was still dripping
    assert elapsed >= 0.9  # not before the deadline (a lower bound: a busy machine only adds to it)


@pytest.mark.parametrize("path", ["/silent", "/silent-headers"])
def test_silent_server_is_cut_by_the_read_timeout(server: Server, dest: Path, path: str) -> None:
    """The server stays silent until the client hangs up; without the read timeout the total limit would end it."""
    policy = FetchPolicy(allow_private=True, read_timeout_s=0.3, total_timeout_s=5.0)
    message = _fails(f"{server.base}{path}", dest, policy)
    assert message.endswith("the server sent nothing for 0.3 s (read timeout)")
    assert server.ended.get(timeout=SAFETY_S) == CLIENT_LEFT


def test_partial_file_is_deleted_and_other_files_are_kept(server: Server, dest: Path) -> None:
    dest.mkdir()
    keep = dest / "keep.jpg"
    keep.write_bytes(b"mine")
    policy = FetchPolicy(allow_private=True, max_bytes=100_000, total_timeout_s=5.0)
    with pytest.raises(FetchError):
        fetch(f"{server.base}/huge-stream", dest, policy)
    assert sorted(dest.iterdir()) == [keep]


# --------------------------------------------------------------------------- TLS with a pinned address


def _tls_files(folder: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for ``names``: (ca.pem, cert.pem, key.pem)."""
    x509 = pytest.importorskip("cryptography.x509")
    hashes = pytest.importorskip("cryptography.hazmat.primitives.hashes")
    serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    ec = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ec")
    oid = pytest.importorskip("cryptography.x509.oid")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, "provcheck test CA")])
    ca = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(oid.NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name).public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = folder / "ca.pem", folder / "cert.pem", folder / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


@pytest.fixture()
def https_server(tmp_path: Path) -> Iterator[tuple[Server, Path]]:
    ca_path, cert_path, key_path = _tls_files(tmp_path, ["public.test"])
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    server = RecordingServer()

    def remember_sni(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, ctx: ssl.SSLContext) -> None:
        server.record.sni.append(name)

    context.sni_callback = remember_sni
    server.socket = context.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    running = _start(server, "https")
    yield server.record, ca_path
    _stop(running)


def test_https_keeps_sni_and_certificate_check_for_the_name(
    https_server: tuple[Server, Path], dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, ca_path = https_server
    _fake_public(monkeypatch, {"public.test": ["127.0.0.1"], "other.test": ["127.0.0.1"]})
    policy = FetchPolicy(ca_bundle=ca_path, total_timeout_s=5.0)
    got = fetch(f"https://public.test:{record.port}/img.png", dest, policy)
    assert got.path.read_bytes() == PNG
    assert record.sni == ["public.test"]  # SNI names the host, not the pinned IP
    assert record.requests[0]["Host"] == f"public.test:{record.port}"
    # The same pinned address under a name the certificate does not cover: verification is for the name.
    message = _fails(f"https://other.test:{record.port}/img.png", dest / "other", policy)
    assert "TLS certificate verification failed" in message
    assert "other.test" in message
    # And without the test CA the certificate is not trusted at all.
    message = _fails(f"https://public.test:{record.port}/img.png", dest / "untrusted", FetchPolicy(total_timeout_s=5.0))
    assert "TLS certificate verification failed" in message


def test_https_slow_drip_is_cut_by_the_total_deadline(
    https_server: tuple[Server, Path], dest: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record, ca_path = https_server
    _fake_public(monkeypatch, {"public.test": ["127.0.0.1"]})
    policy = FetchPolicy(ca_bundle=ca_path, read_timeout_s=3.0, total_timeout_s=1.0)
    started = time.monotonic()
    message = _fails(f"https://public.test:{record.port}/drip", dest, policy)
    elapsed = time.monotonic() - started
    assert message.endswith("download took longer than the total limit of 1 s")
    assert record.ended.get(timeout=SAFETY_S) == CLIENT_LEFT
    assert elapsed >= 0.9


def test_silent_tls_handshake_is_cut(dest: Path) -> None:
    """A server that accepts the connection but never answers the TLS hello.

    The read timeout is longer than the total limit: if the handshake were not under the
    connect timeout, the total limit would end it, with another message.
    """
    with socket.create_server(("127.0.0.1", 0)) as mute:
        port = mute.getsockname()[1]
        policy = FetchPolicy(allow_private=True, connect_timeout_s=0.3, read_timeout_s=SAFETY_S, total_timeout_s=5.0)
        message = _fails(f"https://127.0.0.1:{port}/x.png", dest, policy)
        assert message.endswith("TLS handshake timed out after 0.3 s")
        policy = FetchPolicy(allow_private=True, connect_timeout_s=3.0, read_timeout_s=3.0, total_timeout_s=0.5)
        message = _fails(f"https://127.0.0.1:{port}/x.png", dest, policy)
        assert message.endswith("download took longer than the total limit of 0.5 s")


# --------------------------------------------------------------------------- property


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gives_a_file_or_a_one_line_fetch_error(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    def no_dns(host: str, port: int) -> list[str]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    folder = tmp_path_factory.mktemp("prop")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fetch_module, "resolve_host", no_dns)
        patch.setattr(fetch_module, "address_refusal", lambda address, policy: "private")  # never connect out
        try:
            fetch(text, folder, FetchPolicy(connect_timeout_s=0.5, total_timeout_s=1.0))
        except FetchError as exc:
            assert "\n" not in str(exc)
    assert _left_over(folder) == []


"""Downloading a claim or a source given as a URL, treating the server and the URL as hostile.

This module owns everything between a URL on the command line and a media file on
disk: which URLs are fetched at all (http and https, no credentials), which hosts may
be reached (public addresses only unless :attr:`FetchPolicy.allow_private`), redirects
(followed by hand, every hop checked), the limits on size and time, the content types
accepted, and the name the download gets. It never decodes media: the sniffer in
:mod:`provcheck.media` judges the bytes afterwards.

How a host is checked and why DNS rebinding does not get round the check:

1. The host name is resolved once, here, with :func:`resolve_host` (``getaddrinfo``).
2. Every resolved address goes through :func:`address_refusal`; one refused address
   refuses the URL (a name that mixes public and private addresses is refused).
3. The request is then sent through a per-hop ``requests`` session whose transport
   adapter *pins* the connection to exactly those checked addresses: its urllib3
   connection classes override ``_new_conn`` to connect to the checked IP instead of
   resolving the name again. The connection object keeps the original host name, so
   the ``Host`` header, TLS SNI and certificate hostname verification all use the
   name from the URL, while the TCP connection can only go to an address that passed
   the check. A second, different DNS answer (the rebinding attack) is never asked
   for; ``requests`` itself never resolves the name.
4. Redirects are not followed by ``requests`` (``allow_redirects=False``): each
   ``Location`` is resolved against the current URL and goes through steps 1-3 again,
   up to :attr:`FetchPolicy.max_redirects` hops.

The session ignores the environment (``trust_env = False``): no proxy variables (a
proxy would make the address check meaningless), no ``.netrc`` credentials.

Time limits: the connect timeout bounds connecting, the read timeout bounds each wait
for data, and a watchdog timer enforces the total deadline on everything after name
resolution (which is itself bounded by running it in a helper thread): at the deadline
it shuts down every socket of the download (through a duplicate descriptor, so it also
works during a TLS handshake), which ends a blocked read at once. A server that drips
one byte at a time therefore cannot hold a download past the deadline.
"""

from __future__ import annotations

import hashlib
import http
import http.client
import ipaddress
import os
import re
import socket
import ssl
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests
import requests.adapters
import urllib3.exceptions
import urllib3.util.connection
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from ._version import __version__
from .errors import MediaError
from .media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS

#: Default largest download, in bytes.
DEFAULT_MAX_BYTES = 200 * 1024 * 1024
#: Bytes asked for per read while streaming the body to disk.
CHUNK_BYTES = 64 * 1024
#: The only URL schemes fetched.
ALLOWED_SCHEMES = frozenset({"http", "https"})
#: Statuses followed as redirects (each needs a ``Location``).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Content types accepted besides ``image/*`` and ``video/*`` (a missing type is accepted too).
GENERIC_BINARY_TYPES = frozenset({"application/octet-stream", "binary/octet-stream"})
#: Media types the server may announce, with the extension a download gets from them.
TYPE_EXTENSIONS: dict[str, str] = {
    "image/jpeg": ".jpg",
    "image/pjpeg": ".jpg",
    "image/jpg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/x-ms-bmp": ".bmp",
    "image/tiff": ".tiff",
    "video/mp4": ".mp4",
    "video/x-m4v": ".m4v",
    "video/quicktime": ".mov",
    "video/x-matroska": ".mkv",
    "video/webm": ".webm",
    "video/x-msvideo": ".avi",
    "video/avi": ".avi",
    "video/mp2t": ".ts",
    "video/x-flv": ".flv",
    "video/x-ms-wmv": ".wmv",
    "video/3gpp": ".3gp",
    "video/mpeg": ".mpg",
    "video/ogg": ".ogv",
}
#: Extension of a download whose type is known neither from its URL nor from the server.
FALLBACK_EXTENSION = ".bin"
#: Media file extensions kept from a URL's path.
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS
#: Sent with every request.
USER_AGENT = f"provcheck/{__version__}"
#: What we ask for: media, but any type is read (and then judged).
ACCEPT_HEADER = "image/*, video/*, application/octet-stream;q=0.9, */*;q=0.1"
#: Longest URL quoted in a message; longer ones (a ``data:`` URL) are cut.
MAX_URL_SHOWN = 160
#: Longest server-supplied text (a content type, an error detail) quoted in a message.
MAX_DETAIL_SHOWN = 80
#: Addresses of one host tried in turn before giving up on connecting.
MAX_ADDRESSES_TRIED = 4
#: Longest prefix taken from the URL for the downloaded file's name.
MAX_STEM_CHARS = 48
#: Schemes recognised as URLs without ``//`` (so they get a clear refusal, not "no such file").
OPAQUE_SCHEMES = frozenset({"data", "javascript", "vbscript", "file", "mailto", "about", "blob"})
#: Said with every refusal of a private address.
ALLOW_PRIVATE_HINT = "private and local addresses are fetched only with allow_private / --allow-private"

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+.\-]+):")
_HOST_RE = re.compile(r"[a-z0-9_.\-]+")
_STEM_UNSAFE_RE = re.compile(r"[^A-Za-z0-9_\-]+")
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


class FetchError(MediaError):
    """A URL could not be downloaded or was refused; the message names the URL and the problem in one line.

    Attributes:
        url: the URL that was asked for.
        problem: the problem alone, without the URL.
    """

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = _one_line(problem)
        super().__init__(f"{_shown(url)}: {self.problem}")


@dataclass(frozen=True)
class FetchPolicy:
    """Limits of one download.

    Attributes:
        allow_private: also fetch from private, loopback, link-local... addresses (intranet use).
        max_bytes: largest body accepted, in bytes.
        connect_timeout_s: longest wait for a connection (also bounds name resolution).
        read_timeout_s: longest wait for any data from the server.
        total_timeout_s: longest whole download, redirects included.
        max_redirects: most redirects followed.
        ca_bundle: PEM file of certificate authorities to trust instead of the default
            bundle (a private CA on an intranet); ``None`` for the default.
    """

    allow_private: bool = False
    max_bytes: int = DEFAULT_MAX_BYTES
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 20.0
    total_timeout_s: float = 120.0
    max_redirects: int = 5
    ca_bundle: Path | None = None

    def __post_init__(self) -> None:
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, not {self.max_bytes!r}")
        for name in ("connect_timeout_s", "read_timeout_s", "total_timeout_s"):
            value = getattr(self, name)
            if not 0 < value < float("inf"):
                raise ValueError(f"{name} must be a positive number of seconds, not {value!r}")
        if self.max_redirects < 0:
            raise ValueError(f"max_redirects must be 0 or more, not {self.max_redirects!r}")


#: The policy used when none is given.
DEFAULT_POLICY = FetchPolicy()


@dataclass(frozen=True)
class FetchedFile:
    """A completed download.

    Attributes:
        path: the file written in the destination folder.
        url: the URL asked for.
        final_url: the URL the bytes came from, after redirects.
        content_type: the media type the server announced (lower case, no parameters), if any.
        size: bytes written.
        sha256: hex SHA-256 of the bytes written.
    """

    path: Path
    url: str
    final_url: str
    content_type: str | None
    size: int
    sha256: str


class _Problem(Exception):
    """Internal: a refusal or failure described without its URL (becomes a :class:`FetchError`)."""


# --------------------------------------------------------------------------- text helpers


def _escaped(text: str) -> str:
    """Unprintable characters (newlines, escapes) written as Python escapes."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def _one_line(text: str) -> str:
    """Collapse whitespace and escape unprintable characters so a message stays on one line."""
    return _escaped(" ".join(str(text).split()))


def _cut(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = _one_line(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _shown(url: str) -> str:
    """A URL as quoted in messages: control characters escaped, at most :data:`MAX_URL_SHOWN` characters."""
    return _cut(_escaped(url.strip()), MAX_URL_SHOWN)


def _article(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


# --------------------------------------------------------------------------- URLs


def is_url(text: str) -> bool:
    """True when ``text`` is written as a URL rather than a file path.

    ``scheme://...`` with any scheme of two or more letters counts (so ``ftp://`` or
    ``file:///`` reach :func:`fetch` and get a clear refusal), and so do the schemes
    that take no ``//`` (``data:``, ``javascript:``, ``file:``...). A Windows drive
    (``C:\\photo.jpg``) and a plain relative path do not.

    Args:
        text: a command-line argument.

    Returns:
        Whether to treat it as a URL.
    """
    stripped = text.strip()
    found = _SCHEME_RE.match(stripped)
    if found is None:
        return False
    return stripped[found.end() :].startswith("//") or found.group(1).lower() in OPAQUE_SCHEMES


@dataclass(frozen=True)
class _Target:
    url: str
    scheme: str
    host: str
    port: int


def _is_ip_literal(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _parse_target(url: str) -> _Target:
    """Check a URL may be fetched at all and split out what connecting needs.

    Raises:
        _Problem: not http(s), credentials, no host, a bad port or host name, control characters.
    """
    text = url.strip()
    if any(ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in text):
        raise _Problem("URL contains spaces or control characters")
    scheme_match = _SCHEME_RE.match(text)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    if scheme not in ALLOWED_SCHEMES:
        named = f"{scheme}:" if scheme else "no scheme"
        raise _Problem(f"only http and https URLs are fetched, not {named}")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise _Problem(f"malformed URL ({_cut(str(exc), MAX_DETAIL_SHOWN)})") from None
    if "@" in parts.netloc:
        raise _Problem("URL carries credentials (user:password@host); refused")
    host = parts.hostname or ""
    if not host:
        raise _Problem("URL has no host")
    netloc = parts.netloc
    if not _is_ip_literal(host):
        if not host.isascii():
            try:
                ascii_host = host.encode("idna").decode("ascii")
            except UnicodeError:
                raise _Problem("invalid host name") from None
            netloc = ascii_host if parts.port is None else f"{ascii_host}:{parts.port}"
            host = ascii_host
        if not _HOST_RE.fullmatch(host):
            raise _Problem("invalid host name")
    default_port = 443 if scheme == "https" else 80
    clean = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return _Target(url=clean, scheme=scheme, host=host, port=port if port is not None else default_port)


# --------------------------------------------------------------------------- addresses


def classify_address(address: str) -> str | None:
    """Say why an IP address must not be fetched from by default, or ``None`` for a public address.

    IPv4-mapped (``::ffff:a.b.c.d``), NAT64 (``64:ff9b::/96``) and 6to4 (``2002::/16``)
    IPv6 addresses are judged by the IPv4 address they carry as well.

    Args:
        address: an IPv4 or IPv6 address (an IPv6 scope id is allowed).

    Returns:
        ``None`` when public, else the kind: ``"loopback"``, ``"private"``,
        ``"link-local"``, ``"multicast"``, ``"reserved"``, ``"unspecified"``,
        ``"carrier-grade NAT"`` or ``"non-global"`` (possibly with the IPv6 form
        noted), or ``"unparsable"`` for text that is no IP address.
    """
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return "unparsable"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            kind = classify_address(str(ip.ipv4_mapped))
            return None if kind is None else f"{kind} (IPv4-mapped)"
        if ip in _NAT64:
            kind = classify_address(str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)))
            return None if kind is None else f"{kind} (NAT64)"
        if ip.sixtofour is not None:
            kind = classify_address(str(ip.sixtofour))
            if kind is not None:
                return f"{kind} (6to4)"
    checks = (
        (ip.is_unspecified, "unspecified"),
        (ip.is_loopback, "loopback"),
        (ip.is_link_local, "link-local"),
        (ip.is_multicast, "multicast"),
        (ip.is_reserved, "reserved"),
        (ip.is_private, "private"),
    )
    for flagged, kind in checks:
        if flagged:
            return kind
    if isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT:
        return "carrier-grade NAT"
    if not ip.is_global:
        return "non-global"
    return None


def address_refusal(address: str, policy: FetchPolicy) -> str | None:
    """The kind of address that makes ``address`` refused under ``policy``, or ``None`` to allow it.

    The one place the address rule is applied (tests replace it to pretend a loopback
    test server is public).

    Args:
        address: a resolved IP address.
        policy: the download's policy.

    Returns:
        ``None`` when allowed, else the kind of address (see :func:`classify_address`).
    """
    if policy.allow_private:
        return None
    return classify_address(address)


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to for a TCP connection, in the resolver's order, without duplicates.

    Args:
        host: a host name or IP literal.
        port: the port to connect to.

    Returns:
        IP addresses as text.

    Raises:
        OSError: the name cannot be resolved (``socket.gaierror``).
    """
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[str] = []
    for info in infos:
        address = str(info[4][0])
        if address not in addresses:
            addresses.append(address)
    return addresses


def _resolve_in_time(host: str, port: int, timeout_s: float) -> list[str]:
    """:func:`resolve_host` in a helper thread so that a stuck resolver cannot stall the download.

    Raises:
        _Problem: the lookup failed, timed out or gave no address.
    """
    outcome: list[list[str] | BaseException] = []

    def work() -> None:
        try:
            outcome.append(resolve_host(host, port))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            outcome.append(exc)

    worker = threading.Thread(target=work, name="provcheck-resolve", daemon=True)
    worker.start()
    worker.join(timeout_s)
    if not outcome:
        raise _Problem(f"looking up host {host} timed out after {timeout_s:g} s")
    result = outcome[0]
    if isinstance(result, Exception):  # socket.gaierror, or UnicodeError for a label the codec refuses
        detail = getattr(result, "strerror", None) or str(result) or type(result).__name__
        raise _Problem(f"cannot resolve host {host} ({_cut(detail, MAX_DETAIL_SHOWN)})")
    if isinstance(result, BaseException):
        raise result
    if not result:
        raise _Problem(f"host {host} resolves to no address")
    return result


def _checked_addresses(target: _Target, policy: FetchPolicy, deadline: _Deadline) -> list[str]:
    """Resolve the target's host (an IP literal is taken as is) and check every address.

    Raises:
        _Problem: resolution failed or an address is refused.
    """
    literal = _is_ip_literal(target.host)
    if literal:
        addresses = [target.host]
    else:
        timeout_s = min(policy.connect_timeout_s, deadline.remaining())
        if timeout_s <= 0:
            raise _Problem(_total_message(policy))
        addresses = _resolve_in_time(target.host, target.port, timeout_s)
    for address in addresses:
        kind = address_refusal(address, policy)
        if kind is None:
            continue
        described = f"{_article(kind)} {kind} address"
        if literal:
            raise _Problem(f"refused: {address} is {described} ({ALLOW_PRIVATE_HINT})")
        raise _Problem(f"refused: {target.host} resolves to {address}, {described} ({ALLOW_PRIVATE_HINT})")
    return addresses


# --------------------------------------------------------------------------- deadline watchdog


class _Deadline:
    """The total deadline of one download, with a watchdog that cuts its sockets when it passes."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.name = "provcheck-fetch-deadline"
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left, never negative."""
        return max(0.0, self._at - time.monotonic())

    @property
    def passed(self) -> bool:
        """Whether the deadline has passed (or the watchdog fired)."""
        return self._expired or time.monotonic() >= self._at

    def watch(self, sock: socket.socket) -> None:
        """Cut ``sock`` when the deadline passes (at once if it has), through a duplicate descriptor.

        A duplicate refers to the same kernel socket, so shutting it down ends reads
        on the original, also after the original is wrapped for TLS.
        """
        with self._lock:
            if self._expired:
                _shutdown(sock)
                return
            self._watched.append(sock.dup())

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            for sock in self._watched:
                _shutdown(sock)

    def release(self) -> None:
        """Close the duplicates of sockets no longer in use (their connections are closed)."""
        with self._lock:
            watched, self._watched = self._watched, []
        for sock in watched:
            sock.close()

    def close(self) -> None:
        """Stop the watchdog and close every duplicate."""
        self._timer.cancel()
        self._timer.join()
        self.release()


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed or never connected: nothing to cut


def _total_message(policy: FetchPolicy) -> str:
    return f"download took longer than the total limit of {policy.total_timeout_s:g} s"


# --------------------------------------------------------------------------- pinned transport


def _connect_pinned(conn: HTTPConnection, addresses: Sequence[str], deadline: _Deadline) -> socket.socket:
    """Connect ``conn`` to one of the checked ``addresses`` (never to a fresh DNS answer).

    Raises:
        urllib3.exceptions.ConnectTimeoutError: connecting timed out (or the deadline passed).
        urllib3.exceptions.NewConnectionError: no address accepted the connection.
    """
    failure: OSError | None = None
    for address in addresses[:MAX_ADDRESSES_TRIED]:
        timeout_s = deadline.remaining()
        if isinstance(conn.timeout, (int, float)):
            timeout_s = min(timeout_s, float(conn.timeout))
        if timeout_s <= 0:
            raise urllib3.exceptions.ConnectTimeoutError(conn, f"connecting to {conn.host} ran out of time")
        try:
            sock = urllib3.util.connection.create_connection(
                (address, conn.port),
                timeout_s,
                source_address=conn.source_address,
                socket_options=conn.socket_options,
            )
        except TimeoutError as exc:
            raise urllib3.exceptions.ConnectTimeoutError(
                conn, f"connection to {conn.host} ({address}) timed out"
            ) from exc
        except OSError as exc:
            failure = exc
            continue
        if isinstance(conn.timeout, (int, float)):
            sock.settimeout(float(conn.timeout))
        deadline.watch(sock)
        return sock
    raise urllib3.exceptions.NewConnectionError(conn, f"cannot connect to {conn.host}: {failure}") from failure


def _pinned_pool_classes(addresses: Sequence[str], deadline: _Deadline) -> dict[str, type[HTTPConnectionPool]]:
    """urllib3 pool classes whose connections go only to ``addresses``, keeping the URL's host name."""
    pinned = tuple(addresses)

    class PinnedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return _connect_pinned(self, pinned, deadline)

    class PinnedHTTPSConnection(HTTPSConnection):
        # HTTPSConnection.connect wraps this socket with server_hostname = self.host (the
        # URL's name), so SNI and certificate verification are for the name, not the IP.
        def _new_conn(self) -> socket.socket:
            return _connect_pinned(self, pinned, deadline)

    class PinnedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = PinnedHTTPConnection

    class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = PinnedHTTPSConnection

    return {"http": PinnedHTTPConnectionPool, "https": PinnedHTTPSConnectionPool}


class _PinnedAdapter(requests.adapters.HTTPAdapter):
    """A transport adapter for one hop: every connection goes to the addresses checked for it."""

    def __init__(self, addresses: Sequence[str], deadline: _Deadline) -> None:
        self._pool_classes = _pinned_pool_classes(addresses, deadline)
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = requests.adapters.DEFAULT_POOLBLOCK, **pool_kwargs: Any
    ) -> None:
        """Build the pool manager, then swap in the pinned pool classes."""
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = self._pool_classes


def _pinned_session(addresses: Sequence[str], deadline: _Deadline, policy: FetchPolicy) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(policy.ca_bundle) if policy.ca_bundle is not None else True
    session.headers.update(
        {"User-Agent": USER_AGENT, "Accept": ACCEPT_HEADER, "Accept-Encoding": "identity", "Connection": "close"}
    )
    adapter = _PinnedAdapter(addresses, deadline)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


# --------------------------------------------------------------------------- errors


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything it wraps (causes, contexts, urllib3 reasons, exception args)."""
    queue: list[BaseException] = [exc]
    seen: set[int] = set()
    while queue and len(seen) < 32:
        current = queue.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        reason = getattr(current, "reason", None)
        wrapped = [reason, *current.args, current.__cause__, current.__context__]
        queue.extend(item for item in wrapped if isinstance(item, BaseException))


def _reason(exc: BaseException, policy: FetchPolicy) -> str:
    """A short, one-line reason for a network failure."""
    chain = list(_causes(exc))

    def first(*kinds: type[BaseException]) -> BaseException | None:
        return next((item for item in chain if isinstance(item, kinds)), None)

    certificate = first(ssl.SSLCertVerificationError)
    if isinstance(certificate, ssl.SSLCertVerificationError):
        detail = certificate.verify_message or certificate.reason or "not trusted"
        return f"TLS certificate verification failed ({_cut(str(detail), MAX_DETAIL_SHOWN)})"
    if first(ConnectionRefusedError):
        return "connection refused"
    if first(ConnectionResetError, BrokenPipeError):
        return "connection reset by the server"
    if first(requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError):
        return f"connecting timed out after {policy.connect_timeout_s:g} s"
    if any(isinstance(item, TimeoutError) and "handshake" in str(item) for item in chain):
        return f"TLS handshake timed out after {policy.connect_timeout_s:g} s"  # it runs under the connect timeout
    if first(requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError, TimeoutError):
        return f"the server sent nothing for {policy.read_timeout_s:g} s (read timeout)"
    tls = first(ssl.SSLError)
    if isinstance(tls, ssl.SSLError):
        return f"TLS error ({_cut(str(tls.reason or tls), MAX_DETAIL_SHOWN)})"
    if first(http.client.IncompleteRead, requests.exceptions.ChunkedEncodingError, urllib3.exceptions.ProtocolError):
        return "connection broken before the download finished"
    system = next((item for item in chain if isinstance(item, OSError) and item.strerror), None)
    if isinstance(system, OSError) and system.strerror:
        return _cut(system.strerror[:1].lower() + system.strerror[1:], MAX_DETAIL_SHOWN)
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return f"request failed ({_cut(text, MAX_DETAIL_SHOWN)})"


_NETWORK_ERRORS = (
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    ValueError,
)


# --------------------------------------------------------------------------- the download


def _media_type(header: str | None) -> str | None:
    if header is None:
        return None
    media_type = header.split(";", 1)[0].strip().lower()
    return media_type or None


def _type_accepted(media_type: str | None) -> bool:
    return (
        media_type is None
        or media_type.startswith(("image/", "video/"))
        or media_type in GENERIC_BINARY_TYPES
    )


def _content_length(header: str | None) -> int | None:
    if header is None or not header.strip().isdigit():
        return None
    return int(header.strip())


def _url_basename(url: str) -> PurePosixPath:
    return PurePosixPath(unquote(urlsplit(url).path))


def choose_extension(urls: Sequence[str], media_type: str | None) -> str:
    """The extension a download gets: a media extension from a URL path, else from the type, else ``.bin``.

    Args:
        urls: URLs in order of preference (the final URL after redirects first).
        media_type: the announced media type (lower case, no parameters), if any.

    Returns:
        An extension with its dot, lower case.
    """
    for url in urls:
        suffix = _url_basename(url).suffix.lower()
        if suffix in MEDIA_EXTENSIONS:
            return suffix
    if media_type is not None and media_type in TYPE_EXTENSIONS:
        return TYPE_EXTENSIONS[media_type]
    return FALLBACK_EXTENSION


def _file_stem(url: str) -> str:
    stem = _STEM_UNSAFE_RE.sub("_", _url_basename(url).stem)[:MAX_STEM_CHARS].strip("_")
    return stem or "download"


def _write(out: IO[bytes], chunk: bytes, path: Path) -> None:
    try:
        out.write(chunk)
    except OSError as exc:
        raise _Problem(f"cannot write {path} ({exc.strerror or exc})") from None


def _save(
    response: requests.Response,
    target: _Target,
    original_url: str,
    dest_dir: Path,
    policy: FetchPolicy,
    deadline: _Deadline,
) -> FetchedFile:
    """Check the final response's type and size, then stream its body to a new file in ``dest_dir``.

    The partial file is deleted on any failure.

    Raises:
        _Problem: refused type or size, deadline passed, empty body or a disk error.
    """
    media_type = _media_type(response.headers.get("Content-Type"))
    if not _type_accepted(media_type):
        raise _Problem(f"server sent {_cut(str(media_type), MAX_DETAIL_SHOWN)}, not an image or video")
    announced = _content_length(response.headers.get("Content-Length"))
    if announced is not None and announced > policy.max_bytes:
        raise _Problem(f"server announced {announced:,} bytes, above the limit of {policy.max_bytes:,} bytes")
    extension = choose_extension([target.url, original_url], media_type)
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
        handle, name = tempfile.mkstemp(prefix=f"{_file_stem(target.url)}-", suffix=extension, dir=dest_dir)
    except OSError as exc:
        raise _Problem(f"cannot create a file in {dest_dir} ({exc.strerror or exc})") from None
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(handle, "wb") as out:
            for chunk in response.iter_content(CHUNK_BYTES):
                if deadline.passed:
                    raise _Problem(_total_message(policy))
                size += len(chunk)
                if size > policy.max_bytes:
                    raise _Problem(f"download exceeds the limit of {policy.max_bytes:,} bytes")
                digest.update(chunk)
                _write(out, chunk, path)
        if deadline.passed:  # a connection cut by the watchdog can look like a short body
            raise _Problem(_total_message(policy))
        if size == 0:
            raise _Problem("server sent an empty body")
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return FetchedFile(
        path=path,
        url=original_url,
        final_url=target.url,
        content_type=media_type,
        size=size,
        sha256=digest.hexdigest(),
    )


def _status_problem(status: int) -> str:
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    return f"server answered HTTP {status} {phrase}".rstrip()


def _hop(
    target: _Target, original_url: str, dest_dir: Path, policy: FetchPolicy, deadline: _Deadline
) -> FetchedFile | str:
    """One request: the saved file, or the next URL when the server redirects.

    Raises:
        _Problem: anything refused or failed on this hop.
    """
    try:
        addresses = _checked_addresses(target, policy, deadline)
        connect_s = max(min(policy.connect_timeout_s, deadline.remaining()), 0.001)
        with _pinned_session(addresses, deadline, policy) as session:
            with session.get(
                target.url, stream=True, allow_redirects=False, timeout=(connect_s, policy.read_timeout_s)
            ) as response:
                status = response.status_code
                if status in REDIRECT_STATUSES:
                    location = response.headers.get("Location")
                    if not location:
                        raise _Problem(f"server answered HTTP {status} without a Location to redirect to")
                    return urljoin(target.url, location.strip())
                if status >= 300:
                    raise _Problem(_status_problem(status))
                return _save(response, target, original_url, dest_dir, policy, deadline)
    except _Problem:
        raise
    except _NETWORK_ERRORS as exc:
        if deadline.passed:
            raise _Problem(_total_message(policy)) from None
        raise _Problem(_reason(exc, policy)) from None
    finally:
        deadline.release()


def fetch(url: str, dest_dir: Path, policy: FetchPolicy = DEFAULT_POLICY) -> FetchedFile:
    """Download one image or video from ``url`` into a new file in ``dest_dir``.

    Only http(s) URLs without credentials are fetched, only from public addresses
    (unless ``policy.allow_private``), checked again on every redirect; the body is
    streamed to disk under the size and time limits of ``policy``. The file name keeps
    a media extension from the URL, else one from the content type, else ``.bin``.
    Nothing is left in ``dest_dir`` when the download fails.

    Args:
        url: the URL.
        dest_dir: folder for the download (created if missing); the caller owns it
            and the file.
        policy: limits and the private-address opt-in.

    Returns:
        The downloaded file and what is known about it.

    Raises:
        FetchError: refused or failed; the one-line message names the URL and the problem.
    """
    deadline = _Deadline(policy.total_timeout_s)
    current = url
    redirects = 0
    try:
        while True:
            try:
                target = _parse_target(current)
                outcome = _hop(target, url, Path(dest_dir), policy, deadline)
            except _Problem as problem:
                text = str(problem)
                if redirects:
                    text = f"redirected to {_shown(current)}: {text}"
                raise FetchError(url, text) from None
            if isinstance(outcome, FetchedFile):
                return outcome
            redirects += 1
            if redirects > policy.max_redirects:
                raise FetchError(url, f"too many redirects (more than {policy.max_redirects})")
            current = outcome
    finally:
        deadline.close()


__all__ = [
    "DEFAULT_POLICY",
    "FetchError",
    "FetchPolicy",
    "FetchedFile",
    "address_refusal",
    "choose_extension",
    "classify_address",
    "fetch",
    "is_url",
    "resolve_host",
]

"""The only HTTP code: one shared httpx client, polite and bounded.

Conditional GET with the stored validators, a User-Agent with a contact, a limit per host,
connect/read timeouts *and* a total deadline per feed, a cap on the decompressed body enforced
while reading, redirects followed by hand (so a permanent one can be recorded), and every httpx
error translated into a :class:`FetchError` with a one-line reason.
"""

from __future__ import annotations

import contextlib
import email.utils
import http.cookiejar
import ipaddress
import re
import socket
import ssl
import threading
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from aggregator.config import HttpConfig
from aggregator.errors import FetchError
from aggregator.records import FetchResult, FetchStatus, Validators

MAX_REDIRECTS = 5
CONNECT_TIMEOUT = 10.0  # seconds, capped by [http] timeout
READ_TIMEOUT = 20.0  # seconds between two chunks, capped by [http] timeout
CHUNK_SIZE = 64 * 1024
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, application/json;q=0.8, "
    "application/rdf+xml;q=0.8, application/xml;q=0.8, text/xml;q=0.8, */*;q=0.5"
)
# Only encodings we decompress ourselves, under the size cap (httpx's decoders inflate a whole
# chunk at once, so a compression bomb would be in memory before any check could run).
ACCEPT_ENCODING = "gzip, deflate"
_PERMANENT = {301, 308}
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)", re.IGNORECASE)


class _Cookies(httpx.Cookies):
    """httpx's cookies, read from a response only when it sets one. httpx reads every
    response, building a urllib request and an email message for the cookie jar: a sixth of
    the CPU of a "not modified" poll, where no feed sets a cookie. (Set-Cookie2 would need
    the jar's RFC 2965 policy, which is off.)"""

    def extract_cookies(self, response: httpx.Response) -> None:
        if "set-cookie" in response.headers:
            super().extract_cookies(response)


class _Client(httpx.Client):
    """An httpx client whose cookies are a :class:`_Cookies` on the jar it was given."""

    def __init__(self, *, cookies: http.cookiejar.CookieJar, **options: Any) -> None:
        super().__init__(cookies=cookies, **options)
        self._jar_cookies = _Cookies(cookies)

    @property  # type: ignore[override]
    def cookies(self) -> httpx.Cookies:
        return self._jar_cookies

    @cookies.setter
    def cookies(self, cookies: httpx.Cookies) -> None:
        self._jar_cookies = _Cookies(httpx.Cookies(cookies).jar)


class Fetcher:
    """Downloads feeds. Thread-safe: one instance is shared by the workers of a run."""

    def __init__(self, config: HttpConfig, client: httpx.Client | None = None) -> None:
        self.config = config
        self._shared = client
        self._clients: list[httpx.Client] = []
        self._idle: list[httpx.Client] = []  # last in, first out: warm connections first
        self._tls: ssl.SSLContext | None = None  # one for all clients: each loads the CAs
        # One jar for all clients, as with one client: a cookie a server set is sent back
        # whichever client asks next (CookieJar has a lock of its own).
        self._cookies = http.cookiejar.CookieJar()
        self._host_locks: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def _client(self) -> Iterator[httpx.Client]:
        """A client for one request, taken from those not in use. One pool shared by every
        fetch thread cost more CPU than the requests themselves: httpcore matches each queued
        request against every connection whenever one is taken or returned (0.4 ms a request
        at 16 threads); a client used by one request at a time has none queued."""
        if self._shared is not None:
            yield self._shared
            return
        with self._lock:
            client = self._idle.pop() if self._idle else None
        if client is None:
            client = self._new_client()
            with self._lock:
                self._clients.append(client)
        try:
            yield client
        finally:
            with self._lock:
                self._idle.append(client)

    def _new_client(self) -> httpx.Client:
        config = self.config
        with self._lock:
            if self._tls is None:
                self._tls = httpx.create_ssl_context()
            tls = self._tls
        return _Client(
            verify=tls,
            cookies=self._cookies,
            headers={
                "User-Agent": config.user_agent,
                "Accept": ACCEPT,
                "Accept-Encoding": ACCEPT_ENCODING,
            },
            timeout=httpx.Timeout(
                connect=min(CONNECT_TIMEOUT, config.timeout),
                read=min(READ_TIMEOUT, config.timeout),
                write=min(READ_TIMEOUT, config.timeout),
                pool=config.timeout,
            ),
            # A thread makes one request at a time; it keeps a connection to each of the
            # hosts it fetched from lately.
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=16),
            follow_redirects=False,
        )

    def close(self) -> None:
        with self._lock:
            clients, self._clients, self._idle = self._clients, [], []
        for client in clients:
            client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _host_slot(self, url: str) -> threading.BoundedSemaphore:
        host = (urlsplit(url).hostname or "").lower()
        with self._lock:
            slot = self._host_locks.get(host)
            if slot is None:
                slot = self._host_locks[host] = threading.BoundedSemaphore(self.config.per_host)
            return slot

    def fetch(
        self, url: str, validators: Validators | None = None, *, configured: str | None = None
    ) -> FetchResult:
        """GET ``url`` conditionally. Returns ok or not-modified; raises :class:`FetchError`.

        ``configured`` is the address the user wrote, whose host is trusted; when ``url`` is
        another one (a permanent redirect learned earlier) it is checked like any address
        learned from the network.
        """
        validators = validators or Validators()
        with self._host_slot(url):
            # The deadline starts once a slot is free: waiting behind other feeds of the same
            # host is not this feed's slowness.
            deadline = time.monotonic() + self.config.timeout
            try:
                trusted = configured or url
                if urlsplit(url).hostname != urlsplit(trusted).hostname:
                    self._check_learned_url(trusted, url)
                with self._client() as client:
                    return self._fetch(client, url, validators, deadline, trusted)
            except FetchError:
                raise
            except httpx.TimeoutException as exc:
                phase = "connecting" if isinstance(exc, httpx.ConnectTimeout) else "reading"
                raise FetchError(url, f"timed out {phase}") from exc
            except httpx.ConnectError as exc:
                raise FetchError(url, _connect_reason(exc)) from exc
            except httpx.InvalidURL as exc:
                # httpx parses a redirect's Location itself, before our own scheme check.
                raise FetchError(
                    url, f"redirect to a non-HTTP URL or a malformed Location: {exc}"
                ) from exc
            except httpx.UnsupportedProtocol as exc:
                raise FetchError(url, f"unsupported URL scheme: {exc}") from exc
            except httpx.HTTPError as exc:
                raise FetchError(url, f"network error: {_one_line(exc)}") from exc
            except ssl.SSLError as exc:
                raise FetchError(url, f"TLS error: {_one_line(exc)}") from exc

    def _check_learned_url(self, configured: str, target: str) -> None:
        """A URL learned from the network (a redirect target) must not lead into loopback or
        private networks unless the user allowed it; the configured feed's own host is trusted."""
        if self.config.allow_private_networks:
            return
        host = (urlsplit(target).hostname or "").lower()
        if host == (urlsplit(configured).hostname or "").lower():
            return
        try:
            port = urlsplit(target).port or 443
            infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
        except (OSError, ValueError, UnicodeError) as exc:
            raise FetchError(configured, f"cannot resolve redirect target {host!r}: {exc}") from exc
        for info in infos:
            address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
            if not address.is_global or address.is_multicast:
                raise FetchError(
                    configured,
                    f"redirect to a private or local address refused: {host} ({address}); "
                    "set [http] allow_private_networks = true to allow it",
                )

    def _fetch(
        self,
        client: httpx.Client,
        url: str,
        validators: Validators,
        deadline: float,
        trusted: str,
    ) -> FetchResult:
        original = url
        permanent = True
        for _hop in range(MAX_REDIRECTS + 1):
            headers = {}
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
            with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status in (301, 302, 303, 307, 308) and "location" in response.headers:
                    target = urljoin(url, response.headers["location"].strip())
                    if urlsplit(target).scheme not in ("http", "https"):
                        raise FetchError(original, f"redirect to a non-HTTP URL: {target[:200]}")
                    permanent = permanent and status in _PERMANENT
                    self._check_learned_url(trusted, target)
                    url = target
                    if time.monotonic() > deadline:
                        raise FetchError(original, "total deadline exceeded while redirected")
                    continue
                new_validators = Validators(
                    etag=response.headers.get("etag") or None,
                    last_modified=response.headers.get("last-modified") or None,
                )
                common = {
                    "url": url,
                    "http_status": status,
                    "permanent_url": url if permanent and url != original else None,
                    "max_age": _max_age(response.headers.get("cache-control")),
                }
                if status == 304:
                    # A 304 has no body, but httpcore only reuses a connection whose response
                    # was read to its end: unread, every re-poll paid for a new connection.
                    response.read()
                    # A 304 may omit validators; the ones we sent are still current then.
                    return FetchResult(
                        status=FetchStatus.NOT_MODIFIED,
                        validators=Validators(
                            etag=new_validators.etag or validators.etag,
                            last_modified=new_validators.last_modified or validators.last_modified,
                        ),
                        **common,
                    )
                if status >= 400 or status < 200 or status in (204, 205):
                    retry_after = _retry_after(response.headers.get("retry-after"))
                    reason = _status_reason(status)
                    if retry_after is not None:
                        reason += f" (Retry-After: {retry_after:.0f} s)"
                    raise FetchError(original, reason, retry_after=retry_after, http_status=status)
                if status >= 300:
                    raise FetchError(original, f"HTTP {status} without a Location header")
                body = _read_body(response, self.config.max_bytes, deadline, original)
                return FetchResult(
                    status=FetchStatus.OK,
                    content=body,
                    content_type=response.headers.get("content-type"),
                    validators=new_validators,
                    **common,
                )
        raise FetchError(original, f"more than {MAX_REDIRECTS} redirects")


def _read_body(response: httpx.Response, max_bytes: int, deadline: float, url: str) -> bytes:
    encodings = [
        token.strip().lower()
        for token in response.headers.get("content-encoding", "").split(",")
        if token.strip() and token.strip().lower() != "identity"
    ]
    for encoding in encodings:
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise FetchError(url, f"unsupported Content-Encoding: {encoding[:40]}")
    length = response.headers.get("content-length", "")
    if not encodings and length.isdigit() and int(length) > max_bytes:
        raise FetchError(url, f"too large: {int(length)} bytes (limit {max_bytes})")
    decoders = [_Inflater(encoding) for encoding in reversed(encodings)]
    parts: list[bytes] = []
    size = 0
    try:
        # No chunk size: httpx would otherwise hold data back until 64 KiB arrived, and the
        # deadline could not be checked while a server drips a small body.
        for raw in response.iter_raw():
            for piece in _decode(decoders, raw):
                size += len(piece)
                if size > max_bytes:
                    raise FetchError(url, f"too large: more than {max_bytes} bytes")
                parts.append(piece)
            if time.monotonic() > deadline:
                raise FetchError(url, "timed out: total deadline exceeded while reading")
        for piece in _flush(decoders):
            size += len(piece)
            if size > max_bytes:
                raise FetchError(url, f"too large: more than {max_bytes} bytes")
            parts.append(piece)
    except zlib.error as exc:
        raise FetchError(url, f"corrupt compressed body: {exc}") from exc
    return b"".join(parts)


class _Inflater:
    """Streaming gzip/deflate decoder whose every call yields at most CHUNK_SIZE bytes."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._raw_deflate = False
        self._started = False
        self._decoder = self._new()

    def _new(self) -> zlib._Decompress:
        if self.encoding in ("gzip", "x-gzip"):
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        # "deflate" is meant to be zlib-wrapped, but many servers send raw deflate.
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def feed(self, data: bytes) -> Iterator[bytes]:
        if not self._started and data and self.encoding == "deflate":
            self._started = True
            if data[0] & 0x0F != 8:  # not a zlib header
                self._raw_deflate = True
                self._decoder = self._new()
        while True:
            out = self._decoder.decompress(data, CHUNK_SIZE)
            if out:
                yield out
            if self._decoder.eof and self._decoder.unused_data:
                # Another gzip member follows (concatenated members are one stream).
                data = self._decoder.unused_data
                self._decoder = self._new()
                continue
            data = self._decoder.unconsumed_tail
            if not data and len(out) < CHUNK_SIZE:
                return

    def flush(self) -> bytes:
        return self._decoder.flush()


def _decode(decoders: list[_Inflater], data: bytes, start: int = 0) -> Iterator[bytes]:
    if start == len(decoders):
        if data:
            yield data
        return
    for piece in decoders[start].feed(data):
        yield from _decode(decoders, piece, start + 1)


def _flush(decoders: list[_Inflater]) -> Iterator[bytes]:
    for index, decoder in enumerate(decoders):
        tail = decoder.flush()
        if tail:
            yield from _decode(decoders, tail, index + 1)


def _status_reason(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = ""
    reason = f"HTTP {status} {phrase}".strip()
    if status == 410:
        reason += " (the feed was removed)"
    return reason


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def _max_age(value: str | None) -> int | None:
    if not value:
        return None
    match = _MAX_AGE.search(value)
    return int(match.group(1)) if match else None


def _connect_reason(exc: httpx.ConnectError) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLError):
            return f"TLS error: {_one_line(cause)}"
        cause = cause.__cause__ or cause.__context__
    text = _one_line(exc)
    if any(
        marker in text
        for marker in ("Name or service not known", "nodename nor servname", "name resolution")
    ):
        try:
            return f"cannot resolve host {exc.request.url.host}"
        except RuntimeError:  # no request attached
            return f"cannot resolve host: {text}"
    return f"cannot connect: {text}"


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]

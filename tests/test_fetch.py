"""The fetcher against a real HTTP server on 127.0.0.1: headers, conditional GET, content
encodings and size caps, timeouts, HTTP errors, redirects and the private-network guard."""

from __future__ import annotations

import email.utils
import gzip
import socket
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from aggregator.config import HttpConfig
from aggregator.errors import FetchError
from aggregator.fetch import Fetcher
from aggregator.records import FetchResult, FetchStatus, Validators
from tests.conftest import FeedServer, Request

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Enforcement</title><link>https://agency.test/</link>
<item><title>Exchange fined</title><link>https://agency.test/a/1</link><guid>a-1</guid></item>
<item><title>Broker barred</title><link>https://agency.test/a/2</link><guid>a-2</guid></item>
</channel></rss>
"""
ETAG = '"v1"'
LAST_MODIFIED = "Tue, 24 Nov 2026 10:00:00 GMT"
MiB = 1024 * 1024


def header(request: Request, name: str) -> str | None:
    """A request header, whatever the case the client spelled its name in."""
    for key, value in request.headers.items():
        if key.lower() == name.lower():
            return value
    return None


def fetch(config: HttpConfig, url: str, validators: Validators | None = None) -> FetchResult:
    with Fetcher(config) as fetcher:
        return fetcher.fetch(url, validators)


def fetch_error(config: HttpConfig, url: str) -> FetchError:
    with pytest.raises(FetchError) as caught:
        fetch(config, url)
    return caught.value


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


def zeros_compressed(size: int, wbits: int) -> bytes:
    """``size`` zero bytes compressed without ever holding them in memory."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(size // MiB)]
    return b"".join(parts) + compressor.flush()


# -- request headers ---------------------------------------------------------------------------


def test_sends_the_configured_user_agent_and_offers_only_gzip_and_deflate(
    feed_server: FeedServer,
) -> None:
    url = feed_server.add("/feed", RSS)
    agent = "enforcement-watch/1.0 (+mailto:ops@example.test)"

    result = fetch(HttpConfig(user_agent=agent), url)

    assert result.status is FetchStatus.OK
    assert result.content == RSS
    (request,) = feed_server.requests_to("/feed")
    assert header(request, "User-Agent") == agent
    offered = {
        token.split(";")[0].strip().lower()
        for token in (header(request, "Accept-Encoding") or "").split(",")
    }
    assert offered == {"gzip", "deflate"}
    # No validators known yet: an unconditional GET.
    assert header(request, "If-None-Match") is None
    assert header(request, "If-Modified-Since") is None


# -- conditional GET ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "sent"),
    [
        pytest.param(
            {"etag": ETAG, "last_modified": LAST_MODIFIED},
            {"If-None-Match": ETAG, "If-Modified-Since": LAST_MODIFIED},
            id="etag-and-last-modified",
        ),
        pytest.param({"etag": ETAG}, {"If-None-Match": ETAG}, id="etag-only"),
        pytest.param(
            {"last_modified": LAST_MODIFIED},
            {"If-Modified-Since": LAST_MODIFIED},
            id="last-modified-only",
        ),
    ],
)
def test_conditional_get_saves_validators_then_gets_not_modified(
    feed_server: FeedServer, options: dict[str, str], sent: dict[str, str]
) -> None:
    url = feed_server.add("/feed", RSS, **options)
    expected = Validators(etag=options.get("etag"), last_modified=options.get("last_modified"))

    with Fetcher(HttpConfig()) as fetcher:
        first = fetcher.fetch(url)
        second = fetcher.fetch(url, first.validators)

    assert first.status is FetchStatus.OK
    assert first.http_status == 200
    assert first.validators == expected
    assert second.status is FetchStatus.NOT_MODIFIED
    assert second.http_status == 304
    assert second.content is None
    assert second.validators == expected
    conditional = feed_server.requests_to("/feed")[1]
    for name in ("If-None-Match", "If-Modified-Since"):
        assert header(conditional, name) == sent.get(name)


def test_not_modified_answers_reuse_the_connection(feed_server: FeedServer) -> None:
    # A re-poll of many feeds is mostly 304s; a new connection for each (a TLS handshake on
    # real servers) cost more than the request.
    url = feed_server.add("/feed", RSS, etag=ETAG)
    with Fetcher(HttpConfig()) as fetcher:
        validators = fetcher.fetch(url).validators
        for _ in range(3):
            assert fetcher.fetch(url, validators).status is FetchStatus.NOT_MODIFIED
    clients = {request.client for request in feed_server.requests_to("/feed")}
    assert len(feed_server.requests_to("/feed")) == 4
    assert len(clients) == 1, clients


def test_concurrent_fetches_keep_one_connection_per_thread(feed_server: FeedServer) -> None:
    # Each fetch takes a client no other fetch is using (see Fetcher._client): eight threads
    # fetching 80 feeds of one host need eight connections, kept across the rounds.
    urls = [feed_server.add(f"/feed{n}", RSS, etag=ETAG) for n in range(40)]
    with Fetcher(HttpConfig(concurrency=8, per_host=8)) as fetcher:
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in range(2):
                results = list(pool.map(fetcher.fetch, urls))
                assert all(r.status is FetchStatus.OK for r in results)
        assert len(fetcher._clients) <= 8
    clients = {request.client for request in feed_server.requests}
    assert len(feed_server.requests) == 80
    assert 1 <= len(clients) <= 8, clients


def test_a_cookie_a_server_set_is_sent_back_by_every_fetch_thread(
    feed_server: FeedServer,
) -> None:
    login = feed_server.add("/a", RSS, headers={"Set-Cookie": "visit=abc; Path=/"})
    urls = [feed_server.add(f"/b{n}", RSS) for n in range(8)]
    with Fetcher(HttpConfig(concurrency=4, per_host=4)) as fetcher:
        fetcher.fetch(login)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(fetcher.fetch, urls))
    sent = [header(r, "Cookie") for r in feed_server.requests if r.path.startswith("/b")]
    assert sent == ["visit=abc"] * 8


def test_a_304_without_validators_keeps_the_ones_sent(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", status=304, content_type=None)
    sent = Validators(etag=ETAG, last_modified=LAST_MODIFIED)

    result = fetch(HttpConfig(), url, sent)

    assert result.status is FetchStatus.NOT_MODIFIED
    assert result.validators == sent
    (request,) = feed_server.requests_to("/feed")
    assert header(request, "If-None-Match") == ETAG
    assert header(request, "If-Modified-Since") == LAST_MODIFIED


def test_a_304_with_a_new_etag_replaces_the_sent_one(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", status=304, content_type=None, etag='"v2"')

    result = fetch(HttpConfig(), url, Validators(etag=ETAG, last_modified=LAST_MODIFIED))

    assert result.validators == Validators(etag='"v2"', last_modified=LAST_MODIFIED)


def test_cache_control_max_age_is_reported(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS, headers={"Cache-Control": "public, max-age=600"})

    assert fetch(HttpConfig(), url).max_age == 600


# -- content encodings and the size cap --------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("gzip", gzip.compress(RSS), id="gzip"),
        pytest.param("x-gzip", gzip.compress(RSS), id="x-gzip"),
        pytest.param("deflate", zlib.compress(RSS), id="deflate-zlib-wrapped"),
        pytest.param("deflate", raw_deflate(RSS), id="deflate-raw"),
        pytest.param("gzip, gzip", gzip.compress(gzip.compress(RSS)), id="gzip-twice"),
        pytest.param("deflate, gzip", gzip.compress(zlib.compress(RSS)), id="deflate-then-gzip"),
        pytest.param("identity", RSS, id="identity"),
        pytest.param(
            "gzip",
            gzip.compress(RSS[:100]) + gzip.compress(RSS[100:]),
            id="gzip-two-members",
        ),
    ],
)
def test_compressed_bodies_are_decoded(feed_server: FeedServer, encoding: str, body: bytes) -> None:
    url = feed_server.add("/feed", body, headers={"Content-Encoding": encoding})

    assert fetch(HttpConfig(), url).content == RSS


def test_the_route_gzip_option_is_decoded(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", RSS, gzip=True)

    assert fetch(HttpConfig(), url).content == RSS


@pytest.mark.parametrize(
    ("encoding", "body"),
    [
        pytest.param("gzip", zeros_compressed(50 * MiB, 16 + zlib.MAX_WBITS), id="gzip"),
        pytest.param("deflate", zeros_compressed(50 * MiB, zlib.MAX_WBITS), id="deflate"),
        pytest.param(
            "gzip, gzip",
            gzip.compress(zeros_compressed(200 * MiB, 16 + zlib.MAX_WBITS)),
            id="gzip-twice",
        ),
    ],
)
def test_a_compression_bomb_is_refused_while_decoding(
    feed_server: FeedServer, encoding: str, body: bytes
) -> None:
    assert len(body) < MiB  # small on the wire, so only the decoded size can trip the cap
    url = feed_server.add("/bomb", body, headers={"Content-Encoding": encoding})

    error = fetch_error(HttpConfig(max_bytes=MiB), url)

    assert "too large" in error.reason
    assert error.url == url


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="with-content-length"),
        pytest.param({"chunked": True}, id="chunked-no-length"),
    ],
)
def test_a_plain_body_over_the_cap_is_too_large(
    feed_server: FeedServer, options: dict[str, object]
) -> None:
    url = feed_server.add("/big", b"x" * (2 * MiB), **options)

    assert "too large" in fetch_error(HttpConfig(max_bytes=MiB), url).reason


def test_a_body_exactly_at_the_cap_is_accepted(feed_server: FeedServer) -> None:
    url = feed_server.add("/edge", b"x" * 4096, chunked=True)

    assert fetch(HttpConfig(max_bytes=4096), url).content == b"x" * 4096


def test_a_content_length_over_the_cap_is_refused_before_reading(
    feed_server: FeedServer,
) -> None:
    # The body is tiny: only the announced length can trip the cap.
    url = feed_server.add("/liar", b"tiny", headers={"Content-Length": str(5 * MiB)})

    error = fetch_error(HttpConfig(max_bytes=MiB), url)

    assert "too large" in error.reason
    assert str(5 * MiB) in error.reason


@pytest.mark.parametrize(
    ("encoding", "body", "reason"),
    [
        pytest.param("br", b"\x0b\x02\x80hello\x03", "unsupported Content-Encoding: br", id="br"),
        pytest.param(
            "gzip, zstd", b"whatever", "unsupported Content-Encoding: zstd", id="zstd-in-a-list"
        ),
        pytest.param("gzip", b"this is not gzip at all", "corrupt compressed body", id="corrupt"),
    ],
)
def test_undecodable_bodies_are_errors(
    feed_server: FeedServer, encoding: str, body: bytes, reason: str
) -> None:
    url = feed_server.add("/feed", body, headers={"Content-Encoding": encoding})

    assert fetch_error(HttpConfig(), url).reason.startswith(reason)


# -- timeouts and connection failures ----------------------------------------------------------


def test_the_total_deadline_stops_a_dripping_body(feed_server: FeedServer) -> None:
    # 40 bytes at one every 0.1 s take 4 s; no single read waits longer than 0.1 s, so only the
    # total deadline (1 s) can stop it. (Kept short: a longer body only makes the bug slower.)
    url = feed_server.add("/drip", b"x" * 40, drip=0.1)

    started = time.monotonic()
    error = fetch_error(HttpConfig(timeout=1.0), url)
    elapsed = time.monotonic() - started

    assert "timed out" in error.reason
    assert elapsed < 3.0  # a safety bound: well before the 4 s the body takes


def test_headers_slower_than_the_timeout_time_out(feed_server: FeedServer) -> None:
    url = feed_server.add("/slow", RSS, delay=2.5)

    started = time.monotonic()
    error = fetch_error(HttpConfig(timeout=1.0), url)

    assert error.reason == "timed out reading"
    assert time.monotonic() - started < 2.4


def test_a_closed_port_cannot_connect() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/feed"  # nothing listens there any more

    error = fetch_error(HttpConfig(timeout=2), url)

    assert error.reason.startswith("cannot connect")
    assert error.url == url


# -- HTTP errors -------------------------------------------------------------------------------


def http_date(delta: timedelta) -> str:
    return email.utils.format_datetime(datetime.now(UTC) + delta, usegmt=True)


@pytest.mark.parametrize(
    ("status", "headers", "reason", "retry_after"),
    [
        pytest.param(404, {}, "HTTP 404 Not Found", None, id="404"),
        pytest.param(410, {}, "HTTP 410 Gone (the feed was removed)", None, id="410-removed"),
        pytest.param(
            429, {"Retry-After": "120"}, "HTTP 429 Too Many Requests", 120.0, id="429-seconds"
        ),
        pytest.param(500, {}, "HTTP 500 Internal Server Error", None, id="500"),
        pytest.param(
            503, {"Retry-After": "soon"}, "HTTP 503 Service Unavailable", None, id="503-garbage"
        ),
        pytest.param(204, {}, "HTTP 204 No Content", None, id="204-no-body"),
        pytest.param(599, {}, "HTTP 599", None, id="599-unknown"),
    ],
)
def test_http_error_statuses(
    feed_server: FeedServer,
    status: int,
    headers: dict[str, str],
    reason: str,
    retry_after: float | None,
) -> None:
    url = feed_server.add("/feed", b"<html>nope</html>", status=status, headers=headers)

    error = fetch_error(HttpConfig(), url)

    if retry_after is None:
        assert error.reason == reason
    else:  # the reason may go on to mention the delay
        assert error.reason.startswith(reason)
    assert error.retry_after == retry_after
    if status == 410:
        assert "410" in error.reason
        assert "removed" in error.reason


def test_a_503_with_an_http_date_retry_after(feed_server: FeedServer) -> None:
    headers = {"Retry-After": http_date(timedelta(hours=1))}
    url = feed_server.add("/feed", status=503, headers=headers)

    error = fetch_error(HttpConfig(), url)

    assert error.reason.startswith("HTTP 503 Service Unavailable")
    assert error.retry_after is not None
    assert 3500 < error.retry_after <= 3600


def test_a_retry_after_date_in_the_past_is_zero(feed_server: FeedServer) -> None:
    headers = {"Retry-After": http_date(-timedelta(hours=1))}
    url = feed_server.add("/feed", status=503, headers=headers)

    assert fetch_error(HttpConfig(), url).retry_after == 0.0


# -- redirects ---------------------------------------------------------------------------------


def chain(server: FeedServer, statuses: list[int], *, relative: bool = False) -> tuple[str, str]:
    """Routes /hop0 → /hop1 → … → /final with the given redirect statuses."""
    final = server.add("/final", RSS)
    for index, status in enumerate(statuses):
        following = f"/hop{index + 1}" if index + 1 < len(statuses) else "/final"
        location = following if relative else server.url(following)
        server.add(f"/hop{index}", status=status, headers={"Location": location})
    return server.url("/hop0"), final


@pytest.mark.parametrize(
    ("statuses", "relative", "permanent"),
    [
        pytest.param([301], False, True, id="301"),
        pytest.param([301, 301, 308], False, True, id="301-301-308"),
        pytest.param([301, 301], True, True, id="301-relative-location"),
        pytest.param([302], False, False, id="302"),
        pytest.param([307], False, False, id="307"),
        pytest.param([303], False, False, id="303"),
        pytest.param([301, 302, 301], False, False, id="temporary-in-the-middle"),
        pytest.param([301] * 5, False, True, id="five-hops-is-the-limit"),
    ],
)
def test_redirects_are_followed(
    feed_server: FeedServer, statuses: list[int], relative: bool, permanent: bool
) -> None:
    start, final = chain(feed_server, statuses, relative=relative)

    result = fetch(HttpConfig(), start)

    assert result.status is FetchStatus.OK
    assert result.content == RSS
    assert result.url == final
    assert result.permanent_url == (final if permanent else None)
    assert len(feed_server.requests_to("/final")) == 1


def test_more_than_five_redirects_is_an_error(feed_server: FeedServer) -> None:
    start, _ = chain(feed_server, [301] * 6)

    error = fetch_error(HttpConfig(), start)

    assert error.reason == "more than 5 redirects"
    assert error.url == start
    assert feed_server.requests_to("/final") == []


def test_a_redirect_loop_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.add("/loop", status=302, headers={"Location": "/loop"})

    assert "redirects" in fetch_error(HttpConfig(), url).reason


@pytest.mark.parametrize(
    "location",
    [
        pytest.param("file:///etc/passwd", id="file"),
        pytest.param("ftp://127.0.0.1/feed.xml", id="ftp"),
        pytest.param("javascript:alert(1)", id="javascript"),
    ],
)
def test_a_redirect_to_a_non_http_scheme_is_refused(feed_server: FeedServer, location: str) -> None:
    url = feed_server.add("/feed", status=301, headers={"Location": location})

    error = fetch_error(HttpConfig(), url)

    assert error.reason.startswith("redirect to a non-HTTP URL")


def test_a_redirect_status_without_location_is_an_error(feed_server: FeedServer) -> None:
    url = feed_server.add("/feed", status=302)

    assert fetch_error(HttpConfig(), url).reason == "HTTP 302 without a Location header"


# -- private networks --------------------------------------------------------------------------


def test_a_redirect_to_another_host_on_loopback_is_refused(feed_server: FeedServer) -> None:
    feed_server.add("/final", RSS)
    elsewhere = f"http://localhost:{feed_server.port}/final"
    url = feed_server.add("/feed", status=302, headers={"Location": elsewhere})

    error = fetch_error(HttpConfig(), url)

    assert "allow_private_networks" in error.reason
    assert "localhost" in error.reason
    assert feed_server.requests_to("/final") == []  # refused before any request went there


def test_allow_private_networks_lets_the_redirect_through(feed_server: FeedServer) -> None:
    feed_server.add("/final", RSS)
    elsewhere = f"http://localhost:{feed_server.port}/final"
    url = feed_server.add("/feed", status=302, headers={"Location": elsewhere})

    result = fetch(HttpConfig(allow_private_networks=True), url)

    assert result.status is FetchStatus.OK
    assert result.url == elsewhere
    assert result.content == RSS


def test_a_redirect_within_the_configured_host_is_allowed(feed_server: FeedServer) -> None:
    start, final = chain(feed_server, [301])

    result = fetch(HttpConfig(allow_private_networks=False), start)

    assert result.url == final
    assert result.content == RSS

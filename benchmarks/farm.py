"""A loopback feed farm: many synthetic feeds behind one keep-alive HTTP/1.1 server.

    python -m benchmarks.farm --feeds 2000 --items 50 [--latency MS]

It prints ``http://127.0.0.1:PORT`` on its first line and serves until stdin closes, so the
benchmark that starts it can never leave it behind. It runs in a process of its own so that
its CPU time and memory never count as the aggregator's (and its threads do not compete for
the benchmark's GIL).

``GET /{ns}/{feed}.xml`` is feed ``feed`` (0 ≤ feed < --feeds) in namespace ``ns``: namespaces
serve the same documents (``ns`` ending in ``-mM``: M items, else --items) but change
independently, so two clients (ours and reader) can each
see a pristine farm. Responses carry ETag and Last-Modified and answer 304 to a matching
conditional request; bodies are gzipped when the client accepts it.
``POST /_control/add?ns=NS&fraction=F&count=C`` adds C new items to every 1/F-th feed of NS;
``GET /_control/stats`` returns request counters as JSON.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import threading
import time
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from benchmarks.corpus import ITEM_SPACING, make_item, render_feed


@dataclass
class _Document:
    """One rendered version of a feed, cached: rendering on every request would make the farm,
    not the client, the thing being measured."""

    etag: str
    last_modified: str
    raw: bytes
    gzipped: bytes


class Farm:
    """The farm's state: per (namespace, feed) how many items it has, and rendered documents."""

    def __init__(self, feeds: int, items: int, latency_ms: float) -> None:
        self.feeds = feeds
        self.items = items
        self.latency = latency_ms / 1000
        self.base_url = ""
        self._extra: dict[tuple[str, int], int] = {}  # new items added by /_control/add
        self._cache: dict[tuple[str, int], _Document] = {}
        self._lock = threading.Lock()
        self.stats = {"200": 0, "304": 0, "404": 0, "bytes": 0}

    def document(self, ns: str, feed: int) -> _Document:
        key = (ns, feed)
        with self._lock:
            cached = self._cache.get(key)
            extra = self._extra.get(key, 0)
        if cached is not None:
            return cached
        # A namespace "name-mM" serves M base items; others the farm's --items.
        base = ns.rsplit("-m", 1)[1] if "-m" in ns else ""
        last = (int(base) if base.isdigit() else self.items) + extra
        raw = render_feed(feed, 0, last, f"{self.base_url}/{ns}")
        newest = make_item(feed, last - 1).published + ITEM_SPACING / 3
        body = _Document(
            etag=f'"f{feed}-v{extra}"',
            last_modified=format_datetime(newest, usegmt=True),
            raw=raw,
            gzipped=gzip.compress(raw, compresslevel=6),
        )
        with self._lock:
            self._cache[key] = body
        return body

    def add_items(self, ns: str, fraction: float, count: int) -> int:
        """Give every 1/fraction-th feed ``count`` new items; returns how many feeds changed."""
        step = max(1, round(1 / fraction)) if fraction > 0 else self.feeds + 1
        changed = 0
        with self._lock:
            for feed in range(0, self.feeds, step):
                self._extra[(ns, feed)] = self._extra.get((ns, feed), 0) + count
                self._cache.pop((ns, feed), None)
                changed += 1
        return changed


def _not_modified(document: _Document, etag: str | None, since: str | None) -> bool:
    if etag is not None:  # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2)
        return document.etag in {tag.strip() for tag in etag.split(",")} or etag.strip() == "*"
    if since:
        try:
            return parsedate_to_datetime(since) >= parsedate_to_datetime(document.last_modified)
        except (TypeError, ValueError):
            return False
    return False


def make_handler(farm: Farm) -> type[BaseHTTPRequestHandler]:
    """A handler class bound to ``farm`` (http.server instantiates it per connection)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive: a new connection per feed is not realistic
        disable_nagle_algorithm = True  # else each small response waits 40 ms for its ACK

        def log_message(self, format: str, *args: object) -> None:
            """Silence: one line per request would dominate a 100,000-request run."""

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if body and self.command != "HEAD":
                self.wfile.write(body)
            farm.stats[str(status)] = farm.stats.get(str(status), 0) + 1
            farm.stats["bytes"] += len(body)

        def do_GET(self) -> None:
            if farm.latency:
                time.sleep(farm.latency)
            path = urlsplit(self.path).path
            if path == "/_control/stats":
                self._send(200, json.dumps(farm.stats).encode(), {"Content-Type": "text/json"})
                return
            parts = path.strip("/").split("/")
            feed = -1
            if len(parts) == 2 and parts[1].endswith(".xml") and parts[1][:-4].isdigit():
                feed = int(parts[1][:-4])
            if not 0 <= feed < farm.feeds:
                self._send(404, b"no such feed\n", {"Content-Type": "text/plain"})
                return
            document = farm.document(parts[0], feed)
            validators = {
                "ETag": document.etag,
                "Last-Modified": document.last_modified,
                "Cache-Control": "max-age=0",
                "Vary": "Accept-Encoding",
            }
            if _not_modified(
                document, self.headers.get("If-None-Match"), self.headers.get("If-Modified-Since")
            ):
                self._send(304, b"", validators)
                return
            kind = "application/atom+xml" if feed % 2 else "application/rss+xml"
            headers = {"Content-Type": f"{kind}; charset=utf-8", **validators}
            if "gzip" in (self.headers.get("Accept-Encoding") or "").lower():
                self._send(200, document.gzipped, {**headers, "Content-Encoding": "gzip"})
            else:
                self._send(200, document.raw, headers)

        do_HEAD = do_GET

        def do_POST(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            if split.path != "/_control/add":
                self._send(404, b"", {})
                return
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            changed = farm.add_items(
                query.get("ns", "main"), float(query.get("fraction", "0.1")), int(query["count"])
            )
            self._send(200, json.dumps({"changed": changed}).encode(), {})

    return Handler


class _Server(ThreadingHTTPServer):
    # A class attribute: the constructor calls listen() with it. The default backlog of 5
    # dropped the SYN of a client opening many connections at once, and each cost a 1 s
    # retransmission (an all-304 re-poll of 300 feeds read 4 ms a feed instead of 0.8).
    request_queue_size = 1024
    daemon_threads = True


def serve(feeds: int, items: int, latency_ms: float) -> tuple[ThreadingHTTPServer, Farm]:
    """Start the farm on a free loopback port in a background thread."""
    farm = Farm(feeds, items, latency_ms)
    server = _Server(("127.0.0.1", 0), make_handler(farm))
    farm.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, name="farm", daemon=True).start()
    return server, farm


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=300)
    parser.add_argument("--items", type=int, default=50)
    parser.add_argument("--latency", type=float, default=0.0, help="ms added to each request")
    args = parser.parse_args(argv)
    server, farm = serve(args.feeds, args.items, args.latency)
    print(farm.base_url, flush=True)
    sys.stdin.read()  # until the parent closes our stdin or exits
    server.shutdown()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

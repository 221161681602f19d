"""Shared fixtures: a real HTTP server on 127.0.0.1 serving feed documents, real SQLite stores,
and a command-line runner."""

from __future__ import annotations

import contextlib
import gzip as gzip_module
import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from aggregator.cli import cli
from aggregator.store import Store, open_store

DATA = Path(__file__).parent / "data"
FEEDS = DATA / "feeds"
CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


@dataclass
class Route:
    """What the server answers on one path."""

    body: bytes = b""
    status: int = 200
    content_type: str | None = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    rotate_etag: bool = False  # a new ETag on every response, even for the same body
    gzip: bool = False
    delay: float = 0.0  # seconds before the headers
    drip: float = 0.0  # seconds between one-byte writes of the body
    honour_conditional: bool = True
    chunked: bool = False  # Transfer-Encoding: chunked, no Content-Length


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    client: tuple[str, int] = ("", 0)  # a new connection comes from a new port


class _QuietServer(http.server.ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up early (as the fetcher does on an error status) is normal.
        pass


class FeedServer:
    """An HTTP/1.1 server on 127.0.0.1 with routes set by each test; records every request."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self._lock = threading.Lock()
        self._etag_counter = 0
        self.active = 0  # requests being handled right now (until their response starts)
        self.max_active = 0  # the most requests ever handled at the same time
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                server._arrive(self)
                try:
                    server._handle(self)
                finally:
                    server._leave(self)

            def send_response(self, code: int, message: str | None = None) -> None:
                # A request stops counting as active once its answer starts: the client
                # cannot have finished with it before then, so `max_active` never overcounts.
                server._leave(self)
                super().send_response(code, message)

        self._httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        # A short poll interval: shutdown() waits for the loop to notice, after every test.
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def add(self, path: str, body: bytes | str = b"", **options: object) -> str:
        if isinstance(body, str):
            body = body.encode("utf-8")
        self.routes[path] = Route(body=body, **options)  # type: ignore[arg-type]
        return self.url(path)

    def add_file(self, path: str, file: Path, **options: object) -> str:
        return self.add(path, file.read_bytes(), **options)

    def requests_to(self, path: str) -> list[Request]:
        return [request for request in self.requests if request.path == path]

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _arrive(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.active += 1
            self.max_active = max(self.max_active, self.active)
            handler._counted = True  # type: ignore[attr-defined]

    def _leave(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            if getattr(handler, "_counted", False):
                handler._counted = False  # type: ignore[attr-defined]
                self.active -= 1

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.requests.append(
                Request(handler.path, dict(handler.headers.items()), handler.client_address)
            )
        route = self.routes.get(handler.path)
        if route is None:
            self._send(handler, 404, {"Content-Type": "text/html"}, b"<html>not found</html>")
            return
        if route.delay:
            time.sleep(route.delay)
        etag = route.etag
        if route.rotate_etag:
            with self._lock:
                self._etag_counter += 1
                etag = f'"rotating-{self._etag_counter}"'
        headers = dict(route.headers)
        if route.content_type:
            headers["Content-Type"] = route.content_type
        if etag:
            headers["ETag"] = etag
        if route.last_modified:
            headers["Last-Modified"] = route.last_modified
        if route.status == 200 and route.honour_conditional and not route.rotate_etag:
            sent_etag = handler.headers.get("If-None-Match")
            sent_modified = handler.headers.get("If-Modified-Since")
            if (etag and sent_etag == etag) or (
                route.last_modified and sent_modified == route.last_modified and not etag
            ):
                self._send(
                    handler, 304, {k: v for k, v in headers.items() if k != "Content-Type"}, b""
                )
                return
        body = route.body
        if route.gzip:
            body = gzip_module.compress(body)
            headers["Content-Encoding"] = "gzip"
        if route.drip:
            headers["Content-Length"] = str(len(body))
            handler.send_response(route.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            try:
                for index in range(len(body)):
                    handler.wfile.write(body[index : index + 1])
                    handler.wfile.flush()
                    time.sleep(route.drip)
            except OSError:
                pass
            return
        if route.chunked:
            headers["Transfer-Encoding"] = "chunked"
            handler.send_response(route.status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            with contextlib.suppress(OSError):
                for start in range(0, len(body), 64 * 1024):
                    piece = body[start : start + 64 * 1024]
                    handler.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                handler.wfile.write(b"0\r\n\r\n")
            return
        self._send(handler, route.status, headers, body)

    @staticmethod
    def _send(
        handler: http.server.BaseHTTPRequestHandler,
        status: int,
        headers: dict[str, str],
        body: bytes,
    ) -> None:
        handler.send_response(status)
        for name, value in headers.items():
            handler.send_header(name, value)
        if "Content-Length" not in headers:
            handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        with contextlib.suppress(OSError):
            handler.wfile.write(body)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    server = FeedServer()
    yield server
    server.close()


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.sqlite'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    with open_store(db_url) as opened:
        yield opened


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "config.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def run(tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Run the command line in-process: ``run("search", "binance", config=path)``."""
    monkeypatch.delenv("AGGREGATOR_CONFIG", raising=False)
    monkeypatch.delenv("AGGREGATOR_DB_URL", raising=False)
    monkeypatch.chdir(tmp_path)

    def invoke(
        *args: str, config: Path | None = None, db: str | None = None, input: str | None = None
    ) -> Result:
        argv = []
        if config is not None:
            argv += ["--config", str(config)]
        argv += ["--db", db or db_url, *args]
        return CliRunner().invoke(cli, argv, input=input, catch_exceptions=False)

    return invoke


def feeds_config(feeds: dict[str, str], *, kind: str = "news", extra: str = "") -> str:
    """A config.toml text with one [[feeds]] table per (name, url)."""
    parts = [extra] if extra else []
    for name, url in feeds.items():
        agency = '\nagency = "SEC"' if kind == "regulator" else ""
        parts.append(f'[[feeds]]\nname = "{name}"\nurl = "{url}"\nkind = "{kind}"{agency}\n')
    return "\n".join(parts)


# -- SMTP servers on loopback ---------------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps what it receives."""

    def __init__(self, refuse_rcpt: bool = False) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[tuple[str, list[str], bytes]] = []
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # type: ignore[no-untyped-def]
                if refuse_rcpt:
                    return "550 5.1.1 mailbox unavailable"
                envelope.rcpt_tos.append(address)
                return "250 OK"

            async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]
                sink.messages.append(
                    (envelope.mail_from, list(envelope.rcpt_tos), envelope.content)
                )
                return "250 Message accepted for delivery"

        self.port = _free_port()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def close(self) -> None:
        self._controller.stop()


class DroppingSmtpServer:
    """A minimal SMTP server that hangs up in the middle of DATA: the client cannot know
    whether the message was delivered."""

    def __init__(self) -> None:
        import socket

        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(5)
        self.port = self._socket.getsockname()[1]
        self.data_started = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                connection.sendall(b"220 drop.test ESMTP\r\n")
                buffer = b""
                while True:
                    try:
                        chunk = connection.recv(65536)
                    except OSError:
                        break
                    if not chunk:
                        break
                    buffer += chunk
                    while b"\r\n" in buffer:
                        line, buffer = buffer.split(b"\r\n", 1)
                        verb = line[:4].upper()
                        if verb in (b"EHLO", b"HELO"):
                            connection.sendall(b"250 drop.test\r\n")
                        elif verb == b"DATA":
                            connection.sendall(b"354 go ahead\r\n")
                            self.data_started += 1
                            buffer = b"__DROP__"
                            break
                        elif verb == b"QUIT":
                            connection.sendall(b"221 bye\r\n")
                        else:
                            connection.sendall(b"250 OK\r\n")
                    if buffer == b"__DROP__":
                        break

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.close()


@pytest.fixture
def refusing_smtp() -> Iterator[SmtpSink]:
    server = SmtpSink(refuse_rcpt=True)
    yield server
    server.close()


@pytest.fixture
def dropping_smtp() -> Iterator[DroppingSmtpServer]:
    server = DroppingSmtpServer()
    yield server
    server.close()


# -- PostgreSQL -----------------------------------------------------------------------------------

PG_SERVER = os.environ.get(
    "AGGREGATOR_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _pg_reachable() -> str | None:
    """None when the test PostgreSQL answers, else why not (for the skip message)."""
    from sqlalchemy import create_engine, text

    try:
        engine = create_engine(PG_SERVER, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception as exc:  # any failure means: skip, and say why
        return f"PostgreSQL not reachable at {PG_SERVER}: {type(exc).__name__}"
    return None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh schema on the test PostgreSQL server; skipped outside CI when none answers."""
    import uuid

    from sqlalchemy import create_engine, text

    reason = _pg_reachable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    schema = f"aggregator_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(PG_SERVER)
    with engine.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    yield f"{PG_SERVER}?options=-csearch_path%3D{schema}"
    with engine.begin() as connection:
        connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url_on_both(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL on each backend; a module runs its command-line tests on both by defining
    ``db_url`` as this."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """The store on each backend."""
    url = (
        f"sqlite:///{tmp_path / 'any.sqlite'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_url")
    )
    with open_store(url) as opened:
        yield opened


class StallingSmtpServer(DroppingSmtpServer):
    """Accepts the message after DATA and then never answers: a process killed now cannot know
    whether the message went out."""

    def _serve(self) -> None:
        self._held: list[object] = []
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            self._held.append(connection)  # kept open, never answered after DATA
            connection.sendall(b"220 stall.test ESMTP\r\n")
            buffer = b""
            while True:
                try:
                    chunk = connection.recv(65536)
                except OSError:
                    break
                if not chunk:
                    break
                buffer += chunk
                if self.data_started:
                    continue  # swallow the message, answer nothing
                while b"\r\n" in buffer:
                    line, buffer = buffer.split(b"\r\n", 1)
                    verb = line[:4].upper()
                    if verb in (b"EHLO", b"HELO"):
                        connection.sendall(b"250 stall.test\r\n")
                    elif verb == b"DATA":
                        connection.sendall(b"354 go ahead\r\n")
                        self.data_started += 1
                        break
                    else:
                        connection.sendall(b"250 OK\r\n")


@pytest.fixture
def stalling_smtp() -> Iterator[StallingSmtpServer]:
    server = StallingSmtpServer()
    yield server
    server.close()

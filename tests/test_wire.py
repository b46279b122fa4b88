"""The http.client transport against real sockets on 127.0.0.1: keep-alive, connections the
server closed, timeouts, refusals, threads, and the fallback to httpx's transport behind a
proxy."""

from __future__ import annotations

import gzip
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from wazo_reconcile.confd import RetryPolicy, connect
from wazo_reconcile.errors import OutcomeUnknownError
from wazo_reconcile.sandbox.server import serving
from wazo_reconcile.settings import ConnectionSettings
from wazo_reconcile.wire import StdlibTransport

TOKEN = "tok-wire-5c1d"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1") -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        super().__init__((host, 0), _Handler)
        self.connections = 0
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        self.close_after_answer = False  # like a keep-alive timeout: close without a word
        self.delay = 0.0
        self.hang_up_on: set[str] = set()  # methods answered by closing the connection
        self.gzip_chunked = False  # answer gzip-encoded, in chunks (as nginx may)
        self.say_close = False  # answer with Connection: close
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (timeout tests) breaks the pipe: expected

    @property
    def url(self) -> str:
        host = str(self.server_address[0])
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        super().setup()
        # headers and body are two writes: without this, Nagle and a delayed ACK stall 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self.server.lock:
            self.server.connections += 1

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name: value for name, value in self.headers.items()}
        with self.server.lock:
            self.server.requests.append((self.command, self.path, headers, body))
        if self.command in self.server.hang_up_on:
            self.close_connection = True
            return
        time.sleep(self.server.delay)
        answer = json.dumps({"path": self.path, "echo": body.decode()}).encode()
        self.send_response(201 if self.command == "POST" else 200, "Fine Thanks")
        self.send_header("Content-Type", "application/json")
        self.send_header("Set-Cookie", "a=1")
        self.send_header("Set-Cookie", "b=2")
        self.send_header("X-Latin", "caf\xe9")  # http.server writes header lines as latin-1
        if self.server.say_close:
            self.send_header("Connection", "close")
        if self.server.gzip_chunked:
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            packed = gzip.compress(answer)
            for start in range(0, len(packed), 7):
                chunk = packed[start : start + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        if self.server.close_after_answer or self.server.say_close:
            self.close_connection = True

    do_GET = do_POST = do_PUT = do_DELETE = _answer  # noqa: N815 (http.server API)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    with serving(_Server(), poll_interval=0.05) as server:
        yield server


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def _client(url: str, **kwargs: Any) -> httpx.Client:
    return httpx.Client(base_url=url, transport=StdlibTransport(), **kwargs)


def test_requests_go_out_once_each_over_one_kept_alive_connection(server: _Server) -> None:
    with _client(server.url, headers={"X-Auth-Token": TOKEN}) as client:
        for number in range(5):
            response = client.post("/api/x", params={"n": number, "q": "a b"}, json={"k": "é"})
            assert response.status_code == 201
            assert response.reason_phrase == "Fine Thanks"
            assert response.json() == {
                "path": f"/api/x?n={number}&q=a+b",
                "echo": json.dumps({"k": "é"}, ensure_ascii=False, separators=(",", ":")),
            }
            assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
            assert dict(response.headers.raw)[b"X-Latin"] == b"caf\xe9"
    assert server.connections == 1
    method, path, headers, _ = server.requests[0]
    assert (method, path) == ("POST", "/api/x?n=0&q=a+b")
    assert headers["Host"] == server.url.removeprefix("http://")
    assert headers["X-Auth-Token"] == TOKEN
    assert headers["Content-Type"] == "application/json"
    assert headers["Accept-Encoding"] == "gzip, deflate" or "gzip" in headers["Accept-Encoding"]


def test_a_connection_the_server_closed_is_not_reused(server: _Server) -> None:
    server.close_after_answer = True
    with _client(server.url) as client:
        for _ in range(3):
            assert client.post("/api/x", json={}).status_code == 201
            time.sleep(0.05)  # the server's close reaches the client
    assert server.connections == 3
    assert len(server.requests) == 3  # each POST went out once


def test_gzip_chunked_answers_are_decoded_and_connection_close_is_obeyed(
    server: _Server,
) -> None:
    server.gzip_chunked = server.say_close = True
    with _client(server.url) as client:
        for number in range(3):
            answer = client.get(f"/z/{number}")
            assert answer.json() == {"path": f"/z/{number}", "echo": ""}
            assert answer.headers["content-encoding"] == "gzip"
    assert server.connections == 3  # each answer said close: no connection was reused


def test_ipv6_loopback() -> None:
    try:
        server = _Server("::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with serving(server, poll_interval=0.05), _client(server.url) as client:
        assert client.get("/six").json()["path"] == "/six"


def test_eight_threads_share_the_pool(server: _Server) -> None:
    server.delay = 0.01
    with _client(server.url) as client:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda n: client.get(f"/n/{n}").json(), range(200)))
    assert [answer["path"] for answer in answers] == [f"/n/{n}" for n in range(200)]
    assert server.connections <= 8


def test_read_timeout_is_httpx_read_timeout_and_a_post_is_not_retried(server: _Server) -> None:
    server.delay = 0.5
    settings = ConnectionSettings(url=server.url, token=TOKEN, timeout=0.1)
    with connect(settings, retry=RetryPolicy.no_wait(attempts=3)) as client:
        with pytest.raises(OutcomeUnknownError) as info:
            client.post("/trunks", {"context": "from-extern"})
    assert isinstance(info.value.__cause__, httpx.ReadTimeout)
    assert len(server.requests) == 1


def test_a_hang_up_is_a_remote_protocol_error_and_a_put_is_retried(server: _Server) -> None:
    server.hang_up_on = {"PUT"}
    with _client(server.url) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.put("/x", json={})
    sleeps: list[float] = []
    settings = ConnectionSettings(url=server.url, token=TOKEN)
    with connect(settings, retry=RetryPolicy.no_wait(attempts=2, sleep=sleeps.append)) as confd:
        with pytest.raises(OutcomeUnknownError):
            confd.put("/trunks/1", {})
    assert [request[0] for request in server.requests] == ["PUT"] * 3
    assert len(sleeps) == 1


def _closed_port_url() -> str:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def test_refused_connection_is_connect_error_and_even_a_post_is_retried() -> None:
    url = _closed_port_url()
    with _client(url) as client:
        with pytest.raises(httpx.ConnectError):
            client.get("/x")
    sleeps: list[float] = []
    settings = ConnectionSettings(url=url, token=TOKEN)
    with connect(settings, retry=RetryPolicy.no_wait(attempts=3, sleep=sleeps.append)) as confd:
        with pytest.raises(Exception, match="ConnectError"):
            confd.post("/trunks", {})
    assert len(sleeps) == 2  # never sent, so retried


def test_unsupported_scheme_and_bad_header_are_refused_locally(server: _Server) -> None:
    transport = StdlibTransport()
    with pytest.raises(httpx.UnsupportedProtocol):
        transport.handle_request(httpx.Request("GET", "ftp://127.0.0.1/x"))
    request = httpx.Request("GET", server.url + "/x", headers={"X-Bad": "a\r\nInjected: 1"})
    with pytest.raises(httpx.LocalProtocolError):
        transport.handle_request(request)
    assert server.requests == []


def test_close_closes_idle_connections(server: _Server) -> None:
    transport = StdlibTransport()
    with httpx.Client(base_url=server.url, transport=transport) as client:
        client.get("/x")
        (connection,) = transport._idle[("http", "127.0.0.1", server.server_address[1])]
    assert connection.sock is None  # closed by the client's close


def test_connect_uses_it_without_a_proxy_and_httpx_behind_one(
    server: _Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = _closed_port_url()
    settings = ConnectionSettings(url=url, token=TOKEN)
    with connect(settings, retry=RetryPolicy.no_wait(attempts=1)) as client:
        with pytest.raises(Exception, match="ConnectError"):
            client.get("/x")  # no proxy: straight to a port nobody listens on
    monkeypatch.setenv("HTTP_PROXY", server.url)  # the test server plays the proxy
    with connect(settings, retry=RetryPolicy.no_wait(attempts=1)) as client:
        assert client.get("/x") == {"path": f"{url}/api/confd/1.1/x", "echo": ""}

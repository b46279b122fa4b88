"""An httpx transport over the standard library's ``http.client``.

httpx's own transport (httpcore and h11, pure Python) costs about 0.35 ms of CPU per request
more than ``http.client``, whose status line and headers are parsed in C. ``reconcile apply``
sends thousands of small requests from 8 threads under one GIL, so that CPU is its wall time
(``benchmarks/bench_request_cpu.py``). This transport keeps httpx's interface, errors and
models; ``http.client`` only does the HTTP/1.1 exchange.

What it does, as httpcore does: keep-alive connections pooled per origin and shared by
threads; an idle connection the server closed is noticed before reuse; the ``timeout``
request extension (connect, read, write; no pool limit); TLS through the ``verify`` given,
or httpx's default trust (certifi) for ``True``, built on the first https request. Errors are
httpx's, raised from the original one (so an ``ssl.SSLError`` stays in the chain). It does
not do proxies: :func:`wazo_reconcile.confd.connect` keeps httpx's transport when the
environment names a proxy.
"""

from __future__ import annotations

import http.client
import select
import ssl
import threading
from collections.abc import Callable
from typing import TypeVar

import httpx

_Connection = http.client.HTTPConnection
_Origin = tuple[str, str, int]
_T = TypeVar("_T")

DEFAULT_PORTS = {"http": 80, "https": 443}


class StdlibTransport(httpx.BaseTransport):
    """``http.client`` connections behind ``httpx.BaseTransport``; thread-safe."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True) -> None:
        self._verify = verify
        self._tls: ssl.SSLContext | None = verify if isinstance(verify, ssl.SSLContext) else None
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        if url.scheme not in DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(
                f"unsupported URL scheme {url.scheme!r}", request=request
            )
        timeouts = request.extensions.get("timeout", {})
        host = url.raw_host.decode("ascii")  # IDNA-encoded already
        origin = (url.scheme, host, url.port or DEFAULT_PORTS[url.scheme])
        connection = self._take(origin) or self._open(origin, timeouts.get("connect"), request)
        body = request.read()
        sock = connection.sock
        assert sock is not None
        try:
            sock.settimeout(timeouts.get("write"))
            _mapped(
                request,
                httpx.WriteTimeout,
                httpx.WriteError,
                lambda: _send(connection, request, body),
            )
            sock.settimeout(timeouts.get("read"))
            answer = _mapped(request, httpx.ReadTimeout, httpx.ReadError, connection.getresponse)
            content = _mapped(request, httpx.ReadTimeout, httpx.ReadError, answer.read)
        except BaseException:
            connection.close()
            raise
        if connection.sock is not None:  # http.client closed it if the answer said so
            self._give_back(origin, connection)
        # http.client decoded the header lines as latin-1: encoded back, they are the bytes sent
        return httpx.Response(
            answer.status,
            headers=[(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.getheaders()],
            stream=httpx.ByteStream(content),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": answer.reason.encode("latin-1"),
            },
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [connection for pool in self._idle.values() for connection in pool]
            self._idle.clear()
        for connection in idle:
            connection.close()

    def _take(self, origin: _Origin) -> _Connection | None:
        while True:
            with self._lock:
                pool = self._idle.get(origin)
                if not pool:
                    return None
                connection = pool.pop()
            if _usable(connection):
                return connection
            connection.close()

    def _give_back(self, origin: _Origin, connection: _Connection) -> None:
        with self._lock:
            if not self._closed:
                self._idle.setdefault(origin, []).append(connection)
                return
        connection.close()

    def _open(self, origin: _Origin, timeout: float | None, request: httpx.Request) -> _Connection:
        scheme, host, port = origin
        connection: _Connection
        if scheme == "https":
            connection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=self._tls_context()
            )
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        _mapped(request, httpx.ConnectTimeout, httpx.ConnectError, connection.connect)
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        if self._tls is None:  # loading the CA bundle takes 0.1 s: only when https is used
            self._tls = httpx.create_ssl_context(verify=self._verify)
        return self._tls


def _send(connection: _Connection, request: httpx.Request, body: bytes) -> None:
    target = request.url.raw_path.decode("ascii")
    try:
        # httpx already set Host, Accept-Encoding and the body's headers
        connection.putrequest(request.method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in request.headers.raw:
            connection.putheader(name, value)
    except ValueError as exc:  # a method, target or header http.client refuses
        raise httpx.LocalProtocolError(str(exc), request=request) from exc
    connection.endheaders(body or None)


def _usable(connection: _Connection) -> bool:
    """An idle keep-alive connection is readable only if the server closed it (or broke the
    protocol): then it must not carry a request."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _mapped(
    request: httpx.Request,
    timeout: type[httpx.TimeoutException],
    failure: type[httpx.NetworkError],
    step: Callable[[], _T],
) -> _T:
    try:
        return step()
    except TimeoutError as exc:
        raise timeout(str(exc) or "timed out", request=request) from exc
    except (http.client.RemoteDisconnected, http.client.IncompleteRead) as exc:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a complete response.", request=request
        ) from exc
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(str(exc) or type(exc).__name__, request=request) from exc
    except OSError as exc:
        raise failure(str(exc) or type(exc).__name__, request=request) from exc

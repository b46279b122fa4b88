"""In-process serving: an httpx transport that hands each request to the sandbox.

Thread-safe (the sandbox locks its store), so one client may be used from several threads.
Dropped connections raise ``httpx.RemoteProtocolError``; a late answer (the ``timeout`` fault)
raises ``httpx.ReadTimeout`` once the request has been processed and committed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx

from wazo_reconcile.sandbox.http import Request

if TYPE_CHECKING:
    from wazo_reconcile.sandbox.app import Sandbox


class SandboxTransport(httpx.BaseTransport):
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        origin = f"{request.url.scheme}://{request.url.netloc.decode('ascii')}"
        outcome = self.sandbox.handle(
            Request.build(
                request.method,
                request.url.raw_path.decode("ascii"),
                dict(request.headers.items()),
                request.read(),
                origin,
            )
        )
        if outcome.response is None:
            raise httpx.RemoteProtocolError(
                "Server disconnected without sending a response.", request=request
            )
        if outcome.delay > 0:
            raise httpx.ReadTimeout("The read operation timed out", request=request)
        response = outcome.response
        body = b"" if request.method == "HEAD" else response.body
        return httpx.Response(
            response.status, headers=response.headers, content=body, request=request
        )

"""Secrets a server echoes back, in every form, never reach an output (issue 23).

A proxy in front of a sandbox passes the reads through and answers every write with an error
that echoes the request body: as confd does (``["Input Error - <body>"]``), as a Python repr,
inside a JSON object, as plain text and in an HTML page. The secrets hold quotes, backslashes,
non-ASCII, a tab and two spaces in a row; one is a password, one a `${env:…}` value in an
option that is not a password; a long label pushes the password past where an error message
is cut. Every output is scanned: stdout, stderr (the `-vv` logs included), the saved plan and
the apply report — for each secret, each of its encoded forms, and any 8 characters of it.
"""

from __future__ import annotations

import html
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from wazo_reconcile.cli import main
from wazo_reconcile.sandbox import Sandbox
from wazo_reconcile.secrets import MASK, encoded_forms

PASSWORD = 'Qu"ote\\Back-é-2222\tTab  two-spaces-Zq91'
FROM_USER = 'fu"\\é\t  x-77Kp'
FORMS = ("confd", "repr", "json", "text", "html")


def echo(form: str, raw: bytes) -> tuple[int, str, str]:
    """(status, content type, body) of an error echoing the request body ``raw``."""
    text = raw.decode("utf-8", "replace")
    parsed = json.loads(text) if text else None
    if form == "confd":
        return 400, "application/json", json.dumps([f"Input Error - {text}"])
    if form == "repr":
        return 500, "text/plain; charset=utf-8", f"Internal error: {parsed!r}"
    if form == "json":
        return 400, "application/json", json.dumps({"error": parsed})
    if form == "text":
        return 500, "text/plain; charset=utf-8", f"bad request: {text}"
    return 500, "text/html; charset=utf-8", f"<html><body><p>{html.escape(text)}</p></body></html>"


@pytest.fixture
def echoing_proxy(request: pytest.FixtureRequest) -> Iterator[str]:
    form = request.param
    sandbox = Sandbox(profile="fresh")
    upstream = httpx.Client(base_url="http://sandbox.invalid", transport=sandbox.transport())

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            if self.command == "GET" or "/api/auth/" in self.path:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                got = upstream.request(self.command, self.path, content=raw, headers=headers)
                status, kind, body = got.status_code, got.headers["Content-Type"], got.text
            else:
                status, kind, body = echo(form, raw)
            payload = body.encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        upstream.close()


def stack(tmp_path: Path) -> Path:
    label = "L" * 100  # the password comes after the 100th character of the echoed body
    path = tmp_path / "stack.yaml"
    path.write_text(
        "version: 1\n"
        "trunks:\n"
        "  leaky:\n"
        f"    label: {label}\n"
        "    endpoint: {from_user: '${env:LEAKY_FROM_USER}'}\n"
        "    outbound_auth: {username: u1, password: '${env:LEAKY_PASSWORD}'}\n",
        encoding="utf-8",
    )
    return path


def leaks(text: str) -> list[str]:
    found = []
    for secret in (PASSWORD, FROM_USER):
        found += [form for form in encoded_forms(secret) if form in text]
        found += [secret[i : i + 8] for i in range(len(secret) - 7) if secret[i : i + 8] in text]
    return found


@pytest.mark.parametrize("echoing_proxy", FORMS, indirect=True)
def test_no_echoed_secret_reaches_any_output(
    echoing_proxy: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("LEAKY_PASSWORD", PASSWORD)
    monkeypatch.setenv("LEAKY_FROM_USER", FROM_USER)
    path = stack(tmp_path)
    saved, report = tmp_path / "plan.json", tmp_path / "report.json"
    connection = ["--url", echoing_proxy, "--token", "tok-12345678", "--retries", "0"]
    outputs = []
    for fmt in ("text", "markdown", "json"):
        assert main(["plan", "-vv", *connection, "--format", fmt, str(path)]) == 0
        outputs.append(capsys.readouterr())
    assert main(["plan", *connection, "--out", str(saved), str(path)]) == 0
    outputs.append(capsys.readouterr())
    code = main(["apply", "-vv", *connection, "--auto-approve", "--report", str(report), str(path)])
    outputs.append(capsys.readouterr())
    assert code == 4  # every write failed, with the echoed body as its message
    text = "\n".join(o.out + o.err for o in outputs)
    text += saved.read_text(encoding="utf-8") + report.read_text(encoding="utf-8")
    assert leaks(text) == []
    (outcome,) = json.loads(report.read_text(encoding="utf-8"))["outcomes"]
    assert outcome["status"] == "failed" and MASK in outcome["error"]  # the echo was masked

"""Authentication and TLS through the CLI, against sandboxes on 127.0.0.1 (issue 8).

- 401 (wrong token, wrong password) is one clear message, exit 1, no traceback, no echo;
- a token that expires in the middle of an apply is renewed without the apply noticing: with
  tokens the server grants for 1 s (renewed ahead of expiry), and with tokens that expire
  behind the client's back (the sandbox's clock jumps an hour: renewed after one 401); a
  static --token cannot be renewed: what is left fails with 401 (exit 4), and the next apply
  with a fresh token converges;
- TLS verification is on by default (a self-signed loopback HTTPS sandbox is refused, the
  message names --ca-bundle), --ca-bundle and WAZO_CA_BUNDLE work, --insecure warns, a
  certificate for another host name is refused.

The client side of each mechanism has unit tests in tests/test_confd.py (renewal before
expiry and after a 401, TLS with trustme); these run the whole CLI as a user would.
"""

from __future__ import annotations

import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import trustme

from support import ServedState, generated_stack, invariants, plan, run_cli, served_sandbox
from wazo_reconcile.confd import RetryPolicy, connect
from wazo_reconcile.sandbox import FaultConfig, Sandbox
from wazo_reconcile.sandbox.server import SandboxServer, serving
from wazo_reconcile.settings import ConnectionSettings

PASSWORD = "Auth-Test-Password-93e1"
TOKEN_PATH = "POST /api/auth/0.1/token"
TLS_TOKEN = "5f0c2e1a-tls-test-token"  # a realistic length: log redaction masks it everywhere


class Clock:
    """Wall-clock time plus an offset the test can move forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def strict_sandbox(clock: Callable[[], float] = time.time, latency: float = 0.0) -> Sandbox:
    return Sandbox(
        profile="fresh",
        require_auth=("admin", PASSWORD),
        clock=clock,
        faults=FaultConfig(latency=latency),
    )


def _password(url: str) -> list[str]:
    return ["--url", url, "--username", "admin", "--password", PASSWORD]


def _converged(sandbox: Sandbox, url: str, stack: Any) -> None:
    settings = ConnectionSettings(url=url, token=sandbox.issue_token())
    with connect(settings, retry=RetryPolicy.no_wait()) as client:
        assert plan(stack, client).is_empty
    assert invariants(sandbox) == []


# ------------------------------------------------------------------------------------ 401


def test_wrong_token_is_one_clear_error(tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    wrong = "Wrong-Token-3b8c0d"
    with strict_sandbox().serve() as url:
        for command in (["plan"], ["apply", "--auto-approve"], ["drift"]):
            result = run_cli(command[0], str(stack.path), *command[1:], "--url", url,
                             "--token", wrong)  # fmt: skip
            assert result.returncode == 1, result.stderr
            assert "Traceback" not in result.stderr and wrong not in result.stderr
            (line,) = [x for x in result.stderr.splitlines() if x.startswith("error:")]
            assert "HTTP 401" in line and "token" in line, line


def test_wrong_password_is_one_clear_error(tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    sandbox = strict_sandbox()
    with sandbox.serve() as url:
        result = run_cli("apply", str(stack.path), "--url", url, "--username", "admin",
                         "--password", "not-the-password", "--auto-approve")  # fmt: skip
        assert result.returncode == 1
        assert "Traceback" not in result.stderr and "not-the-password" not in result.stderr
        assert "wazo-auth refused the username/password" in result.stderr
        assert sandbox.stats()["requests"] == {TOKEN_PATH: 1}  # nothing else was tried


def test_password_login_against_reconcile_sandbox_require_auth(tmp_path: Path) -> None:
    """The documented setup: `reconcile sandbox --require-auth` in a shell, the CLI with
    --username/--password (its tokens are asked for 3,600 s, so --token-lifetime, which
    applies to requests without `expiration`, does not shorten them: docs/reliability.md)."""
    stack = generated_stack(tmp_path)
    with served_sandbox("--require-auth", f"admin:{PASSWORD}", "--token-lifetime", "2") as url:
        applied = run_cli("apply", str(stack.path), *_password(url), "--auto-approve")
        assert applied.returncode == 0, applied.stderr
        again = run_cli("plan", str(stack.path), *_password(url), "--detailed-exitcode")
        assert again.returncode == 0, again.stderr
        refused = run_cli("plan", str(stack.path), "--url", url, "--token", "not-issued-token")
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr
        assert invariants(ServedState(url)) == []


# ------------------------------------------------------------------- renewal mid-apply


def test_short_tokens_are_renewed_ahead_of_expiry_mid_apply(tmp_path: Path) -> None:
    """The server grants 1 s tokens (whatever is asked); the apply lasts several seconds."""
    stack = generated_stack(tmp_path)
    sandbox = strict_sandbox(latency=0.02)
    issue = sandbox.tokens.issue
    sandbox.tokens.issue = lambda tenant_uuid=None, lifetime=None, acl=None: issue(  # type: ignore[method-assign]
        tenant_uuid, min(lifetime or 1.0, 1.0), acl
    )
    with sandbox.serve() as url:
        started = time.monotonic()
        result = run_cli("apply", str(stack.path), *_password(url), "--auto-approve",
                         "--parallelism", "1", "-v")  # fmt: skip
        seconds = time.monotonic() - started
        assert result.returncode == 0, result.stderr
        assert "Apply finished: 31 done, 0 failed" in result.stdout
        tokens = sandbox.stats()["requests"][TOKEN_PATH]
        assert seconds > 2 and tokens >= 3, (seconds, tokens)
        assert result.stderr.count("got a wazo-auth token") == tokens
        sandbox.tokens.issue = issue  # type: ignore[method-assign]
        _converged(sandbox, url, stack)


def test_token_expiring_behind_the_clients_back_is_renewed_mid_apply(tmp_path: Path) -> None:
    """The sandbox's clock jumps past the token's hour twice during the apply."""
    stack = generated_stack(tmp_path)
    clock = Clock()
    sandbox = strict_sandbox(clock, latency=0.01)
    with sandbox.serve() as url, _jump_clock_at(sandbox, clock, writes=(20, 50)) as jumps:
        result = run_cli("apply", str(stack.path), *_password(url), "--auto-approve",
                         "--parallelism", "2")  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Apply finished: 31 done, 0 failed" in result.stdout
        assert jumps == [20, 50], "the clock jumped during the apply"
        assert sandbox.stats()["requests"][TOKEN_PATH] == 3  # the first token, then 2 renewals
        _converged(sandbox, url, stack)


def test_a_static_token_expiring_mid_apply_fails_what_is_left_clearly(tmp_path: Path) -> None:
    """--token cannot be renewed: the rest of the apply fails with 401 (exit 4), and the
    next apply with a fresh token converges."""
    stack = generated_stack(tmp_path)
    clock = Clock()
    sandbox = strict_sandbox(clock, latency=0.01)
    with sandbox.serve() as url, _jump_clock_at(sandbox, clock, writes=(20,)) as jumps:
        token = sandbox.issue_token(lifetime=3600)
        result = run_cli("apply", str(stack.path), "--url", url, "--token", token,
                         "--auto-approve", "--parallelism", "2")  # fmt: skip
        assert jumps == [20]
        assert result.returncode == 4, result.stderr
        assert "Traceback" not in result.stderr and token not in result.stdout + result.stderr
        failures = [line for line in result.stdout.splitlines() if line.startswith("! ")]
        assert failures and all("HTTP 401" in line for line in failures)
        assert "check the token (--token or WAZO_TOKEN)" in failures[0]
        again = run_cli("apply", str(stack.path), "--url", url, "--token",
                        sandbox.issue_token(), "--auto-approve")  # fmt: skip
        assert again.returncode == 0, again.stdout
        _converged(sandbox, url, stack)


@contextmanager
def _jump_clock_at(sandbox: Sandbox, clock: Clock, writes: tuple[int, ...]) -> Iterator[list[int]]:
    """Move the clock an hour and a second ahead once the sandbox has seen so many writes."""
    done: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        pending = list(writes)
        while pending and not stop.wait(0.002):
            counts = sandbox.stats()["requests"]
            seen = sum(n for k, n in counts.items() if not k.startswith(("GET", TOKEN_PATH)))
            if seen >= pending[0]:
                clock.offset += 3601
                done.append(pending.pop(0))

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield done
    finally:
        stop.set()
        thread.join()


# ------------------------------------------------------------------------------------ TLS


@contextmanager
def https_sandbox(ca: trustme.CA, *names: str) -> Iterator[tuple[Sandbox, str]]:
    """The sandbox behind TLS with a certificate of `ca` for `names`."""
    sandbox = Sandbox(profile="fresh")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert(*names).configure_cert(context)
    server = SandboxServer(sandbox, "127.0.0.1", 0)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    with serving(server):
        yield sandbox, f"https://127.0.0.1:{server.server_address[1]}"


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[trustme.CA, Path]:
    authority = trustme.CA()
    path = tmp_path_factory.mktemp("tls") / "ca.pem"
    authority.cert_pem.write_to_path(str(path))
    return authority, path


def test_tls_is_verified_by_default_and_the_error_names_ca_bundle(
    ca: tuple[trustme.CA, Path], tmp_path: Path
) -> None:
    stack = generated_stack(tmp_path)
    with https_sandbox(ca[0], "127.0.0.1") as (sandbox, url):
        result = run_cli("plan", str(stack.path), "--url", url, "--token", TLS_TOKEN)
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "TLS certificate verification failed" in result.stderr
        assert "--ca-bundle" in result.stderr
        assert sandbox.stats()["total"] == 0  # refused at the handshake: no request sent


def test_tls_with_ca_bundle_flag_or_variable_applies(
    ca: tuple[trustme.CA, Path], tmp_path: Path
) -> None:
    stack = generated_stack(tmp_path)
    with https_sandbox(ca[0], "127.0.0.1") as (sandbox, url):
        conn = ["--url", url, "--token", TLS_TOKEN]
        applied = run_cli("apply", str(stack.path), *conn, "--ca-bundle", str(ca[1]),
                          "--auto-approve")  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        assert "WARNING" not in applied.stderr
        again = run_cli("plan", str(stack.path), *conn, "--detailed-exitcode",
                        env={"WAZO_CA_BUNDLE": str(ca[1])})  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert invariants(sandbox) == []


def test_tls_insecure_works_and_warns(ca: tuple[trustme.CA, Path], tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    with https_sandbox(ca[0], "127.0.0.1") as (_, url):
        result = run_cli("plan", str(stack.path), "--url", url, "--token", TLS_TOKEN, "--insecure")
        assert result.returncode == 0, result.stderr
        assert "WARNING wazo_reconcile.confd: TLS certificate verification is DISABLED" in (
            result.stderr
        )
        both = run_cli("plan", str(stack.path), "--url", url, "--token", TLS_TOKEN, "--insecure",
                       "--ca-bundle", str(ca[1]))  # fmt: skip
        assert both.returncode == 1 and "Traceback" not in both.stderr


def test_tls_certificate_for_another_host_is_refused(
    ca: tuple[trustme.CA, Path], tmp_path: Path
) -> None:
    stack = generated_stack(tmp_path)
    with https_sandbox(ca[0], "wazo.example.com") as (sandbox, url):
        result = run_cli("plan", str(stack.path), "--url", url, "--token", TLS_TOKEN,
                         "--ca-bundle", str(ca[1]))  # fmt: skip
        assert result.returncode == 1
        assert "Traceback" not in result.stderr
        assert "TLS certificate verification failed" in result.stderr
        assert "127.0.0.1" in result.stderr  # the message says which name did not match
        assert sandbox.stats()["total"] == 0

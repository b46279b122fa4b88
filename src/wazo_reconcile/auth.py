"""wazo-auth tokens for the confd client: a fixed token, or one obtained from a username and
password and renewed before it expires.

:class:`ConfdClient <wazo_reconcile.confd.ConfdClient>` asks its :class:`Auth` for the
``X-Auth-Token`` of each request, and for a new one once if confd answers 401. The token
request (``POST /api/auth/0.1/token``) goes through the same retrying sender as confd's
requests (``retries.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Protocol

import httpx

from wazo_reconcile.errors import ApiError, AuthError
from wazo_reconcile.retries import Call, RequestStats, RetryPolicy, Sender, error_messages
from wazo_reconcile.settings import AUTH_PREFIX

# The client's log: `-v` shows each request and token under this name (docs/connection.md).
log = logging.getLogger("wazo_reconcile.confd")

TOKEN_PATH = f"{AUTH_PREFIX}/token"


class Auth(Protocol):
    """Supplies the ``X-Auth-Token`` value; thread-safe."""

    def token(self) -> str: ...

    def renew(self, rejected: str) -> bool:
        """Called after confd refused ``rejected`` (401): get a new token if possible."""
        ...

    def secrets(self) -> tuple[str, ...]:
        """Strings that must never appear in a message (token, password)."""
        ...


class TokenAuth:
    """A fixed wazo-auth token (``--token`` / ``WAZO_TOKEN``); it cannot be renewed."""

    def __init__(self, token: str) -> None:
        self._token = token

    def __repr__(self) -> str:
        return "TokenAuth(token=***)"

    def token(self) -> str:
        return self._token

    def renew(self, rejected: str) -> bool:
        return False

    def secrets(self) -> tuple[str, ...]:
        return (self._token,)


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def token_lifetime(data: Mapping[str, object]) -> float | None:
    """Lifetime in seconds of a wazo-auth token answer, from the server's own clock."""
    for issued_key, expires_key in (
        ("utc_issued_at", "utc_expires_at"),
        ("issued_at", "expires_at"),
    ):
        issued, expires = _parse_time(data.get(issued_key)), _parse_time(data.get(expires_key))
        if issued is not None and expires is not None and expires > issued:
            return (expires - issued).total_seconds()
    return None


class PasswordAuth:
    """A wazo-auth token from a username/password, renewed ``margin`` seconds before expiry.

    Thread-safe: concurrent callers wait while one thread renews. Expiry is computed from the
    token's lifetime (``expires_at - issued_at`` on the server) added to the local ``clock`` at
    request time, so clock skew between this host and the server does not matter.
    """

    def __init__(
        self,
        http: httpx.Client,
        username: str,
        password: str,
        *,
        retry: RetryPolicy | None = None,
        expiration: int = 3600,
        margin: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        stats: RequestStats | None = None,
    ) -> None:
        self.stats = stats or RequestStats()
        self._sender = Sender(http, retry or RetryPolicy(), self.stats)
        self._username = username
        self._password = password
        self._expiration = expiration
        self._margin = margin
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0
        # Once wazo-auth refuses the credentials, every caller gets that refusal: parallel
        # requests must not each try the same wrong password (login-failure bans).
        self._refused: int | None = None  # the status of wazo-auth's refusal

    def __repr__(self) -> str:
        return f"PasswordAuth(username={self._username!r}, password=***)"

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                return self._fetch()
            return self._token

    def renew(self, rejected: str) -> bool:
        with self._lock:
            if self._token is None or self._token == rejected:
                self._fetch()
        return True

    def secrets(self) -> tuple[str, ...]:
        return tuple(s for s in (self._password, self._token) if s)

    def _fetch(self) -> str:
        if self._refused is not None:
            raise self._refusal(self._refused)
        started = self._clock()
        call = Call(
            "POST",
            TOKEN_PATH,
            TOKEN_PATH,
            body={"expiration": self._expiration},
            basic=(self._username, self._password),
            stat_key="auth",
        )
        response, _ = self._sender.send(call, {}, retry_post=True)  # a spare token is harmless
        token, lifetime = self._token_answer(response)
        lifetime = lifetime or float(self._expiration)
        margin = min(self._margin, lifetime / 2)
        self._token, self._renew_at = token, started + lifetime - margin
        log.info(
            "got a wazo-auth token for %r, valid %.0f s, renewed %.0f s before expiry",
            self._username,
            lifetime,
            margin,
        )
        return self._token

    @staticmethod
    def _refusal(status: int) -> AuthError:
        return AuthError(
            "POST",
            TOKEN_PATH,
            status,
            detail=(
                "wazo-auth refused the username/password: check --username/--password "
                "(or WAZO_USERNAME/WAZO_PASSWORD)"
            ),
        )

    def _token_answer(self, response: httpx.Response) -> tuple[str, float | None]:
        """The token wazo-auth answered, and its lifetime if the answer gives it."""
        status = response.status_code
        if status in (401, 403):
            self._refused = status
            raise self._refusal(status)
        if status != 200:
            messages = error_messages(response, self.secrets())
            raise ApiError("POST", TOKEN_PATH, status, messages)
        try:
            data = response.json()["data"]
            token = data["token"]
            if not isinstance(token, str):
                raise TypeError("token is not a string")
            lifetime = token_lifetime(data)
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                "POST", TOKEN_PATH, status, detail=f"unexpected answer from wazo-auth ({exc})"
            ) from exc
        return token, lifetime

"""The confd client: the only module that talks HTTP (wazo-confd, and wazo-auth for tokens).

``ConfdClient`` wraps an ``httpx.Client`` (tests pass ``transport=``) and adds:

- authentication: a static token, or a wazo-auth token obtained from a username/password and
  renewed before it expires (and once more if confd answers 401);
- the ``Wazo-Tenant`` header, per client and per call;
- retries of ONE HTTP call with tenacity: exponential backoff with jitter on connection
  errors, 429 (honouring ``Retry-After``) and, for idempotent methods, 502/503/504. A POST is
  retried only when it surely never reached the server (connect errors, 429); when its outcome
  is unknown it raises :class:`OutcomeUnknownError` so the caller reads back by identity;
- confd's error list turned into :class:`ApiError` / :class:`AuthError`;
- confd pagination (``limit``/``offset``/``total``), thread-safe request counters, and logs
  that never carry headers, tokens or passwords.

Paths given to the methods are relative to ``/api/confd/1.1``.
"""

from __future__ import annotations

import email.utils
import enum
import ipaddress
import json
import logging
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit
from urllib.request import getproxies

import httpx
import orjson
from tenacity import (
    RetryCallState,
    Retrying,
    retry_base,
    stop_after_attempt,
)
from tenacity.wait import wait_base

from wazo_reconcile import __version__
from wazo_reconcile.errors import ApiError, AuthError, OutcomeUnknownError, UsageError
from wazo_reconcile.secrets import mask, redact, secret_values
from wazo_reconcile.settings import AUTH_PREFIX, CONFD_PREFIX, ConnectionSettings
from wazo_reconcile.wire import StdlibTransport

log = logging.getLogger(__name__)

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({502, 503, 504})  # idempotent methods only
AMBIGUOUS_STATUSES = frozenset({500, 502, 503, 504})  # a write may have been applied
DEFAULT_PAGE_SIZE = 10_000
TOKEN_PATH = f"{AUTH_PREFIX}/token"
MASTER_ONLY_PREFIXES = (
    "/asterisk/pjsip/global",
    "/asterisk/pjsip/system",
    "/sip/transports",
    "/configuration/live_reload",
)

Items = list[dict[str, Any]]
Messages = list[str]
Totals = list[int]


class _ClientTenant(enum.Enum):
    TOKEN = "client-tenant"


CLIENT_TENANT = _ClientTenant.TOKEN
"""Default of the ``tenant=`` argument: use the client's tenant (``None`` sends no header)."""

TenantArg = str | None | _ClientTenant


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How one HTTP call is retried: ``attempts`` in total, exponential backoff from
    ``initial`` seconds up to ``maximum``, plus up to ``jitter`` random seconds; a server's
    ``Retry-After`` is honoured up to ``retry_after_cap``. ``sleep`` is injectable for tests."""

    attempts: int = 5
    initial: float = 0.2
    maximum: float = 10.0
    jitter: float = 0.5
    retry_after_cap: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)

    @classmethod
    def no_wait(
        cls, attempts: int = 5, sleep: Callable[[float], None] | None = None
    ) -> RetryPolicy:
        """A policy that never waits (tests): backoff and ``Retry-After`` still go to ``sleep``."""
        return cls(attempts, 0.0, 0.0, 0.0, sleep=sleep or (lambda _seconds: None))


class RequestStats:
    """Thread-safe counts of HTTP requests actually sent (every attempt counts).

    Keys: the HTTP methods of confd requests, ``auth`` (wazo-auth token requests) and
    ``retries`` (attempts after the first).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def __getitem__(self, key: str) -> int:
        with self._lock:
            return self._counts[key]

    @property
    def requests(self) -> int:
        """confd requests sent, all methods, retries included (token requests excluded)."""
        with self._lock:
            return sum(n for key, n in self._counts.items() if key.isupper())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


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


# --------------------------------------------------------------------------- one HTTP call


_NO_BODY: Any = object()


@dataclass(frozen=True, slots=True)
class _Call:
    method: str
    url: str  # relative to the http client's base_url
    display: str  # what logs and errors show: method-less path with query
    params: Mapping[str, Any] | None = None
    body: Any = _NO_BODY
    basic: tuple[str, str] | None = field(default=None, repr=False)
    stat_key: str = ""


def _never_sent(exc: BaseException) -> bool:
    """The request surely did not reach the server: safe to retry even a POST."""
    return isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


def _ssl_error(exc: BaseException) -> ssl.SSLError | None:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, ssl.SSLError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _tls_failure(exc: BaseException) -> bool:
    return _ssl_error(exc) is not None or "CERTIFICATE_VERIFY_FAILED" in str(exc)


def _retryable_error(exc: BaseException | None, idempotent: bool) -> bool:
    if not isinstance(exc, httpx.TransportError) or _tls_failure(exc):
        return False
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return False  # our request is wrong: retrying cannot help
    return _never_sent(exc) or idempotent


def _retryable_status(status: int, idempotent: bool) -> bool:
    # 429 is refused before any work is done, so even a POST may be retried
    return status == 429 or (idempotent and status in RETRY_STATUSES)


class _ShouldRetry(retry_base):
    def __init__(self, idempotent: bool) -> None:
        self._idempotent = idempotent

    def __call__(self, retry_state: RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            return _retryable_error(outcome.exception(), self._idempotent)
        response: httpx.Response = outcome.result()
        return _retryable_status(response.status_code, self._idempotent)


def retry_after_seconds(response: httpx.Response, now: float | None = None) -> float | None:
    """The ``Retry-After`` delay of a response in seconds (delta or HTTP date), if any."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


def backoff_seconds(policy: RetryPolicy, attempt: int) -> float:
    """Exponential backoff with jitter after failed attempt number ``attempt`` (1-based)."""
    delay = policy.initial * 2.0 ** (attempt - 1) + random.uniform(0, policy.jitter)
    return min(policy.maximum, delay)


class _Wait(wait_base):
    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            delay = retry_after_seconds(outcome.result())
            if delay is not None:
                return min(delay, self._policy.retry_after_cap)
        return backoff_seconds(self._policy, retry_state.attempt_number)


def _last_outcome(retry_state: RetryCallState) -> httpx.Response:
    """When attempts run out on a retryable status, hand back the last response."""
    assert retry_state.outcome is not None
    response: httpx.Response = retry_state.outcome.result()
    return response


def _describe(outcome_state: RetryCallState) -> str:
    outcome = outcome_state.outcome
    if outcome is None:
        return "?"
    if outcome.failed:
        return type(outcome.exception()).__name__
    return f"HTTP {outcome.result().status_code}"


class _Sender:
    """Sends one call with retries; shared by the client and the password authentication."""

    def __init__(self, http: httpx.Client, policy: RetryPolicy, stats: RequestStats) -> None:
        self._http = http
        self._policy = policy
        self._stats = stats
        self._base = str(http.base_url).rstrip("/")
        self._timeout = http.timeout.as_dict()

    def send(
        self, call: _Call, headers: Mapping[str, str], *, retry_post: bool = False
    ) -> tuple[httpx.Response, bool]:
        """Return the final response and whether an earlier or final attempt may have been
        applied by the server although no success came back (``ambiguous``)."""
        idempotent = call.method in IDEMPOTENT_METHODS or retry_post
        state = {"attempt": 0, "ambiguous": False}

        def attempt() -> httpx.Response:
            state["attempt"] += 1
            return self._attempt(call, headers, state)

        retrying = Retrying(
            stop=stop_after_attempt(max(1, self._policy.attempts)),
            wait=_Wait(self._policy),
            retry=_ShouldRetry(idempotent),
            sleep=self._policy.sleep,
            before_sleep=lambda rs: self._before_sleep(call, rs),
            retry_error_callback=_last_outcome,
        )
        if call.body is not _NO_BODY and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s body: %s",
                call.method,
                call.display,
                json.dumps(mask(call.body), sort_keys=True, default=str),
            )
        try:
            response: httpx.Response = retrying(attempt)
        except httpx.TransportError as exc:
            raise _transport_error(call, exc, ambiguous=bool(state["ambiguous"])) from exc
        return response, bool(state["ambiguous"])

    def _attempt(
        self, call: _Call, headers: Mapping[str, str], state: dict[str, Any]
    ) -> httpx.Response:
        self._stats.add(call.stat_key or call.method)
        if state["attempt"] > 1:
            self._stats.add("retries")
        started = time.monotonic()
        try:
            response = self._http.send(
                self._build(call, headers),
                auth=call.basic if call.basic is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            if not _never_sent(exc):
                state["ambiguous"] = True
            log.info(
                "%s %s: %s after %.0f ms (attempt %d)",
                call.method,
                call.display,
                type(exc).__name__,
                (time.monotonic() - started) * 1000,
                state["attempt"],
            )
            raise
        if response.status_code in AMBIGUOUS_STATUSES:
            state["ambiguous"] = True
        log.info(
            "%s %s -> %d (%.0f ms, attempt %d)",
            call.method,
            call.display,
            response.status_code,
            (time.monotonic() - started) * 1000,
            state["attempt"],
        )
        return response

    def _build(self, call: _Call, headers: Mapping[str, str]) -> httpx.Request:
        """The request ``http.request`` would build, made directly: a third of its CPU was
        merging and re-parsing URLs, and no cookie is ever involved."""
        url = self._base + call.url
        if call.params:
            url = f"{url}?{httpx.QueryParams(call.params)}"
        merged = self._http.headers.copy()  # the client's headers, then the call's
        merged.update(headers)
        return httpx.Request(
            call.method,
            url,
            json=None if call.body is _NO_BODY else call.body,
            headers=merged,
            extensions={"timeout": self._timeout},
        )

    def _before_sleep(self, call: _Call, retry_state: RetryCallState) -> None:
        wait = retry_state.next_action.sleep if retry_state.next_action else 0.0
        log.info(
            "%s %s: %s, retrying in %.1f s (attempt %d of %d)",
            call.method,
            call.display,
            _describe(retry_state),
            wait,
            retry_state.attempt_number + 1,
            self._policy.attempts,
        )


def _tls_detail(ssl_error: ssl.SSLError | None, exc: Exception) -> str:
    if isinstance(ssl_error, ssl.SSLCertVerificationError) or ssl_error is None:
        reason = getattr(ssl_error, "verify_message", None) or str(exc)
        return (
            f"TLS certificate verification failed ({reason}); if the server uses a private "
            "CA, pass it with --ca-bundle (or WAZO_CA_BUNDLE); --insecure turns verification "
            "off (unsafe)"
        )
    reason = ssl_error.reason or str(ssl_error)
    return f"TLS handshake failed ({reason}); is --url right (https on an https port)?"


def _transport_error(call: _Call, exc: httpx.TransportError, *, ambiguous: bool) -> ApiError:
    ssl_error = _ssl_error(exc)
    if ssl_error is not None or _tls_failure(exc):
        return ApiError(call.method, call.display, None, detail=_tls_detail(ssl_error, exc))
    kind = type(exc).__name__
    if ambiguous and call.method in WRITE_METHODS:
        return OutcomeUnknownError(
            call.method,
            call.display,
            None,
            detail=f"{kind}: {exc or 'no answer'}; the change may or may not have been applied",
        )
    if isinstance(exc, httpx.TimeoutException):
        return ApiError(
            call.method,
            call.display,
            None,
            detail=f"{kind}: no answer in time (see --timeout/--connect-timeout)",
        )
    return ApiError(call.method, call.display, None, detail=f"{kind}: {exc or 'network error'}")


# --------------------------------------------------------------------------- errors


def _text_excerpt(response: httpx.Response, limit: int = 200) -> str:
    text = response.text
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return f"non-JSON answer: {text}" if text else "empty non-JSON answer"


def error_messages(response: httpx.Response) -> list[str]:
    """confd's error list (strings, sometimes dicts) as strings; other bodies summarised."""
    if not response.content:
        return []
    try:
        data = response.json()
    except ValueError:
        return [_text_excerpt(response)]
    if isinstance(data, list):
        return [
            item if isinstance(item, str) else json.dumps(item, sort_keys=True, default=str)
            for item in data
        ]
    if isinstance(data, dict):  # wazo-auth: {"reason": [...], ...} or {"message": ...}
        for key in ("message", "reason", "error"):
            found = data.get(key)
            if isinstance(found, str) and found:
                return [found]
            if isinstance(found, list) and found and all(isinstance(m, str) for m in found):
                return list(found)
    return [json.dumps(data, sort_keys=True, default=str)]


def _auth_hint(status: int, display: str, password_auth: bool) -> str:
    credentials = (
        "the username/password (--username/--password or WAZO_USERNAME/WAZO_PASSWORD)"
        if password_auth
        else "the token (--token or WAZO_TOKEN)"
    )
    what = "refused" if status == 401 else "forbidden"
    hint = (
        f"access {what}: check {credentials}, that the token's ACL allows this request, "
        "and that --tenant / the document's tenant is the token's tenant or one of its "
        "sub-tenants"
    )
    if display.startswith(MASTER_ONLY_PREFIXES):
        hint += "; this endpoint needs a token of the master tenant"
    return hint


# --------------------------------------------------------------------------- authentication


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def token_lifetime(data: Mapping[str, Any]) -> float | None:
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
        self._sender = _Sender(http, retry or RetryPolicy(), self.stats)
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
        call = _Call(
            "POST",
            TOKEN_PATH,
            TOKEN_PATH,
            body={"expiration": self._expiration},
            basic=(self._username, self._password),
            stat_key="auth",
        )
        response, _ = self._sender.send(call, {}, retry_post=True)  # a spare token is harmless
        data = self._token_data(response)
        lifetime = token_lifetime(data) or float(self._expiration)
        margin = min(self._margin, lifetime / 2)
        self._token, self._renew_at = data["token"], started + lifetime - margin
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

    def _token_data(self, response: httpx.Response) -> dict[str, Any]:
        status = response.status_code
        if status in (401, 403):
            self._refused = status
            raise self._refusal(status)
        if status != 200:
            messages = [redact(m, self.secrets()) for m in error_messages(response)]
            raise ApiError("POST", TOKEN_PATH, status, messages)
        try:
            data = response.json()["data"]
            if not isinstance(data["token"], str):
                raise TypeError("token is not a string")
        except (ValueError, KeyError, TypeError) as exc:
            raise ApiError(
                "POST", TOKEN_PATH, status, detail=f"unexpected answer from wazo-auth ({exc})"
            ) from exc
        return dict(data)


# --------------------------------------------------------------------------- the client


def _with_query(path: str, params: Mapping[str, Any] | None) -> str:
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


def _identity(item: Mapping[str, Any]) -> object:
    return item.get("uuid", item.get("id"))


class ConfdClient:
    """wazo-confd REST client; thread-safe (one instance is shared by a thread pool).

    ``tenant`` is the default ``Wazo-Tenant`` of every call (``None``: no header, i.e. the
    token's tenant); each method's ``tenant=`` overrides it, ``None`` meaning no header.
    """

    def __init__(
        self,
        http: httpx.Client,
        *,
        auth: Auth,
        retry: RetryPolicy | None = None,
        tenant: str | None = None,
        page_size: int = DEFAULT_PAGE_SIZE,
        stats: RequestStats | None = None,
    ) -> None:
        self._http = http
        self._auth = auth
        self.tenant = tenant
        self.page_size = page_size
        # token requests are counted with the client's requests (under "auth")
        shared = auth.stats if isinstance(auth, PasswordAuth) else None
        self.stats = stats or shared or RequestStats()
        self._sender = _Sender(http, retry or RetryPolicy(), self.stats)

    def __repr__(self) -> str:
        return f"ConfdClient(base_url={str(self._http.base_url)!r}, tenant={self.tenant!r})"

    def __enter__(self) -> ConfdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # -- public methods

    def get(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        tenant: TenantArg = CLIENT_TENANT,
    ) -> Any:
        """GET ``path`` and return its decoded JSON body."""
        response = self._request("GET", path, params=params, tenant=tenant)
        return self._json(response, path)

    def list(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        tenant: TenantArg = CLIENT_TENANT,
        page_size: int | None = None,
    ) -> Items:
        """Every item of a collection, reading ``page_size`` items per request.

        One request when everything fits in a page. When several pages are needed and the
        collection visibly changes meanwhile (``total`` moves, or the item count disagrees
        with it), the whole listing is read again once, then it is an error.
        """
        size = page_size or self.page_size
        for _ in range(2):
            items, totals = self._read_pages(path, dict(params or {}), tenant, size)
            if len(set(totals)) == 1 and len(items) == totals[0]:
                return items
            log.info("GET %s: the list changed while it was read; reading it again", path)
        raise ApiError(
            "GET", path, 200, ["the list changed while it was read; run the command again"]
        )

    def post(
        self, path: str, body: Any, *, tenant: TenantArg = CLIENT_TENANT
    ) -> tuple[str | None, Any]:
        """Create: return the ``Location`` header (if any) and the decoded body."""
        response = self._request("POST", path, body=body, tenant=tenant)
        return response.headers.get("Location"), self._json(response, path)

    def put(
        self,
        path: str,
        body: Any = None,
        *,
        params: Mapping[str, Any] | None = None,
        tenant: TenantArg = CLIENT_TENANT,
    ) -> None:
        """Update (confd answers 204). ``body=None`` sends no body (association PUTs); an
        item PUT needs a JSON object, ``{}`` at least."""
        self._request(
            "PUT", path, params=params, body=_NO_BODY if body is None else body, tenant=tenant
        )

    def delete(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        tenant: TenantArg = CLIENT_TENANT,
        missing_ok: bool = False,
    ) -> None:
        """Delete. A 404 is success with ``missing_ok``, and also after an attempt whose
        outcome was unknown (the retry found the object already gone)."""
        self._request("DELETE", path, params=params, tenant=tenant, missing_ok=missing_ok)

    # -- internals

    def _read_pages(
        self, path: str, params: dict[str, Any], tenant: TenantArg, size: int
    ) -> tuple[Items, Totals]:
        items: Items = []
        seen: set[object] = set()
        totals: Totals = []
        offset = 0
        while True:
            query = {**params, "limit": size, "offset": offset}
            batch, total = self._page(self.get(path, params=query, tenant=tenant), path)
            totals.append(total)
            offset += len(batch)
            for item in batch:
                key = _identity(item)
                if key is None or key not in seen:
                    seen.add(key)
                    items.append(item)
            if not batch or offset >= total:
                return items, totals

    @staticmethod
    def _page(page: Any, path: str) -> tuple[Items, int]:
        if (
            not isinstance(page, dict)
            or not isinstance(page.get("items"), list)
            or not isinstance(page.get("total"), int)
        ):
            raise ApiError(
                "GET", path, 200, detail="expected a list answer {'total': N, 'items': [...]}"
            )
        return page["items"], page["total"]

    def _headers(self, tenant: TenantArg, token: str) -> dict[str, str]:
        headers = {"X-Auth-Token": token}
        chosen = self.tenant if tenant is CLIENT_TENANT else tenant
        if isinstance(chosen, str):
            headers["Wazo-Tenant"] = chosen
        return headers

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = _NO_BODY,
        tenant: TenantArg,
        missing_ok: bool = False,
    ) -> httpx.Response:
        if not path.startswith("/"):
            raise ValueError(f"confd paths start with '/': {path!r}")
        call = _Call(method, CONFD_PREFIX + path, _with_query(path, params), params, body)
        renewed = False
        while True:
            token = self._auth.token()
            response, ambiguous = self._sender.send(call, self._headers(tenant, token))
            if response.status_code == 401 and not renewed and self._auth.renew(token):
                log.info(
                    "%s %s: token refused (401); renewing it and trying once more",
                    method,
                    call.display,
                )
                renewed = True  # a 401 means the request was refused: safe even for POST
                continue
            return self._check(call, response, ambiguous=ambiguous, missing_ok=missing_ok)

    def _check(
        self, call: _Call, response: httpx.Response, *, ambiguous: bool, missing_ok: bool
    ) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 404 and call.method == "DELETE" and (missing_ok or ambiguous):
            log.info("DELETE %s: already gone (404)", call.display)
            return response
        if status in (401, 403):
            raise AuthError(
                call.method,
                call.display,
                status,
                detail=_auth_hint(status, call.display, isinstance(self._auth, PasswordAuth)),
            )
        messages = self._messages(call, response)
        if 300 <= status < 400:
            raise ApiError(
                call.method,
                call.display,
                status,
                messages,
                detail=(
                    f"redirected to {response.headers.get('Location', '?')}; "
                    "give the final address with --url"
                ),
            )
        if call.method in WRITE_METHODS and status in AMBIGUOUS_STATUSES:
            raise OutcomeUnknownError(
                call.method,
                call.display,
                status,
                messages,
                detail="the change may or may not have been applied",
            )
        raise ApiError(call.method, call.display, status, messages)

    def _messages(self, call: _Call, response: httpx.Response) -> Messages:
        secrets = set(self._auth.secrets())
        if call.body is not _NO_BODY:
            secrets |= secret_values(call.body)
        return [redact(message, secrets) for message in error_messages(response)]

    def _json(self, response: httpx.Response, path: str) -> Any:
        if not response.content:
            return None
        try:
            # orjson: a plan decodes ~15 MB of lists at 5,000 trunks, a quarter faster than json
            return orjson.loads(response.content)
        except ValueError as exc:  # orjson.JSONDecodeError is a ValueError
            raise ApiError(
                response.request.method,
                path,
                response.status_code,
                [_text_excerpt(response)],
                detail="expected JSON: is --url the base address of a Wazo stack?",
            ) from exc


# --------------------------------------------------------------------------- factory

_USER_AGENT = f"wazo-reconcile/{__version__}"


def _is_loopback(host: str | None) -> bool:
    if host in (None, "localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def tls_verify(settings: ConnectionSettings) -> ssl.SSLContext | bool:
    """The ``verify=`` value for httpx: on by default, a CA bundle, or off with a warning."""
    if settings.insecure:
        log.warning(
            "TLS certificate verification is DISABLED (--insecure) for %s: anyone on "
            "the network path can read the credentials and change the PBX; prefer "
            "--ca-bundle",
            settings.url,
        )
        return False
    if settings.ca_bundle:
        try:
            return ssl.create_default_context(cafile=settings.ca_bundle)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"cannot use --ca-bundle {settings.ca_bundle}: {reason}") from exc
    if urlsplit(settings.url or "").scheme == "http":
        # Plain http (the loopback sandbox) never uses TLS, redirects are not followed: no CA
        # bundle to load (0.1 s). wire.StdlibTransport loads none until an https request
        # anyway; this spares it where httpx's transports are built (behind a proxy). Should
        # TLS ever be tried, this context trusts no certificate.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def connect(
    settings: ConnectionSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> ConfdClient:
    """A client for ``settings``: the sandbox in-process, or the URL with its credentials.

    ``transport`` replaces the network (tests); ``retry`` defaults to ``settings.retries``
    retries with backoff.
    """
    policy = retry or RetryPolicy(attempts=settings.retries + 1)
    if settings.sandbox:
        return _connect_sandbox(settings, policy)
    if not settings.url:
        raise UsageError("no PBX to talk to: give --url (or set WAZO_URL), or use --sandbox")
    host = urlsplit(settings.url).hostname
    if settings.url.startswith("http://") and not _is_loopback(host):
        log.warning(
            "%s is plain http: credentials and configuration travel unencrypted", settings.url
        )
    verify = tls_verify(settings)
    if transport is None and not _proxied():
        transport = StdlibTransport(verify=verify)
    http = httpx.Client(
        base_url=settings.url,
        verify=verify,
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
        transport=transport,
        follow_redirects=False,
    )
    stats = RequestStats()
    return ConfdClient(
        http,
        auth=_auth(settings, http, policy, stats),
        retry=policy,
        tenant=settings.tenant,
        stats=stats,
    )


def _proxied() -> bool:
    """The environment names a proxy (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY): httpx's own
    transport, which knows proxies, is used then, as httpx would choose it."""
    return any(scheme in getproxies() for scheme in ("http", "https", "all"))


def _auth(
    settings: ConnectionSettings, http: httpx.Client, policy: RetryPolicy, stats: RequestStats
) -> Auth:
    if settings.token:
        return TokenAuth(settings.token)
    if settings.username and settings.password:
        return PasswordAuth(http, settings.username, settings.password, retry=policy, stats=stats)
    raise UsageError(
        "no credentials: set WAZO_TOKEN (or --token), or WAZO_USERNAME and "
        "WAZO_PASSWORD (or --username/--password)"
    )


class _SandboxLike(Protocol):
    def transport(self) -> httpx.BaseTransport: ...

    def issue_token(self, tenant_uuid: str | None = None, lifetime: float | None = None) -> str: ...


SANDBOX_URL = "http://sandbox.invalid"


def sandbox_client(
    sandbox: _SandboxLike, *, retry: RetryPolicy | None = None, tenant: str | None = None
) -> ConfdClient:
    """A client talking in-process to ``sandbox`` with a master-tenant token it issued."""
    http = httpx.Client(
        base_url=SANDBOX_URL,
        transport=sandbox.transport(),
        headers={"User-Agent": _USER_AGENT, "Accept": "application/json"},
    )
    return ConfdClient(http, auth=TokenAuth(sandbox.issue_token()), retry=retry, tenant=tenant)


def _connect_sandbox(settings: ConnectionSettings, policy: RetryPolicy) -> ConfdClient:
    from wazo_reconcile.sandbox import Sandbox  # lazily: only --sandbox needs the emulator

    log.info("using an in-process sandbox seeded like a fresh Wazo, not a real PBX")
    return sandbox_client(Sandbox(profile="fresh"), retry=policy, tenant=settings.tenant)

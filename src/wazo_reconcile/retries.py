"""Sending one HTTP call to wazo-confd or wazo-auth, with retries.

The confd client (``confd.py``) and the password authentication (``auth.py``) send every
request through a :class:`Sender`, which adds:

- retries of ONE HTTP call with tenacity: exponential backoff with jitter on connection
  errors, 429 (honouring ``Retry-After``), for idempotent methods 502/503/504, and for reads
  (GET) 500 too: a read changes nothing, so a 500 is as transient as a 503. A POST is
  retried only when it surely never reached the server (connect errors, 429); the sender
  reports when an attempt may have been applied although no success came back (``ambiguous``);
- thread-safe request counters, and logs that never carry headers, tokens or passwords;
- network failures turned into :class:`ApiError` / :class:`OutcomeUnknownError`, TLS failures
  with a hint (``--ca-bundle``), and confd's or wazo-auth's error answers read as messages.
"""

from __future__ import annotations

import email.utils
import enum
import json
import logging
import random
import re
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from functools import partial
from urllib.parse import urlsplit

import httpx
from tenacity import RetryCallState, Retrying, stop_after_attempt

from wazo_reconcile.errors import ApiError, OutcomeUnknownError
from wazo_reconcile.secrets import SecretRegistry, mask

# The client's log: `-v` shows each request and token under this name (docs/connection.md).
log = logging.getLogger("wazo_reconcile.confd")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # reads: nothing to apply twice
RETRY_STATUSES = frozenset({502, 503, 504})  # idempotent methods only
READ_RETRY_STATUSES = RETRY_STATUSES | {500}  # reads only: a write may have been applied
AMBIGUOUS_STATUSES = frozenset({500, 502, 503, 504})  # a write may have been applied

Params = Mapping[str, str | int]
"""Query parameters of a call."""


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
        # Whether the server ever answered: until it has, a refused connection is not retried
        # (a wrong --url or a PBX that is down fails at once).
        self.answered = False

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


# --------------------------------------------------------------------------- one HTTP call


class _NoBody(enum.Enum):
    NO_BODY = "no body"


NO_BODY = _NoBody.NO_BODY
"""The ``body`` of a call that sends none."""


@dataclass(frozen=True, slots=True)
class Call:
    """One HTTP call: ``body`` is a JSON document (anything ``json`` encodes) or ``NO_BODY``;
    ``stat_key`` is its key in :class:`RequestStats` (default: the method)."""

    method: str
    url: str  # relative to the http client's base_url
    display: str  # what logs and errors show: method-less path with query
    params: Params | None = None
    body: object = NO_BODY
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


def _retryable_error(exc: BaseException | None, idempotent: bool, answered: bool) -> bool:
    if not isinstance(exc, httpx.TransportError) or _tls_failure(exc):
        return False
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return False  # our request is wrong: retrying cannot help
    if isinstance(exc, httpx.ConnectError) and not answered:
        return False  # never reached: a wrong address or a server down, not a blip
    return _never_sent(exc) or idempotent


def _should_retry(
    idempotent: bool, safe: bool, stats: RequestStats, retry_state: RetryCallState
) -> bool:
    outcome = retry_state.outcome
    if outcome is None:
        return False
    if outcome.failed:
        return _retryable_error(outcome.exception(), idempotent, stats.answered)
    status = outcome.result().status_code
    # 429 is refused before any work is done, so even a POST may be retried
    if safe:
        return status == 429 or status in READ_RETRY_STATUSES
    return status == 429 or (idempotent and status in RETRY_STATUSES)


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


def _wait(policy: RetryPolicy, retry_state: RetryCallState) -> float:
    """The server's ``Retry-After`` (capped), else exponential backoff with jitter after
    failed attempt number ``attempt_number`` (1-based)."""
    outcome = retry_state.outcome
    if outcome is not None and not outcome.failed:
        delay = retry_after_seconds(outcome.result())
        if delay is not None:
            return min(delay, policy.retry_after_cap)
    backoff = policy.initial * 2.0 ** (retry_state.attempt_number - 1)
    return min(policy.maximum, backoff + random.uniform(0, policy.jitter))


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


@dataclass(slots=True)
class _Progress:
    """The attempts of one call so far, and whether one may have been applied by the server
    although no success came back."""

    attempts: int = 0
    ambiguous: bool = False


class Sender:
    """Sends one call with retries; shared by the client and the password authentication."""

    def __init__(self, http: httpx.Client, policy: RetryPolicy, stats: RequestStats) -> None:
        self._http = http
        self._policy = policy
        self._stats = stats
        self._base = str(http.base_url).rstrip("/")
        self._timeout = http.timeout.as_dict()

    def send(
        self, call: Call, headers: Mapping[str, str], *, retry_post: bool = False
    ) -> tuple[httpx.Response, bool]:
        """Return the final response and whether an earlier or final attempt may have been
        applied by the server although no success came back (``ambiguous``)."""
        idempotent = call.method in IDEMPOTENT_METHODS or retry_post
        progress = _Progress()
        retrying = Retrying(
            stop=stop_after_attempt(max(1, self._policy.attempts)),
            wait=partial(_wait, self._policy),
            retry=partial(_should_retry, idempotent, call.method in SAFE_METHODS, self._stats),
            sleep=self._policy.sleep,
            before_sleep=lambda rs: self._before_sleep(call, rs),
            retry_error_callback=_last_outcome,
        )
        if call.body is not NO_BODY and log.isEnabledFor(logging.DEBUG):
            log.debug(
                "%s %s body: %s",
                call.method,
                call.display,
                json.dumps(mask(call.body), sort_keys=True, default=str),
            )
        try:
            response: httpx.Response = retrying(self._attempt, call, headers, progress)
        except httpx.TransportError as exc:
            error = _transport_error(call, exc, ambiguous=progress.ambiguous)
            never_answered = isinstance(exc, httpx.ConnectError) and not self._stats.answered
            if never_answered and not _tls_failure(exc):
                error = _unreachable(call, exc, self._base)
            raise error from exc
        return response, progress.ambiguous

    def _attempt(
        self, call: Call, headers: Mapping[str, str], progress: _Progress
    ) -> httpx.Response:
        progress.attempts += 1
        self._stats.add(call.stat_key or call.method)
        if progress.attempts > 1:
            self._stats.add("retries")
        started = time.monotonic()
        try:
            response = self._http.send(
                self._build(call, headers),
                auth=call.basic if call.basic is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.TransportError as exc:
            if not _never_sent(exc):
                progress.ambiguous = True
            log.info(
                "%s %s: %s after %.0f ms (attempt %d)",
                call.method,
                call.display,
                type(exc).__name__,
                (time.monotonic() - started) * 1000,
                progress.attempts,
            )
            raise
        self._stats.answered = True
        if response.status_code in AMBIGUOUS_STATUSES:
            progress.ambiguous = True
        log.info(
            "%s %s -> %d (%.0f ms, attempt %d)",
            call.method,
            call.display,
            response.status_code,
            (time.monotonic() - started) * 1000,
            progress.attempts,
        )
        return response

    def _build(self, call: Call, headers: Mapping[str, str]) -> httpx.Request:
        """The request, built here rather than by ``http.build_request``: the client's
        headers and the call's, its timeouts, and never a cookie (docs/connection.md)."""
        url = self._base + call.url
        if call.params:
            url = f"{url}?{httpx.QueryParams(call.params)}"
        merged = self._http.headers.copy()  # the client's headers, then the call's
        merged.update(headers)
        return httpx.Request(
            call.method,
            url,
            json=None if call.body is NO_BODY else call.body,
            headers=merged,
            extensions={"timeout": self._timeout},
        )

    def _before_sleep(self, call: Call, retry_state: RetryCallState) -> None:
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


def _unreachable(call: Call, exc: httpx.TransportError, base: str) -> ApiError:
    parts = urlsplit(base)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    reason = str(exc).removeprefix("[Errno 111] ") or type(exc).__name__
    return ApiError(
        call.method,
        call.display,
        None,
        detail=f"cannot connect to {parts.hostname}:{port}: {reason}; is --url right, and the "
        "PBX up?",
    )


def _transport_error(call: Call, exc: httpx.TransportError, *, ambiguous: bool) -> ApiError:
    kind = type(exc).__name__
    if _tls_failure(exc):
        detail = _tls_detail(_ssl_error(exc), exc)
    elif ambiguous and call.method in WRITE_METHODS:
        detail = f"{kind}: {exc or 'no answer'}; the change may or may not have been applied"
        return OutcomeUnknownError(call.method, call.display, None, detail=detail)
    elif isinstance(exc, httpx.TimeoutException):
        detail = f"{kind}: no answer in time (see --timeout/--connect-timeout)"
    else:
        detail = f"{kind}: {exc or 'network error'}"
    return ApiError(call.method, call.display, None, detail=detail)


# --------------------------------------------------------------------------- errors


def text_excerpt(response: httpx.Response) -> str:
    """A non-JSON answer's text: an HTML page's title, else its text without tags. Whole:
    the CLI masks secrets in it before it shortens it for display (`Output.shown`)."""
    text = response.text
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    if title:
        text = title.group(1)
    elif "<" in text and ">" in text:
        text = re.sub(r"<[^>]+>", " ", text)
    text = text.strip()
    return f"non-JSON answer: {text}" if text else "empty non-JSON answer"


def error_messages(response: httpx.Response, secrets: Iterable[str] = ()) -> list[str]:
    """confd's error list (strings, sometimes dicts) as strings, other bodies summarised; each
    of ``secrets`` masked in them (one `SecretRegistry` for them all)."""
    registry = SecretRegistry(secrets)
    return [registry.scrub(message) for message in _messages(response)]


def _messages(response: httpx.Response) -> list[str]:
    if not response.content:
        return []
    try:
        data = response.json()
    except ValueError:
        return [text_excerpt(response)]
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

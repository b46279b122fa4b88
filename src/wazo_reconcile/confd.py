"""The confd client: wazo-confd's REST API over httpx, for the stages that read and write it.

``ConfdClient`` wraps an ``httpx.Client`` (tests pass ``transport=``) and adds:

- the ``X-Auth-Token`` of its :class:`~wazo_reconcile.auth.Auth` (``auth.py``: a fixed token,
  or one from a username/password renewed before it expires), renewed once more if confd
  answers 401;
- the ``Wazo-Tenant`` header, per client and per call;
- retries of each HTTP call (``retries.py``: connection errors, 429, 502/503/504 for idempotent
  methods); a write whose outcome is unknown raises :class:`OutcomeUnknownError` so the caller
  reads back by identity;
- confd's error answers turned into :class:`ApiError` / :class:`AuthError`, with hints;
- confd pagination (``limit``/``offset``/``total``) and thread-safe request counters.

:func:`connect` makes a client from the connection settings: the URL, its credentials, and
TLS verification (on by default, ``--ca-bundle``, ``--insecure``). The in-process sandbox of
``--sandbox`` has its own factory, ``wazo_reconcile.sandbox.client``.

Only this module, the two it builds on and ``calld.py`` (which shares its connection) talk
HTTP. Paths given to the methods are relative to ``/api/confd/1.1``.
"""

from __future__ import annotations

import enum
import ipaddress
import json
import logging
import ssl
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any
from urllib.parse import urlencode, urlsplit

import httpx

from wazo_reconcile import __version__
from wazo_reconcile.auth import Auth, PasswordAuth, TokenAuth
from wazo_reconcile.errors import ApiError, AuthError, OutcomeUnknownError, UsageError
from wazo_reconcile.retries import (
    AMBIGUOUS_STATUSES,
    NO_BODY,
    WRITE_METHODS,
    Call,
    Params,
    RequestStats,
    RetryPolicy,
    Sender,
    error_messages,
    text_excerpt,
)
from wazo_reconcile.secrets import secret_values
from wazo_reconcile.settings import (
    AUTH_PREFIX,
    CONFD_PREFIX,
    NO_CREDENTIALS,
    NO_URL,
    ConnectionSettings,
)

__all__ = [
    "CLIENT_HEADERS",
    "CLIENT_TENANT",
    "ConfdClient",
    "RequestStats",
    "RetryPolicy",
    "TenantArg",
    "connect",
    "tls_verify",
]

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 10_000
MASTER_ONLY_PREFIXES = (
    "/asterisk/pjsip/global",
    "/asterisk/pjsip/system",
    "/sip/transports",
    "/configuration/live_reload",
)
CLIENT_HEADERS: Mapping[str, str] = MappingProxyType(
    {"User-Agent": f"wazo-reconcile/{__version__}", "Accept": "application/json"}
)
"""The headers of every request (the sandbox's in-process clients send them too)."""

Items = list[dict[str, Any]]
Messages = list[str]
Totals = list[int]


class _ClientTenant(enum.Enum):
    TOKEN = "client-tenant"


CLIENT_TENANT = _ClientTenant.TOKEN
"""Default of the ``tenant=`` argument: use the client's tenant (``None`` sends no header)."""

TenantArg = str | None | _ClientTenant


# --------------------------------------------------------------------------- errors


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


# --------------------------------------------------------------------------- the client


def send_authenticated(
    sender: Sender,
    auth: Auth,
    call: Call,
    headers: Callable[[str], Mapping[str, str]],
    *,
    announce: bool = False,
) -> tuple[httpx.Response, bool]:
    """Send ``call`` with the token in ``headers(token)``; once more with a renewed token if
    it is refused (401), logged with ``announce``. The response, and whether it is ambiguous."""
    renewed = False
    while True:
        token = auth.token()
        response, ambiguous = sender.send(call, headers(token))
        if response.status_code != 401 or renewed or not auth.renew(token):
            return response, ambiguous
        if announce:
            log.info(
                "%s %s: token refused (401); renewing it and trying once more",
                call.method,
                call.display,
            )
        renewed = True  # a 401 means the request was refused: safe even for POST


def _with_query(path: str, params: Params | None) -> str:
    return f"{path}?{urlencode(params, doseq=True)}" if params else path


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
        # What another client of the same Wazo stack shares (calld.py): the HTTP connection
        # (base URL, TLS settings, timeouts, transport), the token and how it is renewed, the
        # retry policy.
        self.http = http
        self.auth = auth
        self.retry = retry or RetryPolicy()
        self.tenant = tenant
        self.page_size = page_size
        # token requests are counted with the client's requests (under "auth")
        shared = auth.stats if isinstance(auth, PasswordAuth) else None
        self.stats = stats or shared or RequestStats()
        self._sender = Sender(http, self.retry, self.stats)

    def __repr__(self) -> str:
        return f"ConfdClient(base_url={str(self.http.base_url)!r}, tenant={self.tenant!r})"

    def __enter__(self) -> ConfdClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # -- public methods

    def get(
        self,
        path: str,
        *,
        params: Params | None = None,
        tenant: TenantArg = CLIENT_TENANT,
    ) -> Any:
        """GET ``path`` and return its decoded JSON body."""
        response = self._request("GET", path, params=params, tenant=tenant)
        return self._json(response, path)

    def list(
        self,
        path: str,
        *,
        params: Params | None = None,
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
            items, totals = self._read_pages(path, params or {}, tenant, size)
            if len(set(totals)) == 1 and len(items) == totals[0]:
                return items
            log.info("GET %s: the list changed while it was read; reading it again", path)
        raise ApiError(
            "GET", path, 200, ["the list changed while it was read; run the command again"]
        )

    def post(
        self, path: str, body: object, *, tenant: TenantArg = CLIENT_TENANT
    ) -> tuple[str | None, Any]:
        """Create: return the ``Location`` header (if any) and the decoded body."""
        response = self._request("POST", path, body=body, tenant=tenant)
        return response.headers.get("Location"), self._json(response, path)

    def put(
        self,
        path: str,
        body: object = None,
        *,
        params: Params | None = None,
        tenant: TenantArg = CLIENT_TENANT,
    ) -> None:
        """Update (confd answers 204). ``body=None`` sends no body (association PUTs); an
        item PUT needs a JSON object, ``{}`` at least."""
        self._request(
            "PUT", path, params=params, body=NO_BODY if body is None else body, tenant=tenant
        )

    def auth_tenants(self) -> Items:
        """wazo-auth's tenants the token sees (``GET /api/auth/0.1/tenants``: its tenant and
        every sub-tenant), each with its ``uuid``, ``name`` and ``slug``."""
        response = self._request("GET", "/tenants", tenant=None, prefix=AUTH_PREFIX)
        page = self._json(response, AUTH_PREFIX + "/tenants")
        items, _ = self._page(page, AUTH_PREFIX + "/tenants")
        return items

    def delete(
        self,
        path: str,
        *,
        params: Params | None = None,
        tenant: TenantArg = CLIENT_TENANT,
        missing_ok: bool = False,
    ) -> None:
        """Delete. A 404 is success with ``missing_ok``, and also after an attempt whose
        outcome was unknown (the retry found the object already gone)."""
        self._request("DELETE", path, params=params, tenant=tenant, missing_ok=missing_ok)

    # -- internals

    def _read_pages(
        self, path: str, params: Params, tenant: TenantArg, size: int
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
                key = item.get("uuid", item.get("id"))
                if key is None or key not in seen:
                    seen.add(key)
                    items.append(item)
            if not batch or offset >= total:
                return items, totals

    @staticmethod
    def _page(page: object, path: str) -> tuple[Items, int]:
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
        params: Params | None = None,
        body: object = NO_BODY,
        tenant: TenantArg,
        missing_ok: bool = False,
        prefix: str = CONFD_PREFIX,
    ) -> httpx.Response:
        if not path.startswith("/"):
            raise ValueError(f"confd paths start with '/': {path!r}")
        shown = _with_query(path, params) if prefix == CONFD_PREFIX else prefix + path
        call = Call(method, prefix + path, shown, params, body)
        response, ambiguous = send_authenticated(
            self._sender,
            self.auth,
            call,
            lambda token: self._headers(tenant, token),
            announce=True,
        )
        return self._check(call, response, ambiguous=ambiguous, missing_ok=missing_ok)

    def _check(
        self, call: Call, response: httpx.Response, *, ambiguous: bool, missing_ok: bool
    ) -> httpx.Response:
        status = response.status_code
        if 200 <= status < 300:
            return response
        if status == 404 and call.method == "DELETE" and (missing_ok or ambiguous):
            log.info("DELETE %s: already gone (404)", call.display)
            return response
        if status in (401, 403):
            hint = _auth_hint(status, call.display, isinstance(self.auth, PasswordAuth))
            raise AuthError(call.method, call.display, status, detail=hint)
        messages = self._messages(call, response)
        error, detail = ApiError, ""
        if 300 <= status < 400:
            location = response.headers.get("Location", "?")
            detail = f"redirected to {location}; give the final address with --url"
        elif status == 404 and not _is_json(response):
            messages = []
            detail = (
                f"{self.http.base_url} answers, but not as a wazo-confd: is --url the base "
                "address of a Wazo stack (https://wazo.example.com)?"
            )
        elif call.method in WRITE_METHODS and status in AMBIGUOUS_STATUSES:
            error, detail = OutcomeUnknownError, "the change may or may not have been applied"
        raise error(call.method, call.display, status, messages, detail=detail)

    def _messages(self, call: Call, response: httpx.Response) -> Messages:
        secrets = set(self.auth.secrets())
        if call.body is not NO_BODY:
            secrets |= secret_values(call.body)
        return error_messages(response, secrets)

    def _json(self, response: httpx.Response, path: str) -> Any:
        if not response.content:
            return None
        try:
            return json.loads(response.content)
        except ValueError as exc:  # json.JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise ApiError(
                response.request.method,
                path,
                response.status_code,
                [text_excerpt(response)],
                detail="expected JSON: is --url the base address of a Wazo stack?",
            ) from exc


def _is_json(response: httpx.Response) -> bool:
    try:
        json.loads(response.content or b"null")
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------- factory


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
        # Plain http (the loopback sandbox) never uses TLS, and redirects are not followed:
        # no CA bundle to load (0.1 s, when httpx builds its transports). Should TLS ever be
        # tried, this context trusts no certificate.
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    return True


def connect(
    settings: ConnectionSettings,
    *,
    transport: httpx.BaseTransport | None = None,
    retry: RetryPolicy | None = None,
) -> ConfdClient:
    """A client of the Wazo stack at ``settings.url``, with its credentials and TLS settings.

    httpx's own transport carries the requests (keep-alive connections, and the proxies the
    environment names); ``transport`` replaces it (tests). ``retry`` defaults to
    ``settings.retries`` retries with backoff.
    """
    if settings.sandbox:
        raise ValueError("--sandbox has its own client: wazo_reconcile.sandbox.client")
    if not settings.url:
        raise UsageError(NO_URL)
    policy = retry or RetryPolicy(attempts=settings.retries + 1)
    host = urlsplit(settings.url).hostname
    if settings.url.startswith("http://") and not _is_loopback(host):
        log.warning(
            "%s is plain http: credentials and configuration travel unencrypted", settings.url
        )
    http = httpx.Client(
        base_url=settings.url,
        verify=tls_verify(settings),
        timeout=httpx.Timeout(settings.timeout, connect=settings.connect_timeout),
        headers=CLIENT_HEADERS,
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


def _auth(
    settings: ConnectionSettings, http: httpx.Client, policy: RetryPolicy, stats: RequestStats
) -> Auth:
    if settings.token:
        return TokenAuth(settings.token)
    if settings.username and settings.password:
        return PasswordAuth(http, settings.username, settings.password, retry=policy, stats=stats)
    raise UsageError(NO_CREDENTIALS)

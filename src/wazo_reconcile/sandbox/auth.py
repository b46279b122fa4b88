"""wazo-auth, as far as confd's clients see it: tokens, their tenant, their expiry, and the
tenants (``GET /tenants``, by which names and slugs are resolved).

Two modes. Permissive (the default, for ``--sandbox`` and tests): any non-empty
``X-Auth-Token`` that was not issued here is a valid master-tenant token, and any Basic
credentials get a token. Strict (``require_auth=(user, password)``): only tokens issued by
:meth:`Tokens.issue` (or by ``POST /api/auth/0.1/token`` with the right credentials) are valid.
Issued tokens always carry their own tenant and expire after their lifetime.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import threading
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from wazo_reconcile.sandbox.http import Request, Response

TOKEN_PATH = "/api/auth/0.1/token"
DEFAULT_LIFETIME = 7200.0
MAX_EXPIRATION = 315360000


@dataclass(frozen=True)
class Token:
    token: str
    tenant_uuid: str
    user_uuid: str
    session_uuid: str
    issued_at: float
    expires_at: float | None  # None: the permissive mode's implicit tokens never expire
    acl: tuple[str, ...] | None = None  # None: every ACL (only wazo-calld's routes check it)


class Tokens:
    """The token registry (thread-safe)."""

    def __init__(
        self,
        *,
        master_tenant: str,
        clock: Callable[[], float],
        credentials: tuple[str, str] | None,
        lifetime: float,
        known_tenant: Callable[[str], bool],
    ) -> None:
        self.master_tenant = master_tenant
        self.clock = clock
        self.credentials = credentials
        self.lifetime = lifetime
        self.known_tenant = known_tenant
        self._tokens: dict[str, Token] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        tenant_uuid: str | None = None,
        lifetime: float | None = None,
        acl: tuple[str, ...] | None = None,
    ) -> Token:
        now = self.clock()
        token = Token(
            token=secrets.token_hex(18),
            tenant_uuid=tenant_uuid or self.master_tenant,
            user_uuid=str(uuid.uuid4()),
            session_uuid=str(uuid.uuid4()),
            issued_at=now,
            expires_at=now + (self.lifetime if lifetime is None else lifetime),
            acl=acl,
        )
        with self._lock:
            self._tokens[token.token] = token
        return token

    def resolve(self, value: str) -> Token | None:
        """The valid token named ``value``, or None (unknown in strict mode, or expired)."""
        if not value:
            return None
        with self._lock:
            token = self._tokens.get(value)
        if token is None:
            if self.credentials is not None:
                return None
            return Token(value, self.master_tenant, "", "", 0.0, None)
        if token.expires_at is not None and self.clock() >= token.expires_at:
            return None
        return token

    def handle(self, request: Request) -> Response:
        """wazo-auth's ``/token`` routes: create (POST), check (GET/HEAD), revoke (DELETE)."""
        rest = request.path.removeprefix(TOKEN_PATH)
        if rest == "" and request.method == "POST":
            return self._create(request)
        value = rest.removeprefix("/")
        if rest.startswith("/") and value and "/" not in value:
            if request.method == "DELETE":
                with self._lock:
                    self._tokens.pop(value, None)
                return Response.json(200, {"data": {"message": "success"}})
            if request.method in ("GET", "HEAD"):
                return self._check(value, head=request.method == "HEAD")
        return _auth_error(405, "Method Not Allowed", self.clock())

    def _check(self, value: str, *, head: bool) -> Response:
        token = self.resolve(value)
        if token is None:
            return _auth_error(404, "No such token", self.clock())
        return Response.empty(204) if head else Response.json(200, {"data": token_body(token)})

    def _create(self, request: Request) -> Response:
        """Body first (JSON, ``expiration``, ``tenant_id``), then Basic credentials."""
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return _auth_error(400, "Invalid JSON", self.clock())
        expiration = body.get("expiration", self.lifetime)
        tenant = body.get("tenant_id") or self.master_tenant
        if not _valid_expiration(expiration) or not self.known_tenant(tenant):
            return _auth_error(400, "Invalid value supplied for field", self.clock())
        if not self._authenticated(request.headers.get("authorization", "")):
            return _auth_error(401, "Authentication Failed", self.clock())
        token = self.issue(tenant, float(expiration))
        return Response.json(200, {"data": token_body(token)})

    def _authenticated(self, header: str) -> bool:
        scheme, _, encoded = header.partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(encoded).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False
        if self.credentials is None:
            return bool(user)
        return (user, password) == self.credentials


def _valid_expiration(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (0 < value <= MAX_EXPIRATION)
    )


def _stamp(moment: float, *, utc: bool) -> str:
    when = datetime.fromtimestamp(moment, tz=UTC)
    local = when if utc else when.astimezone()
    return local.replace(tzinfo=None).isoformat()


def token_body(token: Token) -> dict[str, Any]:
    """The ``data`` object wazo-auth answers with (fields a client may rely on)."""
    expires = token.expires_at if token.expires_at is not None else token.issued_at
    return {
        "token": token.token,
        "session_uuid": token.session_uuid,
        "acl": list(token.acl) if token.acl is not None else ["confd.#", "calld.#"],
        "metadata": {
            "uuid": token.user_uuid,
            "tenant_uuid": token.tenant_uuid,
            "auth_id": token.user_uuid,
            "pbx_user_uuid": None,
            "purpose": "user",
        },
        "auth_id": token.user_uuid,
        "xivo_user_uuid": None,
        "issued_at": _stamp(token.issued_at, utc=False),
        "expires_at": _stamp(expires, utc=False),
        "utc_issued_at": _stamp(token.issued_at, utc=True),
        "utc_expires_at": _stamp(expires, utc=True),
        "user_agent": "",
        "remote_addr": "127.0.0.1",
    }


def _auth_error(status: int, reason: str, now: float) -> Response:
    return Response.json(status, {"reason": [reason], "timestamp": [now], "status_code": status})


# ------------------------------------------------------------------------------ tenants

TENANTS_PATH = "/api/auth/0.1/tenants"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_ORDERS = ("name", "slug")
_DIRECTIONS = ("asc", "desc")
_FILTERS = ("uuid", "name", "slug")  # exact filters on a column (domain_name: see _domain)
MAX_UUIDS = 25
TENANTS_ACL = "auth.tenants.read"


class TenantsApi:
    """wazo-auth's ``GET /tenants`` and ``GET /tenants/{uuid}`` (auth_tenants.yml): the token's
    tenant (or the ``Wazo-Tenant`` one, if it is a sub-tenant of it) and its sub-tenants.

    ``rows`` gives the sandbox's tenants (``uuid``, ``name``, ``slug``, ``parent_uuid``, None
    for the top tenant), read under the sandbox's lock.
    """

    def __init__(self, tokens: Tokens, rows: Callable[[], list[dict[str, Any]]]) -> None:
        self.tokens = tokens
        self.rows = rows

    def handle(self, request: Request) -> Response:
        rest = request.path.removeprefix(TENANTS_PATH)
        if rest and not (rest.startswith("/") and _UUID.fullmatch(rest[1:])):
            return Response.html_not_found()  # Flask: the route only matches a UUID
        if request.method not in ("GET", "HEAD"):
            message = {"message": "The method is not allowed for the requested URL."}
            return Response.json(405, message, {"Allow": "GET, HEAD, OPTIONS"})
        value = request.headers.get("x-auth-token", "")
        token = self.tokens.resolve(value)
        if token is None:
            details = {
                "invalid_token": value,
                "reason": "not_found_or_expired",
                "required_access": TENANTS_ACL if not rest else f"auth.tenants.{rest[1:]}.read",
            }
            return self._error(401, "Unauthorized", "unauthorized", details)
        rows = {row["uuid"]: row for row in self.rows()}
        header = request.headers.get("wazo-tenant") or None
        scope = subtree(rows.values(), token.tenant_uuid)
        if header is not None:
            if header not in scope:
                details = {"tenant_uuid": header}
                return self._error(401, "Unauthorized tenant", "unauthorized-tenant", details)
            scope = subtree(rows.values(), header)
        if rest:
            return self._one(rest[1:].lower(), rows, scope)
        return self._list(request, [rows[uuid] for uuid in scope if uuid in rows])

    def _error(
        self,
        status: int,
        message: str,
        error_id: str,
        details: dict[str, Any],
        resource: str | None = None,
    ) -> Response:
        """wazo-auth's error body; one about a resource also names it and the time."""
        body: dict[str, Any] = {"message": message, "error_id": error_id, "details": details}
        if resource is not None:
            body |= {"resource": resource, "timestamp": self.tokens.clock()}
        return Response.json(status, body)

    def _one(self, uuid: str, rows: dict[str, dict[str, Any]], scope: list[str]) -> Response:
        if uuid not in scope or uuid not in rows:
            message = f'No such tenant: "{uuid}"'
            details = {"uuid": uuid}
            return self._error(404, message, "unknown-tenant", details, "tenants")
        return Response.json(200, tenant_body(rows[uuid]))

    def _list(self, request: Request, rows: list[dict[str, Any]]) -> Response:
        query = request.query
        params, problems = _list_params(query)
        if problems:
            message = next(iter(problems.values()))["message"]
            return self._error(400, message, "invalid-list-param", problems, "users")
        bodies = [tenant_body(row) for row in rows]
        found = [b for b in bodies if _matches(b, query, request.query_list("uuids"))]
        key = params["order"]
        # PostgreSQL with a linguistic collation: case does not come first
        found.sort(
            key=lambda b: (str(b[key]).casefold(), str(b[key])),
            reverse=params["direction"] == "desc",
        )
        offset, limit = params["offset"], params["limit"]
        page = found[offset : None if limit is None else offset + limit]
        return Response.json(200, {"total": len(bodies), "filtered": len(found), "items": page})


def tenant_body(row: dict[str, Any]) -> dict[str, Any]:
    """A tenant as wazo-auth dumps it (TenantFullSchema); the top tenant is its own parent."""
    return {
        "uuid": row["uuid"],
        "parent_uuid": row.get("parent_uuid") or row["uuid"],
        "name": row.get("name") or row["slug"],
        "slug": row["slug"],
        "contact": None,
        "phone": None,
        "default_authentication_method": "native",
        "domain_names": list(row.get("domain_names") or []),
        "address": dict.fromkeys(("line_1", "line_2", "city", "state", "country", "zip_code")),
    }


def subtree(rows: Collection[Mapping[str, Any]], top: str) -> list[str]:
    """A tenant and all its sub-tenants (what wazo-auth calls its visible tenants)."""
    found = [top]
    for candidate in found:
        found += [row["uuid"] for row in rows if row.get("parent_uuid") == candidate]
    return found


def _list_params(query: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    params: dict[str, Any] = {"order": "name", "direction": "asc", "offset": 0, "limit": None}
    problems: dict[str, Any] = {}
    for name in ("limit", "offset"):
        if name in query:
            text = query[name]
            if not text.isdigit():
                problems[name] = _constraint("type", "integer", "Not a valid integer.")
            else:
                params[name] = int(text)
    for name, choices in (("order", _ORDERS), ("direction", _DIRECTIONS)):
        if name in query:
            if query[name] not in choices:
                message = f"Must be one of: {', '.join(choices)}."
                problems[name] = _constraint("enum", list(choices), message)
            else:
                params[name] = query[name]
    return params, problems


def _constraint(kind: str, constraint: Any, message: str) -> dict[str, Any]:
    return {"constraint_id": kind, "constraint": constraint, "message": message}


def _matches(body: dict[str, Any], query: Mapping[str, str], uuids: list[str]) -> bool:
    for name in _FILTERS:
        if name in query and body[name] != query[name]:
            return False
    if "domain_name" in query and query["domain_name"] not in body["domain_names"]:
        return False
    if uuids and body["uuid"] not in uuids[:MAX_UUIDS]:
        return False
    search = query.get("search")
    if search:
        texts = [body["name"], body["slug"], *body["domain_names"]]
        return any(_words_in_order(search, str(text)) for text in texts)
    return True


def _words_in_order(search: str, text: str) -> bool:
    """wazo-auth's search: case-insensitive, the words of ``search`` in that order."""
    pattern = ".*".join(re.escape(word) for word in search.lower().split())
    return re.search(pattern, text.lower()) is not None

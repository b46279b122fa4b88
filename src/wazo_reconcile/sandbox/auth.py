"""wazo-auth, as far as confd's clients see it: tokens, their tenant, their expiry.

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
import secrets
import threading
import uuid
from collections.abc import Callable
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

    def revoke(self, value: str) -> None:
        with self._lock:
            self._tokens.pop(value, None)

    def handle(self, request: Request) -> Response:
        """wazo-auth's ``/token`` routes: create (POST), check (GET/HEAD), revoke (DELETE)."""
        rest = request.path.removeprefix(TOKEN_PATH)
        if rest == "" and request.method == "POST":
            return self._create(request)
        value = rest.removeprefix("/")
        if rest.startswith("/") and value and "/" not in value:
            if request.method == "DELETE":
                self.revoke(value)
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

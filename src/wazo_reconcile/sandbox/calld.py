"""wazo-calld's trunk statuses (``GET /api/calld/1.0/trunks``), with a deterministic model.

wazo-calld derives each trunk's ``registered`` and ``current_call_count`` from Asterisk (ARI
endpoint states, AMI Registry/PeerStatus/Newchannel/Hangup events: confd-api/spec/
calld_trunks.yml). The sandbox has no Asterisk, so it answers from a model that only depends on
the confd state and on what a test or a user set (``configure``, ``/_sandbox/calld``):

- the trunks of ONE tenant, as calld lists them: ``Wazo-Tenant`` when the token may use it,
  else the token's tenant (never its sub-tenants); only trunks with an endpoint (a trunk with no
  endpoint, or with only an IAX register, is skipped); ``name`` is the endpoint's name (the
  interface of a custom endpoint), ``technology`` ``sip``, ``iax`` or ``custom``;
- ``registered``: a trunk that registers (its SIP endpoint's own registration section has a
  ``client_uri``, or it is an IAX trunk with a register) is registered (true) unless marked
  otherwise; any other trunk is null (no endpoint state without Asterisk);
- ``current_call_count``: 0 for SIP and IAX trunks, null for custom ones (calld counts only
  the channels of endpoints it knows), unless set;
- an override (by trunk name) sets ``registered`` and/or ``current_call_count``; with
  ``for_reads: N`` it holds for the next N reads of that trunk, then the model applies again
  (a call that ends, a registration that comes back) — deterministic, no clock involved;
- ``available: false`` answers as a Wazo whose calld is down: nginx's 502 Bad Gateway page.

Token checks are confd's (a valid token; ``Wazo-Tenant`` among the token's visible tenants),
plus the ACL ``calld.trunks.read`` (tokens issued with an explicit ``acl``); refusals are
calld's 401 ``{"message": "Unauthorized", "error_id": "unauthorized", "details": …}``.
"""

from __future__ import annotations

import copy
import re
import threading
from collections.abc import Mapping
from typing import Any

from wazo_reconcile.sandbox.auth import Tokens
from wazo_reconcile.sandbox.call import visible_tenants
from wazo_reconcile.sandbox.http import Request, Response
from wazo_reconcile.sandbox.store import Record, Store

Override = dict[str, Any]  # registered, current_call_count, for_reads
Status = dict[str, object]  # one item of calld's answer

CALLD_PREFIX = "/api/calld/1.0"
TRUNKS_PATH = f"{CALLD_PREFIX}/trunks"
TRUNKS_ACL = "calld.trunks.read"
OVERRIDE_KEYS = frozenset({"registered", "current_call_count", "for_reads"})
BAD_GATEWAY = (
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


def acl_allows(patterns: tuple[str, ...] | None, acl: str) -> bool:
    """wazo-auth's ACL matching: ``*`` is one dotted word, ``#`` any number of them;
    ``None`` (a token issued without an ACL list) allows everything."""
    if patterns is None:
        return True
    for pattern in patterns:
        words = [
            ".*" if w == "#" else "[^.]*" if w == "*" else re.escape(w) for w in pattern.split(".")
        ]
        if re.fullmatch(r"\.".join(words), acl):
            return True
    return False


def _check_override(name: str, override: object) -> Override:
    if not isinstance(override, Mapping) or not set(override) <= OVERRIDE_KEYS:
        keys = ", ".join(sorted(OVERRIDE_KEYS))
        raise ValueError(f"trunk {name!r}: expected a mapping of {keys}")
    registered, calls = override.get("registered"), override.get("current_call_count")
    if registered is not None and not isinstance(registered, bool):
        raise ValueError(f"trunk {name!r}: registered must be true, false or null")
    if calls is not None and (isinstance(calls, bool) or not isinstance(calls, int) or calls < 0):
        raise ValueError(f"trunk {name!r}: current_call_count must be an integer >= 0 or null")
    reads = override.get("for_reads")
    if reads is not None and (isinstance(reads, bool) or not isinstance(reads, int) or reads < 1):
        raise ValueError(f"trunk {name!r}: for_reads must be an integer >= 1")
    return dict(override)


class CalldEmulator:
    """The trunk-status model and its overrides (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.available = True
        self._overrides: dict[str, Override] = {}

    # -- configuration (the Python API and /_sandbox/calld)

    def configure(self, config: Mapping[str, object]) -> None:
        """Replace the configuration: ``{"available": bool, "trunks": {name: override}}``."""
        unknown = set(config) - {"available", "trunks"}
        if unknown:
            raise ValueError(f"unknown calld settings: {', '.join(sorted(unknown))}")
        available = config.get("available", True)
        if not isinstance(available, bool):
            raise ValueError("available must be true or false")
        trunks = config.get("trunks") or {}
        if not isinstance(trunks, Mapping):
            raise ValueError("trunks must map trunk names to overrides")
        checked = {str(name): _check_override(str(name), o) for name, o in trunks.items()}
        with self._lock:
            self.available, self._overrides = available, checked

    def set_trunk(self, name: str, **override: object) -> None:
        """Add or replace the override of one trunk (``registered``, ``current_call_count``,
        ``for_reads``)."""
        checked = _check_override(name, override)
        with self._lock:
            self._overrides[name] = checked

    def config(self) -> dict[str, object]:
        with self._lock:
            return {"available": self.available, "trunks": copy.deepcopy(self._overrides)}

    def reset(self) -> None:
        self.configure({})

    # -- the endpoint

    def handle(self, request: Request, store: Store, tokens: Tokens, now: float) -> Response:
        if not self.available:
            return Response(502, BAD_GATEWAY.encode(), {"Content-Type": "text/html"})
        if request.path.rstrip("/") != TRUNKS_PATH:
            return _error(404, "Not Found", "not-found", {}, now)
        if request.method not in ("GET", "HEAD"):
            return _error(405, "Method Not Allowed", "method-not-allowed", {}, now)
        value = request.headers.get("x-auth-token", "")
        token = tokens.resolve(value)
        if token is None:
            details = {"invalid_token": value, "reason": "not_found_or_expired"}
            return _error(401, "Unauthorized", "unauthorized", details, now)
        header = request.headers.get("wazo-tenant") or None
        allowed = header is None or header in visible_tenants(store, token.tenant_uuid)
        if not allowed or not acl_allows(token.acl, TRUNKS_ACL):
            details = {
                "invalid_token": value,
                "reason": "missing_permission_or_invalid_tenant",
                "required_access": TRUNKS_ACL,
                "tenant_uuid": header or token.tenant_uuid,
            }
            return _error(401, "Unauthorized", "unauthorized", details, now)
        items = self.statuses(store, header or token.tenant_uuid)
        return Response.json(200, {"items": items, "total": len(items), "filtered": len(items)})

    def statuses(self, store: Store, tenant_uuid: str) -> list[Status]:
        """The tenant's trunk statuses; each one listed counts as a read of its override."""
        found = []
        with self._lock:
            for trunk in store.rows("trunks"):
                endpoint = store.trunk_endpoint(trunk)
                if trunk["tenant_uuid"] == tenant_uuid and endpoint is not None:
                    found.append(self._status(trunk, *endpoint))
        return found

    def _status(self, trunk: Record, technology: str, endpoint: Record) -> Status:
        if technology == "sip":  # it registers: its own registration section has a client_uri
            registers = any(key == "client_uri" for key, _ in endpoint["sections"]["registration"])
        else:  # an IAX trunk registers with a register
            registers = technology == "iax" and trunk.get("register_iax_id") is not None
        name = endpoint["interface" if technology == "custom" else "name"]
        status: Status = {
            "id": trunk["id"],
            "name": name,
            "technology": technology,
            "registered": True if registers else None,
            "current_call_count": None if technology == "custom" else 0,
        }
        override = self._overrides.get(name)
        if override is not None:
            status.update({k: v for k, v in override.items() if k != "for_reads"})
            if "for_reads" in override:
                override["for_reads"] -= 1
                if override["for_reads"] <= 0:
                    del self._overrides[name]
        return status


def _error(
    status: int, message: str, error_id: str, details: Mapping[str, object], now: float
) -> Response:
    body = {"message": message, "error_id": error_id, "details": details, "timestamp": now}
    return Response.json(status, body)

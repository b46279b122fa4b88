"""The wazo-calld client: each trunk's registration and calls in progress, as Asterisk sees them.

wazo-calld runs beside wazo-confd on the same Wazo stack: ``GET /api/calld/1.0/trunks`` (ACL
``calld.trunks.read``) lists the trunk endpoints of ONE tenant (``Wazo-Tenant``, else the
token's; never its sub-tenants) with ``registered`` (true, false or null) and
``current_call_count`` (confd-api/spec/calld_trunks.yml says how calld derives them).

:class:`CalldClient` shares the confd client's connection (``ConfdClient.http``: the base URL
of ``--url``, TLS settings, timeouts, the in-process sandbox's transport) and its
authentication (``ConfdClient.auth``: the same token, renewed once on a 401), and sends each
request through the same retrying :class:`~wazo_reconcile.retries.Sender`. Its failures are
:class:`ApiError` / :class:`AuthError` whose message says what to check: the ACL, whether the
PBX runs wazo-calld.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import httpx

from wazo_reconcile.auth import Auth
from wazo_reconcile.confd import ConfdClient, send_authenticated
from wazo_reconcile.errors import ApiError, AuthError
from wazo_reconcile.retries import Call, RequestStats, RetryPolicy, Sender, error_messages
from wazo_reconcile.settings import CALLD_PREFIX

log = logging.getLogger(__name__)

TRUNKS_PATH = f"{CALLD_PREFIX}/trunks"
TRUNKS_ACL = "calld.trunks.read"


@dataclass(frozen=True, slots=True)
class TrunkStatus:
    """One trunk as wazo-calld reports it; ``id`` is confd's trunk id."""

    id: int
    name: str  # the Asterisk endpoint's name (a custom trunk's interface)
    technology: str  # sip | iax | custom
    registered: bool | None  # null: Asterisk does not know (custom trunks, unknown endpoints)
    current_call_count: int | None


class CalldClient:
    """A wazo-calld client on an existing connection (thread-safe, like the confd client)."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        auth: Auth,
        retry: RetryPolicy | None = None,
    ) -> None:
        self._http = http
        self._auth = auth
        # Its own counters: until calld has answered once, a refused connection is not retried.
        self.stats = RequestStats()
        self._sender = Sender(http, retry or RetryPolicy(), self.stats)

    @classmethod
    def beside(cls, confd: ConfdClient) -> CalldClient:
        """The wazo-calld of the Wazo stack a :class:`~wazo_reconcile.confd.ConfdClient`
        talks to, with its connection, token and retry policy."""
        return cls(confd.http, auth=confd.auth, retry=confd.retry)

    def trunks(self, tenant: str | None = None) -> list[TrunkStatus]:
        """The trunk statuses of ``tenant`` (None: the token's own tenant)."""
        call = Call("GET", TRUNKS_PATH, TRUNKS_PATH)
        response, _ = send_authenticated(
            self._sender,
            self._auth,
            call,
            lambda token: {"X-Auth-Token": token, **({"Wazo-Tenant": tenant} if tenant else {})},
        )
        return _statuses(self._check(response))

    def _check(self, response: httpx.Response) -> object:
        status = response.status_code
        if status in (401, 403):
            raise AuthError("GET", TRUNKS_PATH, status, detail=_refusal(response))
        if status == 200:
            try:
                return json.loads(response.content)
            except ValueError:
                pass
        messages = error_messages(response, self._auth.secrets())
        base = str(self._http.base_url).rstrip("/")
        if status == 404:
            detail = f"no wazo-calld answers at {base}{CALLD_PREFIX}: does the PBX run it?"
        elif status == 200:
            detail = "expected JSON from wazo-calld"
        else:
            detail = "wazo-calld is failing or not running; nginx answers 502 when it is down"
        raise ApiError("GET", TRUNKS_PATH, status, messages, detail=detail)


def _refusal(response: httpx.Response) -> str:
    reason = ""
    try:
        details = response.json().get("details") or {}
        reason = str(details.get("reason") or "")
    except (ValueError, AttributeError):
        pass
    if reason == "not_found_or_expired":
        return "wazo-calld refused the token: unknown or expired"
    return (
        f"wazo-calld refused the token: it needs the ACL {TRUNKS_ACL} (and a tenant it may use); "
        "give the user that ACL, or use a token that has it"
    )


def _statuses(answer: object) -> list[TrunkStatus]:
    items = answer.get("items") if isinstance(answer, Mapping) else None
    if not isinstance(items, list):
        raise ApiError("GET", TRUNKS_PATH, 200, detail="expected {'items': [...]} from wazo-calld")
    found = []
    for item in items:
        if not isinstance(item, Mapping) or not isinstance(item.get("id"), int):
            continue
        registered = item.get("registered")
        calls = item.get("current_call_count")
        found.append(
            TrunkStatus(
                id=item["id"],
                name=str(item.get("name") or ""),
                technology=str(item.get("technology") or "").lower(),
                registered=registered if isinstance(registered, bool) else None,
                current_call_count=calls if isinstance(calls, int) else None,
            )
        )
    return found

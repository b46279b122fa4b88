"""The sandbox application: one object answering confd and wazo-auth requests.

Request flow: admin endpoints (``/_sandbox/...``) are answered directly; every other request
gets an index, a latency and maybe a fault from the :class:`FaultInjector`, then is routed
(Flask-like 404/405 first), authenticated (token, ``Wazo-Tenant``, master-tenant-only routes,
in confd's order and wording) and handled under the store lock. wazo-calld's trunk statuses
(``/api/calld/1.0/trunks``) are answered by :mod:`wazo_reconcile.sandbox.calld`. Sleeping
happens outside the lock, so concurrent clients are not serialised by latency.

With a cost profile (``costs="confd"``, :mod:`wazo_reconcile.sandbox.costs`) each handled
request is also priced and queued, still under the store lock (so in the order requests are
handled), on one modelled worker; its answer waits, outside the lock, until the worker is done
with it.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from wazo_reconcile.sandbox import problems
from wazo_reconcile.sandbox.auth import (
    DEFAULT_LIFETIME,
    TENANTS_PATH,
    TOKEN_PATH,
    TenantsApi,
    Tokens,
)
from wazo_reconcile.sandbox.call import API_PREFIX, Call, visible_tenants
from wazo_reconcile.sandbox.calld import CALLD_PREFIX, CalldEmulator
from wazo_reconcile.sandbox.costs import CostProfile, meter_for
from wazo_reconcile.sandbox.faults import FaultConfig, FaultInjector
from wazo_reconcile.sandbox.http import Request, Response
from wazo_reconcile.sandbox.resources import ROUTES
from wazo_reconcile.sandbox.routing import Route, Router
from wazo_reconcile.sandbox.seed import seed as seed_profile
from wazo_reconcile.sandbox.store import Store

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/_sandbox/"
_BEFORE = ("error", "rate_limit", "drop_before")


@dataclass(frozen=True)
class Outcome:
    """What to do with a request: answer ``response`` (after ``delay`` seconds, a late answer
    the client may have given up on), or drop the connection when ``response`` is None."""

    response: Response | None
    delay: float = 0.0


class Sandbox:
    """An embedded, stateful wazo-confd (+ wazo-auth token endpoint).

    ``profile``: ``"fresh"`` or ``"recordings"`` (see :mod:`wazo_reconcile.sandbox.seed`).
    ``require_auth``: ``(user, password)`` makes only issued tokens valid (else any non-empty
    token is a master-tenant token). ``token_lifetime``: seconds, for issued tokens.
    ``faults``: latency and fault injection. ``clock``/``sleep``: injectable time.
    ``seed``: makes generated uuids and names reproducible.
    ``costs``: a cost profile (``"confd"`` or a :class:`CostProfile`): requests take the time
    the real server takes, one at a time; ``cost_scale`` multiplies that time (0.1: ten
    times faster; 0: no waiting, only the counters of modelled time).
    ``new_tenant_uuids``: the ``fresh`` profile's tenants get random UUIDs (from ``seed``),
    as two real Wazo stacks have, instead of ``FRESH_MASTER``/``FRESH_SUB``.
    """

    def __init__(
        self,
        profile: str = "fresh",
        *,
        require_auth: tuple[str, str] | None = None,
        token_lifetime: float = DEFAULT_LIFETIME,
        faults: FaultConfig | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        seed: int | None = None,
        costs: str | CostProfile | None = None,
        cost_scale: float = 1.0,
        new_tenant_uuids: bool = False,
    ) -> None:
        self.profile = profile
        self.clock = clock
        self._sleep = sleep
        self._lock = threading.RLock()
        self._seed = seed
        self._new_tenants = new_tenant_uuids
        self.store, self.master_tenant = self._seeded()
        self.tokens = Tokens(
            master_tenant=self.master_tenant,
            clock=clock,
            credentials=require_auth,
            lifetime=token_lifetime,
            known_tenant=lambda uuid: uuid in self.store.table("tenants"),
        )
        self.auth_tenants = TenantsApi(self.tokens, lambda: list(self.store.rows("tenants")))
        self.faults = FaultInjector(faults)
        self.calld = CalldEmulator()  # wazo-calld's trunk statuses (sandbox/calld.py)
        self.router = Router(ROUTES)
        self.meter = meter_for(costs, cost_scale)

    # -- the Python API ---------------------------------------------------------------------

    def issue_token(
        self,
        tenant_uuid: str | None = None,
        lifetime: float | None = None,
        acl: tuple[str, ...] | None = None,
    ) -> str:
        """A valid token of ``tenant_uuid`` (default: the master tenant); ``acl`` limits what
        wazo-calld lets it read (default: everything)."""
        return self.tokens.issue(tenant_uuid, lifetime, acl).token

    def configure_faults(self, config: FaultConfig) -> None:
        self.faults.configure(config)

    def configure_calld(self, config: dict[str, Any]) -> None:
        """wazo-calld's trunk statuses: ``{"available": bool, "trunks": {name: {"registered",
        "current_call_count", "for_reads"}}}`` (see sandbox/calld.py); ``{}`` resets them."""
        self.calld.configure(config)

    def stats(self) -> dict[str, Any]:
        """Request counters: ``total``, ``requests`` per ``"METHOD /path/{template}"``,
        ``faults`` per kind and ``faulted`` (index, method, path, fault of each faulted request);
        ``costs``: the cost profile's counters (None without a profile)."""
        stats = self.faults.stats()
        stats["costs"] = self.meter.stats() if self.meter is not None else None
        return stats

    def reset_stats(self) -> None:
        """Forget the counters; request indexes (and fault decisions) start over."""
        self.faults.reset()
        if self.meter is not None:
            self.meter.reset()

    def reset_state(self) -> None:
        """Back to the seed profile's state (issued tokens stay valid)."""
        with self._lock:
            self.store = self._seeded()[0]
            self.calld.reset()

    def _seeded(self) -> tuple[Store, str]:
        """A store in the seed profile's state, and its master tenant."""
        store = Store(random.Random(self._seed))
        master = seed_profile(store, self.profile, self.clock(), new_tenant_uuids=self._new_tenants)
        return store, master

    def state(self) -> dict[str, Any]:
        """A deep copy of the whole store (tables of stored records)."""
        with self._lock:
            return self.store.snapshot()

    def transport(self) -> httpx.BaseTransport:
        """An httpx transport answering in-process: ``httpx.Client(transport=sb.transport())``."""
        from wazo_reconcile.sandbox.transport import SandboxTransport

        return SandboxTransport(self)

    @contextmanager
    def serve(self, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
        """Serve on real sockets (threaded) for the ``with`` block; yields the base URL."""
        from wazo_reconcile.sandbox.server import SandboxServer, serving

        with serving(SandboxServer(self, host, port)) as server:
            yield server.base_url

    # -- request handling ---------------------------------------------------------------------

    def handle(self, request: Request) -> Outcome:
        if request.path.startswith(ADMIN_PREFIX):
            return Outcome(self._admin(request))
        matched = self._match(request)
        template = matched[0].name if isinstance(matched, tuple) else request.path
        decision = self.faults.decide(request.method, request.path, f"{request.method} {template}")
        if decision.latency > 0:
            self._sleep(decision.latency)
        fault = decision.fault
        if fault is not None and fault.kind in _BEFORE:
            return _early_fault(fault.kind, fault.status, fault.retry_after)
        meter = self.meter
        response, due = self._process(request, matched, meter.clock() if meter else 0.0)
        if meter is not None and due is not None and (wait := due - meter.clock()) > 0:
            self._sleep(wait)  # outside the store lock: the worker's queue, not a lock, orders
        if fault is None:
            return Outcome(response)
        if fault.kind == "saved_then_500":
            detail = "sysconfd: request handlers failed after commit (sandbox fault)"
            return Outcome(Response.json(500, problems.unexpected(detail).body))
        if fault.kind == "drop_after":
            return Outcome(None)
        return Outcome(response, delay=fault.delay)

    def _match(self, request: Request) -> tuple[Route, dict[str, Any]] | Callable[[], Response]:
        """The confd route and its parameters, else what answers the request: wazo-auth's
        routes (tokens, tenants), wazo-calld's, or routing itself (404, 405, OPTIONS)."""
        path = request.path
        if _under(path, TOKEN_PATH):
            return partial(self.tokens.handle, request)
        if _under(path, TENANTS_PATH):
            return partial(self.auth_tenants.handle, request)
        if path.startswith(CALLD_PREFIX + "/"):
            return lambda: self.calld.handle(request, self.store, self.tokens, self.clock())
        if not path.startswith(API_PREFIX + "/"):
            return Response.html_not_found
        found = self.router.match(request.method, path[len(API_PREFIX) :])
        return found if isinstance(found, tuple) else lambda: found

    def _process(
        self,
        request: Request,
        matched: tuple[Route, dict[str, Any]] | Callable[[], Response],
        arrived: float,
    ) -> tuple[Response, float | None]:
        """The response, and when the cost profile's worker is done with it (None: free)."""
        if not isinstance(matched, tuple):
            with self._lock:  # wazo-auth's tenants and wazo-calld read the store
                return matched(), None
        route, params = matched
        with self._lock:
            key = f"{request.method} {route.name}"
            meter = self.meter
            quoted = meter.quote(key, params, request.body, self.store) if meter else 0.0
            response, call = self._respond(request, route, params)
            if meter is None:
                return response, None
            listed = call.listed if call is not None else None
            return response, meter.charge(key, quoted, response.status, listed, arrived)

    def _respond(
        self, request: Request, route: Route, params: dict[str, Any]
    ) -> tuple[Response, Call | None]:
        call = None
        try:
            call = self._authorize(request, route, params)
            return route.handler(call), call
        except problems.ApiProblem as problem:
            return Response.json(problem.status, problem.body), call
        except Exception as exc:  # confd's generic handler: a bug becomes a 500
            log.exception("sandbox handler failed")
            return Response.json(500, problems.unexpected(str(exc)).body), call

    def _authorize(self, request: Request, route: Route, params: dict[str, Any]) -> Call:
        """confd's decorators, outermost first: token + ACL, Wazo-Tenant, master tenant."""
        value = request.headers.get("x-auth-token", "")
        acl = route.required_acl(params)
        token = self.tokens.resolve(value)
        if token is None:
            raise problems.unauthorized(value, acl)
        header = request.headers.get("wazo-tenant") or None
        if header is not None and header not in visible_tenants(self.store, token.tenant_uuid):
            raise problems.unauthorized(value, acl, header)
        if route.master_only and token.tenant_uuid != self.master_tenant:
            raise problems.not_master_tenant(value)
        return Call(request, params, self.store, token, header or token.tenant_uuid, self.clock())

    def _admin(self, request: Request) -> Response:
        action = (request.method, request.path.removeprefix(ADMIN_PREFIX).rstrip("/"))
        try:
            body = json.loads(request.body) if request.body else {}
            if action == ("GET", "stats"):
                return Response.json(200, self.stats())
            if action == ("POST", "reset"):
                self.reset_stats()
                if body.get("state"):
                    self.reset_state()
                return Response.empty(204)
            if action == ("GET", "state"):
                return Response.json(200, self.state())
            if action == ("POST", "faults"):
                self.configure_faults(FaultConfig.from_json(body))
            if action in (("GET", "faults"), ("POST", "faults")):  # both answer the config
                return Response.json(200, self.faults.config.to_json())
            if action == ("POST", "tokens"):
                acl = None if body.get("acl") is None else tuple(body["acl"])
                token = self.issue_token(body.get("tenant_uuid"), body.get("lifetime"), acl)
                return Response.json(200, {"token": token})
            if action == ("POST", "calld"):
                self.configure_calld(body)
            if action in (("GET", "calld"), ("POST", "calld")):
                return Response.json(200, self.calld.config())
        except (ValueError, TypeError, KeyError) as exc:
            return Response.json(400, {"error": str(exc)})
        return Response.json(404, {"error": f"no sandbox admin endpoint {' '.join(action)}"})


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def _early_fault(kind: str, status: int, retry_after: int) -> Outcome:
    if kind == "drop_before":
        return Outcome(None)
    if kind == "rate_limit":
        return Outcome(Response.json(429, ["Too Many Requests"], {"Retry-After": str(retry_after)}))
    return Outcome(Response.json(status, [f"Sandbox injected fault: HTTP {status}"]))

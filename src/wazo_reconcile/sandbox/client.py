"""confd clients of an in-process sandbox: what ``--sandbox`` and the tests talk to.

The sandbox answers through an httpx transport (``Sandbox.transport()``), so these clients
are ordinary :class:`~wazo_reconcile.confd.ConfdClient` objects with a token the sandbox
issued. The sandbox imports the client here, never the reverse.
"""

from __future__ import annotations

import logging

import httpx

from wazo_reconcile.auth import TokenAuth
from wazo_reconcile.confd import CLIENT_HEADERS, ConfdClient, RetryPolicy
from wazo_reconcile.sandbox.app import Sandbox
from wazo_reconcile.settings import ConnectionSettings

log = logging.getLogger(__name__)

SANDBOX_URL = "http://sandbox.invalid"
"""The base URL of in-process clients (nothing is resolved or connected)."""


def sandbox_client(
    sandbox: Sandbox, *, retry: RetryPolicy | None = None, tenant: str | None = None
) -> ConfdClient:
    """A client talking in-process to ``sandbox`` with a master-tenant token it issued."""
    http = httpx.Client(base_url=SANDBOX_URL, transport=sandbox.transport(), headers=CLIENT_HEADERS)
    return ConfdClient(http, auth=TokenAuth(sandbox.issue_token()), retry=retry, tenant=tenant)


def connect_sandbox(
    settings: ConnectionSettings, *, retry: RetryPolicy | None = None
) -> ConfdClient:
    """``--sandbox``: a client of a new in-process sandbox seeded like a fresh Wazo, with the
    tenant of ``settings`` and its retries (or ``retry``)."""
    log.info("using an in-process sandbox seeded like a fresh Wazo, not a real PBX")
    policy = retry or RetryPolicy(attempts=settings.retries + 1)
    return sandbox_client(Sandbox(profile="fresh"), retry=policy, tenant=settings.tenant)

"""confd's resources, one module per family; ``ROUTES`` is every route the sandbox serves."""

from __future__ import annotations

from wazo_reconcile.sandbox.resources import (
    contexts,
    endpoints_custom,
    endpoints_iax,
    endpoints_sip,
    outcalls,
    pjsip,
    registers_iax,
    trunks,
    users,
)
from wazo_reconcile.sandbox.routing import Route

ROUTES: tuple[Route, ...] = (
    *pjsip.ROUTES,
    *endpoints_sip.ROUTES,
    *endpoints_iax.ROUTES,
    *endpoints_custom.ROUTES,
    *trunks.ROUTES,
    *registers_iax.ROUTES,
    *contexts.ROUTES,
    *outcalls.ROUTES,
    *users.ROUTES,
)

"""The sandbox: an embedded, stateful emulator of wazo-confd and wazo-auth's token endpoint.

Serve it in-process (``Sandbox().transport()``, an httpx transport) or on 127.0.0.1
(``with Sandbox().serve() as base_url``, or ``reconcile sandbox``). See docs/sandbox.md.
"""

from __future__ import annotations

from wazo_reconcile.sandbox.app import Sandbox
from wazo_reconcile.sandbox.costs import COST_PROFILES, CostProfile
from wazo_reconcile.sandbox.faults import FaultConfig, FaultRule
from wazo_reconcile.sandbox.seed import FRESH_MASTER, FRESH_SUB, PROFILES

__all__ = [
    "COST_PROFILES",
    "FRESH_MASTER",
    "FRESH_SUB",
    "PROFILES",
    "CostProfile",
    "FaultConfig",
    "FaultRule",
    "Sandbox",
]

"""The confd client of a command: the PBX at ``--url``, or a new in-process sandbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from wazo_reconcile.settings import ConnectionSettings

if TYPE_CHECKING:  # imported where used: plan reads the stack before it imports httpx
    from wazo_reconcile.confd import ConfdClient


def open_client(settings: ConnectionSettings) -> ConfdClient:
    """A client of a new sandbox seeded like a fresh Wazo for ``--sandbox``, else of the Wazo
    stack at ``--url`` with the credentials and TLS settings of ``settings``."""
    if settings.sandbox:
        from wazo_reconcile.sandbox.client import connect_sandbox

        return connect_sandbox(settings)
    from wazo_reconcile.confd import connect

    return connect(settings)

"""Entry point for ``python -m wazo_reconcile``."""

from __future__ import annotations

from wazo_reconcile.cli import console

console()

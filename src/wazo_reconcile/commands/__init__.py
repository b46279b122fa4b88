"""Subcommands of the ``reconcile`` CLI; each exposes ``register`` and ``run``."""

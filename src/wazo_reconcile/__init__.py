"""wazo-reconcile: configuration-as-code for Wazo Platform interconnections."""

__version__ = "0.1.0"

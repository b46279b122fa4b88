"""Measure the CLI as installed: with the package's bytecode compiled, as `pip install` does.

An editable install (``pip install -e .``) or an environment with ``PYTHONDONTWRITEBYTECODE``
set (CI images often set it) would otherwise recompile every module of the package at every
CLI start: about 0.3 s on the reference machine, which no installed copy pays.
"""

from __future__ import annotations

import compileall
from pathlib import Path

import wazo_reconcile


def compile_package() -> Path:
    """Write the ``__pycache__`` of the package the benchmarks run; return its directory."""
    package = Path(wazo_reconcile.__file__).resolve().parent
    compileall.compile_dir(package, quiet=1)
    return package

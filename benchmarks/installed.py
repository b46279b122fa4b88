"""Measure the CLI as installed: with the package's bytecode compiled, as `pip install` does.

An editable install (``pip install -e .``) or an environment with ``PYTHONDONTWRITEBYTECODE``
set (CI images often set it) would otherwise recompile every module of the package at every
CLI start: about 0.3 s on the reference machine, which no installed copy pays.
"""

from __future__ import annotations

import compileall
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import wazo_reconcile


def compile_package() -> Path:
    """Write the ``__pycache__`` of the package the benchmarks run; return its directory."""
    package = Path(wazo_reconcile.__file__).resolve().parent
    compileall.compile_dir(package, quiet=1)
    return package


def probe_speed() -> float:
    """Seconds a fixed pure-Python loop takes now (median of 3).

    The CPUs of a shared machine run at a speed that changes from hour to hour (the same
    validation took 1.1 s and 1.8 s on the same idle machine on the same day): figures taken
    with probes far apart are not comparable, whatever the load average says.
    """
    times = []
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(1_000_000))
        times.append(time.perf_counter() - started)
    return round(sorted(times)[1], 3)


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (``unknown CPU`` elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def interpreter() -> dict[str, str]:
    """The Python build that runs the benchmark (and the CLI and sandbox it starts).

    The same code runs at different speeds on different builds of the same Python: a no-op
    plan took 12% less time (1.69 → 1.49 s) on Debian's ``/usr/bin/python3.11`` (libpython
    linked into the executable, built with LTO and PGO) than on pyenv's default build of
    3.11.7 (libpython a shared library, configured without ``--enable-optimizations``), on
    the same machine.
    """
    libpython = "unknown"
    try:
        maps = Path("/proc/self/maps").read_text()
        libpython = "shared library" if "libpython" in maps else "linked into the executable"
    except OSError:
        pass
    return {
        "executable": os.path.realpath(sys.executable),
        "version": platform.python_version(),
        "build": " ".join(platform.python_build()),
        "compiler": platform.python_compiler(),
        "libpython": libpython,
    }


@contextmanager
def sandbox_process(command: list[str], env: Mapping[str, str] | None = None) -> Iterator[str]:
    """A ``reconcile sandbox --port 0`` command line run as its own process (so its CPU is not
    the benchmark's); yields the URL it prints, and stops it on the way out."""
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise SystemExit(f"reconcile sandbox did not start ({url!r})")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()

"""Benchmark ``reconcile validate`` on a generated stack (N SIP trunks, N/10 outcalls, N/5 users).

    python benchmarks/bench_validate.py                 # N=5,000, median of 7 runs
    python benchmarks/bench_validate.py --n 1000 --runs 3

Measures the wall time of the CLI as a user runs it (a subprocess: interpreter start,
imports, reading, schema, lint, output), its CPU time, and the validation alone in this
process, then prints the machine it ran on and its load (other work on the machine slows
every figure down). The target is under 1.5 s for the CLI at N=5,000.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_stack import generate_stack  # noqa: E402
from installed import compile_package, cpu_model, probe_speed  # noqa: E402
from wazo_reconcile.commands.validate import validate_path  # noqa: E402
from wazo_reconcile.lint import LintOptions  # noqa: E402

TARGET_SECONDS = 1.5


def cli_command(stack: Path) -> list[str]:
    script = Path(sys.executable).with_name("reconcile")
    if script.exists():
        return [str(script), "validate", str(stack)]
    return [sys.executable, "-m", "wazo_reconcile", "validate", str(stack)]


CPU_TIMES: list[float] = []


def run_cli(stack: Path) -> None:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = subprocess.run(cli_command(stack), capture_output=True, text=True, check=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_TIMES.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    if result.returncode != 0 or "0 errors, 0 warnings" not in result.stdout:
        raise SystemExit(f"validate failed:\n{result.stdout}{result.stderr[:2000]}")


def run_in_process(stack: Path) -> None:
    result = validate_path(str(stack), options=LintOptions(env=os.environ))
    if not result.valid or result.problems:
        raise SystemExit(f"validate found problems: {result.problems[:5]}")


def timings(action: Callable[[], None], runs: int) -> list[float]:
    found = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        found.append(time.perf_counter() - started)
    return found


def machine() -> str:
    cpu = cpu_model()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}; load average {load}; "
        f"speed probe {probe_speed():.3f} s"
    )


def summary(label: str, values: list[float]) -> str:
    return (
        f"{label}: median {statistics.median(values):.3f} s "
        f"(min {min(values):.3f}, max {max(values):.3f}, {len(values)} runs)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per measure (default 7)")
    parser.add_argument("--dir", type=Path, help="where to generate the stack (default: temp)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        compile_package()  # measure the CLI as installed
        stack = generate_stack(args.n, args.dir or Path(tmp) / "stack")
        size = sum(p.stat().st_size for p in stack.iterdir())
        print(
            f"stack: {stack} ({args.n} trunks, {args.n // 10} outcalls, {args.n // 5} users, "
            f"{size / 1e6:.1f} MB)"
        )
        print(f"machine: {machine()}")
        print(f"command: {' '.join(cli_command(stack))}")
        cli = timings(lambda: run_cli(stack), args.runs)
        print(summary("CLI (subprocess)", cli))
        print(summary("CLI CPU time, both processes", CPU_TIMES))
        print(summary("validation in process", timings(lambda: run_in_process(stack), args.runs)))
        verdict = "met" if statistics.median(cli) < TARGET_SECONDS else "MISSED"
        print(f"target CLI < {TARGET_SECONDS} s at N=5,000: {verdict}")
        print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print(f"speed probe after: {probe_speed():.3f} s")


if __name__ == "__main__":
    main()

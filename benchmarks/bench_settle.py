"""How long this host takes to get its speed back after a sustained load on both CPUs.

    python benchmarks/bench_settle.py                      # N=5,000, 20 ms, 60 s of load
    python benchmarks/bench_settle.py --load-seconds 35 --watch-seconds 40

It applies the generated stack to a ``reconcile sandbox`` process (`bench_ab.sandbox_of`) and
times the no-op ``reconcile plan`` back to back on the rested host (``--rested-runs``). Then
it keeps both CPUs busy for ``--load-seconds`` (apply-create keeps them busy for about a
minute at N=5,000, the per-object baseline for about 35 s). Right after, it times the same
plan again and again for ``--watch-seconds``, each with the time since the load ended. The
speed probe (`installed.probe_speed`, one CPU) is taken before each plan: it is the figure
the other benchmarks record.

``bench_pipeline.py --settle`` is chosen from what this shows: the pause before each step
that lets it start on a rested host, whatever the step before it did.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ab import INSTALLED, sandbox_of, step_args, timed  # noqa: E402
from gen_stack import generate_stack  # noqa: E402
from installed import compile_package, cpu_model, probe_speed  # noqa: E402


def burn(seconds: float) -> None:
    """Keep one CPU busy for ``seconds`` (pure Python arithmetic, as the CLI and sandbox are)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sum(i * i for i in range(10_000))


def load_both_cpus(seconds: float, cpus: int = 2) -> None:
    workers = [multiprocessing.Process(target=burn, args=(seconds,)) for _ in range(cpus)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def run_settle(
    n: int, latency_ms: float, *, rested_runs: int, load_seconds: float, watch_seconds: float
) -> dict[str, Any]:
    """The rested plans, then the plans after the load: ``{"rested": [...], "after": [...]}``,
    each entry ``{"since_load": s, "probe": s, "seconds": s}`` (no ``since_load`` at rest)."""
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-settle-") as tmp:
        stack = generate_stack(n, Path(tmp) / "stack")
        with sandbox_of(INSTALLED, stack, n // 5, latency_ms) as url:
            args, code = step_args("plan-noop", stack, url, Path(tmp) / "unused")

            def plan() -> dict[str, float]:
                probe = probe_speed()
                return {"probe": probe, "seconds": round(timed(INSTALLED, args, code), 3)}

            rested = [plan() for _ in range(rested_runs)]
            load_both_cpus(load_seconds)
            loaded_until = time.monotonic()
            after = []
            while (since := time.monotonic() - loaded_until) < watch_seconds:
                after.append({"since_load": since, **plan()})
    return {
        "n": n,
        "latency_ms": latency_ms,
        "load_seconds": load_seconds,
        "machine": {"cpu": cpu_model(), "nproc": multiprocessing.cpu_count()},
        "rested": rested,
        "after": after,
    }


def table(results: dict[str, Any]) -> str:
    rested = [r["seconds"] for r in results["rested"]]
    lines = [
        f"rested: no-op plan {statistics.median(rested):.2f} s "
        f"({min(rested):.2f}–{max(rested):.2f}, {len(rested)} runs)",
        f"after {results['load_seconds']:g} s of load on both CPUs:",
        "| since the load (s) | speed probe (s) | no-op plan (s) |",
        "|---:|---:|---:|",
    ]
    lines += [
        f"| {r['since_load']:.1f} | {r['probe']:.3f} | {r['seconds']:.2f} |"
        for r in results["after"]
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument("--latency-ms", type=float, default=20, help="sandbox latency (20)")
    parser.add_argument("--rested-runs", type=int, default=5, help="plans before the load (5)")
    parser.add_argument(
        "--load-seconds", type=float, default=60, help="load on both CPUs (default 60)"
    )
    parser.add_argument(
        "--watch-seconds", type=float, default=40, help="plans timed after the load (40)"
    )
    parser.add_argument("--output", type=Path, help="write the JSON results here")
    args = parser.parse_args()
    results = run_settle(
        args.n,
        args.latency_ms,
        rested_runs=args.rested_runs,
        load_seconds=args.load_seconds,
        watch_seconds=args.watch_seconds,
    )
    if args.output:
        args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()

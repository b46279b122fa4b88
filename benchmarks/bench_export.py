"""Benchmark ``reconcile export`` against the sandbox on loopback (N SIP trunks, N/10 outcalls,
N/5 users: the stack of ``gen_stack.py``).

    python benchmarks/bench_export.py                  # N=5,000, median of 5 runs
    python benchmarks/bench_export.py --n 1000 --runs 3 --check

The PBX is built through the API: the users are created, then the generated stack is planned
and applied in-process (about a minute at N=5,000). The same sandbox is then served on
127.0.0.1 and the CLI runs as a user runs it — a subprocess, interpreter start and imports
included — writing the files into a fresh directory each time. The phases of one export are
also timed in this process (fetch over loopback, normalise, build + YAML). ``--check`` then
runs `reconcile plan --detailed-exitcode` on the export (exit 0: it round-trips). The target
is under 3 s for the CLI at N=5,000.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_stack import generate_stack, user_body  # noqa: E402
from installed import compile_package  # noqa: E402
from wazo_reconcile.apply import apply_plan  # noqa: E402
from wazo_reconcile.confd import ConfdClient, RetryPolicy, connect  # noqa: E402
from wazo_reconcile.config import load_stack  # noqa: E402
from wazo_reconcile.engine import compute_plan  # noqa: E402
from wazo_reconcile.export import export_documents  # noqa: E402
from wazo_reconcile.live import fetch_live  # noqa: E402
from wazo_reconcile.normalise import index_live, normalise_live  # noqa: E402
from wazo_reconcile.sandbox import Sandbox  # noqa: E402
from wazo_reconcile.sandbox.client import sandbox_client  # noqa: E402
from wazo_reconcile.secrets import SecretResolver  # noqa: E402
from wazo_reconcile.settings import ConnectionSettings  # noqa: E402

TARGET_SECONDS = 3.0
TOKEN = "bench-token"


def build_pbx(n: int, workdir: Path) -> Sandbox:
    sandbox = Sandbox(profile="fresh", seed=1)
    client = sandbox_client(sandbox, retry=RetryPolicy.no_wait())
    for i in range(n // 5):
        client.post("/users", user_body(i))
    compile_package()  # measure the CLI as installed
    stack = load_stack(generate_stack(n, workdir / "stack"))
    planned = compute_plan(stack, client, resolver=SecretResolver({}))
    report = apply_plan(planned.plan, client, planned.index, parallelism=8)
    if not report.ok:
        raise SystemExit("building the benchmark PBX failed")
    return sandbox


def cli(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("reconcile")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "wazo_reconcile"]
    return [*command, *args]


def run_export(url: str, output: Path) -> tuple[float, str]:
    command = cli("export", "--url", url, "--token", TOKEN, "--output", str(output))
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"export failed:\n{result.stderr[-3000:]}")
    return elapsed, result.stderr


def phases(url: str) -> dict[str, float]:
    settings = ConnectionSettings(url=url, token=TOKEN)
    found: dict[str, float] = {}
    started = time.perf_counter()
    client: ConfdClient
    with connect(settings) as client:
        live = fetch_live(client)
    found["fetch"] = time.perf_counter() - started
    started = time.perf_counter()
    index = index_live(live)
    resources = normalise_live(live, index)
    found["normalise"] = time.perf_counter() - started
    started = time.perf_counter()
    export_documents(live, index, resources)
    found["build+yaml"] = time.perf_counter() - started
    return found


def check(url: str, output: Path, stderr: str) -> int:
    env = dict(os.environ)
    for line in stderr.splitlines():
        if line.startswith("  export "):
            env[line.split()[1].split("=")[0]] = "bench-Secret-2718"
    command = cli("plan", "--detailed-exitcode", "--url", url, "--token", TOKEN, str(output))
    return subprocess.run(command, capture_output=True, env=env, check=False).returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument("--runs", type=int, default=5, help="CLI runs (default 5)")
    parser.add_argument("--check", action="store_true", help="plan the export (round trip)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        sandbox = build_pbx(args.n, workdir)
        built = time.perf_counter() - started
        # The served state is old from now on, as in a long-running `reconcile sandbox`: keep
        # the server thread's garbage collections from rescanning it on every request.
        gc.collect()
        gc.freeze()
        with sandbox.serve() as url:
            times, stderr = [], ""
            for run in range(args.runs):
                elapsed, stderr = run_export(url, workdir / f"export-{run}")
                times.append(elapsed)
            inside = phases(url)
            plan_exit = check(url, workdir / "export-0", stderr) if args.check else None
        first = (workdir / "export-0" / "trunks.yaml").read_bytes()
        same = all(
            (workdir / f"export-{r}" / "trunks.yaml").read_bytes() == first
            for r in range(args.runs)
        )
    figures = {
        "n": args.n,
        "exported": next(line for line in stderr.splitlines() if line.startswith("Exported")),
        "build_seconds": round(built, 1),
        "cli_seconds": [round(t, 3) for t in times],
        "cli_median": round(statistics.median(times), 3),
        "cli_min": round(min(times), 3),
        "in_process_phases": {k: round(v, 3) for k, v in inside.items()},
        "identical_files": same,
        "plan_exit_code": plan_exit,
        "target_seconds": TARGET_SECONDS,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, {platform.system()}",
    }
    print(json.dumps(figures, indent=2))
    verdict = "meets" if figures["cli_median"] <= TARGET_SECONDS else "MISSES"
    print(
        f"export of N={args.n}: median {figures['cli_median']} s, {verdict} the "
        f"{TARGET_SECONDS} s target",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()

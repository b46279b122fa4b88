"""The pipeline benchmark: every command, run as a user runs it, against a sandbox that takes
the time a real wazo-confd takes (its ``confd`` cost profile, docs/sandbox.md).

    python benchmarks/bench_pipeline.py --n 300                      # the real server's pace
    python benchmarks/bench_pipeline.py --n 5000 --cost-scale 0.1    # ten times faster
    python benchmarks/bench_pipeline.py --n 300 --lines 2000 --previous /tmp/prev/bin/reconcile

The sandbox runs as its own process (``reconcile sandbox --costs confd --cost-scale S``, on
127.0.0.1); the stack is ``gen_stack.py``'s (N SIP trunks, N/10 outcalls, N/5 users, whose
users are first created through the API, unmeasured). Then each step runs as a subprocess:

==============  ============================================================================
validate        ``reconcile validate`` (offline)
plan-empty      ``reconcile plan`` on the empty PBX: everything to create
apply           ``reconcile apply --auto-approve``: creates everything
plan-noop       ``reconcile plan`` right after: nothing to do
baseline        the same no-op plan with one GET per object (``per_object_plan.py``)
drift           ``reconcile drift`` (in sync)
export          ``reconcile export`` into a fresh directory
lines           with ``--lines L``: L line-like SIP endpoints added to the PBX (not in the
                stack, as every phone's line), then the no-op plan again
previous        with ``--previous PATH``: the same no-op plan, by another build of the CLI
                (an earlier revision, installed apart), against the same PBX
==============  ============================================================================

Per step: wall time; the server time the sandbox modelled (unscaled, from ``/_sandbox/stats``);
the client's own time, wall − modelled × scale (what the sandbox did not wait for: the CLI's
work, and any of the sandbox's own work beyond the modelled time); the CLI's CPU time; the
requests (lists, single reads, writes) and the SIP endpoints lists returned with R > 100 (at
most in one request). Structural checks (exit codes, one write per object) fail the
benchmark; times are reported, never asserted. Results: a Markdown table on stdout and, with
``--output``, JSON.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

import wazo_reconcile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_stack import generate_stack, user_body  # noqa: E402
from per_object_plan import API, OBJECT_KINDS, parallel  # noqa: E402

TOKEN = "bench-token"
# The CLI's default read timeout (30 s) is shorter than one list of a few hundred SIP
# endpoints on a real confd: the steps get this one, so that their time is measured.
READ_TIMEOUT = 3600
STEPS = ("validate", "plan-empty", "apply", "plan-noop", "baseline", "drift", "export")
EXTRA_STEPS = ("lines", "previous")
# The writes that create one SIP trunk: its endpoint, the trunk, their association.
TRUNK_WRITES = (
    "POST /endpoints/sip",
    "POST /trunks",
    "PUT /trunks/{trunk_id}/endpoints/sip/{endpoint_id}",
)


class BenchmarkError(Exception):
    """A structural check failed (an exit code, a request count)."""


def cli(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("reconcile")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "wazo_reconcile"]
    return [*command, *args]


@dataclass
class Run:
    """One command: exit code, wall and CPU seconds, output, and the sandbox's counters."""

    code: int
    seconds: float
    cpu_seconds: float
    stdout: str
    stderr: str
    stats: dict[str, Any] = field(default_factory=dict)


def run_process(command: list[str], workdir: Path) -> Run:
    out_path, err_path = workdir / "cli.out", workdir / "cli.err"
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        _pid, status, usage = os.wait4(proc.pid, 0)  # wait4: the child's CPU time too
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return Run(
        proc.returncode,
        elapsed,
        usage.ru_utime + usage.ru_stime,
        out_path.read_text(errors="replace"),
        err_path.read_text(errors="replace"),
    )


@contextmanager
def sandbox_process(scale: float) -> Iterator[str]:
    """``reconcile sandbox --costs confd`` as its own process; yields its URL."""
    command = cli("sandbox", "--port", "0", "--costs", "confd", "--cost-scale", f"{scale:g}")
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        if not url.startswith("http://"):
            raise BenchmarkError(f"reconcile sandbox did not start ({url!r})")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)
        if proc.stdout is not None:
            proc.stdout.close()


class Sandbox:
    """The served sandbox's admin endpoints, and its API for the setup."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, headers={"X-Auth-Token": TOKEN}, timeout=600)

    def close(self) -> None:
        self.http.close()

    def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = self.http.get("/_sandbox/stats").json()
        return stats

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/reset", json={}).raise_for_status()

    def state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.http.get("/_sandbox/state").json()
        return state

    def create_lines(self, count: int) -> None:
        """Line-like SIP endpoints: a phone's few options, attached to no trunk."""

        def create(i: int) -> Any:
            body = {
                "name": f"line{i:05d}",
                "label": f"Phone {i}",
                "templates": [],
                "auth_section_options": [["username", f"line{i:05d}"], ["password", "p"]],
                "aor_section_options": [["max_contacts", "1"]],
            }
            return lambda: self.http.post(API + "/endpoints/sip", json=body).raise_for_status()

        parallel(create(i) for i in range(count))

    def create_users(self, count: int) -> None:
        def create(i: int) -> Any:
            body = user_body(i)
            return lambda: self.http.post(API + "/users", json=body).raise_for_status()

        parallel(create(i) for i in range(count))

    def ids(self) -> dict[str, list[Any]]:
        """What a per-object tool's state file holds: the ids of every object, per kind (read
        from the sandbox's state, which costs no modelled time)."""
        state = self.state()
        outcall_contexts = {c["name"] for c in state["contexts"] if c["type"] == "outcall"}
        rows = {
            "sip_templates": [r for r in state["sip"] if r["template"]],
            "endpoints_sip": [r for r in state["sip"] if not r["template"]],
            "trunks": state["trunks"],
            "outcalls": state["outcalls"],
            "extensions": [r for r in state["extensions"] if r["context"] in outcall_contexts],
            "users": state["users"],
        }
        return {name: [row[key] for row in rows[name]] for name, _path, key in OBJECT_KINDS}

    def measured(self, command: list[str], workdir: Path) -> Run:
        self.reset_stats()
        run = run_process(command, workdir)
        run.stats = self.stats()
        return run


def figures(runs: Sequence[Run], scale: float) -> dict[str, Any]:
    """The median run's figures (by wall time) and every run's wall time."""
    run = sorted(runs, key=lambda r: r.seconds)[(len(runs) - 1) // 2]
    costs = run.stats.get("costs") or {"modelled_ms": 0.0, "requests": {}}
    kinds = costs["requests"]
    lists = sum(k["count"] for k in kinds.values() if "listed" in k)
    writes = sum(k["count"] for key, k in kinds.items() if not key.startswith(("GET ", "HEAD ")))
    total = sum(run.stats.get("requests", {}).values())
    modelled = costs["modelled_ms"] / 1000
    return {
        "seconds": round(run.seconds, 3),
        "modelled_seconds": round(modelled, 3),
        "client_seconds": round(run.seconds - modelled * scale, 3),
        "cpu_seconds": round(run.cpu_seconds, 3),
        "requests": total,
        "lists": lists,
        "single_reads": total - lists - writes,
        "writes": writes,
        "sip_listed_over_r100_max": costs.get("sip_endpoints_listed_over_r100_max", 0),
        "seconds_runs": [round(r.seconds, 3) for r in runs],
    }


def expect(run: Run, code: int, step: str) -> Run:
    if run.code != code:
        tail = run.stderr[-3000:] + run.stdout[-1000:]
        raise BenchmarkError(f"{step}: exit {run.code}, expected {code}\n{tail}")
    return run


def pipeline(
    n: int,
    scale: float,
    runs: int,
    parallelism: int,
    workdir: Path,
    lines: int = 0,
    previous: Path | None = None,
) -> dict[str, Any]:
    stack = str(generate_stack(n, workdir / "stack"))
    steps: dict[str, Any] = {}
    with sandbox_process(scale) as url, closing(Sandbox(url)) as sandbox:
        conn = ["--url", url, "--token", TOKEN, "--timeout", str(READ_TIMEOUT)]
        sandbox.create_users(n // 5)

        def step(name: str, command: list[str], code: int, times: int = runs) -> list[Run]:
            done = []
            for i in range(times):  # an export writes into a new directory each time
                argv = [arg.replace("{run}", str(i)) for arg in command]
                done.append(expect(sandbox.measured(argv, workdir), code, name))
            steps[name] = figures(done, scale)
            print(f"  {name}: {json.dumps(steps[name])}", file=sys.stderr, flush=True)
            return done

        step("validate", cli("validate", stack), 0)
        step("plan-empty", cli("plan", *conn, "--detailed-exitcode", stack), 2)
        apply = cli("apply", *conn, "--auto-approve", "--parallelism", str(parallelism), stack)
        created = step("apply", apply, 0, times=1)[0].stats["requests"]
        if any(created.get(key) != n for key in TRUNK_WRITES):
            raise BenchmarkError(f"apply: not one write of each kind per trunk: {created}")
        step("plan-noop", cli("plan", *conn, "--detailed-exitcode", stack), 0)
        ids_path = workdir / "ids.json"
        ids_path.write_text(json.dumps(sandbox.ids()))
        baseline = Path(__file__).resolve().with_name("per_object_plan.py")
        command = [sys.executable, str(baseline), url, TOKEN, stack, str(ids_path)]
        told = json.loads(step("baseline", command, 0)[-1].stdout)
        if told["requests"] != steps["baseline"]["requests"]:
            raise BenchmarkError(f"baseline: told {told}, the sandbox counted otherwise")
        step("drift", cli("drift", *conn, stack), 0)
        step("export", cli("export", *conn, "--output", str(workdir / "export-{run}")), 0)
        if lines:
            sandbox.create_lines(lines)
            step("lines", cli("plan", *conn, "--detailed-exitcode", stack), 0)
        if previous is not None:
            step("previous", [str(previous), "plan", *conn, "--detailed-exitcode", stack], 0)
    return steps


def run_benchmark(
    n: int,
    *,
    scale: float = 1.0,
    runs: int = 1,
    parallelism: int = 8,
    lines: int = 0,
    previous: Path | None = None,
) -> dict[str, Any]:
    """Every step at size ``n``; raises `BenchmarkError` when a structural check fails."""
    compileall.compile_dir(Path(wazo_reconcile.__file__).parent, quiet=1)  # as installed
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        steps = pipeline(n, scale, runs, parallelism, Path(tmp), lines, previous)
    return {
        "n": n,
        "outcalls": n // 10,
        "users": n // 5,
        "cost_profile": "confd",
        "cost_scale": scale,
        "runs": runs,
        "parallelism": parallelism,
        "lines": lines,
        "previous": str(previous) if previous else None,
        "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(started)),
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()],
        },
        "steps": steps,
    }


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| step | wall (s) | modelled server (s) | client (s) | CLI CPU (s) | requests "
        "| lists | single reads | writes | SIP eps R>100 in a list |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in [*STEPS, *(s for s in EXTRA_STEPS if s in results["steps"])]:
        s = results["steps"][name]
        lines.append(
            f"| {name} | {s['seconds']:.2f} | {s['modelled_seconds']:.2f} "
            f"| {s['client_seconds']:.2f} | {s['cpu_seconds']:.2f} | {s['requests']} "
            f"| {s['lists']} | {s['single_reads']} | {s['writes']} "
            f"| {s['sip_listed_over_r100_max']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="SIP trunks (default 300)")
    parser.add_argument(
        "--cost-scale",
        type=float,
        default=1.0,
        help="the sandbox's --cost-scale: 1 waits what the real server takes (default 1)",
    )
    parser.add_argument("--runs", type=int, default=1, help="runs per step but apply (default 1)")
    parser.add_argument("--parallelism", type=int, default=8, help="apply --parallelism")
    parser.add_argument("--output", type=Path, help="write the JSON results here")
    parser.add_argument("--lines", type=int, default=0, help="then add L line-like endpoints")
    parser.add_argument("--previous", type=Path, help="another build's reconcile, to compare")
    args = parser.parse_args()
    results = run_benchmark(
        args.n,
        scale=args.cost_scale,
        runs=args.runs,
        parallelism=args.parallelism,
        lines=args.lines,
        previous=args.previous,
    )
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(markdown(results))
    machine = json.dumps(results["machine"])
    print(f"\nN={args.n}, cost scale {args.cost_scale:g}, from {results['started']}; {machine}")


if __name__ == "__main__":
    main()

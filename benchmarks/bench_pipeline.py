"""Benchmark the whole pipeline against ``reconcile sandbox`` on loopback, with a per-object
baseline (issue 10).

    python benchmarks/bench_pipeline.py                     # N=5,000, 0 and 20 ms latency
    python benchmarks/bench_pipeline.py --n 500 --runs 1 --latency-ms 0

For each injected latency the sandbox runs as its own process (``reconcile sandbox
--latency-ms L``, a server on 127.0.0.1), the N/5 users of the generated stack are created
through the API, then every step runs the CLI as a user runs it (a subprocess: interpreter
start, imports, reading, validation, HTTP, output):

==================  =========================================================================
validate            ``reconcile validate`` (offline)
plan-empty          ``reconcile plan`` on the empty PBX (everything to create)
apply-create        ``reconcile apply --auto-approve --parallelism P``: creates everything
plan-noop           ``reconcile plan`` right after: nothing to do
baseline            the same no-op plan the per-object way (``per_object_plan.py``, its own
                    process): the stack validated as plan does, then one GET per object (ids
                    known, as in a Terraform state), 10 in parallel, then the same diff
plan-changed        ``reconcile plan`` after 10% of the trunks were changed through the API
apply-changed       ``reconcile apply`` of those changes: exactly one write per changed trunk
export              ``reconcile export`` into a fresh directory
drift               ``reconcile drift`` (in sync: exit 0)
==================  =========================================================================

Each figure is the median of ``--runs`` runs (``--apply-runs`` for apply-create, which needs
an empty PBX each time): wall time, HTTP requests (the sandbox's counters, reset before each
run), the CLI's CPU time and its peak RSS (GNU time). Structural checks (request counts,
exactly the changed objects planned and written, exit codes) fail the benchmark; time targets
are reported, not asserted.
Each step (and each round of hand changes) starts after ``--settle`` seconds of rest: in the
first 15 s after a minute with both CPUs busy (what apply-create does), this host ran the same
no-op plan 4% and 27% slower than at rest, in two runs of ``bench_settle.py``; without a rest
that would be charged to the step that follows. Each step's figures carry the speed probe
taken after that rest (`installed.probe_speed`; for the rounds of hand changes, the last).
Results: a JSON file (``--output``) and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gen_stack import generate_stack, trunk_name, user_body  # noqa: E402
from installed import (  # noqa: E402
    compile_package,
    cpu_model,
    interpreter,
    probe_speed,
    sandbox_process,
)
from per_object_plan import API, OBJECT_KINDS, parallel  # noqa: E402
from per_object_plan import PARALLELISM as BASELINE_PARALLELISM  # noqa: E402

TOKEN = "bench-token"
CHANGED_SHARE = 10  # one trunk in CHANGED_SHARE is changed by hand

TARGETS = {
    "plan_noop_requests": 20,
    "plan_noop_seconds_at_20ms": 2.0,
    "baseline_ratio": 20.0,
    "apply_requests_per_trunk": 3.0,
    "apply_floor_factor": 1.5,
    "validate_seconds": 1.5,
    "export_seconds": 3.0,
    "plan_rss_mb": 300.0,
}


# A change in a text plan: "  ~ trunks/bench-trunk-00010 (tenant …)"
CHANGE_LINE = re.compile(r"^  ([+~-]) (\w+)/(\S+)", re.MULTILINE)

# The requests that create one SIP trunk (endpoint, trunk, association).
TRUNK_WRITES = (
    "POST /endpoints/sip",
    "POST /trunks",
    "PUT /trunks/{trunk_id}/endpoints/sip/{endpoint_id}",
)


class BenchmarkError(Exception):
    """A structural check failed (wrong exit code, request count, unexpected writes)."""


# ------------------------------------------------------------------------------ processes


def cli(*args: str) -> list[str]:
    script = Path(sys.executable).with_name("reconcile")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "wazo_reconcile"]
    return [*command, *args]


@dataclass
class Run:
    """One CLI run: exit code, wall and CPU time, peak RSS (MB), requests the sandbox saw."""

    code: int
    seconds: float
    cpu_seconds: float
    rss_mb: float
    requests: dict[str, int] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def writes(self) -> int:
        return sum(n for key, n in self.requests.items() if not key.startswith("GET "))


GNU_TIME = Path("/usr/bin/time")


def run_cli(args: Sequence[str], workdir: Path, env: Mapping[str, str] | None = None) -> Run:
    """Run the CLI (see `run_process`)."""
    return run_process(cli(*args), workdir, env)


def run_process(command: list[str], workdir: Path, env: Mapping[str, str] | None = None) -> Run:
    """Run a command and measure it. Its peak RSS is measured by GNU time (``%M``) when
    available: Linux counts in a child's ``ru_maxrss`` the RSS of the process it was forked
    from (this benchmark), so ``wait4`` alone would overstate it."""
    out_path, err_path, rss_path = workdir / "cli.out", workdir / "cli.err", workdir / "cli.rss"
    if GNU_TIME.exists():
        command = [str(GNU_TIME), "-f", "%M", "-o", str(rss_path), *command]
    with open(out_path, "wb") as out, open(err_path, "wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(command, stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        _pid, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    rss_kb = float(usage.ru_maxrss)
    if GNU_TIME.exists():
        rss_kb = float(rss_path.read_text().split()[-1])
    return Run(
        proc.returncode,
        elapsed,
        usage.ru_utime + usage.ru_stime,
        rss_kb / 1024,
        stdout=out_path.read_text(errors="replace"),
        stderr=err_path.read_text(errors="replace"),
    )


class SandboxAdmin:
    """The admin endpoints of a ``reconcile sandbox`` run by `installed.sandbox_process`."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(
            base_url=url,
            headers={"X-Auth-Token": TOKEN},
            timeout=120,
            limits=httpx.Limits(max_connections=BASELINE_PARALLELISM),
        )

    def stats(self) -> dict[str, int]:
        return dict(self.http.get("/_sandbox/stats").json()["requests"])

    def reset_stats(self) -> None:
        self.http.post("/_sandbox/reset", json={}).raise_for_status()

    def reset_state(self) -> None:
        self.http.post("/_sandbox/reset", json={"state": True}).raise_for_status()

    def list(self, path: str, **params: str) -> list[dict[str, Any]]:
        answer = self.http.get(API + path, params={"recurse": "true", **params})
        answer.raise_for_status()
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def close(self) -> None:
        self.http.close()

    def measured(self, action: Callable[[], Run]) -> Run:
        self.reset_stats()
        run = action()
        run.requests = self.stats()
        return run


def create_users(sandbox: SandboxAdmin, count: int) -> None:
    def create(i: int) -> Callable[[], object]:
        body = user_body(i)
        return lambda: sandbox.http.post(API + "/users", json=body).raise_for_status()

    parallel(create(i) for i in range(count))


# ---------------------------------------------------------------------- hand changes


def change_by_hand(sandbox: SandboxAdmin, n: int, round_: int) -> tuple[dict[str, int], set[str]]:
    """Change one trunk in ten through the API (alternately its endpoint or its trunk row)."""
    trunks = {t["endpoint_sip"]["name"]: t for t in sandbox.list("/trunks") if t["endpoint_sip"]}
    endpoints = {e["name"]: e for e in sandbox.list("/endpoints/sip")}
    jobs: list[Callable[[], object]] = []
    touched: set[str] = set()
    expected = {"PUT /endpoints/sip/{uuid}": 0, "PUT /trunks/{id}": 0}
    for i in range(round_ % CHANGED_SHARE, n, CHANGED_SHARE):
        name = trunk_name(i)
        touched.add(name)
        if (i // CHANGED_SHARE) % 2 == 0:
            endpoint = endpoints[name]
            options = [
                [k, f"hand-{round_}.example" if k == "from_domain" else v]
                for k, v in endpoint["endpoint_section_options"]
            ]
            path = f"/endpoints/sip/{endpoint['uuid']}"
            body: dict[str, Any] = {"endpoint_section_options": options}
            expected["PUT /endpoints/sip/{uuid}"] += 1
        else:
            path = f"/trunks/{trunks[name]['id']}"
            body = {"outgoing_caller_id_format": "national"}
            expected["PUT /trunks/{id}"] += 1
        jobs.append(_put(sandbox, path, body))
    parallel(jobs)
    return expected, touched


def _put(sandbox: SandboxAdmin, path: str, body: Any) -> Callable[[], object]:
    return lambda: sandbox.http.put(API + path, json=body).raise_for_status()


# -------------------------------------------------------------------------- the baseline


def baseline_state(sandbox: SandboxAdmin) -> dict[str, list[Any]]:
    """The ids a per-object tool keeps in its state file (read once, not timed)."""
    return {
        name: [item[key] for item in sandbox.list(path, **params)]
        for name, path, params, key in OBJECT_KINDS
    }


def per_object_command(url: str, stack: Path, ids_path: Path) -> list[str]:
    """The per-object baseline (`per_object_plan.py`) as its own process, as plan runs."""
    script = Path(__file__).resolve().with_name("per_object_plan.py")
    return [sys.executable, str(script), url, TOKEN, str(stack), str(ids_path)]


# ------------------------------------------------------------------------------ the steps


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def summarise(runs: Sequence[Run], **extra: Any) -> dict[str, Any]:
    return {
        "seconds": round(median([r.seconds for r in runs]), 3),
        "seconds_runs": [round(r.seconds, 3) for r in runs],
        "cpu_seconds": round(median([r.cpu_seconds for r in runs]), 3),
        "requests": int(median([r.total for r in runs])),
        "writes": int(median([r.writes for r in runs])),
        "rss_mb": round(median([r.rss_mb for r in runs]), 1),
        "runs": len(runs),
        **extra,
    }


def expect(run: Run, code: int, step: str) -> Run:
    if run.code != code:
        raise BenchmarkError(
            f"{step}: exit {run.code}, expected {code}\n{run.stderr[-3000:]}{run.stdout[-1000:]}"
        )
    return run


@dataclass
class Bench:
    n: int
    stack: Path
    workdir: Path
    runs: int
    apply_runs: int
    parallelism: int
    baseline_runs: int
    settle: float = 0.0
    probe: float = 0.0  # the speed probe taken after the last rest

    def rest(self) -> None:
        """Let the host get its speed back before a step (see ``--settle``), then take the
        speed probe that the step's figures will carry."""
        time.sleep(self.settle)
        self.probe = probe_speed()

    def connection(self, url: str) -> list[str]:
        return ["--url", url, "--token", TOKEN]

    def step(
        self, sandbox: SandboxAdmin, step: str, args: Sequence[str], code: int, runs: int
    ) -> list[Run]:
        found = []
        for _ in range(runs):
            run = sandbox.measured(lambda: run_cli(args, self.workdir))
            found.append(expect(run, code, step))
        return found

    def at_latency(self, latency_ms: float, log: Callable[[str], None]) -> dict[str, Any]:
        command = cli("sandbox", "--port", "0", "--latency-ms", str(latency_ms))
        with sandbox_process(command) as url, closing(SandboxAdmin(url)) as sandbox:
            return self._steps(sandbox, latency_ms, log)

    def _steps(
        self, sandbox: SandboxAdmin, latency_ms: float, log: Callable[[str], None]
    ) -> dict[str, Any]:
        url, stack, n = sandbox.url, str(self.stack), self.n
        conn = self.connection(url)
        steps: dict[str, Any] = {}

        def record(name: str, figures: dict[str, Any]) -> None:
            steps[name] = figures = {**figures, "speed_probe_seconds": self.probe}
            log(f"  {latency_ms:g} ms {name}: {json.dumps(figures)}")

        self.rest()
        record(
            "validate", summarise(self.step(sandbox, "validate", ["validate", stack], 0, self.runs))
        )
        apply_args = ["apply", *conn, "--auto-approve", "--parallelism", str(self.parallelism)]
        applies, empty_plans = [], []
        for attempt in range(self.apply_runs):
            if attempt:
                sandbox.reset_state()
            create_users(sandbox, n // 5)
            self.rest()
            empty_plans += self.step(
                sandbox, "plan-empty", ["plan", *conn, "--detailed-exitcode", stack], 2, 1
            )
            self.rest()
            applies += self.step(sandbox, "apply-create", [*apply_args, stack], 0, 1)
        record("plan-empty", summarise(empty_plans))
        record("apply-create", self._apply_figures(applies, latency_ms))
        self.rest()
        noop = self.step(
            sandbox, "plan-noop", ["plan", *conn, "--detailed-exitcode", stack], 0, self.runs
        )
        if max(r.total for r in noop) > TARGETS["plan_noop_requests"]:
            raise BenchmarkError(f"plan-noop: {max(r.total for r in noop)} requests")
        record("plan-noop", summarise(noop))
        ids_path = self.workdir / "baseline-ids.json"
        ids_path.write_text(json.dumps(baseline_state(sandbox)))
        baseline = []
        for _ in range(self.baseline_runs):
            self.rest()
            done = sandbox.measured(
                lambda: run_process(per_object_command(url, self.stack, ids_path), self.workdir)
            )
            told = json.loads(expect(done, 0, "baseline").stdout)
            if done.total != told["requests"] or done.writes:
                raise BenchmarkError(f"baseline: the sandbox counted {done.requests}")
            baseline.append((done, told))
        figures = summarise([done for done, _told in baseline])
        figures.update(
            fetch_seconds=round(median([told["fetch_seconds"] for _run, told in baseline]), 3),
            parallelism=BASELINE_PARALLELISM,
            ratio_to_plan_noop=round(figures["seconds"] / steps["plan-noop"]["seconds"], 1),
        )
        record("baseline", figures)
        changed_plans, changed_applies = [], []
        for round_ in range(self.runs):
            expected, touched = change_by_hand(sandbox, n, round_)
            changed = len(touched)
            self.rest()
            plan = self.step(
                sandbox, "plan-changed", ["plan", *conn, "--detailed-exitcode", stack], 2, 1
            )[0]
            planned = CHANGE_LINE.findall(plan.stdout)  # the text plan, as people read it
            if sorted(planned) != sorted(("~", "trunks", name) for name in touched):
                raise BenchmarkError(f"plan-changed: {len(planned)} changes, expected {changed}")
            applied = self.step(sandbox, "apply-changed", [*apply_args, stack], 0, 1)[0]
            writes = {k: v for k, v in applied.requests.items() if not k.startswith("GET ")}
            if writes != expected:
                raise BenchmarkError(f"apply-changed wrote {writes}, expected exactly {expected}")
            changed_plans.append(plan)
            changed_applies.append(applied)
        record("plan-changed", summarise(changed_plans, changed=changed))
        record("apply-changed", summarise(changed_applies, changed=changed, exact_writes=True))
        exports = []
        self.rest()
        for run in range(self.runs):
            out = self.workdir / f"export-{latency_ms:g}-{run}"
            exports += self.step(sandbox, "export", ["export", *conn, "--output", str(out)], 0, 1)
        record("export", summarise(exports))
        self.rest()
        record(
            "drift", summarise(self.step(sandbox, "drift", ["drift", *conn, stack], 0, self.runs))
        )
        return steps

    def _apply_figures(self, applies: list[Run], latency_ms: float) -> dict[str, Any]:
        trunk_requests = [sum(r.requests.get(key, 0) for key in TRUNK_WRITES) for r in applies]
        per_trunk = median(trunk_requests) / self.n
        if per_trunk > TARGETS["apply_requests_per_trunk"]:
            raise BenchmarkError(f"apply-create: {per_trunk:.2f} requests per trunk")
        figures = summarise(applies)
        floor = figures["requests"] * latency_ms / 1000 / self.parallelism
        figures.update(
            trunk_requests_per_trunk=round(per_trunk, 3),
            requests_per_object=round(figures["requests"] / self.objects(), 3),
            latency_floor_seconds=round(floor, 3),
            floor_ratio=round(figures["seconds"] / floor, 2) if floor else None,
            parallelism=self.parallelism,
        )
        return figures

    def objects(self) -> int:
        """Objects the stack creates: endpoint + trunk per trunk, 11 templates, outcalls and
        their 3 dial patterns; users are only updated."""
        return 2 * self.n + 11 + 4 * (self.n // 10) + self.n // 5


# ------------------------------------------------------------------------------ reporting


def machine() -> dict[str, Any]:
    cpu = cpu_model()
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "interpreter": interpreter(),
        "system": f"{platform.system()} {platform.release()}",
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "speed_probe_seconds": probe_speed(),
    }


def verdicts(results: Mapping[str, Any]) -> dict[str, Any]:
    at0 = results["latencies"].get("0", {})
    at20 = results["latencies"].get("20", {})
    found: dict[str, Any] = {}
    if at20:
        noop, apply = at20["plan-noop"], at20["apply-create"]
        found["plan_noop_requests"] = noop["requests"] <= TARGETS["plan_noop_requests"]
        found["plan_noop_seconds_at_20ms"] = noop["seconds"] <= TARGETS["plan_noop_seconds_at_20ms"]
        found["baseline_ratio_at_20ms"] = (
            at20["baseline"]["ratio_to_plan_noop"] >= TARGETS["baseline_ratio"]
        )
        found["apply_requests_per_trunk"] = (
            apply["trunk_requests_per_trunk"] <= TARGETS["apply_requests_per_trunk"]
        )
        found["apply_floor_factor"] = apply["floor_ratio"] <= TARGETS["apply_floor_factor"]
    first = at0 or at20
    if first:
        found["validate_seconds"] = first["validate"]["seconds"] <= TARGETS["validate_seconds"]
        found["export_seconds"] = first["export"]["seconds"] <= TARGETS["export_seconds"]
        found["plan_rss_mb"] = (
            max(
                lat[s]["rss_mb"]
                for lat in results["latencies"].values()
                for s in ("plan-empty", "plan-noop", "plan-changed")
            )
            <= TARGETS["plan_rss_mb"]
        )
        found["apply_changed_exact_writes"] = True  # asserted during the run
    return found


STEP_ORDER = (
    "validate",
    "plan-empty",
    "apply-create",
    "plan-noop",
    "baseline",
    "plan-changed",
    "apply-changed",
    "export",
    "drift",
)


def markdown(results: Mapping[str, Any]) -> str:
    lines = [
        "| step | latency | speed probe (s) | wall (s) | CLI CPU (s) | HTTP requests | writes "
        "| peak RSS (MB) | notes |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for latency, steps in results["latencies"].items():
        for name in STEP_ORDER:
            s = steps[name]
            notes = ""
            if name == "apply-create":
                notes = f"{s['trunk_requests_per_trunk']} req/trunk"
                if s["floor_ratio"]:
                    notes += f"; floor {s['latency_floor_seconds']:.1f} s (×{s['floor_ratio']})"
            elif name == "baseline":
                notes = f"×{s['ratio_to_plan_noop']} the no-op plan"
            elif name in ("plan-changed", "apply-changed"):
                notes = f"{s['changed']} trunks changed by hand"
            lines.append(
                f"| {name} | {latency} ms | {s['speed_probe_seconds']:.3f} | {s['seconds']:.2f} "
                f"| {_cpu(s)} | {s['requests']} | "
                f"{s.get('writes', 0)} | {s.get('rss_mb', '—')} | {notes} |"
            )
    return "\n".join(lines)


def _cpu(step: Mapping[str, Any]) -> str:
    return f"{step['cpu_seconds']:.2f}" if "cpu_seconds" in step else "—"


def run_benchmark(
    n: int,
    latencies: Sequence[float],
    *,
    runs: int = 3,
    apply_runs: int = 1,
    baseline_runs: int = 1,
    parallelism: int = 8,
    settle: float = 0.0,
    log: Callable[[str], None] = lambda _line: None,
) -> dict[str, Any]:
    """Every step at every latency, each after ``settle`` seconds of rest; raises
    `BenchmarkError` when a structural check fails."""
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        workdir = Path(tmp)
        compile_package()  # measure the CLI as installed
        stack = generate_stack(n, workdir / "stack")
        bench = Bench(n, stack, workdir, runs, apply_runs, parallelism, baseline_runs, settle)
        results: dict[str, Any] = {
            "n": n,
            "trunks": n,
            "outcalls": n // 10,
            "users": n // 5,
            "runs": runs,
            "apply_runs": apply_runs,
            "parallelism": parallelism,
            "settle_seconds": settle,
            "machine": machine(),
            "latencies": {},
        }
        for latency in latencies:
            results["latencies"][f"{latency:g}"] = bench.at_latency(latency, log)
    results["machine"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["machine"]["speed_probe_seconds_after"] = probe_speed()
    results["targets"] = TARGETS
    results["verdicts"] = verdicts(results)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument(
        "--latency-ms", default="0,20", help="injected latencies, comma-separated (default 0,20)"
    )
    parser.add_argument("--runs", type=int, default=3, help="runs per step (default 3)")
    parser.add_argument("--apply-runs", type=int, default=1, help="apply-create runs (default 1)")
    parser.add_argument("--baseline-runs", type=int, default=1, help="baseline runs (default 1)")
    parser.add_argument("--parallelism", type=int, default=8, help="apply --parallelism")
    parser.add_argument(
        "--settle",
        type=float,
        default=20,
        help="seconds of rest before each step, so that no step is timed on a host still slowed "
        "by the step before it (default 20; see bench_settle.py)",
    )
    parser.add_argument("--output", type=Path, help="write the JSON results here")
    args = parser.parse_args()
    latencies = [float(x) for x in args.latency_ms.split(",") if x.strip()]
    results = run_benchmark(
        args.n,
        latencies,
        runs=args.runs,
        apply_runs=args.apply_runs,
        baseline_runs=args.baseline_runs,
        parallelism=args.parallelism,
        settle=args.settle,
        log=lambda line: print(line, file=sys.stderr, flush=True),
    )
    text = json.dumps(results, indent=2) + "\n"
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text, encoding="utf-8")
    print(markdown(results))
    print(f"\nmachine: {json.dumps(results['machine'])}")
    print(f"verdicts: {json.dumps(results['verdicts'])}")


if __name__ == "__main__":
    main()

"""Where the time of a no-op plan goes: its stages timed one by one, in process, with their CPU.

    python benchmarks/bench_budget.py                     # N=5,000, 20 ms, 7 runs: ~3 minutes
    python benchmarks/bench_budget.py --n 500 --runs 3 --latency-ms 0

`bench_pipeline.py` times the CLI as people run it; this script says where that time goes, to
tell what is left to gain and where. It starts ``reconcile sandbox`` as its own process,
applies the generated stack to it (`bench_ab.sandbox_of`), sets the latency, then runs each
stage of ``reconcile plan`` alone, ``--runs`` times, in this process:

==============  =============================================================================
start           a new interpreter importing what ``reconcile plan`` imports before it reads
                the stack (a subprocess: wall time only); ``interpreter``: one importing nothing
yaml-events     PyYAML's C parser producing every event of the stack's files, nothing built
read            ``config.read_file`` on every file: the node trees PyYAML's C loader composes
                and the values built from them (duplicate keys, anchors, source texts)
checks          the per-document schema and lint checks (``lint.analyse_document``)
load            ``load_checked`` as plan runs it: the stack read, then ``check_stack``
check_stack     the checks of every document and across documents
fetch           ``fetch_live`` with plan's ``LivePreparer``: 15 requests, 8 at a time, their
                JSON decoded and the live SIP sections prepared in the reading threads
decode          ``orjson.loads`` on the bodies of those lists, alone
prepare         ``prepare_desired``: the desired SIP option sections
plan_against    both sides normalised, the live checks, the diff and the plan (pure)
compute_plan    fetch, prepare and plan_against as plan runs them (prepare during the fetch)
==============  =============================================================================

For each stage: the median wall time (min–max) and the median CPU time of this process
(``time.process_time``: all its threads; not the sandbox). A stage whose CPU time is about
its wall time keeps one CPU of two busy and leaves the other idle. The cyclic garbage
collector is off while a stage runs, as plan has it.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
from yaml._yaml import CParser

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_ab import INSTALLED, TOKEN, sandbox_of  # noqa: E402
from gen_stack import generate_stack  # noqa: E402
from installed import compile_package, cpu_model, probe_speed  # noqa: E402
from wazo_reconcile import engine  # noqa: E402
from wazo_reconcile.commands.common import Output, load_checked  # noqa: E402
from wazo_reconcile.confd import ConfdClient, connect  # noqa: E402
from wazo_reconcile.config import Stack, read_file, stack_files  # noqa: E402
from wazo_reconcile.lint import LintOptions, analyse_document, check_stack  # noqa: E402
from wazo_reconcile.live import LIST_KINDS, LiveState, fetch_live  # noqa: E402
from wazo_reconcile.normalise import LivePreparer, prepare_desired  # noqa: E402
from wazo_reconcile.secrets import SecretResolver  # noqa: E402
from wazo_reconcile.settings import ConnectionSettings  # noqa: E402

# What `reconcile plan` imports before it reads the stack.
START = "import wazo_reconcile.cli, wazo_reconcile.commands.plan, wazo_reconcile.lint"
STAGES = (  # in process, in this order in every run
    "yaml-events",
    "read",
    "checks",
    "load",
    "check_stack",
    "fetch",
    "decode",
    "prepare",
    "plan_against",
    "compute_plan",
)


@dataclass
class Stage:
    name: str
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)

    def figures(self) -> dict[str, Any]:
        """Seconds to the microsecond (the table shows milliseconds): at a small N some
        stages take well under a millisecond."""
        wall = statistics.median(self.walls)
        found: dict[str, Any] = {
            "seconds": round(wall, 6),
            "min": round(min(self.walls), 6),
            "max": round(max(self.walls), 6),
        }
        if self.cpus:
            cpu = statistics.median(self.cpus)
            found.update(cpu_seconds=round(cpu, 6), cpus_busy=round(cpu / wall, 2))
        return found


def count_events(texts: list[str]) -> int:
    """PyYAML's C parser producing every event of ``texts``, nothing built: how many."""
    count = 0
    for text in texts:
        parser = CParser(text)
        try:
            while parser.get_event() is not None:
                count += 1
        finally:
            parser.dispose()
    return count


def list_bodies(url: str) -> list[bytes]:
    """The bodies of the list requests a plan sends (one per kind), read once."""
    with httpx.Client(base_url=url, headers={"X-Auth-Token": TOKEN}, timeout=60) as http:
        return [
            http.get("/api/confd/1.1" + kind.path, params={**kind.params, "limit": 100_000}).content
            for kind in LIST_KINDS
        ]


class Budget:
    """The stages of a no-op plan of ``stack`` against the sandbox at ``url``."""

    def __init__(self, stack: Path, url: str) -> None:
        self.stack = stack
        self.files = stack_files(stack)
        self.texts = [f.read_text(encoding="utf-8") for f in self.files]
        self.resolver = SecretResolver(os.environ)
        self.options = LintOptions(env=os.environ)
        self.settings = ConnectionSettings(url=url, token=TOKEN)
        self.bodies = list_bodies(url)
        self.loaded = self.load()
        self.live: LiveState | None = None
        self.preparer = LivePreparer()
        self.prepared: dict[int, dict[str, Any]] = {}

    def stages(self, client: ConfdClient) -> dict[str, Callable[[], object]]:
        """Each of `STAGES`, ready to run (plan_against needs fetch and prepare first)."""
        return {
            "yaml-events": self.yaml_events,
            "read": self.read,
            "checks": lambda: [analyse_document(d, self.options) for d in self.loaded.documents],
            "load": self.load,
            "check_stack": lambda: check_stack(self.loaded, options=self.options),
            "fetch": lambda: self.fetch(client),
            "decode": lambda: [orjson.loads(body) for body in self.bodies],
            "prepare": self.prepare,
            "plan_against": self.plan_against,
            "compute_plan": lambda: self.empty(
                engine.compute_plan(self.loaded, client, resolver=self.resolver)
            ),
        }

    def yaml_events(self) -> int:
        return count_events(self.texts)

    def read(self) -> object:
        plain: dict[str, Any] = {}
        return [read_file(file, plain=plain) for file in self.files]

    def load(self) -> Stack:
        quiet = Output(stdout=io.StringIO(), stderr=io.StringIO())
        return load_checked(str(self.stack), quiet, self.resolver, strict=False)

    def fetch(self, client: ConfdClient) -> LiveState:
        self.preparer = LivePreparer()
        self.live = fetch_live(client, received=self.preparer)
        return self.live

    def prepare(self) -> object:
        texter = engine._texter(self.resolver)  # as compute_plan has it
        self.prepared = prepare_desired(self.loaded.all_declarations(), texter)
        return self.prepared

    def plan_against(self) -> object:
        assert self.live is not None and self.prepared, "fetch and prepare run first"
        planned = engine.plan_against(
            self.loaded,
            self.live,
            resolver=self.resolver,
            prepared=self.prepared,
            prepared_live=self.preparer.prepared(),
        )
        return self.empty(planned)

    @staticmethod
    def empty(planned: engine.Planned) -> engine.Planned:
        if not planned.plan.is_empty:
            raise SystemExit(f"the no-op plan has {len(planned.plan.changes)} changes")
        return planned


def timed(function: Callable[[], object], stage: Stage) -> None:
    gc.collect()
    gc.disable()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        stage.walls.append(time.perf_counter() - wall)
        stage.cpus.append(time.process_time() - cpu)
    finally:
        gc.enable()


def subprocess_wall(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True)
    return time.perf_counter() - started


def run_budget(n: int, latency_ms: float, runs: int) -> dict[str, Any]:
    compile_package()
    with tempfile.TemporaryDirectory(prefix="bench-budget-") as tmp:
        stack = generate_stack(n, Path(tmp) / "stack")
        results: dict[str, Any] = {
            "n": n,
            "latency_ms": latency_ms,
            "runs": runs,
            "machine": {"cpu": cpu_model(), "nproc": os.cpu_count(), "probe": probe_speed()},
        }
        with sandbox_of(INSTALLED, stack, n // 5, latency_ms) as url:
            budget = Budget(stack, url)
            stages = {name: Stage(name) for name in ("interpreter", "start")}
            with connect(budget.settings) as client:
                plan = budget.stages(client)
                assert tuple(plan) == STAGES
                stages.update((name, Stage(name)) for name in STAGES)
                for _ in range(runs):  # interleaved: a slower minute slows every stage alike
                    stages["interpreter"].walls.append(subprocess_wall("pass"))
                    stages["start"].walls.append(subprocess_wall(START))
                    for name, function in plan.items():
                        timed(function, stages[name])
        results["machine"]["probe_after"] = probe_speed()
        results["events"] = budget.yaml_events()
        results["stages"] = {name: stage.figures() for name, stage in stages.items()}
        return results


def table(results: dict[str, Any]) -> str:
    lines = [
        "| stage | wall (s), median (min–max) | CPU of this process (s) | CPUs busy |",
        "|---|---:|---:|---:|",
    ]
    for name, figures in results["stages"].items():
        cpu = figures.get("cpu_seconds")
        lines.append(
            f"| {name} | {figures['seconds']:.3f} ({figures['min']:.3f}–{figures['max']:.3f}) "
            f"| {'—' if cpu is None else f'{cpu:.3f}'} "
            f"| {figures.get('cpus_busy', '—')} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per stage (default 7)")
    parser.add_argument("--latency-ms", type=float, default=20, help="sandbox latency (20)")
    parser.add_argument("--output", help="write the JSON results here")
    args = parser.parse_args()
    results = run_budget(args.n, args.latency_ms, args.runs)
    if args.output:
        Path(args.output).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    machine = results["machine"]
    print(
        f"N={args.n}, latency {args.latency_ms:g} ms, {args.runs} runs; {results['events']} "
        f"YAML events; {machine['cpu']} × {machine['nproc']}; speed probe "
        f"{machine['probe']:.3f} s before, {machine['probe_after']:.3f} s after"
    )
    print(table(results))


if __name__ == "__main__":
    main()

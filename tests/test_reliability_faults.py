"""Faults at random points of applies of every example and of a 200-object stack (issue 8).

tests/test_apply_faults.py puts one fault at every request of one 30-change apply; here each
trial draws, from its seed, a fault kind, where it strikes (the nth requests, the nth writes of
one method, or a share of all requests) and the apply's parallelism. After the faulty apply and
at most one re-run without faults, the PBX must equal the stack (the plan is empty), with no
duplicate, no orphan endpoint, no bare trunk, and every declared trunk and outcall in place.

CI: 8 trials per target (one per fault kind), 64 in all; --soak: 40 per target, 320 in all.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from support import (
    EXAMPLE_NAMES,
    EXAMPLES,
    FAULT_KINDS,
    apply,
    client_for,
    generated_stack,
    invariants,
    lost,
)
from support import plan as plan_stack
from wazo_reconcile.apply import Status, apply_plan
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox
from wazo_reconcile.stack import Stack, load_stack

FAULTS = FAULT_KINDS
TARGETS = [*EXAMPLE_NAMES, "generated-200"]
CI_TRIALS, SOAK_TRIALS = len(FAULTS), 5 * len(FAULTS)


@dataclass(frozen=True)
class Trial:
    seed: int
    kind: str
    status: int
    mode: str  # "nth" | "writes" | "rate"
    rule: FaultRule
    parallelism: int

    def __str__(self) -> str:
        where = self.rule.nth or f"rate {self.rule.rate:.2f}"
        method = f" {self.rule.method}" if self.rule.method else ""
        return (
            f"seed {self.seed}: {self.kind}"
            + (f" {self.status}" if self.kind == "error" else "")
            + f" at{method} {where}, parallelism {self.parallelism}"
        )


def draw_trial(seed: int, index: int, requests: int, writes: dict[str, int]) -> Trial:
    """The trial of `seed`: its kind cycles with `index`, the rest comes from the seed."""
    rng = random.Random(seed)
    kind, status = FAULTS[index % len(FAULTS)]
    mode = rng.choice(("nth", "nth", "writes", "rate"))
    method = None
    if mode == "writes" and writes:
        method = rng.choice(sorted(writes))
        nth = tuple(sorted(rng.sample(range(1, writes[method] + 1), min(2, writes[method]))))
        rule = FaultRule(kind, nth=nth, status=status, retry_after=1, method=method)
    elif mode == "rate":
        rule = FaultRule(kind, rate=round(rng.uniform(0.05, 0.3), 2), status=status)
    else:
        mode = "nth"
        count = rng.randint(1, 3)
        nth = tuple(sorted(rng.sample(range(1, requests + 1), min(count, requests))))
        rule = FaultRule(kind, nth=nth, status=status, retry_after=1)
    return Trial(seed, kind, status, mode, rule, rng.choice((1, 2, 4, 8)))


def load_target(name: str, tmp_path: Path) -> Stack:
    if name == "generated-200":
        # 180 SIP + 10 IAX + 5 custom trunks, 5 routes, 4 templates, 2 transports, 3 users.
        return generated_stack(tmp_path / "generated", sip=180, iax=10, custom=5)
    return load_stack(EXAMPLES / name)


def fault_free_requests(stack: Stack) -> tuple[int, dict[str, int]]:
    """How many requests a fault-free apply sends, and how many writes of each method."""
    sandbox = Sandbox(profile="fresh", seed=0)
    client = client_for(sandbox)
    planned = plan_stack(stack, client)
    sandbox.reset_stats()
    assert apply_plan(planned, client).ok
    stats = sandbox.stats()
    writes: dict[str, int] = {}
    for key, count in stats["requests"].items():
        method = key.split()[0]
        if method in ("POST", "PUT", "DELETE"):
            writes[method] = writes.get(method, 0) + count
    return int(stats["total"]), writes


def run_trial(stack: Stack, trial: Trial) -> dict[str, Any]:
    sandbox = Sandbox(profile="fresh", seed=trial.seed)
    client = client_for(sandbox)
    planned = plan_stack(stack, client)
    assert planned.changes, "a fresh PBX needs changes"
    sandbox.configure_faults(FaultConfig(seed=trial.seed, rules=(trial.rule,)))
    report = apply_plan(planned, client, parallelism=trial.parallelism)
    faults = sum(sandbox.stats()["faults"].values())
    sandbox.configure_faults(FaultConfig())
    rerun = not report.ok
    if rerun:
        assert report.of(Status.FAILED) or report.of(Status.NOT_ATTEMPTED)
        _, second = apply(stack, client)
        failed = [(str(o.change.key), o.error) for o in second.outcomes if o.error]
        assert second.ok, f"{trial}: the re-run did not converge: {failed}"
    final = plan_stack(stack, client)
    assert final.is_empty, f"{trial}: still to do: {[str(c.key) for c in final.changes]}"
    assert invariants(sandbox) == [], str(trial)
    assert lost(stack, sandbox.state()) == [], str(trial)
    return {"faults": faults, "rerun": rerun, "retried": not rerun and faults > 0}


@pytest.mark.parametrize("target", TARGETS)
def test_faults_at_random_points_converge_after_one_rerun(
    target: str,
    tmp_path: Path,
    soak: bool,
    capsys: pytest.CaptureFixture[str],
    record_property: Any,
) -> None:
    stack = load_target(target, tmp_path)
    requests, writes = fault_free_requests(stack)
    base = 8000 + 1000 * TARGETS.index(target)
    seeds = range(base, base + (SOAK_TRIALS if soak else CI_TRIALS))
    results = []
    for index, seed in enumerate(seeds):
        trial = draw_trial(seed, index, requests, writes)
        results.append(run_trial(stack, trial))
    fired = sum(1 for r in results if r["faults"])
    reruns = sum(1 for r in results if r["rerun"])
    absorbed = sum(1 for r in results if r["retried"])
    line = (
        f"faults on {target}: {len(results)} trials, seeds {seeds.start}-{seeds.stop - 1}, "
        f"{requests} requests per fault-free apply; faults fired in {fired}, "
        f"absorbed within the apply (retry or read-back) in {absorbed}, re-run needed in {reruns}; "
        "all converged"
    )
    record_property("trials", len(results))
    record_property("summary", line)
    with capsys.disabled():
        print(f"\n{line}")
    # Not a test that cannot fail: most trials must really have been hit by a fault.
    assert fired >= len(results) // 2, line

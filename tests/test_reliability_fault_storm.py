"""A storm of faults of every kind on every method, reads included (issue 23).

Each seed draws a total fault rate between 15% and 30%, shared by every fault kind of the
sandbox (500, 502, 503, 429, connections dropped before or after the request, answers too late,
"saved then 500"), on every request: the reads of the plan as much as the writes. Each apply
is a whole `reconcile apply`: read the live state, plan, write. Within three applies the PBX
must equal the stack for at least 95% of the seeds. No seed may ever leave a duplicate; a seed
that converged leaves no orphan endpoint, bare trunk or lost object either (an unfinished one
may leave leftovers: the next apply adopts them).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from support import FAULT_KINDS, client_for, generated_stack, invariants, lost
from support import plan as plan_stack
from wazo_reconcile.apply import apply_plan
from wazo_reconcile.errors import ApiError
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox

KINDS = FAULT_KINDS
SEEDS = range(23_000, 23_050)
APPLIES = 3


def storm(seed: int) -> FaultConfig:
    rate = random.Random(seed).uniform(0.15, 0.30)
    share = rate / len(KINDS)
    rules = tuple(
        FaultRule(kind, rate=share, status=status, retry_after=0, delay=0.0)
        for kind, status in KINDS
    )
    return FaultConfig(seed=seed, rules=rules)


def faulty_apply(stack: Any, client: Any) -> bool:
    """One `reconcile apply` under the storm: True when it planned and applied everything."""
    try:
        plan = plan_stack(stack, client)
        return plan.is_empty or apply_plan(plan, client, parallelism=4).ok
    except ApiError:  # the plan's reads ran out of retries: this apply did nothing
        return False


def test_a_fault_storm_on_every_method_converges_within_three_applies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    stack = generated_stack(tmp_path)
    converged, applies, faults = 0, 0, 0
    for seed in SEEDS:
        sandbox = Sandbox(profile="fresh", seed=seed)
        client = client_for(sandbox)
        sandbox.configure_faults(storm(seed))
        for _ in range(APPLIES):
            applies += 1
            if faulty_apply(stack, client):
                break
        faults += sum(sandbox.stats()["faults"].values())
        sandbox.configure_faults(FaultConfig())
        left = invariants(sandbox)
        assert not [p for p in left if "duplicate" in p or "twice" in p], f"seed {seed}: {left}"
        if plan_stack(stack, client).is_empty:
            converged += 1
            assert left == [] and lost(stack, sandbox.state()) == [], f"seed {seed}: {left}"
    line = (
        f"fault storm: {converged} of {len(SEEDS)} seeds converged within {APPLIES} applies "
        f"({applies} applies, {faults} faults fired, 0 duplicates)"
    )
    record_property("summary", line)
    with capsys.disabled():
        print(f"\n{line}")
    assert faults > 10 * len(SEEDS), line  # the storm really blew
    assert converged >= 0.95 * len(SEEDS), line

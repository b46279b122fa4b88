"""Faults at every step of a 30-change apply: one re-run converges, nothing duplicated or lost."""

from __future__ import annotations

from pathlib import Path

import pytest

from support import apply, client_for, generated_stack, invariants, plan
from wazo_reconcile.apply import Status, apply_plan
from wazo_reconcile.sandbox import FaultConfig, FaultRule, Sandbox

FAULTS = {
    "error500": FaultRule(kind="error", status=500),
    "error502": FaultRule(kind="error", status=502),
    "error503": FaultRule(kind="error", status=503),
    "rate_limit": FaultRule(kind="rate_limit", retry_after=1),
    "drop_before": FaultRule(kind="drop_before"),
    "drop_after": FaultRule(kind="drop_after"),
    "timeout": FaultRule(kind="timeout"),
    "saved_then_500": FaultRule(kind="saved_then_500"),
}


def _apply_requests(tmp_path: Path) -> int:
    sandbox = Sandbox(profile="fresh", seed=1)
    client = client_for(sandbox)
    planned = plan(generated_stack(tmp_path), client)
    sandbox.reset_stats()
    apply_plan(planned, client)
    return int(sandbox.stats()["total"])


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_fault_at_every_step_converges(fault: str, tmp_path: Path) -> None:
    stack = generated_stack(tmp_path)
    steps = _apply_requests(tmp_path / "count")
    assert steps >= 60
    reruns = 0
    for nth in range(1, steps + 1):
        sandbox = Sandbox(profile="fresh", seed=nth)
        client = client_for(sandbox)
        planned = plan(stack, client)
        assert len(planned.changes) >= 30
        rule = FAULTS[fault]
        sandbox.configure_faults(FaultConfig(seed=nth, rules=(_nth(rule, nth),)))
        report = apply_plan(planned, client)
        sandbox.configure_faults(FaultConfig())
        if not report.ok:
            reruns += 1
            assert report.of(Status.FAILED), "a partial apply names what failed"
            _, second = apply(stack, client)
            assert second.ok, f"fault {fault} at request {nth}: the re-run did not converge"
        final = plan(stack, client)
        assert final.is_empty, f"fault {fault} at request {nth}: {final.changes}"
        assert invariants(sandbox) == [], f"fault {fault} at request {nth}"
    # Retryable faults are absorbed by the client; the others need the re-run at most.
    if fault in ("error502", "error503", "rate_limit"):
        assert reruns == 0


def _nth(rule: FaultRule, nth: int) -> FaultRule:
    return FaultRule(
        kind=rule.kind,
        nth=(nth,),
        status=rule.status,
        retry_after=rule.retry_after,
        delay=rule.delay,
    )

"""Two applies against one PBX: stale saved plans, and applies truly at the same time (issue 8).

What the tool guarantees (docs/reliability.md): a saved plan is applied only if the PBX is
still in the state it was computed from, so of two plans made from the same state the second
is refused and the PBX ends in the state the first described. confd has no locking, so two
applies running at the same moment are not serialised: neither sees the other, and the PBX may
end in a mix of the two stacks. What still holds then: confd's uniqueness of names refuses the
second creation of an object, so nothing is duplicated, and one more apply converges. What
does not: an apply that plans while the other is half-way sees the other's new endpoints and
trunks as left by an interrupted apply and adopts them too; one of the two links is refused,
and a trunk without endpoint may stay behind (harmless, but never deleted: delete it by hand).
Hence the CI recipes' one-apply-at-a-time groups (docs/ci.md).
"""

from __future__ import annotations

import json
import os
import random
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from support import (
    RECONCILE,
    SECRETS,
    ServedState,
    generated_stack,
    invariants,
    lost,
    plan,
    reset_served,
    run_cli,
    served_sandbox,
    url_client,
)
from wazo_reconcile.stack import Stack, load_stack

FIRST_SEED, CI_TRIALS, SOAK_TRIALS = 31_000, 4, 20


def _conn(url: str) -> list[str]:
    return ["--url", url, "--token", "concurrency-token"]


def _variant(tmp_path: Path, name: str, label: str, contact: str, extra: str) -> Stack:
    """Two stacks managing the same trunk and route differently, each with one of its own."""
    path = tmp_path / name / "stack.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "version: 1\n"
        "trunks:\n"
        "  shared:\n"
        "    templates: [global]\n"
        f"    label: {label}\n"
        f"    aor: {{contact: 'sip:{contact}'}}\n"
        f"  {extra}: {{type: iax, host: {extra}.example.net}}\n"
        "outcalls:\n"
        "  shared-route:\n"
        f"    trunks: [shared, {extra}]\n"
        f"    patterns: [{{exten: _0XXXXXXXXX, caller_id: '\"{label}\" <5550100>'}}]\n"
    )
    return load_stack(path)


@pytest.mark.parametrize("same_stack", [True, False], ids=["same-stack", "two-stacks"])
def test_of_two_plans_made_from_one_state_the_second_is_refused_as_stale(
    same_stack: bool, tmp_path: Path
) -> None:
    first = _variant(tmp_path, "a", "Carrier A", "a.example.com", "only-a")
    second = first if same_stack else _variant(tmp_path, "b", "Carrier B", "b.example", "only-b")
    with served_sandbox() as url:
        for stack, saved in ((first, "a.json"), (second, "b.json")):
            made = run_cli("plan", str(stack.path), *_conn(url), "--out", str(tmp_path / saved))
            assert made.returncode == 0, made.stderr
        plans = [json.loads((tmp_path / f).read_text()) for f in ("a.json", "b.json")]
        assert plans[0]["fingerprint"] == plans[1]["fingerprint"]  # made from the same state
        applied = run_cli("apply", "--plan", str(tmp_path / "a.json"), *_conn(url),
                          "--auto-approve")  # fmt: skip
        assert applied.returncode == 0, applied.stderr
        state = ServedState(url).state()
        refused = run_cli("apply", "--plan", str(tmp_path / "b.json"), *_conn(url),
                          "--auto-approve")  # fmt: skip
        assert refused.returncode == 1, refused.stdout
        assert "the saved plan is stale" in refused.stderr
        assert "the PBX changed since the plan was made" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert ServedState(url).state() == state  # the refused plan wrote nothing
        # The PBX is in the state plan A described (and, for two stacks, not in B's).
        assert run_cli("plan", str(first.path), *_conn(url), "--detailed-exitcode").returncode == 0
        if not same_stack:
            other = run_cli("plan", str(second.path), *_conn(url), "--detailed-exitcode")
            assert other.returncode == 2
        assert invariants(ServedState(url)) == []
        assert lost(first, state) == []


def _start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*RECONCILE, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env={**os.environ, **SECRETS},
    )


def _both(first: list[str], second: list[str]) -> list[tuple[int, str]]:
    """Run two commands at the same moment; their exit codes and stderr."""
    processes = [_start(*first), _start(*second)]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        results.append((process.returncode, err))
    return results


def _concurrent_trial(tmp_path: Path, url: str, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    stack = generated_stack(tmp_path / str(seed), sip=rng.choice((12, 24)))
    parallelism = [str(rng.choice((1, 4, 8))) for _ in range(2)]
    mode = ("stacks", "saved plans")[seed % 2]
    if mode == "stacks":
        args = [["apply", str(stack.path), *_conn(url), "--auto-approve", "--parallelism", p]
                for p in parallelism]  # fmt: skip
    else:
        args = []
        for i, p in enumerate(parallelism):
            saved = str(tmp_path / f"{seed}-{i}.json")
            assert run_cli("plan", str(stack.path), *_conn(url), "--out", saved).returncode == 0
            args.append(["apply", "--plan", saved, *_conn(url), "--auto-approve",
                         "--parallelism", p])  # fmt: skip
    results = _both(*args)
    for code, err in results:
        assert code in (0, 1, 4), err  # done, refused as stale, or some creations refused
        assert "Traceback" not in err
    served = ServedState(url)
    raced = invariants(served)
    assert duplicates(raced) == [], f"seed {seed}: {mode}: {raced}"
    final = run_cli("apply", str(stack.path), *_conn(url), "--auto-approve")
    assert final.returncode == 0, final.stderr
    with url_client(url) as client:
        assert plan(stack, client).is_empty
    after = invariants(served)
    # Only surplus bare trunks may remain (see the module docstring); nothing else.
    assert [p for p in after if not p.startswith("bare trunk")] == [], f"seed {seed}: {after}"
    assert lost(stack, served.state()) == []
    return {"mode": mode, "codes": sorted(code for code, _ in results), "bare": len(after)}


def duplicates(problems: list[str]) -> list[str]:
    return [p for p in problems if p.startswith(("duplicate", "endpoint attached twice"))]


def test_two_applies_at_the_same_time_duplicate_nothing(
    tmp_path: Path, soak: bool, capsys: pytest.CaptureFixture[str], record_property: Any
) -> None:
    outcomes = []
    seeds = range(FIRST_SEED, FIRST_SEED + (SOAK_TRIALS if soak else CI_TRIALS))
    with served_sandbox("--latency-ms", "3") as url:
        for seed in seeds:
            reset_served(url)
            outcomes.append(_concurrent_trial(tmp_path, url, seed))
    tally = Counter((o["mode"], str(o["codes"])) for o in outcomes)
    line = (
        f"concurrency: {len(outcomes)} trials of two simultaneous applies, seeds "
        f"{seeds.start}-{seeds.stop - 1}; exit codes "
        + ", ".join(f"{mode} {codes} x{n}" for (mode, codes), n in sorted(tally.items()))
        + f"; nothing duplicated, one more apply converged each time; surplus bare trunks "
        f"left: {sum(o['bare'] for o in outcomes)}"
    )
    record_property("trials", len(outcomes))
    record_property("summary", line)
    with capsys.disabled():
        print(f"\n{line}")
    # They really overlapped: at least once, both wrote and one met the other's objects.
    assert any(o["codes"] != [0, 0] for o in outcomes), line

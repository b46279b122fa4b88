"""The pipeline benchmark's harness at a small size: it runs, and its structural checks hold
(request counts and writes, never timings: benchmarks are not timed tests)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import bench_pipeline  # noqa: E402

N = 20


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    return bench_pipeline.run_benchmark(N, [0], runs=1)


@pytest.mark.slow
def test_every_step_runs_against_the_served_sandbox(results: dict[str, Any]) -> None:
    steps = results["latencies"]["0"]
    assert list(steps) == list(bench_pipeline.STEP_ORDER)
    for name in bench_pipeline.STEP_ORDER:
        assert steps[name]["seconds"] > 0, name
        assert steps[name]["speed_probe_seconds"] > 0, name
    for name in ("plan-empty", "plan-noop", "plan-changed", "export", "drift"):
        assert steps[name]["requests"] == 15 and steps[name]["writes"] == 0, name
        assert steps[name]["rss_mb"] > 10, name
    assert steps["validate"]["requests"] == 0


@pytest.mark.slow
def test_request_counts(results: dict[str, Any]) -> None:
    steps = results["latencies"]["0"]
    apply = steps["apply-create"]
    assert apply["trunk_requests_per_trunk"] == 3.0
    # 11 templates, 3 per trunk, 2 + 2 per pattern per outcall, 1 per user, 15 reads
    assert apply["requests"] == 11 + 3 * N + (N // 10) * (2 + 2 * 3) + N // 5 + 15
    assert steps["apply-changed"]["writes"] == steps["apply-changed"]["changed"] == N // 10
    assert steps["apply-changed"]["exact_writes"]
    # one GET per object: 5 singletons and 2 tenants lists, then every object (templates:
    # 10 defaults + 11; users: the 4 of the seed + N/5)
    objects = 21 + 2 * N + (N // 10) * 4 + 4 + N // 5
    assert steps["baseline"]["requests"] == 7 + objects


@pytest.mark.slow
def test_markdown_table_has_a_row_per_step(results: dict[str, Any]) -> None:
    table = bench_pipeline.markdown(results).splitlines()
    assert len(table) == 2 + len(bench_pipeline.STEP_ORDER)
    assert all(row.startswith("|") and row.endswith("|") for row in table)


@pytest.mark.slow
def test_the_budget_times_every_stage_of_a_no_op_plan() -> None:
    import bench_budget

    results = bench_budget.run_budget(N, 0, runs=1)  # it fails unless the plan is empty
    stages = results["stages"]
    assert list(stages) == ["interpreter", "start", *bench_budget.STAGES]
    assert all(figures["seconds"] > 0 for figures in stages.values())
    assert all("cpu_seconds" in stages[name] for name in bench_budget.STAGES)
    assert results["events"] > 1000
    table = bench_budget.table(results).splitlines()
    assert len(table) == 2 + len(stages)


@pytest.mark.slow
def test_the_settle_benchmark_times_plans_at_rest_and_after_a_load() -> None:
    import bench_settle

    results = bench_settle.run_settle(N, 0, rested_runs=2, load_seconds=0.5, watch_seconds=1)
    assert len(results["rested"]) == 2 and results["after"]  # each plan exited 0 (no-op)
    since = [r["since_load"] for r in results["after"]]
    assert since == sorted(since) and all(0 <= s < 1 for s in since)  # --watch-seconds 1
    assert all(r["seconds"] > 0 and r["probe"] > 0 for r in results["rested"] + results["after"])
    table = bench_settle.table(results).splitlines()
    assert len(table) == 4 + len(results["after"])

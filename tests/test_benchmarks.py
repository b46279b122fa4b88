"""The pipeline benchmark at a small size, its sandbox's waits scaled to nothing: it runs, and
its structure holds (request counts and writes, never timings: benchmarks are not timed tests)."""

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
    return bench_pipeline.run_benchmark(N, scale=0)


@pytest.mark.slow
def test_every_step_runs_against_the_costed_sandbox(results: dict[str, Any]) -> None:
    steps = results["steps"]
    assert list(steps) == list(bench_pipeline.STEPS)
    assert steps["validate"]["requests"] == 0 and steps["validate"]["modelled_seconds"] == 0
    for name in bench_pipeline.STEPS[1:]:
        step = steps[name]
        assert step["lists"] + step["single_reads"] + step["writes"] == step["requests"], name
        assert step["modelled_seconds"] > 0, name  # the profile priced its requests
    for name in ("plan-empty", "plan-noop", "baseline", "drift", "export"):
        assert steps[name]["writes"] == 0, name


@pytest.mark.slow
def test_request_counts(results: dict[str, Any]) -> None:
    steps = results["steps"]
    # 11 templates, 3 per trunk, 2 + 2 per pattern per outcall (3 patterns), 1 per user
    assert steps["apply"]["writes"] == 11 + 3 * N + (N // 10) * (2 + 2 * 3) + N // 5
    # one GET per object after 7 single reads (templates: 10 defaults + 11; users: the 4 of
    # the seed + N/5)
    objects = 21 + 2 * N + (N // 10) * 4 + 4 + N // 5
    assert steps["baseline"]["requests"] == 7 + objects
    assert steps["baseline"]["single_reads"] == 3 + objects


def test_the_markdown_table_has_a_row_per_step() -> None:
    row = {"seconds": 1.0, "modelled_seconds": 2.0, "client_seconds": 0.5, "cpu_seconds": 0.4}
    row |= {"requests": 4, "lists": 1, "single_reads": 2, "writes": 1}
    row |= {"sip_listed_over_r100_max": 0}
    table = bench_pipeline.markdown({"steps": dict.fromkeys(bench_pipeline.STEPS, row)})
    lines = table.splitlines()
    assert len(lines) == 2 + len(bench_pipeline.STEPS)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)

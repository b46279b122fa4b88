"""Compare two revisions of wazo-reconcile command by command, runs interleaved.

    python benchmarks/bench_ab.py --before 3aeb6c5                 # N=5,000, 20 ms, 7 runs
    python benchmarks/bench_ab.py --before HEAD~3 --after HEAD --n 500 --runs 3
    python benchmarks/bench_ab.py --before HEAD --steps export      # one command only
    python benchmarks/bench_ab.py --before HEAD --steps apply --runs 3
    python benchmarks/bench_ab.py --before . --python-before /tmp/venv-a/bin/python \
        --python-after /tmp/venv-b/bin/python        # one revision on two interpreters

The speed of a shared machine's CPUs changes from one hour to the next (see
`installed.probe_speed`), so two benchmark runs taken apart do not compare two revisions.
Here each revision gets its own ``reconcile sandbox`` (its own code, so sandbox changes count)
holding the same state — the generated stack applied by that revision — and the runs of the
two revisions alternate: before, after, before, after… For each command (validate, no-op plan,
drift, export) the median, min and max wall time of each revision, and the ratio. The `apply`
step (not run by default: about 70 s a run at N=5,000) times ``apply --parallelism 8``
creating everything: before each run the revision's sandbox goes back to its seed state and
gets the N/5 users again (untimed, without latency); it ends with the stack applied, so the
steps after it see the same state as the others.

Each revision is ``git archive``d into a temporary directory and runs from there
(``PYTHONPATH``), with its bytecode compiled first (as an installed copy has it); the working
tree itself is used for ``--after .`` (the default). Each side runs on this script's
interpreter unless ``--python-before``/``--python-after`` name another (the ``python`` of a
virtual environment holding wazo-reconcile's dependencies): its CLI and its sandbox both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

import wazo_reconcile  # noqa: E402
from gen_stack import generate_stack, user_body  # noqa: E402
from installed import probe_speed, sandbox_process  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "bench-token"
STEPS = ("validate", "plan-noop", "drift", "export", "apply")
DEFAULT_STEPS = STEPS[:-1]


@dataclass
class Revision:
    label: str
    src: Path  # the directory holding the `wazo_reconcile` package
    python: str = sys.executable  # the interpreter that runs it

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONPATH": str(self.src)}

    def command(self, *args: str) -> list[str]:
        return [self.python, "-m", "wazo_reconcile", *args]


# The package this process imports (an installed or editable copy), as a revision to run.
INSTALLED = Revision("installed", Path(wazo_reconcile.__file__).resolve().parents[1])


def checkout(rev: str, workdir: Path, python: str | None = None) -> Revision:
    """``rev``'s ``src/`` in a directory of its own (``.``: the working tree), compiled by the
    interpreter that will run it (``python``; default: this one)."""
    python = python or sys.executable
    if rev == ".":
        src = ROOT / "src"
    else:
        target = workdir / f"rev-{len(list(workdir.iterdir()))}"
        target.mkdir()
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", rev, "src"], check=True, capture_output=True
        ).stdout
        archive_path = target / "src.tar"
        archive_path.write_bytes(archive)
        with tarfile.open(archive_path) as tar:
            tar.extractall(target, filter="data")
        src = target / "src"
    subprocess.run([python, "-m", "compileall", "-q", str(src / "wazo_reconcile")], check=True)
    label = "working tree" if rev == "." else rev
    if python != sys.executable:
        label += f" on {python}"
    return Revision(label, src, python)


def reseed(url: str, n_users: int, latency_ms: float) -> None:
    """The sandbox back to its seed state plus the users the stack refers to."""
    with httpx.Client(base_url=url, headers={"X-Auth-Token": TOKEN}, timeout=60) as http:
        http.post("/_sandbox/faults", json={"latency_ms": 0}).raise_for_status()
        http.post("/_sandbox/reset", json={"state": True}).raise_for_status()
        for i in range(n_users):
            http.post("/api/confd/1.1/users", json=user_body(i))
        http.post("/_sandbox/faults", json={"latency_ms": latency_ms}).raise_for_status()


@contextmanager
def sandbox_of(revision: Revision, stack: Path, n_users: int, latency_ms: float) -> Iterator[str]:
    """The revision's sandbox, holding `stack` as that revision applies it; yields its URL."""
    with sandbox_process(revision.command("sandbox", "--port", "0"), revision.env()) as url:
        reseed(url, n_users, 0)
        with httpx.Client(base_url=url, headers={"X-Auth-Token": TOKEN}, timeout=60) as http:
            apply = subprocess.run(
                revision.command(
                    "apply", str(stack), "--url", url, "--token", TOKEN, "--auto-approve"
                ),
                env=revision.env(),
                capture_output=True,
                text=True,
            )
            if apply.returncode != 0:
                raise SystemExit(f"{revision.label}: apply failed\n{apply.stderr[-2000:]}")
            http.post("/_sandbox/faults", json={"latency_ms": latency_ms}).raise_for_status()
        yield url


def step_args(step: str, stack: Path, url: str, out: Path) -> tuple[list[str], int]:
    """The CLI arguments of a step, and the exit code it must give."""
    conn = ["--url", url, "--token", TOKEN]
    if step == "validate":
        return ["validate", str(stack)], 0
    if step == "plan-noop":
        return ["plan", str(stack), *conn, "--detailed-exitcode"], 0
    if step == "drift":
        return ["drift", str(stack), *conn], 0
    if step == "apply":
        return ["apply", str(stack), *conn, "--auto-approve", "--parallelism", "8"], 0
    return ["export", *conn, "--output", str(out)], 0


def timed(revision: Revision, args: list[str], code: int) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        revision.command(*args), env=revision.env(), capture_output=True, text=True
    )
    elapsed = time.perf_counter() - started
    if result.returncode != code:
        raise SystemExit(
            f"{revision.label}: {' '.join(args[:1])} exited {result.returncode}\n"
            f"{result.stderr[-2000:]}"
        )
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare against")
    parser.add_argument("--after", default=".", help="git revision (default: the working tree)")
    for side in ("before", "after"):
        parser.add_argument(
            f"--python-{side}",
            metavar="PYTHON",
            help=f"the interpreter that runs the {side} side (default: this one)",
        )
    parser.add_argument("--n", type=int, default=5000, help="SIP trunks (default 5000)")
    parser.add_argument("--runs", type=int, default=7, help="runs per step and revision")
    parser.add_argument("--latency-ms", type=float, default=20, help="sandbox latency (20)")
    parser.add_argument(
        "--steps",
        nargs="+",
        choices=STEPS,
        default=list(DEFAULT_STEPS),
        help="steps to time (all but apply)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ab-") as tmp, ExitStack() as stack_:
        workdir = Path(tmp)
        (workdir / "revs").mkdir()
        stack = generate_stack(args.n, workdir / "stack")
        revisions = [
            checkout(args.before, workdir / "revs", args.python_before),
            checkout(args.after, workdir / "revs", args.python_after),
        ]
        if revisions[0].label == revisions[1].label:
            raise SystemExit("--before and --after name the same revision on the same Python")
        print(f"N={args.n}, latency {args.latency_ms:g} ms, {args.runs} runs, interleaved")
        print(f"speed probe before: {probe_speed():.3f} s; load average {_load()}")
        urls = [
            stack_.enter_context(sandbox_of(r, stack, args.n // 5, args.latency_ms))
            for r in revisions
        ]
        times: dict[tuple[str, str], list[float]] = {}
        for step in args.steps:
            for run in range(args.runs):
                for i, (revision, url) in enumerate(zip(revisions, urls, strict=True)):
                    out = workdir / f"export-{i}-{run}"
                    step_argv, code = step_args(step, stack, url, out)
                    if step == "apply":
                        reseed(url, args.n // 5, args.latency_ms)
                    times.setdefault((step, revision.label), []).append(
                        timed(revision, step_argv, code)
                    )
        print(f"speed probe after: {probe_speed():.3f} s; load average {_load()}")
        print(table(times, revisions, args.steps))


def _load() -> str:
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def table(
    times: dict[tuple[str, str], list[float]], revisions: list[Revision], steps: list[str]
) -> str:
    before, after = (r.label for r in revisions)
    lines = [
        f"| step | {before} median (min–max) | {after} median (min–max) | after / before |",
        "|---|---:|---:|---:|",
    ]
    for step in steps:
        cells: list[Any] = [step]
        medians = []
        for label in (before, after):
            values = times[(step, label)]
            medians.append(statistics.median(values))
            cells.append(f"{medians[-1]:.2f} s ({min(values):.2f}–{max(values):.2f})")
        cells.append(f"{medians[1] / medians[0]:.2f}")
        lines.append("| " + " | ".join(str(c) for c in cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()

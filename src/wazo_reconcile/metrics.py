"""Drift as metrics: OpenMetrics text for node_exporter's textfile collector. Pure.

`drift_metrics` writes, per PBX (label ``pbx``):

- ``wazo_reconcile_drift_changes{pbx, kind}``: the changes drift found, one series per kind
  of the format (0: in sync); only for a PBX whose check succeeded;
- ``wazo_reconcile_drift_success{pbx}``: 1 if the last check succeeded (in sync or drift
  found), 0 if it failed (unreachable PBX, bad input);
- ``wazo_reconcile_drift_last_success_timestamp_seconds{pbx}``: when a check last succeeded,
  carried over from the previous file (`last_successes`) when this one failed.

The text is also valid Prometheus text format (``# EOF`` is a comment there), which
node_exporter reads from ``*.prom`` files of its ``--collector.textfile.directory``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from wazo_reconcile.model import KINDS

if TYPE_CHECKING:
    from wazo_reconcile.planner import Plan

PREFIX = "wazo_reconcile_drift"
CHANGES = f"{PREFIX}_changes"
SUCCESS = f"{PREFIX}_success"
LAST_SUCCESS = f"{PREFIX}_last_success_timestamp_seconds"
_LAST = re.compile(rf'^{LAST_SUCCESS}{{pbx="((?:[^"\\]|\\.)*)"}} (\S+)$', re.MULTILINE)


@dataclass(frozen=True)
class DriftSample:
    """One PBX's drift check: its plan (None if it failed), and whether it succeeded."""

    pbx: str
    plan: Plan | None
    ok: bool


def drift_metrics(
    samples: Sequence[DriftSample], *, now: float, previous: Mapping[str, float] | None = None
) -> str:
    """The OpenMetrics text of the checks ``samples`` at time ``now``; ``previous``: the last
    success of each PBX before (for those that failed this time)."""
    previous = previous or {}
    lines = _head(CHANGES, "Changes the drift check found on the PBX (0: in sync), by kind.")
    for sample in samples:
        if sample.ok and sample.plan is not None:
            counts = Counter(change.key.kind for change in sample.plan.changes)
            for kind in KINDS:
                lines.append(f"{CHANGES}{_labels(pbx=sample.pbx, kind=kind)} {counts[kind]}")
    lines += _head(SUCCESS, "Whether the last drift check of the PBX succeeded (1) or failed (0).")
    lines += [f"{SUCCESS}{_labels(pbx=s.pbx)} {1 if s.ok else 0}" for s in samples]
    lines += _head(LAST_SUCCESS, "When a drift check of the PBX last succeeded (Unix time).")
    for sample in samples:
        when = now if sample.ok else previous.get(sample.pbx)
        if when is not None:
            lines.append(f"{LAST_SUCCESS}{_labels(pbx=sample.pbx)} {when:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def _head(name: str, text: str) -> list[str]:
    """The metadata lines of a metric family (every one is a gauge)."""
    return [f"# HELP {name} {text}", f"# TYPE {name} gauge"]


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels.items()) + "}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: "\n" if m[1] == "n" else m[1], value)


def last_successes(text: str) -> dict[str, float]:
    """The last success of each PBX in a file `drift_metrics` wrote before."""
    found = {}
    for match in _LAST.finditer(text):
        try:
            found[_unescape(match[1])] = float(match[2])
        except ValueError:
            continue
    return found

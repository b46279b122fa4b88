"""Saved plans: what `plan --out FILE` writes and how `apply --plan FILE` checks it is fresh.

A saved plan holds no secret values: the rendered changes (secrets masked), the stack path,
the connection target (never a token or password) and the fingerprint of the live state the
plan was computed from. Applying it re-reads the live state and re-plans from the same stack:
if the fingerprint or the changes differ, the plan is stale and is refused, saying what moved.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from wazo_reconcile.errors import StalePlanError, UsageError
from wazo_reconcile.planner import Plan, Selection
from wazo_reconcile.render import change_dict, plan_dict

SAVED_KIND = "saved-plan"


def saved_plan(
    plan: Plan, *, stacks: Sequence[Path], target: Mapping[str, Any], selection: Selection
) -> dict[str, Any]:
    """The saved plan; ``stacks`` are the stack's paths (several: an inventory's PBX)."""
    several = {"stacks": [str(p.resolve()) for p in stacks]} if len(stacks) > 1 else {}
    return {
        "format_version": 1,
        "kind": SAVED_KIND,
        "stack": str(stacks[0].resolve()),
        **several,
        "target": dict(target),
        "selection": {"targets": list(selection.targets), "excludes": list(selection.excludes)},
        "fingerprint": plan.fingerprint,
        "plan": plan_dict(plan),
    }


def read_saved_plan(path: str) -> dict[str, Any]:
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"--plan {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise UsageError(f"--plan {path}: not a saved plan (invalid JSON: {exc})") from exc
    if not isinstance(document, dict) or document.get("kind") != SAVED_KIND:
        raise UsageError(f"--plan {path}: not a saved plan written by `reconcile plan --out`")
    if document.get("format_version") != 1:
        raise UsageError(
            f"--plan {path}: unsupported format_version {document.get('format_version')}"
        )
    return document


def saved_selection(saved: Mapping[str, Any]) -> Selection:
    """The `--target`/`--exclude` the plan was made with (apply re-plans with the same)."""
    chosen = saved.get("selection") or {}
    return Selection(tuple(chosen.get("targets", ())), tuple(chosen.get("excludes", ())))


def _signature(change: Mapping[str, Any]) -> str:
    keep = {k: change.get(k) for k in ("action", "kind", "name", "tenant", "fields")}
    return json.dumps(keep, sort_keys=True)


def check_fresh(saved: Mapping[str, Any], plan: Plan, *, target: Mapping[str, Any]) -> None:
    """Raise `StalePlanError` naming what changed since the plan was saved."""
    reasons: list[str] = []
    if dict(saved.get("target") or {}) != dict(target):
        reasons.append(f"it was made for {saved.get('target')}, not {dict(target)}")
    if saved.get("fingerprint") != plan.fingerprint:
        reasons.append("the PBX changed since the plan was made")
    old = {_label(c): _signature(c) for c in saved["plan"]["changes"]}
    new = {_label(c): _signature(c) for c in map(change_dict, plan.changes)}
    for label in sorted(set(old) | set(new)):
        if label not in new:
            reasons.append(f"{label} is no longer needed")
        elif label not in old:
            reasons.append(f"{label} is now needed")
        elif old[label] != new[label]:
            reasons.append(f"{label} now differs")
    if reasons:
        raise StalePlanError(
            "the saved plan is stale: "
            + "; ".join(reasons)
            + ". Run `reconcile plan` again and review the new plan."
        )


def _label(change: Mapping[str, Any]) -> str:
    return f"{change['action']} {change['kind']}/{change['name']}"

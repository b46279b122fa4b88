"""Render stage: plans, apply reports and trunk health as text (people), JSON (machines),
markdown (PRs, issues).

Pure: values in, strings out. Secret values never reach the output: option values under secret
keys are replaced by `secrets.MASK` here, and the CLI scrubs every known secret value from
everything it prints as a second line of defence.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from wazo_reconcile import __version__
from wazo_reconcile.apply import Outcome, Report, Status
from wazo_reconcile.callerid import (
    ANONYMOUS,
    CallerIdChange,
    UserCallerIdChange,
    plan_caller_id_changes,
)
from wazo_reconcile.diff import Action, Change, FieldChange
from wazo_reconcile.errors import printable
from wazo_reconcile.health import HealthReport, TrunkHealth
from wazo_reconcile.model import Pattern, Resource, ResourceKey
from wazo_reconcile.planner import Plan
from wazo_reconcile.secrets import MASK, is_secret_key

FORMAT_VERSION = 1
SYMBOL = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-"}
_COLOUR = {"+": "\033[32m", "~": "\033[33m", "-": "\033[31m", "!": "\033[1;31m"}
_RESET = "\033[0m"
_ORDER = ("type", "label", "interface")
# A dial pattern's values besides exten and context, in the order plans show them.
_PATTERN_EXTRAS = ("caller_id", "strip_digits", "prefix", "external_prefix")


@dataclass(frozen=True)
class RenderOptions:
    color: bool = False
    title: str = "plan"  # "plan" | "drift"
    source: str = ""  # what was compared, e.g. "examples/nat-provider → https://pbx"
    forced: bool = False  # --force: the safety guards are overridden, not refusing
    pbx: str | None = None  # the inventory's name of the PBX (JSON `pbx`)


# ---------------------------------------------------------------------------- values


def show(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Pattern):
        return show_pattern(value)
    if isinstance(value, tuple):
        return "[" + ", ".join(show(v) for v in value) + "]"
    return printable(str(value))


def show_pattern(pattern: Pattern) -> str:
    text = f"{pattern.exten}@{pattern.context}"
    values = {name: getattr(pattern, name) for name in _PATTERN_EXTRAS}
    extras = [f"{name}={value}" for name, value in values.items() if value]
    return printable(" ".join([text, *extras]))


def masked_pair(key: str, value: str) -> tuple[str, str]:
    return (key, MASK if is_secret_key(key) else value)


def _is_pairs(value: object) -> bool:
    return isinstance(value, tuple) and all(isinstance(p, tuple) and len(p) == 2 for p in value)


def _pair_line(name: str, pair: tuple[str, str]) -> str:
    key, value = (printable(str(v)) for v in masked_pair(*pair))
    return f"{key}: {value}" if name == "headers" else f"{key} = {value}"


def field_delta(change: FieldChange) -> tuple[list[Any], list[Any]]:
    """(added, removed) items of a collection field, as multisets (repetitions counted).

    deepdiff compares the two collections ignoring order; pairing similar items is off, so
    a changed pattern or option reads as one item removed and one added.
    """
    from deepdiff import DeepDiff  # imported when needed: 40 ms that validate never uses

    before, after = list(change.before or ()), list(change.after or ())
    delta = DeepDiff(
        before,
        after,
        ignore_order=True,
        report_repetition=True,
        cutoff_intersection_for_pairs=0,
        cutoff_distance_for_pairs=0,
    )
    added = list(delta.get("iterable_item_added", {}).values())
    removed = list(delta.get("iterable_item_removed", {}).values())
    for repeated in delta.get("repetition_change", {}).values():
        count = repeated["new_repeat"] - repeated["old_repeat"]
        (added if count > 0 else removed).extend([repeated["value"]] * abs(count))
    return sorted(added, key=repr), sorted(removed, key=repr)


def _is_collection(change: FieldChange) -> bool:
    """Shown as items added and removed: dial patterns and option pairs."""
    return change.field == "patterns" or _is_pairs(change.before) or _is_pairs(change.after)


def field_lines(change: FieldChange) -> list[str]:
    """How one changed field reads in a plan (indented by the caller)."""
    name = change.field
    if _is_collection(change):
        added, removed = field_delta(change)
        lines = [f"{name}:"]
        lines += [f"  - {_item(name, v)}" for v in removed]
        lines += [f"  + {_item(name, v)}" for v in added]
        return lines
    if name == "identify_by_header":
        return [
            f"endpoint.identify_by includes header: {show(change.before)} → {show(change.after)}"
        ]
    return [f"{name}: {show(change.before)} → {show(change.after)}"]


def _item(name: str, value: object) -> str:
    if isinstance(value, tuple) and len(value) == 2:
        return _pair_line(name, value)
    return show(value)


def resource_lines(resource: Resource) -> list[str]:
    """All declared fields of a resource (for creates and deletes)."""
    lines = []
    names = sorted(
        resource.fields, key=lambda n: (n not in _ORDER, _ORDER.index(n) if n in _ORDER else 0, n)
    )
    for name in names:
        value = resource.fields[name]
        if name == "identify_by_header":
            continue
        if (_is_pairs(value) or name == "patterns") and value:
            lines.append(f"{name}:")
            lines += [f"  {_item(name, item)}" for item in value]
        elif value not in ((), None):
            lines.append(f"{name} = {show(value)}")
    return lines


# ------------------------------------------------------------------------------ text


def _paint(text: str, symbol: str, color: bool) -> str:
    return f"{_COLOUR[symbol]}{text}{_RESET}" if color else text


def change_header(change: Change, tenant_labels: Mapping[str, str]) -> str:
    """``+ trunks/acme (tenant sub)``: the tenant as the stack wrote it, else its UUID."""
    tenant = change.key.tenant
    shown = f" (tenant {tenant_labels.get(tenant, tenant)})" if tenant else ""
    return printable(f"{SYMBOL[change.action]} {change.key}{shown}")


def change_body(change: Change) -> list[str]:
    if change.action is Action.UPDATE:
        lines = [line for delta in change.fields for line in field_lines(delta)]
    elif change.action is Action.CREATE:
        lines = resource_lines(change.resource)
    else:
        lines = []
    if change.affects:
        lines.append("affects: " + ", ".join(change.affects))
    lines += [f"warning: {text}" for text in change.warnings]
    lines += [f"note: {note}" for note in change.notes]
    return lines


def render_text(plan: Plan, options: RenderOptions = RenderOptions()) -> str:
    out: list[str] = []
    if options.source:
        out += [f"wazo-reconcile {options.title}: {options.source}", ""]
    for i, change in enumerate(plan.changes):
        symbol = SYMBOL[change.action]
        head = change_header(change, plan.tenant_labels)
        out.append(_paint(f"  {head}", symbol, options.color) + f"  [{', '.join(change.impact)}]")
        out += [f"      {line}" for line in change_body(change)]
        out += [f"      · {summary}" for summary in plan.summaries(i)]
    if plan.changes:
        out.append("")
    out += caller_id_lines(plan)
    out += _unmanaged_lines(plan)
    out.append(summary_line(plan, options.title))
    if plan.restart_reasons:
        out.append(_paint(restart_line(plan.restart_reasons), "!", options.color))
    out += [_paint(f"Warning: {text}", "!", options.color) for text in plan.warnings]
    out += [_paint(_refusal_line(r, options.forced), "!", options.color) for r in plan.refusals]
    return "\n".join(out) + "\n"


def _refusal_line(refusal: str, forced: bool, code: str = "") -> str:
    if forced:
        return f"Overridden by {code}--force{code}: {refusal}"
    return f"Refused: {refusal} (use {code}--force{code} to override)"


def _unmanaged_lines(plan: Plan) -> list[str]:
    lines = []
    if plan.unmanaged:
        names = printable(", ".join(str(r.key) for r in plan.unmanaged))
        lines.append(f"Unmanaged (on the PBX, not in the stack, left alone): {names}")
    if plan.kept:
        names = printable(", ".join(f"{k.resource.key} ({k.reason})" for k in plan.kept))
        lines.append(f"Kept despite prune: {names}")
    return lines


def summary_line(plan: Plan, title: str = "plan") -> str:
    counts = plan.counts
    if plan.is_empty:
        word = "No drift" if title == "drift" else "No changes"
        return f"{word}: the PBX matches the stack ({plan.in_sync} in sync)."
    head = "Drift" if title == "drift" else "Plan"
    return (
        f"{head}: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['delete']} to delete ({plan.in_sync} in sync)."
    )


def restart_line(reasons: Sequence[str]) -> str:
    return (
        f"Asterisk restart required: {', '.join(reasons)} "
        "(a transport change needs an Asterisk restart; confd only reloads res_pjsip)."
    )


# ------------------------------------------------------------------------- caller ID

CALLER_ID_TITLE = (
    "Caller ID (what a call presents to the network, for users on `default`; "
    "details: reconcile explain caller-id):"
)
_NEW, _REMOVED = "(new pattern)", "(pattern removed)"


def caller_id_lines(plan: Plan) -> list[str]:
    """The text plan's "Caller ID" section: one line per route whose presentation changes."""
    entries = plan_caller_id_changes(plan.changes)
    if not entries:
        return []
    lines = [CALLER_ID_TITLE]
    for entry in entries:
        where, before, after = _caller_id_cells(entry)
        lines.append(printable(f"  {where}: {before} → {after}"))
        if entry.note:
            lines.append(printable(f"      note: {entry.note}"))
    return [*lines, ""]


def _caller_id_cells(entry: CallerIdChange | UserCallerIdChange) -> tuple[str, str, str]:
    """(where, before, after) as shown: a user applies to every route; a pattern may be new
    or removed."""
    if isinstance(entry, UserCallerIdChange):
        return f"users/{entry.user} (every route)", entry.before, entry.after
    before = _NEW if entry.before is None else entry.before
    after = _REMOVED if entry.after is None else entry.after
    return f"outcalls/{entry.outcall} {entry.pattern}", before, after


def caller_id_markdown(plan: Plan) -> list[str]:
    """The markdown plan's "Caller ID" section: a table of route, pattern, before, after."""
    entries = plan_caller_id_changes(plan.changes)
    if not entries:
        return []
    out = [
        "#### Caller ID",
        "",
        "What a call presents to the network, for users on `default` "
        "(details: `reconcile explain caller-id`).",
        "",
        "| route | pattern | before | after | note |",
        "|---|---|---|---|---|",
    ]
    for entry in entries:
        if isinstance(entry, UserCallerIdChange):
            route, pattern = f"user {_md_code(entry.user)}", "every route"
        else:
            route, pattern = _md_code(entry.outcall), _md_code(entry.pattern)
        _, before, after = _caller_id_cells(entry)
        cells = [route, pattern, _md_value(before), _md_value(after), _md_text(entry.note)]
        out.append("| " + " | ".join(cells) + " |")
    return [*out, ""]


def _md_code(text: str) -> str:
    """`text` as a code span in a table cell (`|` escaped; double backticks around a backtick)."""
    text = _md_text(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _md_value(text: str) -> str:
    """A caller ID as code; a description ("the caller's own caller ID", "(new pattern)") as
    text."""
    described = text.startswith(("(", "the ")) or text == ANONYMOUS
    return _md_text(text) if described else _md_code(text)


def _md_text(text: str) -> str:
    return printable(text).replace("|", "\\|")


# ------------------------------------------------------------------------------ json


def json_value(value: Any) -> Any:
    if isinstance(value, Pattern):
        return {name: getattr(value, name) for name in ("exten", "context", *_PATTERN_EXTRAS)}
    if _is_pairs(value) and value:
        return [list(masked_pair(*p)) for p in value]
    if isinstance(value, tuple):
        return [json_value(v) for v in value]
    return value


def change_dict(change: Change, operations: Sequence[str] = ()) -> dict[str, object]:
    fields: list[dict[str, object]] = []
    if change.action is Action.UPDATE:
        for delta in change.fields:
            entry: dict[str, object] = {
                "field": delta.field,
                "before": json_value(delta.before),
                "after": json_value(delta.after),
            }
            if _is_collection(delta):
                added, removed = field_delta(delta)
                entry["added"] = [_json_item(v) for v in added]
                entry["removed"] = [_json_item(v) for v in removed]
            fields.append(entry)
    else:  # a create shows every field after, a delete before
        side = "after" if change.action is Action.CREATE else "before"
        fields = [
            {"field": name, "before": None, "after": None, side: json_value(value)}
            for name, value in sorted(change.resource.fields.items())
        ]
    return {
        "action": change.action.value,
        **_key_dict(change.key),
        **_impacts(change),
        "fields": fields,
        "notes": list(change.notes),
        "warnings": list(change.warnings),
        "affects": list(change.affects),
        **({"operations": list(operations)} if operations else {}),
    }


def _json_item(value: Any) -> Any:
    if isinstance(value, tuple) and len(value) == 2 and all(isinstance(v, str) for v in value):
        return list(masked_pair(*value))
    return json_value(value)


def _document_head(kind: str, pbx: str | None) -> dict[str, Any]:
    """The keys every JSON document of the tool opens with (`pbx`: in a fleet run)."""
    return {
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "tool": {"name": "wazo-reconcile", "version": __version__},
        **({} if pbx is None else {"pbx": pbx}),
    }


def plan_dict(plan: Plan, options: RenderOptions = RenderOptions()) -> dict[str, Any]:
    counts = plan.counts
    return {
        **_document_head(options.title, options.pbx),
        "fingerprint": plan.fingerprint,
        "summary": {**counts, "in_sync": plan.in_sync, "unmanaged": len(plan.unmanaged)},
        "restart_required": plan.restart_required,
        "restart_reasons": list(plan.restart_reasons),
        "refusals": list(plan.refusals),
        "warnings": list(plan.warnings),
        "changes": [change_dict(c, plan.summaries(i)) for i, c in enumerate(plan.changes)],
        "unmanaged": [_key_dict(r.key) for r in plan.unmanaged],
        "kept": [{**_key_dict(k.resource.key), "reason": k.reason} for k in plan.kept],
        "caller_id": [asdict(entry) for entry in plan_caller_id_changes(plan.changes)],
    }


def _key_dict(key: ResourceKey) -> dict[str, object]:
    return {"kind": key.kind, "name": key.name, "tenant": key.tenant or None}


def _impacts(change: Change) -> dict[str, object]:
    """A change's main impact (`impact`) and all of them (`impacts`)."""
    return {"impact": change.impact[0] if change.impact else "none", "impacts": list(change.impact)}


def render_json(plan: Plan, options: RenderOptions = RenderOptions()) -> str:
    return json.dumps(plan_dict(plan, options), indent=2, sort_keys=False) + "\n"


# -------------------------------------------------------------------------- markdown


def render_markdown(plan: Plan, options: RenderOptions = RenderOptions()) -> str:
    counts = plan.counts
    title = "Drift" if options.title == "drift" else "Plan"
    out = [
        f"### wazo-reconcile {title.lower()}" + (f": `{options.source}`" if options.source else ""),
        "",
    ]
    numbers = [counts["create"], counts["update"], counts["delete"], plan.in_sync]
    out += [
        "| create | update | delete | in sync | unmanaged |",
        "|---:|---:|---:|---:|---:|",
        "| " + " | ".join(map(str, [*numbers, len(plan.unmanaged)])) + " |",
        "",
    ]
    if plan.restart_required:
        out += ["> [!WARNING]", f"> **{restart_line(plan.restart_reasons)}**", ""]
    for text in plan.warnings:
        out += ["> [!WARNING]", f"> **{text}**", ""]
    for refusal in plan.refusals:
        out += ["> [!CAUTION]", f"> {_refusal_line(refusal, options.forced, code='`')}", ""]
    if plan.is_empty:
        out += [summary_line(plan, options.title), ""]
    for i, change in enumerate(plan.changes):
        impact = ", ".join(change.impact)
        head = change_header(change, plan.tenant_labels)
        out.append(f"<details><summary><code>{head}</code> — {impact}</summary>")
        out += ["", "```diff"]
        out += [_diff_line(line) for line in change_body(change)]
        out += [f"# {s}" for s in plan.summaries(i)]
        out += ["```", "", "</details>", ""]
    out += caller_id_markdown(plan)
    if plan.unmanaged or plan.kept:
        out += [f"_{line}_" for line in _unmanaged_lines(plan)] + [""]
    return "\n".join(out)


def _diff_line(line: str) -> str:
    stripped = line.lstrip()
    if stripped.startswith(("+ ", "- ")):
        return stripped[0] + " " + line.replace(stripped[:2], "", 1)
    return "  " + line


# ------------------------------------------------------------------------------ apply


def outcome_line(outcome: Outcome, *, shown: Callable[[str], str] = printable) -> str:
    """One line per outcome; ``shown`` turns a server's error message into what is shown
    (the CLI's masks secrets before it shortens the message)."""
    change = outcome.change
    if outcome.status is Status.DONE:  # "created", "updated", "deleted"
        return (
            f"{SYMBOL[change.action]} {change.key}: {change.action.value}d ({outcome.seconds:.2f}s)"
        )
    if outcome.status is Status.FAILED:
        return f"! {change.key}: {change.action.value} failed: {shown(str(outcome.error))}"
    blocked = f" (blocked by {', '.join(outcome.blocked_by)})" if outcome.blocked_by else ""
    return f"  {change.key}: not attempted{blocked}"


def report_text(report: Report, *, shown: Callable[[str], str] = printable) -> str:
    counts = report.counts
    lines = []
    for outcome in report.of(Status.FAILED) + report.of(Status.NOT_ATTEMPTED):
        lines.append(outcome_line(outcome, shown=shown))
    state = "interrupted" if report.interrupted else "finished"
    lines.append(
        f"Apply {state}: {counts['done']} done, {counts['failed']} failed, "
        f"{counts['not attempted']} not attempted in {report.seconds:.1f}s."
    )
    if report.restart_reasons:
        lines.append(restart_line(report.restart_reasons))
    if not report.ok:
        lines.append("Run the same command again to converge: completed changes are not repeated.")
    return "\n".join(lines) + "\n"


def report_dict(report: Report, pbx: str | None = None) -> dict[str, Any]:
    return {
        **_document_head("apply-report", pbx),
        "summary": report.counts,
        "seconds": round(report.seconds, 3),
        "interrupted": report.interrupted,
        "restart_required": bool(report.restart_reasons),
        "restart_reasons": list(report.restart_reasons),
        "outcomes": [
            {
                "action": o.change.action.value,
                **_key_dict(o.change.key),
                "status": o.status.value,
                "error": o.error,
                **_impacts(o.change),
                "seconds": round(o.seconds, 3),
                "requests": list(o.requests),
                "blocked_by": list(o.blocked_by),
            }
            for o in report.outcomes
        ],
    }


# ------------------------------------------------------------------------------ health

_REGISTERED_WORDS = {True: "yes", False: "no", None: "unknown"}


def _health_row(trunk: TrunkHealth, tenants: bool) -> list[str]:
    ref = trunk.trunk
    registered = "absent" if ref.id is None else _REGISTERED_WORDS[trunk.registered]
    row = [printable(ref.name)] + ([ref.tenant[:8]] if tenants else [])
    row += [ref.technology, "expected" if ref.expects_registration else "-", registered]
    row.append("-" if trunk.calls is None else str(trunk.calls))
    return row


def _several_tenants(report: HealthReport) -> bool:
    return len({t.trunk.tenant for t in report.trunks}) > 1


def _health_head(tenants: bool) -> list[str]:
    """The health table's columns before `calls` (a tenant column when there are several)."""
    return ["trunk", *(["tenant"] if tenants else []), "type", "registration", "registered"]


def health_lines(report: HealthReport) -> list[str]:
    """The trunks' health as a table, then its verdict (`health_verdict`)."""
    if not report.trunks:
        return [health_verdict(report)]
    tenants = _several_tenants(report)
    rows = [[*_health_head(tenants), "calls", ""]]
    rows += [
        [*_health_row(t, tenants), "" if t.healthy else f"! {_problem(t)}"] for t in report.trunks
    ]
    return [*(f"  {line}" for line in columns(rows)), health_verdict(report)]


def columns(rows: Sequence[Sequence[str]]) -> list[str]:
    """``rows`` as lines of left-aligned columns, two spaces apart (a table for people)."""
    widths = [max(len(cell) for cell in column) for column in zip(*rows, strict=True)]
    return ["  ".join(map(str.ljust, row, widths)).rstrip() for row in rows]


def _problem(trunk: TrunkHealth) -> str:
    return "not on the PBX" if trunk.trunk.id is None else "not registered"


def health_verdict(report: HealthReport) -> str:
    if not report.trunks:
        return "No trunk to check."
    if report.ok:
        unknown = sum(t.state == "unknown" for t in report.trunks)
        note = f"; {unknown} unknown to wazo-calld" if unknown else ""
        count = len(report.trunks)
        return (
            f"Healthy: {count} trunk{'s' if count != 1 else ''}, every one that should "
            f"register is registered{note}."
        )
    shown = ", ".join(f"{t.trunk.ref} ({_problem(t)})" for t in report.unhealthy)
    return printable(f"Not healthy: {shown}.")


def health_dict(report: HealthReport) -> dict[str, Any]:
    """The trunks' health for JSON outputs; after a wait, how long it waited (seconds)."""
    waited = (
        {"waited_seconds": round(report.seconds, 3), "timeout_seconds": report.timeout}
        if report.timeout is not None
        else {}
    )
    return {
        "healthy": report.ok,
        "summary": {"trunks": len(report.trunks), "unhealthy": len(report.unhealthy)},
        "unhealthy": [t.trunk.name for t in report.unhealthy],
        **waited,
        "trunks": [
            {
                "name": t.trunk.name,
                "tenant": t.trunk.tenant,
                "id": t.trunk.id,
                "technology": t.trunk.technology,
                "registration_expected": t.trunk.expects_registration,
                "registered": t.registered,
                "current_call_count": t.calls,
                "state": t.state,
                "healthy": t.healthy,
            }
            for t in report.trunks
        ],
    }


def health_markdown(report: HealthReport) -> list[str]:
    out = ["#### Trunk health", ""]
    if report.trunks:
        tenants = _several_tenants(report)
        head = _health_head(tenants)
        out += ["| " + " | ".join([*head, "calls", ""]) + " |", "|---" * (len(head) + 2) + "|"]
        for trunk in report.trunks:
            cells = _health_row(trunk, tenants)
            cells[0] = _md_code(trunk.trunk.name)
            flag = f"**{_problem(trunk)}**" if not trunk.healthy else ""
            out.append("| " + " | ".join([*cells, flag]) + " |")
        out.append("")
    verdict = health_verdict(report)
    out += [f"**{verdict}**" if not report.ok else verdict, ""]
    return out

"""Trunk health for the commands: read confd's trunks and wazo-calld's statuses, wait, guard.

Not a command itself: `status`, `drift --health`, `apply --wait-healthy` and the call guard of
`plan`/`apply` (`--wait-idle`, `--skip-call-check`) share it. The judging is `health.py`'s
(pure); this module does the reading, on the command's confd client and the wazo-calld
beside it (`calld.py`), and the waiting, with an injectable clock and sleep.
"""

from __future__ import annotations

import argparse
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, cast

from wazo_reconcile.diff import Action
from wazo_reconcile.errors import ApiError, UsageError
from wazo_reconcile.health import (
    Busy,
    HealthReport,
    TrunkRef,
    busy_refusal,
    busy_trunks,
    declared_refs,
    judge,
    tenants_of,
    trunk_ref,
    unchecked_refusal,
    wait_for,
)
from wazo_reconcile.shapes import Trunk

if TYPE_CHECKING:  # imported where used: a command reads its stack before it imports httpx
    from wazo_reconcile.calld import CalldClient, TrunkStatus
    from wazo_reconcile.confd import ConfdClient
    from wazo_reconcile.planner import Plan
    from wazo_reconcile.stack import Stack

_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_SECONDS = re.compile(r"\d+(?:\.\d+)?")
MAX_DURATION = 24 * 3600.0


def duration(text: str) -> float:
    """A duration of the command line, in seconds: ``90s``, ``2m``, ``1h``, ``1m30s``, or a
    plain number of seconds (``45``, ``0.5``); at most 24h."""
    wanted = text.strip().lower()
    parts = _PART.findall(wanted)
    if _SECONDS.fullmatch(wanted):
        total = float(wanted)
    elif parts and "".join(number + unit for number, unit in parts) == wanted:
        total = sum(float(number) * _UNITS[unit] for number, unit in parts)
    else:
        raise argparse.ArgumentTypeError(
            f"not a duration: {text!r} (e.g. 90s, 2m, 1h, 1m30s, or a number of seconds)"
        )
    if total > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"at most 24h: {text!r}")
    return total


def shown_duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 3600:g}h" if seconds % 3600 == 0 else f"{seconds / 60:g}m"
    return f"{seconds:g}s"


@dataclass
class Clock:
    """Time as the waits see it (tests pass their own)."""

    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


# ------------------------------------------------------------------------------- reading


def live_trunks(client: ConfdClient) -> list[Trunk]:
    """Every trunk visible to the token (one list request, as `live.fetch_live` reads them)."""
    return cast(list[Trunk], client.list("/trunks", params={"recurse": "true"}, tenant=None))


def live_refs(client: ConfdClient) -> list[TrunkRef]:
    """Every trunk visible to the token."""
    return [trunk_ref(trunk) for trunk in live_trunks(client)]


def statuses(calld: CalldClient, tenants: Iterable[str]) -> dict[int, TrunkStatus]:
    """wazo-calld's statuses of the trunks of ``tenants`` (one request per tenant)."""
    found: dict[int, TrunkStatus] = {}
    for tenant in tenants:
        found.update((status.id, status) for status in calld.trunks(tenant))
    return found


def calld_beside(client: ConfdClient) -> CalldClient:
    from wazo_reconcile.calld import CalldClient

    return CalldClient.beside(client)


def read_health(client: ConfdClient, refs: Sequence[TrunkRef]) -> HealthReport:
    """The health of ``refs`` now (wazo-calld's errors propagate: ApiError)."""
    return judge(refs, statuses(calld_beside(client), tenants_of(refs)))


def stack_refs(stack: Stack, trunks: Sequence[Trunk], default: str) -> list[TrunkRef]:
    """The trunks the stack declares, matched with the PBX's ``trunks``; a document without
    `tenant:` is of the ``default`` tenant (--tenant, else the token's)."""
    from wazo_reconcile.normalise import texter
    from wazo_reconcile.stack import data_of

    live = [trunk_ref(trunk) for trunk in trunks]
    declared: list[tuple[TrunkRef, bool | None]] = []
    for decl in stack.declarations("trunks"):
        data = data_of(decl)
        kind = str(data.get("type", "sip"))
        name = decl.name
        if kind == "custom":  # identified by its interface, without resolving secrets
            name = texter(lambda text, _decl: text, decl)(data.get("interface", ""))
        ref = TrunkRef(decl.name, decl.tenant or default, kind, (kind, name), False)
        declared.append((ref, _declared_registration(kind, data)))
    return declared_refs(declared, live)


def _declared_registration(kind: str, data: dict[str, Any]) -> bool | None:
    """Whether a declaration expects a registration; None: it does not say."""
    key = {"sip": "registration", "iax": "register"}.get(kind)
    if key is None:
        return False
    if key not in data:
        return None
    value = data[key]
    if kind == "iax":
        return isinstance(value, dict)
    pairs = value.items() if isinstance(value, dict) else value or []
    return any(str(key) == "client_uri" and uri is not None for key, uri in pairs)


# ------------------------------------------------------------------------ wait-healthy


def watched_refs(client: ConfdClient, names: Mapping[tuple[str, str], str]) -> list[TrunkRef]:
    """The live trunks of these identities (``(type, name)``), as the apply left them, named
    as the stack names them."""
    return [
        replace(ref, name=names[ref.identity]) for ref in live_refs(client) if ref.identity in names
    ]


def wait_healthy(
    client: ConfdClient, refs: Sequence[TrunkRef], timeout: float, clock: Clock
) -> HealthReport:
    """Poll until every trunk of ``refs`` that should register is registered, or timeout."""
    report, waited = wait_for(
        lambda: read_health(client, refs),
        lambda report: all(t.state != "not registered" for t in report.trunks),
        timeout=timeout,
        clock=clock.now,
        sleep=clock.sleep,
    )
    return HealthReport(report.trunks, seconds=waited, timeout=timeout)


def changed_trunks(plan: Plan, done: Callable[[int], bool]) -> dict[tuple[str, str], str]:
    """The trunks the apply created or updated (``done``: by change index): their identity
    ``(type, endpoint name or interface)`` and the stack's name."""
    return {
        (str(change.resource.identity[1]), str(change.resource.identity[2])): change.key.name
        for i, change in enumerate(plan.changes)
        if change.key.kind == "trunks" and change.action is not Action.DELETE and done(i)
    }


# --------------------------------------------------------------------------- call guard


@dataclass(frozen=True)
class CallCheck:
    """What the call guard found: the trunks to delete that carry calls, or why it could not
    tell (``error``)."""

    deleted: tuple[tuple[str, int], ...]  # (trunks/<name>, confd trunk id)
    busy: tuple[Busy, ...] = ()
    error: str | None = None
    waited: float = field(default=0.0, compare=False)

    @property
    def clear(self) -> bool:
        return not self.busy and self.error is None


def check_calls(client: ConfdClient, plan: Plan) -> CallCheck | None:
    """The calls in progress on the trunks the plan deletes; None when it deletes none."""
    deleted = tuple(
        (str(change.key), int(change.before.remote["trunk_id"]))
        for change in plan.changes
        if change.key.kind == "trunks"
        and change.action is Action.DELETE
        and change.before is not None
    )
    if not deleted:
        return None
    tenants = sorted({c.key.tenant for c in plan.changes if str(c.key) in dict(deleted)})
    try:
        found = statuses(calld_beside(client), tenants)
    except ApiError as exc:
        return CallCheck(deleted, error=str(exc))
    return CallCheck(deleted, busy_trunks(deleted, found))


def wait_idle(
    client: ConfdClient, plan: Plan, check: CallCheck, timeout: float, clock: Clock
) -> CallCheck:
    """Poll until the trunks to delete carry no call (or wazo-calld fails), or timeout."""
    if check.error is not None:
        return check
    result, waited = wait_for(
        lambda: check_calls(client, plan) or CallCheck(()),
        lambda found: found.clear or found.error is not None,
        timeout=timeout,
        clock=clock.now,
        sleep=clock.sleep,
    )
    return replace(result, waited=waited)


def add_call_guard_args(parser: argparse.ArgumentParser, *, wait: bool) -> None:
    group = parser.add_argument_group("calls in progress (wazo-calld)")
    if wait:
        group.add_argument(
            "--wait-idle",
            type=duration,
            metavar="DURATION",
            help="when a trunk to delete carries calls, wait up to DURATION (90s, 5m) for "
            "them to end instead of refusing (exit 3)",
        )
    group.add_argument(
        "--skip-call-check",
        action="store_true",
        help="do not ask wazo-calld for calls in progress on the trunks to delete (a PBX "
        "without wazo-calld); by default an unreachable wazo-calld refuses the deletion",
    )


def guard_applies(args: argparse.Namespace) -> bool:
    if getattr(args, "wait_idle", None) is not None and args.skip_call_check:
        raise UsageError("--wait-idle needs wazo-calld: it cannot go with --skip-call-check")
    return not args.force and not args.skip_call_check


CLOCK = Clock()
"""The clock of the commands' waits (tests replace it: no real sleep)."""


def call_refusals(check: CallCheck) -> tuple[str, ...]:
    if check.error is not None:
        return (unchecked_refusal([ref for ref, _ in check.deleted], check.error),)
    return tuple(busy_refusal(busy) for busy in check.busy)


def with_call_guard(
    client: ConfdClient, plan: Plan, args: argparse.Namespace
) -> tuple[Plan, CallCheck | None]:
    """The plan, refused (exit 3) when it deletes trunks that carry calls or when wazo-calld
    cannot tell; with ``--wait-idle`` (apply), the check to wait on instead of refusing."""
    check = check_calls(client, plan) if guard_applies(args) else None
    if check is None or check.clear:
        return plan, None
    if check.error is None and getattr(args, "wait_idle", None) is not None:
        return plan, check
    return replace(plan, refusals=(*plan.refusals, *call_refusals(check))), None

"""Health stage: is each trunk up, as Asterisk sees it? (pure)

confd says what each trunk is and whether it should register: a SIP trunk whose endpoint has
its own registration (a `client_uri`: what wazo-calld matches Registry events against), or an
IAX trunk with a register. wazo-calld says what Asterisk reports: `registered` (true, false or
null) and the calls in progress (calld.py). This module joins the two and judges:

- a trunk that should register and whose `registered` is false is **not healthy**;
- `registered` null (unknown: custom trunks, endpoints Asterisk does not know) is never an
  alert by itself, nor is anything of a trunk that is not expected to register;
- a declared trunk missing from the PBX is not healthy if it should register.

It also holds the loop of `apply --wait-healthy` and `--wait-idle` (`wait_for`, with an
injectable clock and sleep) and the guard on deleting trunks with calls in progress.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from wazo_reconcile.errors import plural
from wazo_reconcile.live import trunk_endpoint
from wazo_reconcile.shapes import Trunk

if TYPE_CHECKING:  # the type only: rendering health must not import the HTTP client
    from wazo_reconcile.calld import TrunkStatus

T = TypeVar("T")

# Pauses between two reads while waiting: quick at first, then every 5 s (docs/health.md).
POLL_INTERVALS = (0.5, 1.0, 2.0, 5.0)

REGISTERED, NOT_REGISTERED, UNKNOWN = "registered", "not registered", "unknown"
NO_REGISTRATION, ABSENT = "no registration", "absent"


@dataclass(frozen=True, slots=True)
class TrunkRef:
    """A trunk as confd (or the stack) knows it. ``identity`` is ``(type, name)``, the name
    being a SIP/IAX endpoint's name or a custom interface: unique on a Wazo instance."""

    name: str  # how the stack names it (its endpoint's name, or the custom trunk's handle)
    tenant: str
    technology: str  # sip | iax | custom | none (a trunk without endpoint)
    identity: tuple[str, str]
    expects_registration: bool
    id: int | None = None  # confd's trunk id; None: not on the PBX

    @property
    def ref(self) -> str:
        return f"trunks/{self.name}"


@dataclass(frozen=True, slots=True)
class TrunkHealth:
    trunk: TrunkRef
    registered: bool | None = None
    calls: int | None = None

    @property
    def state(self) -> str:
        if self.trunk.id is None:
            return ABSENT
        if not self.trunk.expects_registration:
            return NO_REGISTRATION
        return {True: REGISTERED, False: NOT_REGISTERED, None: UNKNOWN}[self.registered]

    @property
    def healthy(self) -> bool:
        """False only for a trunk that should register and surely is not registered."""
        if self.state == ABSENT:
            return not self.trunk.expects_registration
        return self.state != NOT_REGISTERED


@dataclass(frozen=True)
class HealthReport:
    trunks: tuple[TrunkHealth, ...]
    seconds: float = 0.0  # how long `wait_for` waited
    timeout: float | None = None  # the deadline it waited for (--wait-healthy)

    @property
    def unhealthy(self) -> tuple[TrunkHealth, ...]:
        return tuple(t for t in self.trunks if not t.healthy)

    @property
    def ok(self) -> bool:
        return not self.unhealthy


# --------------------------------------------------------------------------- confd's side


def trunk_ref(trunk: Trunk, handles: Mapping[tuple[str, str], str] | None = None) -> TrunkRef:
    """What a confd trunk item says of the trunk; ``handles`` names custom trunks as the stack
    does (by identity)."""
    identity = trunk_endpoint(trunk) or ("none", f"#{trunk['id']}")
    technology, name = identity
    if sip := trunk.get("endpoint_sip"):
        pairs = sip.get("registration_section_options") or []
        expects = any(pair[0] == "client_uri" for pair in pairs)
    else:
        expects = bool(trunk.get("register_iax"))
    return TrunkRef(
        name=(handles or {}).get(identity, name),
        tenant=trunk["tenant_uuid"],
        technology=technology,
        identity=identity,
        expects_registration=expects,
        id=trunk["id"],
    )


def declared_refs(
    declared: Iterable[tuple[TrunkRef, bool | None]], live: Sequence[TrunkRef]
) -> list[TrunkRef]:
    """The declared trunks, each matched with the live one of the same identity. With each
    declared trunk comes whether its declaration expects a registration (None: it does not
    say, and the PBX's configuration tells)."""
    by_identity = {ref.identity: ref for ref in live}
    found = []
    for want, expects in declared:
        have = by_identity.get(want.identity)
        if expects is None:
            expects = bool(have and have.expects_registration)
        # the live trunk (its id, tenant, technology), else the declared one (no id)
        found.append(replace(have or want, name=want.name, expects_registration=expects))
    return found


def tenants_of(refs: Iterable[TrunkRef]) -> list[str]:
    """The tenants to ask wazo-calld about (it lists one tenant per request)."""
    return sorted({ref.tenant for ref in refs if ref.id is not None})


def judge(refs: Iterable[TrunkRef], statuses: Mapping[int, TrunkStatus]) -> HealthReport:
    """Each trunk with what wazo-calld says of it (``statuses`` by confd trunk id)."""
    found = []
    for ref in refs:
        status = statuses.get(ref.id) if ref.id is not None else None
        if status is None:
            found.append(TrunkHealth(ref))
        else:
            found.append(TrunkHealth(ref, status.registered, status.current_call_count))
    return HealthReport(tuple(found))


# ------------------------------------------------------------------------------- waiting


def wait_for(
    read: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    intervals: Sequence[float] = POLL_INTERVALS,
) -> tuple[T, float]:
    """Read until ``done`` or ``timeout`` seconds have passed; the last value read and the
    seconds waited. The first read is immediate; the pauses follow ``intervals`` (the last
    one repeats), never past the deadline."""
    started = clock()
    for attempt in range(1_000_000):
        value = read()
        waited = clock() - started
        if done(value) or waited >= timeout:
            return value, waited
        sleep(min(intervals[min(attempt, len(intervals) - 1)], timeout - waited))
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- call guard


@dataclass(frozen=True, slots=True)
class Busy:
    """A trunk the plan deletes, and its calls in progress."""

    ref: str  # trunks/<name>
    calls: int


def busy_trunks(
    deleted: Iterable[tuple[str, int]], statuses: Mapping[int, TrunkStatus]
) -> tuple[Busy, ...]:
    """The trunks to delete (``(ref, confd trunk id)``) that carry calls right now."""
    found = []
    for ref, trunk_id in deleted:
        status = statuses.get(trunk_id)
        if status is not None and status.current_call_count:
            found.append(Busy(ref, status.current_call_count))
    return tuple(found)


def busy_refusal(busy: Busy) -> str:
    return (
        f"{busy.ref} would be deleted with {plural(busy.calls, 'call')} in progress; "
        "--wait-idle DURATION waits for them to end"
    )


def unchecked_refusal(refs: Sequence[str], reason: str) -> str:
    return (
        f"cannot tell whether {', '.join(refs)} (to delete) carry calls, wazo-calld could not "
        f"be read: {reason}; --skip-call-check skips this check on a PBX without wazo-calld"
    )

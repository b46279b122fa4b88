"""Cost profiles: the time a real wazo-confd spends serving each request, modelled.

Without a profile the sandbox answers a list of 5,000 objects about as fast as a list of 5; a
real confd does not (shared/confd-api/COSTS.md). With one, every request the sandbox processes
is priced by its kind (a write's constant, a list's base plus a cost per listed item, a SIP
endpoint priced per joined option row) and served by **one FIFO worker**: the answer is held
until the worker, busy one request at a time, has spent the request's service time on it, so
client parallelism does not raise throughput, as on the real server.

``scale`` multiplies the time actually waited (0.1: ten times faster than the real server,
0: no waiting at all); the counters accumulate the *modelled* time, unscaled. Requests
answered before processing (injected ``error``/``rate_limit``/``drop_before`` faults), by
routing alone (unknown URL, 405, OPTIONS) and wazo-auth's token routes cost nothing.

The figures of ``CONFD`` and their sources are in docs/sandbox.md ("Cost profile").
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from wazo_reconcile.sandbox.store import TRUNK_LINKS, Key, Record, Store

# A SIP endpoint whose list row joins more option rows than this is "heavy" (see the counters).
HEAVY_ROWS = 100


@dataclass(frozen=True)
class ListCost:
    """``base`` ms per list request plus ``per_item`` ms per item returned."""

    base: float
    per_item: float


@dataclass(frozen=True)
class CostProfile:
    """Service times in milliseconds. Keys are ``"METHOD /route/{template}"`` (as counted)."""

    name: str
    read_ms: float  # any single-object GET not below
    reads: Mapping[str, float]
    write_ms: float  # any write not below
    writes: Mapping[str, float]
    rejected_write_ms: float  # a write answered 4xx/5xx
    sip_create_ms: float  # POST of a SIP endpoint/template: sip_create_ms + option_ms·options
    sip_option_ms: float
    bare_trunk_delete_ms: float  # DELETE of a trunk that holds no endpoint
    lists: Mapping[str, ListCost]
    other_list: ListCost
    sip_list_base_ms: float  # GET /endpoints/sip: base + sip_row_ms(R) per endpoint

    def sip_row_ms(self, rows: int) -> float:
        """A listed SIP endpoint's cost by its joined rows R: 1 ms up to 25, 0.15·R from 100,
        linear between."""
        if rows <= 25:
            return 1.0
        if rows >= 100:
            return 0.15 * rows
        return 1.0 + (rows - 25) * (0.15 * 100 - 1.0) / 75


def joined_rows(row: Record) -> int:
    """R of a stored SIP endpoint: the rows confd's list query joins for it, the product over
    the 7 sections of max(1, its own options in the section) × max(1, its templates)."""
    return math.prod(max(1, len(each)) for each in [row["templates"], *row["sections"].values()])


CONFD = CostProfile(
    name="confd",
    read_ms=5.5,
    reads={"GET /endpoints/sip/{uuid}": 30.0, "GET /endpoints/sip/templates/{uuid}": 30.0},
    write_ms=14.0,
    writes={
        "POST /trunks": 10.0,
        "PUT /trunks/{trunk_id}/endpoints/sip/{endpoint_id}": 22.0,
        "PUT /trunks/{trunk_id}/endpoints/iax/{endpoint_id}": 22.0,
        "PUT /trunks/{trunk_id}/endpoints/custom/{endpoint_id}": 22.0,
        "PUT /endpoints/sip/{uuid}": 55.0,
        "PUT /endpoints/sip/templates/{uuid}": 55.0,
        "DELETE /trunks/{id}": 12.0,
        "POST /outcalls": 13.0,
        "PUT /outcalls/{outcall_id}/trunks": 10.0,
        "POST /extensions": 17.0,
        "PUT /outcalls/{outcall_id}/extensions/{extension_id}": 14.0,
        "POST /users": 19.0,
        "PUT /users/{user_id}": 14.0,
    },
    rejected_write_ms=10.0,
    sip_create_ms=24.0,
    sip_option_ms=0.3,
    bare_trunk_delete_ms=7.0,
    lists={
        "GET /trunks": ListCost(10.0, 3.1),
        "GET /outcalls": ListCost(13.0, 5.6),
        "GET /endpoints/sip/templates": ListCost(30.0, 1.3),
        "GET /users": ListCost(30.0, 1.2),
    },
    other_list=ListCost(5.5, 0.5),
    sip_list_base_ms=30.0,
)

COST_PROFILES: dict[str, CostProfile] = {"confd": CONFD}

_SIP_CREATES = frozenset({"POST /endpoints/sip", "POST /endpoints/sip/templates"})
_SIP_LIST = "GET /endpoints/sip"
_READS = frozenset({"GET", "HEAD"})


@dataclass
class _Kind:
    count: int = 0
    ms: float = 0.0
    listed: int | None = None  # items returned, for a list

    def to_json(self) -> dict[str, float]:
        figures: dict[str, float] = {"count": self.count, "ms": round(self.ms, 3)}
        if self.listed is not None:
            figures["listed"] = self.listed
        return figures


@dataclass
class _Counters:
    kinds: dict[str, _Kind] = field(default_factory=dict)
    modelled_ms: float = 0.0
    heavy_sip: int = 0
    heavy_sip_max: int = 0


class Meter:
    """A profile at a time scale: prices requests, serves them on one FIFO worker, counts.

    Thread-safe. ``clock`` is a monotonic clock (seconds).
    """

    def __init__(
        self,
        profile: CostProfile,
        scale: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not (math.isfinite(scale) and scale >= 0):
            raise ValueError("the cost scale must be a finite number >= 0")
        self.profile = profile
        self.scale = scale
        self.clock = clock
        self._lock = threading.Lock()
        self._free_at = 0.0  # when the worker is done with every request charged so far
        self._counters = _Counters()

    def quote(self, key: str, params: Mapping[str, Key], body: bytes, store: Store) -> float:
        """The ms a request costs if it succeeds, from what the store holds *before* it is
        handled; a list's base (its items are added by `charge`)."""
        profile = self.profile
        method, _, route = key.partition(" ")
        if method in _READS:
            key = f"GET {route}"
            if key == _SIP_LIST:
                return profile.sip_list_base_ms
            if key in profile.lists:
                return profile.lists[key].base
            return profile.reads.get(key, profile.read_ms)
        if key in _SIP_CREATES:
            return profile.sip_create_ms + profile.sip_option_ms * _options_sent(body)
        if key == "DELETE /trunks/{id}":
            trunk = store.table("trunks").get(params["id"])
            if trunk is not None and not any(trunk[link] is not None for link in TRUNK_LINKS):
                return profile.bare_trunk_delete_ms
        return profile.writes.get(key, profile.write_ms)

    def charge(
        self,
        key: str,
        quoted: float,
        status: int,
        listed: Sequence[Record] | None,
        arrived: float,
    ) -> float:
        """Count a handled request and queue it on the worker; returns the clock time at which
        its answer is due (already past when ``scale`` is 0 or the worker was idle long
        enough). Call it in the order requests are handled: that is the worker's order."""
        profile = self.profile
        method, _, route = key.partition(" ")
        read = method in _READS
        heavy = 0
        if status >= 400:
            ms = profile.read_ms if read else profile.rejected_write_ms
            listed = None
        elif listed is None or not read:
            ms = quoted
        elif f"GET {route}" == _SIP_LIST:
            rows = [joined_rows(row) for row in listed]
            heavy = sum(1 for r in rows if r > HEAVY_ROWS)
            ms = quoted + sum(map(profile.sip_row_ms, rows))
        else:
            per_item = profile.lists.get(f"GET {route}", profile.other_list).per_item
            ms = quoted + per_item * len(listed)
        with self._lock:
            counters = self._counters
            kind = counters.kinds.setdefault(key, _Kind())
            kind.count += 1
            kind.ms += ms
            if listed is not None:
                kind.listed = (kind.listed or 0) + len(listed)
            counters.modelled_ms += ms
            counters.heavy_sip += heavy
            counters.heavy_sip_max = max(counters.heavy_sip_max, heavy)
            start = max(arrived, self._free_at)
            self._free_at = start + ms / 1000 * self.scale
            return self._free_at

    def reset(self) -> None:
        """Forget the counters (the worker finishes what it was given)."""
        with self._lock:
            self._counters = _Counters()

    def stats(self) -> dict[str, object]:
        with self._lock:
            counters = self._counters
            return {
                "profile": self.profile.name,
                "scale": self.scale,
                "modelled_ms": round(counters.modelled_ms, 3),
                "requests": {k: v.to_json() for k, v in sorted(counters.kinds.items())},
                "sip_endpoints_listed_over_r100": counters.heavy_sip,
                "sip_endpoints_listed_over_r100_max": counters.heavy_sip_max,
            }


def _options_sent(body: bytes) -> int:
    """How many options a SIP endpoint/template body sets, over its 7 sections."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return 0
    if not isinstance(data, dict):
        return 0
    return sum(
        len(value)
        for name, value in data.items()
        if name.endswith("_section_options") and isinstance(value, list)
    )


def meter_for(costs: str | CostProfile | None, scale: float) -> Meter | None:
    """The meter of ``Sandbox(costs=..., cost_scale=...)``: None without a profile."""
    if costs is None:
        return None
    if isinstance(costs, str):
        if costs not in COST_PROFILES:
            known = ", ".join(COST_PROFILES)
            raise ValueError(f"unknown cost profile {costs!r} (one of {known})")
        costs = COST_PROFILES[costs]
    return Meter(costs, scale)

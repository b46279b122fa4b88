"""Latency and fault injection, deterministic with a seed, and request counters.

Every request (admin endpoints excepted) gets an index in arrival order (1, 2, ...). Whether it
is delayed or faulted depends only on the seed, its index and, for ``nth`` rules, how many
earlier requests the rule matched: the same seed and the same request sequence fail the same
requests. Fault kinds:

==================  ===========================================================================
``error``           answer ``status`` (500, 502 or 503) without processing
``rate_limit``      answer 429 with ``Retry-After: <retry_after>`` without processing
``drop_before``     close the connection without an answer; nothing is committed
``drop_after``      process (commit) the request, then close the connection without an answer
``timeout``         process (commit), answer after ``delay`` seconds (in-process: the transport
                    raises ``httpx.ReadTimeout`` instead of waiting)
``saved_then_500``  process (commit), then answer 500 ``["Unexpected error: ..."]``, as confd
                    does when its reload step (sysconfd) fails after the commit
==================  ===========================================================================
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("error", "rate_limit", "drop_before", "drop_after", "timeout", "saved_then_500")


@dataclass(frozen=True)
class FaultRule:
    """One fault: fired on the ``nth`` matching requests (1-based) and/or at ``rate``.

    ``method`` and ``path`` (a prefix of the path, with or without ``/api/confd/1.1``) restrict
    the requests the rule matches.
    """

    kind: str
    rate: float = 0.0
    nth: tuple[int, ...] = ()
    status: int = 503
    retry_after: int = 1
    delay: float = 5.0
    method: str | None = None
    path: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r} (one of {', '.join(KINDS)})")
        if self.kind == "error" and self.status not in (500, 502, 503):
            raise ValueError("an error fault answers 500, 502 or 503")
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError("rate must be between 0 and 1")
        object.__setattr__(self, "nth", tuple(self.nth))

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method.upper() != method:
            return False
        if self.path is None:
            return True
        return path.startswith(self.path) or path.removeprefix("/api/confd/1.1").startswith(
            self.path
        )


@dataclass(frozen=True)
class FaultConfig:
    """``latency`` in seconds: fixed, or a ``(low, high)`` range drawn per request."""

    seed: int = 0
    latency: float | tuple[float, float] = 0.0
    rules: tuple[FaultRule, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "rules", tuple(self.rules))
        if isinstance(self.latency, list):
            object.__setattr__(self, "latency", tuple(self.latency))

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FaultConfig:
        """From the ``POST /_sandbox/faults`` body (latency in milliseconds)."""
        latency_ms = data.get("latency_ms", 0)
        if isinstance(latency_ms, list):
            low, high = latency_ms
            latency: float | tuple[float, float] = (low / 1000, high / 1000)
        else:
            latency = latency_ms / 1000
        rules = tuple(FaultRule(**rule) for rule in data.get("rules", []))  # nth: a tuple
        return cls(seed=int(data.get("seed", 0)), latency=latency, rules=rules)

    def to_json(self) -> dict[str, object]:
        latency = self.latency
        latency_ms: float | list[float] = (
            [latency[0] * 1000, latency[1] * 1000] if isinstance(latency, tuple) else latency * 1000
        )
        return {
            "seed": self.seed,
            "latency_ms": latency_ms,
            "rules": [asdict(r) for r in self.rules],
        }


@dataclass(frozen=True)
class Decision:
    latency: float
    fault: FaultRule | None


@dataclass
class _Traffic:
    requests: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    faulted: list[dict[str, int | str]] = field(default_factory=list)
    matched: Counter[int] = field(default_factory=Counter)
    index: int = 0


class FaultInjector:
    """Decides, per request, its latency and fault; counts requests (thread-safe)."""

    def __init__(self, config: FaultConfig | None = None) -> None:
        self.config = config or FaultConfig()
        self._traffic = _Traffic()
        self._lock = threading.Lock()

    def configure(self, config: FaultConfig) -> None:
        with self._lock:
            self.config = config
            self._traffic.matched.clear()

    def reset(self) -> None:
        """Forget counters and request indexes (the next request is index 1 again)."""
        with self._lock:
            self._traffic = _Traffic()

    def decide(self, method: str, path: str, name: str) -> Decision:
        with self._lock:
            traffic = self._traffic
            traffic.index += 1
            traffic.requests[name] += 1
            index = traffic.index
            fault = self._pick(index, method, path)
            if fault is not None:
                traffic.faults[fault.kind] += 1
                traffic.faulted.append(
                    {"index": index, "method": method, "path": path, "fault": fault.kind}
                )
            return Decision(self._latency(index), fault)

    def _pick(self, index: int, method: str, path: str) -> FaultRule | None:
        chosen = None
        for number, rule in enumerate(self.config.rules):
            if not rule.matches(method, path):
                continue
            self._traffic.matched[number] += 1
            draw = random.Random(f"{self.config.seed}:{index}:{number}").random()
            if chosen is None and (self._traffic.matched[number] in rule.nth or draw < rule.rate):
                chosen = rule
        return chosen

    def _latency(self, index: int) -> float:
        latency = self.config.latency
        if isinstance(latency, tuple):
            return random.Random(f"{self.config.seed}:{index}:latency").uniform(*latency)
        return float(latency)

    def stats(self) -> dict[str, object]:
        with self._lock:
            traffic = self._traffic
            return {
                "total": traffic.index,
                "requests": dict(sorted(traffic.requests.items())),
                "faults": dict(sorted(traffic.faults.items())),
                "faulted": list(traffic.faulted),
            }

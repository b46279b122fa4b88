"""Apply stage: run a plan's operations through the client and report what happened.

Changes run level by level (the planner's dependency levels), up to `parallelism` changes at a
time inside a level; the operations of one change run in order. A failed change blocks the
changes that depend on it; independent changes go on. Nothing is lost and nothing is
duplicated: a POST whose outcome is unknown is resolved by reading the object back by identity
(and only then sent again), idempotent PUT/DELETE are repeated once after an ambiguous failure,
and the next run converges from whatever state the PBX was left in.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol

from wazo_reconcile.diff import Change
from wazo_reconcile.errors import ApiError, OutcomeUnknownError
from wazo_reconcile.ops import Operation, Reader, Refs
from wazo_reconcile.planner import Plan

log = logging.getLogger(__name__)


class Status(StrEnum):
    DONE = "done"
    FAILED = "failed"
    NOT_ATTEMPTED = "not attempted"


class Client(Reader, Protocol):
    def post(
        self, path: str, body: object, *, tenant: str | None = ...
    ) -> tuple[str | None, Any]: ...

    def put(self, path: str, body: object = ..., *, tenant: str | None = ...) -> None: ...

    def delete(self, path: str, *, tenant: str | None = ..., missing_ok: bool = ...) -> None: ...


@dataclass(frozen=True)
class Outcome:
    change: Change
    status: Status
    error: str | None = None
    seconds: float = 0.0
    requests: tuple[str, ...] = ()  # summaries of the operations that completed
    blocked_by: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    outcomes: tuple[Outcome, ...]
    seconds: float
    interrupted: bool = False

    def of(self, status: Status) -> tuple[Outcome, ...]:
        return tuple(o for o in self.outcomes if o.status is status)

    @property
    def counts(self) -> dict[str, int]:
        return {status.value: len(self.of(status)) for status in Status}

    @property
    def ok(self) -> bool:
        return not self.interrupted and all(o.status is Status.DONE for o in self.outcomes)

    @property
    def restart_reasons(self) -> tuple[str, ...]:
        return tuple(
            str(o.change.key)
            for o in self.outcomes
            if o.status is Status.DONE and "restart" in o.change.impact
        )


@dataclass
class _Run:
    plan: Plan
    client: Client
    refs: Refs
    on_outcome: Callable[[Outcome], None] | None
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def apply_plan(
    plan: Plan,
    client: Client,
    *,
    parallelism: int = 4,
    on_outcome: Callable[[Outcome], None] | None = None,
    stop: threading.Event | None = None,
) -> Report:
    """Carry out `plan` (its operations, against the live index it was planned from);
    `on_outcome` is called as each change completes (for progress)."""
    if not plan.changes:
        return Report((), 0.0)
    if plan.index is None:
        raise ValueError("the plan was made without the live state: it has no requests")
    started = time.monotonic()
    run = _Run(plan, client, Refs(plan.index), on_outcome)
    interrupted = False
    try:
        with ThreadPoolExecutor(max_workers=max(1, parallelism)) as pool:
            for level in plan.levels:
                if stop is not None and stop.is_set():
                    interrupted = True
                    break
                _run_level(run, level, pool, max(1, parallelism))
    except KeyboardInterrupt:
        interrupted = True
    outcomes = tuple(
        run.outcomes.get(i) or Outcome(change, Status.NOT_ATTEMPTED)
        for i, change in enumerate(plan.changes)
    )
    return Report(outcomes, time.monotonic() - started, interrupted)


def _run_level(run: _Run, level: Sequence[int], pool: ThreadPoolExecutor, width: int) -> None:
    # At most `width` changes in flight: a slot is taken to submit one and given back when it
    # ends. (Waiting for the first of the pending futures before each submission cost a fifth
    # of the client's CPU when creating 5,000 trunks.)
    slots = threading.BoundedSemaphore(width)
    submitted: list[Future[None]] = []
    for i in level:
        blockers = _blockers(run, i)
        if blockers:
            _record(run, i, Outcome(run.plan.changes[i], Status.NOT_ATTEMPTED, blocked_by=blockers))
            continue
        slots.acquire()
        # in a copy of this context: a fleet run's logs go to the PBX's section
        future = pool.submit(contextvars.copy_context().run, _run_change, run, i)
        future.add_done_callback(lambda _future: slots.release())
        submitted.append(future)
    wait(submitted)


def _blockers(run: _Run, i: int) -> tuple[str, ...]:
    deps = (run.plan.depends_on or {}).get(i, ())
    with run.lock:
        return tuple(
            str(run.plan.changes[d].key)
            for d in deps
            if d not in run.outcomes or run.outcomes[d].status is not Status.DONE
        )


def _record(run: _Run, i: int, outcome: Outcome) -> None:
    with run.lock:
        run.outcomes[i] = outcome
    if run.on_outcome is not None:
        run.on_outcome(outcome)


def _run_change(run: _Run, i: int) -> None:
    change = run.plan.changes[i]
    started = time.monotonic()
    done: list[str] = []
    status, error = Status.DONE, None
    try:
        for op in run.plan.operations[i]:
            _run_operation(op, run.client, run.refs)
            done.append(op.summary)
    except (ApiError, KeyError) as exc:
        status, error = Status.FAILED, str(exc)
        log.info("%s %s failed: %s", change.action.value, change.key, error)
    _record(run, i, Outcome(change, status, error, time.monotonic() - started, tuple(done)))


def _run_operation(op: Operation, client: Client, refs: Refs) -> None:
    path, body = op.resolve(refs)
    if op.method == "POST":
        _post(op, client, refs, path, body)
        return
    try:
        _send(op, client, path, body)
    except OutcomeUnknownError:
        log.info("%s: outcome unknown, repeating (idempotent)", op.summary)
        _send(op, client, path, body)
    except ApiError as exc:
        if exc.status is not None and exc.status < 500:
            raise
        # "saved then 500": the write may have been committed; PUT/DELETE are idempotent.
        log.info("%s: HTTP %s, repeating (idempotent)", op.summary, exc.status)
        _send(op, client, path, body)


def _send(op: Operation, client: Client, path: str, body: object) -> None:
    if op.method == "PUT":
        client.put(path, body if body is not None else {}, tenant=op.tenant)
    else:
        client.delete(path, tenant=op.tenant, missing_ok=True)


def _post(op: Operation, client: Client, refs: Refs, path: str, body: object) -> None:
    for attempt in (1, 2):
        try:
            with refs.shared(op.group):
                _location, answer = client.post(path, body, tenant=op.tenant)
                if op.created is not None:
                    op.created(refs, answer)
            return
        except OutcomeUnknownError as exc:
            if op.lookup is None:
                raise
            log.info("%s: outcome unknown (%s); reading it back", op.summary, exc)
            if _look_up(op, client, refs):
                return  # it was created: adopted, never duplicated
            if attempt == 2:
                raise
        except ApiError as exc:
            # A retry after an unknown outcome may meet the object the first attempt created.
            if attempt == 2 and op.lookup is not None and exc.status == 400:
                if _look_up(op, client, refs):
                    return
            raise


def _look_up(op: Operation, client: Client, refs: Refs) -> bool:
    assert op.lookup is not None
    with refs.exclusive(op.group):
        return op.lookup(client, refs) is not None

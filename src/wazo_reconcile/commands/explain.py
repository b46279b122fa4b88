"""``reconcile explain caller-id``: why a call presents the caller ID it does.

Reads the routes and the user from one of three states, builds `callerid.UserView` and
`callerid.OutcallView` from them and prints `callerid.explain(...)`:

- live (no PATH): the PBX as it is;
- desired (PATH): the PBX as `reconcile apply PATH` would leave it: the plan's changes laid
  over the live state, so undeclared users and outcalls, the tenant's default outcall context
  and each user's own caller ID still come from the PBX;
- stack (PATH --offline): the YAML alone, no connection: only declared users and outcalls,
  contexts as written, the caller's own caller ID unknown.

No silent fallback: when PATH is given and the PBX cannot be reached, the command fails and
says that ``--offline`` explains from the YAML alone.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from wazo_reconcile.callerid import (
    CALLERS_OWN_NUMBER,
    Explanation,
    OutcallView,
    UserView,
    explain,
    parse_caller_id,
)
from wazo_reconcile.commands import add_command
from wazo_reconcile.commands.common import (
    Output,
    add_inventory_args,
    load_checked,
    open_session,
    protect_logs,
)
from wazo_reconcile.commands.connection import open_client
from wazo_reconcile.commands.runs import one_target, selects_pbxs
from wazo_reconcile.diff import Action
from wazo_reconcile.errors import ApiError, ExitCode, ReconcileError, UsageError
from wazo_reconcile.lint import data_of, yaml_outcall
from wazo_reconcile.live import fetch_live, find_user, index_live
from wazo_reconcile.model import Resource
from wazo_reconcile.normalise import normalise_live
from wazo_reconcile.pipeline import changes_between, normalise_sides, sip_namespace
from wazo_reconcile.planner import Plan
from wazo_reconcile.secrets import SecretResolver
from wazo_reconcile.settings import ConnectionSettings, add_connection_args, settings_from_args
from wazo_reconcile.shapes import User
from wazo_reconcile.stack import Stack

DESCRIPTION = """\
Explain the caller ID an outgoing call presents: for USER dialing NUMBER through the outcall
NAME, which dial pattern matches (Asterisk's rules: X Z N [...] . ! and the most specific
pattern of the context wins, whichever outcall it belongs to), the number sent to the trunks
(strip_digits, then external_prefix), the trunks in order, and the caller ID, with the chain
of rules that decided it and what each lower-priority rule would have given:
  1. the outcall's internal_caller_id (the caller's own caller ID is forwarded)
  2. the user's outgoing_caller_id (`anonymous` withholds it; `default` falls through)
  3. the caller_id of the matched pattern
  4. the default: the caller's own caller ID.
Read-only."""

EPILOG = """\
where the routes and the user come from:
  no PATH           the live PBX
  PATH              the PBX as `reconcile apply PATH` would leave it: the stack's outcalls
                    and users over the live ones (undeclared users, the tenant's outcall
                    context, each user's own caller ID come from the PBX); needs the PBX and
                    the stack's ${env:...} variables
  PATH --offline    the YAML alone: declared outcalls and users only, contexts as written,
                    the caller's own caller ID unknown; no connection, ${env:...} variables
                    need not be set
With PATH and no reachable PBX the command fails (no silent fallback): add --offline.

USER is an email, a username or a uuid (--offline: the name declared in the stack).
A user whose outgoing_caller_id is not set is read as `default` (see docs/caller-id.md).

examples:
  # the live PBX (WAZO_URL, WAZO_TOKEN), then the same as JSON
  reconcile explain caller-id --user alice@example.com --outcall public-network --exten 0612345678
  reconcile explain caller-id --user bob --outcall public-network --exten 0044201 --format json
  # what apply would leave, tried on the embedded sandbox
  reconcile explain caller-id --user carol --outcall partner --exten 61234 --sandbox stacks/paris
  # the YAML alone, no connection
  reconcile explain caller-id --user bob --outcall national --exten 112 stacks/paris --offline

--format json prints {caller_id, source, pattern, dialed, trunks, chain, notes} and outcall,
user, number, context, routed, state; source is internal_caller_id, user, pattern or default
(null when the call does not leave through this outcall). See docs/caller-id.md.

exit status: 0 explained (also when the number does not go through the outcall: the notes
say why), 1 unknown user or outcall, bad number, invalid stack, or PBX error."""

TOPICS_DESCRIPTION = """\
Explain how the configuration decides something. Topics:
  caller-id   which caller ID an outgoing call presents, and why"""

TOPICS_EPILOG = """\
examples:
  reconcile explain caller-id --user alice@example.com --outcall public-network --exten 0612345678
  reconcile explain caller-id --user bob --outcall national --exten 112 stacks/paris --offline

exit status: 0 explained, 1 error."""

_DIALED = re.compile(r"[0-9*#+]+")

log = logging.getLogger(__name__)


def register(subparsers: Any) -> None:
    parser = add_command(subparsers, "explain", TOPICS_DESCRIPTION, TOPICS_EPILOG)
    topics = parser.add_subparsers(
        dest="topic", metavar="TOPIC", required=True, parser_class=type(parser)
    )
    caller_id = add_command(
        topics,
        "caller-id",
        DESCRIPTION,
        EPILOG,
        help="which caller ID an outgoing call presents, and why",
    )
    caller_id.add_argument(
        "--user", required=True, metavar="USER", help="the caller: email, username or uuid"
    )
    caller_id.add_argument(
        "--outcall", required=True, metavar="NAME", help="the outcall (route) to explain"
    )
    caller_id.add_argument(
        "--exten",
        required=True,
        metavar="NUMBER",
        help="the number the user dials (digits, *, # and +), e.g. 0612345678",
    )
    caller_id.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="a stack (YAML file or directory): explain the state apply would leave",
    )
    caller_id.add_argument(
        "--offline",
        action="store_true",
        help="with PATH: read the YAML alone, connect to nothing",
    )
    caller_id.add_argument(
        "--format", choices=("text", "json"), default="text", help="output format (default: text)"
    )
    add_connection_args(caller_id)
    add_inventory_args(caller_id, fleet=False)
    caller_id.set_defaults(func=run)


# ------------------------------------------------------------------------------ states


@dataclass(frozen=True)
class Caller:
    """The user placing the call, as the state knows it."""

    view: UserView
    tenant: str | None  # None: unknown (a document without `tenant:`, offline)
    own: str | None = None  # the caller's own caller ID, when known
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Route:
    view: OutcallView
    tenant: str | None


@dataclass(frozen=True)
class State:
    """Routes by name and the caller, read from one of the three states."""

    name: str  # "live", "desired" or "stack" (the JSON `state`)
    where: str  # what was read, in words
    routes: Mapping[str, Route]
    caller: Caller


def run(args: argparse.Namespace, output: Output) -> int:
    number = dialed(args.exten)
    stacked = bool(args.path) or selects_pbxs(args)
    if args.offline and not stacked:
        raise UsageError("--offline reads the stack alone: give PATH (or --pbx) too")
    if args.offline:
        state = stack_state(args, output)
    elif stacked:
        state = desired_state(args, output)
    else:
        state = live_state(args, output)
    explanation = explain_in(state, args.outcall, number)
    if args.format == "json":
        output.out(output.json_text(json_document(explanation, state)))
    else:
        output.out(f"{explanation.to_text()}\n  from:      {state.where}\n")
    return ExitCode.OK


def dialed(text: str) -> str:
    """The number as dialed, or a UsageError."""
    if not _DIALED.fullmatch(text):
        raise UsageError(
            f"--exten {text!r}: a dialed number holds digits, *, # and + (e.g. 0612345678)"
        )
    return text


def explain_in(state: State, outcall: str, number: str) -> Explanation:
    route = state.routes.get(outcall)
    if route is None:
        known = ", ".join(sorted(state.routes)[:20]) or "none"
        raise UsageError(f"no outcall named '{outcall}' in {state.where} (outcalls: {known})")
    caller = state.caller
    if route.tenant and caller.tenant and route.tenant != caller.tenant:
        raise UsageError(
            f"user {caller.view.name} (tenant {caller.tenant}) cannot call through outcall "
            f"{outcall} (tenant {route.tenant})"
        )
    # Contexts belong to a tenant: only the routes of the same tenant (as written, offline)
    # can take the number first.
    others = [r.view for r in state.routes.values() if r.tenant == route.tenant]
    found = explain(
        user=caller.view,
        outcall=route.view,
        number=number,
        default_caller_id=caller.own,
        others=others,
    )
    return replace(found, notes=(*found.notes, *caller.notes))


def json_document(explanation: Explanation, state: State) -> dict[str, Any]:
    """`Explanation.to_dict()` plus what the call was and where it was read (documented)."""
    return {
        **explanation.to_dict(),
        "outcall": explanation.outcall,
        "user": explanation.user,
        "number": explanation.number,
        "context": explanation.context,
        "routed": explanation.routed,
        "state": state.name,
    }


# ------------------------------------------------------------------------- live, desired


def live_state(args: argparse.Namespace, output: Output) -> State:
    settings = settings_from_args(args, os.environ)
    protect_logs(output.secrets, settings)
    with open_client(settings) as client:
        live = fetch_live(client, sip_names=())  # routes and users: no SIP endpoint needed
    index = index_live(live)
    resources = normalise_live(live, index)
    where = f"the live PBX ({_target(settings)})"
    return _pbx_state("live", where, resources, index.users, args)


def desired_state(args: argparse.Namespace, output: Output) -> State:
    try:
        session = open_session(args, one_target(args, args.path), output)
        with session.client() as client:
            session.resolve_tenants(client)  # tenants written by name
            live = fetch_live(client, sip_names=sip_namespace(session.stack))
    except UsageError as exc:
        if "no PBX to talk to" in str(exc):
            raise UsageError(f"{exc}; or add --offline to explain from the YAML alone") from exc
        raise
    except ApiError as exc:
        if exc.status is None:
            raise ReconcileError(
                f"{exc}; no PBX reachable: add --offline to explain from the YAML alone"
            ) from exc
        raise
    sides = normalise_sides(
        session.stack, live, tenant=session.settings.tenant, resolver=session.resolver
    )
    plan = changes_between(sides, session.stack.policy, live.fingerprint)
    where = f"{session.stack.shown} as apply would leave the PBX ({_target(session.settings)})"
    return _pbx_state("desired", where, after_apply(plan, sides.live), sides.index.users, args)


def after_apply(plan: Plan, live: Sequence[Resource]) -> list[Resource]:
    """The live resources as the plan would leave them (pure): created ones added, deleted
    ones removed, updated ones with the declared fields over the live ones."""
    state = {r.identity: r for r in live}
    for change in plan.changes:
        if change.action is Action.DELETE:
            state.pop(change.resource.identity, None)
        elif change.after is not None:
            before = change.before.fields if change.before else {}
            state[change.after.identity] = Resource.create(
                change.after.key, change.after.identity, {**before, **change.after.fields}
            )
    return list(state.values())


def _pbx_state(
    name: str,
    where: str,
    resources: Sequence[Resource],
    users: Sequence[User],
    args: argparse.Namespace,
) -> State:
    routes = {
        r.key.name: Route(OutcallView.from_resource(r), r.key.tenant or None)
        for r in resources
        if r.key.kind == "outcalls"
    }
    found = find_user(users, args.user)
    if found is None:
        raise UsageError(f"user '{args.user}' not found in {where} (by email, username or uuid)")
    identity = ("user", str(found["uuid"]))
    value: str | None = next(
        (r.fields.get("outgoing_caller_id") for r in resources if r.identity == identity), None
    )
    handle = str(found.get("email") or found.get("username") or found["uuid"])
    caller = Caller(
        UserView(handle, value or "default"),
        str(found.get("tenant_uuid") or "") or None,
        own=own_caller_id(found.get("caller_id")),
        notes=() if value else (f"{handle} has no outgoing_caller_id set: read as `default`",),
    )
    return State(name, where, routes, caller)


def own_caller_id(value: Any) -> str | None:
    """The caller's own caller ID from confd's user `caller_id` (usually a name alone: the
    number is then the one of the user's line)."""
    if not isinstance(value, str) or not value:
        return None
    cid = parse_caller_id(value, for_user=False)
    if cid.has_number:
        return cid.presented()
    if cid.kind == "name_only":
        return f'"{cid.name}" <{CALLERS_OWN_NUMBER}>'
    return None


def _target(settings: ConnectionSettings) -> str:
    return "the in-process sandbox" if settings.sandbox else str(settings.url)


# --------------------------------------------------------------------------- offline


class _NotRead(Mapping[str, str]):
    """An environment where every variable is set: offline, secrets are not needed, so the
    stack is checked without them."""

    def __getitem__(self, name: str) -> str:
        return "(not read offline)"

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0


def stack_state(args: argparse.Namespace, output: Output) -> State:
    target = one_target(args, args.path, connect=False)
    resolver = SecretResolver(_NotRead(), target.variables)
    stack = load_checked(target.paths, output, resolver, strict=False)
    routes = {
        decl.name: Route(yaml_outcall(decl), decl.tenant) for decl in stack.declarations("outcalls")
    }
    where = f"{stack.shown} alone (--offline)"
    return State("stack", where, routes, _declared_caller(stack, args.user))


def _declared_caller(stack: Stack, ref: str) -> Caller:
    for decl in stack.declarations("users"):
        if decl.name == ref or ("@" in ref and decl.name.lower() == ref.lower()):
            value = data_of(decl).get("outgoing_caller_id")
            notes: tuple[str, ...] = ()
            if not isinstance(value, str):
                value = "default"
                notes = (f"{decl.name} declares no outgoing_caller_id: read as `default`",)
            return Caller(UserView(decl.name, value), decl.tenant, notes=notes)
    raise UsageError(
        f"user '{ref}' is not declared in {stack.shown}; --offline knows only the stack's users "
        "(drop --offline to read the PBX)"
    )

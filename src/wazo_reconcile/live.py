"""Fetch stage: what the token can see on the PBX that a command needs, and lookups over it.

Each kind is read the cheapest way the real confd offers (`confd-api/COSTS.md`, docs/faq.md):

- one paginated list call per kind (``recurse=true`` and no ``Wazo-Tenant`` header, so every
  tenant visible to the token is included) for the kinds whose lists are cheap: transports,
  templates, IAX and custom endpoints, trunks, outcalls, contexts, extensions, users, and the
  IAX registers (instance-wide; ``None`` when the token may not read them);
- never the list of SIP endpoints: confd prices it per joined option row (a provider trunk
  costs ~376 ms in the list, ~25 ms read alone) and it holds every phone line. ``/trunks``
  names each trunk's SIP endpoint; the endpoints a command needs are read one by one
  (``GET /endpoints/sip/{uuid}``), and a name the stack declares that no trunk, template or
  transport has is looked up with confd's exact filter (``?name=``): a leftover of an
  interrupted apply to adopt, or a phone line that already has the name.

Items are kept exactly as confd returned them (their shapes: ``shapes.py``); ``index_live``
builds the lookups the later stages share (names by uuid, ids by name, leftovers) once.
Normalisation is ``normalise.py``'s job.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from wazo_reconcile.errors import ApiError, AuthError, UsageError
from wazo_reconcile.model import DEFAULT_TEMPLATES, TENANT_TEMPLATES, TWILIO_TEMPLATE, Options
from wazo_reconcile.registers import live_register
from wazo_reconcile.shapes import (
    Context,
    CustomEndpoint,
    Extension,
    IaxEndpoint,
    Outcall,
    RegisterIax,
    SipBody,
    Tenant,
    Transport,
    Trunk,
    User,
)

if TYPE_CHECKING:  # not imported with this module: a plan reads its stack before connecting
    from wazo_reconcile.confd import ConfdClient

log = logging.getLogger(__name__)

Item = Mapping[str, Any]  # any confd item, when its kind does not matter

_RECURSE = {"recurse": "true"}


@dataclass(frozen=True, slots=True)
class ListKind:
    """A collection read into the ``LiveState`` attribute ``name``."""

    name: str
    path: str
    params: Mapping[str, str] = field(default_factory=lambda: dict(_RECURSE))


LIST_KINDS: tuple[ListKind, ...] = (
    ListKind("transports", "/sip/transports", {}),  # instance-wide
    ListKind("sip_templates", "/endpoints/sip/templates"),
    ListKind("endpoints_iax", "/endpoints/iax"),
    ListKind("endpoints_custom", "/endpoints/custom"),
    ListKind("trunks", "/trunks"),
    ListKind("outcalls", "/outcalls"),
    ListKind("contexts", "/contexts"),
    ListKind("extensions", "/extensions", {**_RECURSE, "type": "outcall"}),
    ListKind("users", "/users"),
)

# Fingerprint canonicalisation: lists whose order confd keeps and that matter (template
# priority, outcall trunk priority); every other list of a field is compared as a multiset.
ORDERED_FIELDS = frozenset({"templates", "trunks"})
VOLATILE_FIELDS = frozenset({"links"})  # hrefs depend on the URL used, not on the config
USER_FIELDS = ("uuid", "id", "tenant_uuid", "email", "username", "outgoing_caller_id")
KINDS_READ = (*(kind.name for kind in LIST_KINDS), "endpoints_sip", "registers_iax")
FINGERPRINT_FORMAT = 2  # 2: IAX registers are part of the live state


@dataclass(frozen=True, slots=True)
class LiveState:
    """The live configuration as confd returned it (raw items per kind).

    ``token_tenant`` is the token's own tenant; ``tenants`` maps the UUID of every visible
    tenant to its confd item (with its default SIP template UUIDs). ``pjsip_global`` and
    ``pjsip_system`` are ``None`` when the token cannot read them (not a master-tenant token),
    ``pjsip_doc`` when confd cannot serve the PJSIP documentation.
    """

    token_tenant: str
    tenants: Mapping[str, Tenant]
    transports: tuple[Transport, ...] = ()
    sip_templates: tuple[SipBody, ...] = ()
    endpoints_sip: tuple[SipBody, ...] = ()  # only those read: see `fetch_live`
    endpoints_iax: tuple[IaxEndpoint, ...] = ()
    endpoints_custom: tuple[CustomEndpoint, ...] = ()
    trunks: tuple[Trunk, ...] = ()
    outcalls: tuple[Outcall, ...] = ()
    contexts: tuple[Context, ...] = ()
    extensions: tuple[Extension, ...] = ()  # outcall-context extensions only
    users: tuple[User, ...] = ()
    pjsip_global: dict[str, str] | None = None
    pjsip_system: dict[str, str] | None = None
    pjsip_doc: dict[str, Any] | None = field(default=None, repr=False)
    # instance-wide; None when the token may not read them (their trunks' `register` is unknown)
    registers_iax: tuple[RegisterIax, ...] | None = ()

    def items(self, kind: str) -> Sequence[Item]:
        """The raw items of ``kind`` (a ``LIST_KINDS`` name, ``endpoints_sip`` or
        ``registers_iax``)."""
        if kind not in KINDS_READ:
            raise KeyError(kind)
        items: Sequence[Item] | None = getattr(self, kind)
        return items or ()

    @property
    def registers_readable(self) -> bool:
        return self.registers_iax is not None

    @property
    def unread_trunk_endpoints(self) -> tuple[Trunk, ...]:
        """The trunks whose SIP endpoint was not read."""
        read = {endpoint["uuid"] for endpoint in self.endpoints_sip}
        return tuple(
            trunk
            for trunk in self.trunks
            if (ref := trunk.get("endpoint_sip")) and ref["uuid"] not in read
        )

    def default_tenant(self, explicit: str | None = None) -> str:
        """The tenant of tenant-scoped declarations: ``explicit`` (``--tenant`` or a
        document's ``tenant:``) if given, else the token's tenant. An explicit tenant that
        the token cannot see is a ``UsageError``."""
        if explicit is None:
            return self.token_tenant
        if explicit not in self.tenants:
            visible = ", ".join(sorted(self.tenants)) or "none"
            raise UsageError(f"tenant {explicit} is not visible to this token (visible: {visible})")
        return explicit

    @property
    def pjsip_readable(self) -> bool:
        return self.pjsip_global is not None and self.pjsip_system is not None

    def fingerprint(self) -> str:
        """``sha256:<hex>`` over a canonical JSON of the configuration.

        Stable across runs and independent of orders confd does not guarantee (items of a
        kind, options inside a section); changes whenever a relevant value changes, secrets
        included (only their hash is exposed). Ignores ``links`` (they depend on the URL used),
        users' fields other than identity and ``outgoing_caller_id``, and the PJSIP doc.
        """
        document: dict[str, object] = {
            "format": FINGERPRINT_FORMAT,
            "token_tenant": self.token_tenant,
            "tenants": _canonical(dict(self.tenants)),
            "pjsip_global": self.pjsip_global,
            "pjsip_system": self.pjsip_system,
        }
        for kind in KINDS_READ:
            items = self.items(kind)
            if kind == "users":
                items = [{k: u.get(k) for k in USER_FIELDS} for u in items]
            document[kind] = sorted((_canonical(i) for i in items), key=_dump)
        return "sha256:" + hashlib.sha256(_dump(document).encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        return {kind: len(self.items(kind)) for kind in KINDS_READ}


def _dump(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _canonical(value: object, field_name: str | None = None) -> object:
    """Drop volatile fields; sort every list held by a field unless its order matters.

    Lists inside lists (an option ``[key, value]`` pair) keep their order.
    """
    if isinstance(value, Mapping):
        return {k: _canonical(v, k) for k, v in value.items() if k not in VOLATILE_FIELDS}
    if isinstance(value, list | tuple):
        items = [_canonical(v) for v in value]
        if field_name is None or field_name in ORDERED_FIELDS:
            return items
        return sorted(items, key=_dump)
    return value


# --------------------------------------------------------------------------- fetching


def fetch_live(
    client: ConfdClient, *, sip_names: Collection[str] | None = None, max_workers: int = 4
) -> LiveState:
    """Read the live configuration visible to the client's token.

    One paginated list request per kind (plus the token's tenant, the visible tenants, PJSIP
    global/system/doc), ``max_workers`` at a time (confd serves one request at a time: more
    only piles up its memory); then the SIP endpoints: ``sip_names`` are the names the stack
    declares in the SIP namespace (SIP trunks, templates, transports): the endpoints of trunks
    so named are read, and the names nothing has are looked up. ``None`` (export): every
    trunk's endpoint, nothing looked up. Errors propagate (the first in a fixed order), except
    that PJSIP global/system unreadable by a non-master token become ``None``.
    """
    started, before = time.monotonic(), client.stats.requests
    results = _run(_jobs(client), max_workers)
    state = LiveState(
        token_tenant=results.pop("token_tenant"),
        tenants=results.pop("tenants"),
        **results,
    )
    state = _read_sip_endpoints(client, state, sip_names, max_workers)
    log.info(
        "read the live state in %.2f s with %d requests: %s",
        time.monotonic() - started,
        client.stats.requests - before,
        ", ".join(f"{k}={n}" for k, n in state.counts().items()),
    )
    if not state.pjsip_readable:
        log.info(
            "PJSIP global/system settings are not readable with this token (it is not a "
            "master-tenant token); they cannot be managed"
        )
    return state


def read_trunk_endpoints(
    client: ConfdClient, live: LiveState, *, max_workers: int = 4
) -> LiveState:
    """``live`` with the SIP endpoint of every trunk read (one request each not yet read)."""
    return _read_sip_endpoints(client, live, None, max_workers)


def _read_sip_endpoints(
    client: ConfdClient, live: LiveState, names: Collection[str] | None, max_workers: int
) -> LiveState:
    jobs: dict[str, Callable[[], object]] = {}
    for trunk in live.unread_trunk_endpoints:
        ref = trunk.get("endpoint_sip") or {}
        if names is None or ref.get("name") in names:
            path = f"/endpoints/sip/{ref['uuid']}"
            jobs[ref["uuid"]] = partial(client.get, path, tenant=trunk["tenant_uuid"])
    taken = {
        *(str((t.get("endpoint_sip") or {}).get("name")) for t in live.trunks),
        *(t["name"] for t in live.sip_templates),
        *(t["name"] for t in live.transports),
        *(e["name"] for e in live.endpoints_sip),
    }
    for name in sorted(set(names or ()) - taken - set(DEFAULT_TEMPLATES)):
        # confd's exact filter: it costs what the endpoints it finds cost, never the whole list
        params = {"name": name, "recurse": "true"}
        jobs[f"?name={name}"] = partial(client.list, "/endpoints/sip", params=params, tenant=None)
    found: list[SipBody] = []
    for result in _run(jobs, max_workers).values():
        found += cast(list[SipBody], result if isinstance(result, list) else [result])
    return replace(live, endpoints_sip=(*live.endpoints_sip, *found))


def _jobs(client: ConfdClient) -> dict[str, Callable[[], object]]:
    jobs: dict[str, Callable[[], object]] = {
        "token_tenant": lambda: token_tenant(client),
        "tenants": lambda: _tenants(client),
    }
    for kind in LIST_KINDS:
        jobs[kind.name] = _list_job(client, kind)
    jobs["pjsip_global"] = partial(_pjsip_section, client, "/asterisk/pjsip/global")
    jobs["pjsip_system"] = partial(_pjsip_section, client, "/asterisk/pjsip/system")
    jobs["pjsip_doc"] = partial(_pjsip_doc, client)
    jobs["registers_iax"] = partial(_registers_iax, client)
    return jobs


def _run(jobs: Mapping[str, Callable[[], object]], max_workers: int) -> dict[str, Any]:
    with ThreadPoolExecutor(
        max_workers=max(1, max_workers), thread_name_prefix="fetch-live"
    ) as pool:
        # each job in a copy of this context: a fleet run's logs go to the PBX's section
        futures: dict[str, Future[object]] = {
            name: pool.submit(contextvars.copy_context().run, job) for name, job in jobs.items()
        }
        try:
            return {name: future.result() for name, future in futures.items()}
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise


def _list_job(client: ConfdClient, kind: ListKind) -> Callable[[], tuple[Item, ...]]:
    # no Wazo-Tenant header: the token's tenant, and with recurse=true its sub-tenants
    return lambda: tuple(client.list(kind.path, params=dict(kind.params), tenant=None))


def token_tenant(client: ConfdClient) -> str:
    """The UUID of the token's own tenant (one request)."""
    items = client.list("/tenants", tenant=None)  # without recurse: the token's own tenant
    if len(items) != 1 or not isinstance(items[0].get("uuid"), str):
        message = f"expected exactly the token's own tenant, got {len(items)} tenants"
        raise ApiError("GET", "/tenants", 200, [message])
    uuid: str = items[0]["uuid"]
    return uuid


def _tenants(client: ConfdClient) -> dict[str, Tenant]:
    items = client.list("/tenants", params=_RECURSE, tenant=None)
    return {str(item["uuid"]): cast(Tenant, item) for item in items}


def _pjsip_section(client: ConfdClient, path: str) -> dict[str, str] | None:
    try:
        answer = client.get(path, tenant=None)
    except AuthError:
        log.debug("GET %s refused: not a master-tenant token", path)
        return None
    options = answer.get("options") if isinstance(answer, dict) else None
    if not isinstance(options, dict):
        raise ApiError("GET", path, 200, detail="expected {'options': {...}}")
    return {str(k): str(v) for k, v in options.items()}


def _registers_iax(client: ConfdClient) -> tuple[RegisterIax, ...] | None:
    try:  # instance-wide: one list, whatever the token's tenant
        return cast(tuple[RegisterIax, ...], tuple(client.list("/registers/iax", tenant=None)))
    except AuthError:
        log.info("GET /registers/iax refused: IAX registers cannot be managed with this token")
        return None


def _pjsip_doc(client: ConfdClient) -> dict[str, Any] | None:
    try:
        answer = client.get("/asterisk/pjsip/doc", tenant=None)
    except AuthError:
        return None
    except ApiError as exc:
        if exc.status != 400:  # 400: "failed to read PJSIP JSON documentation"
            raise
        log.info("confd cannot serve the PJSIP documentation: %s", exc)
        return None
    return answer if isinstance(answer, dict) else None


# --------------------------------------------------------------------------- lookups

TrunkIdentity = tuple[str, ...]


def trunk_identity(trunk_type: str, handle_or_interface: str) -> TrunkIdentity:
    return ("trunk", trunk_type, handle_or_interface)


@dataclass(frozen=True)
class LiveIndex:
    """Lookups over the live state, shared by the normaliser, the planner and apply.

    Built once, complete, by `index_live`; never changed afterwards.
    """

    token_tenant: str
    tenants: Mapping[str, Tenant]
    transport_names: Mapping[str, str]  # uuid -> name
    transport_uuids: Mapping[str, str]  # name -> uuid
    # Who uses each transport: name -> ((SIP endpoint or template name, how to show it), ...)
    transport_users: Mapping[str, tuple[tuple[str, str], ...]]
    template_names: Mapping[str, tuple[str, str]]  # uuid -> (tenant, name)
    template_uuids: Mapping[tuple[str, str], str]  # (tenant or "", name) -> uuid
    # The live names of the tenants' default templates -> (tenant, `global`, `webrtc`…): the
    # stack names a default template by its label, and its live name is the same object.
    default_template_names: Mapping[str, tuple[str, str]]
    trunk_handles: Mapping[int, str]  # trunk id -> handle (as the stack names it)
    trunk_ids: Mapping[str, int]  # handle -> trunk id
    contexts: Mapping[str, tuple[Context, ...]]  # by tenant
    extensions: Mapping[tuple[str, str], Extension]  # (context, exten) -> extension
    users: tuple[User, ...]
    # Endpoints attached to no trunk or line (left by an interrupted apply): adoptable.
    orphan_sip: Mapping[str, SipBody]  # name -> endpoint
    orphan_iax: Mapping[str, IaxEndpoint]  # name -> endpoint
    orphan_custom: Mapping[str, CustomEndpoint]  # interface -> endpoint
    # Trunks with no endpoint and no IAX register, by tenant, lowest id first: adoptable.
    bare_trunks: Mapping[str, tuple[int, ...]]
    # IAX registers on no trunk (left by an interrupted apply), by their normalised fields.
    orphan_registers: Mapping[Options, tuple[int, ...]]
    _users_by: tuple[Mapping[str, User], ...] = field(repr=False)  # uuid, email, username
    _contexts_by: Mapping[
        str, tuple[Mapping[str, list[Context]], Mapping[object, list[Context]]]
    ] = field(repr=False)

    def find_user(self, ref: str) -> User | None:
        """A user by uuid, email (case-insensitive) or username, as `find_user` finds it."""
        return _find_user(self._users_by, ref)

    def contexts_called(
        self, tenant: str, text: str
    ) -> tuple[Sequence[Context], Sequence[Context]]:
        """A tenant's contexts named ``text``, and those labelled so."""
        by_name, by_label = self._contexts_by.get(tenant, ({}, {}))
        return by_name.get(text, []), by_label.get(text, [])

    def template_ref(self, uuid: str) -> str:
        return self.template_names.get(uuid, ("", uuid))[1]

    def tenant_template_names(self, tenant: str) -> dict[str, str]:
        """uuid -> special name (`global`, …) for the tenant's default templates."""
        return _tenant_template_names(self.tenants.get(tenant, {}))


def _tenant_template_names(tenant: Tenant) -> dict[str, str]:
    pointers = cast(Mapping[str, object], tenant)
    uuids = {name: pointers.get(f"{name}_sip_template_uuid") for name in TENANT_TEMPLATES}
    return {str(uuid): name for name, uuid in uuids.items() if uuid}


def index_live(live: LiveState, handles: Mapping[TrunkIdentity, str] | None = None) -> LiveIndex:
    """The lookups over ``live``. ``handles``: the stack's name for a trunk identity where it is
    not the endpoint's (a custom trunk is named in the stack, identified by its interface)."""
    handles = handles or {}
    transport_names = {t["uuid"]: t["name"] for t in live.transports}
    special = {
        uuid: (tenant, name)
        for tenant, body in live.tenants.items()
        for uuid, name in _tenant_template_names(body).items()
    }
    for template in live.sip_templates:  # no pointer on the tenant: found by its label
        if template.get("label") == TWILIO_TEMPLATE and template["uuid"] not in special:
            special[template["uuid"]] = (template["tenant_uuid"], TWILIO_TEMPLATE)
    template_names: dict[str, tuple[str, str]] = {}
    template_uuids: dict[tuple[str, str], str] = {}
    default_names: dict[str, tuple[str, str]] = {}
    for template in live.sip_templates:
        uuid = template["uuid"]
        scope, name = special.get(uuid, ("", template["name"]))
        template_names[uuid] = (template["tenant_uuid"], name)
        template_uuids[(scope, name)] = uuid
        if scope and template["name"] != name:
            default_names[template["name"]] = (scope, name)
    trunk_handles = {
        t["id"]: handles.get(_trunk_identity(t), _trunk_handle(t)) for t in live.trunks
    }
    trunk_ids: dict[str, int] = {}
    bare: dict[str, list[int]] = {}
    for trunk_id, handle in sorted(trunk_handles.items()):
        trunk_ids.setdefault(handle, trunk_id)
    for trunk in sorted(live.trunks, key=lambda t: t["id"]):
        if _trunk_identity(trunk)[1] == "none" and not trunk.get("register_iax"):
            bare.setdefault(trunk["tenant_uuid"], []).append(trunk["id"])
    contexts: dict[str, list[Context]] = {}
    for context in live.contexts:
        contexts.setdefault(context["tenant_uuid"], []).append(context)
    return LiveIndex(
        token_tenant=live.token_tenant,
        tenants=dict(live.tenants),
        transport_names=transport_names,
        transport_uuids={name: uuid for uuid, name in transport_names.items()},
        transport_users=_transport_users(live, transport_names),
        template_names=template_names,
        template_uuids=template_uuids,
        default_template_names=default_names,
        trunk_handles=trunk_handles,
        trunk_ids=trunk_ids,
        contexts={tenant: tuple(found) for tenant, found in contexts.items()},
        extensions={(e["context"], e["exten"]): e for e in live.extensions},
        users=tuple(live.users),
        orphan_sip={
            e["name"]: e for e in live.endpoints_sip if not e.get("trunk") and not e.get("line")
        },
        orphan_iax={e["name"]: e for e in live.endpoints_iax if not e.get("trunk")},
        orphan_custom={
            e["interface"]: e
            for e in live.endpoints_custom
            if not e.get("trunk") and not e.get("line")
        },
        bare_trunks={tenant: tuple(ids) for tenant, ids in bare.items()},
        orphan_registers=_orphan_registers(live.registers_iax or ()),
        _users_by=_users_by(live.users),
        _contexts_by={tenant: _contexts_by(found) for tenant, found in contexts.items()},
    )


def _orphan_registers(registers: Sequence[RegisterIax]) -> dict[Options, tuple[int, ...]]:
    found: dict[Options, list[int]] = {}
    for register in sorted(registers, key=lambda r: r["id"]):
        if not register.get("trunk"):
            found.setdefault(live_register(register), []).append(register["id"])
    return {pairs: tuple(ids) for pairs, ids in found.items()}


def _transport_users(
    live: LiveState, transport_names: Mapping[str, str]
) -> dict[str, tuple[tuple[str, str], ...]]:
    users: dict[str, list[tuple[str, str]]] = {}
    for item in (*live.sip_templates, *live.endpoints_sip):
        transport = item.get("transport")
        if transport and transport.get("uuid") in transport_names:
            shown = str(item.get("label") or item["name"])
            users.setdefault(transport_names[transport["uuid"]], []).append((item["name"], shown))
    return {name: tuple(found) for name, found in users.items()}


def trunk_endpoint(trunk: Trunk) -> tuple[str, str] | None:
    """The trunk's endpoint type and its name (its interface for a custom endpoint)."""
    if sip := trunk.get("endpoint_sip"):
        return "sip", str(sip["name"])
    if iax := trunk.get("endpoint_iax"):
        return "iax", str(iax["name"])
    if custom := trunk.get("endpoint_custom"):
        return "custom", str(custom["interface"])
    return None


def _trunk_handle(trunk: Trunk) -> str:
    endpoint = trunk_endpoint(trunk)
    return endpoint[1] if endpoint else f"#{trunk['id']}"


def _trunk_identity(trunk: Trunk) -> TrunkIdentity:
    endpoint = trunk_endpoint(trunk) or ("none", str(trunk["id"]))
    return trunk_identity(*endpoint)


def _users_by(users: Sequence[User]) -> tuple[dict[str, User], ...]:
    """The first user of each uuid, lower-cased email and username (``find_user``'s keys)."""
    keys: tuple[dict[str, User], ...] = ({}, {}, {})
    for user in users:
        keys[0].setdefault(user.get("uuid") or "", user)
        keys[1].setdefault((user.get("email") or "").lower(), user)
        keys[2].setdefault(user.get("username") or "", user)
    return keys


def _contexts_by(
    contexts: Sequence[Context],
) -> tuple[dict[str, list[Context]], dict[object, list[Context]]]:
    by_name: dict[str, list[Context]] = {}
    by_label: dict[object, list[Context]] = {}
    for context in contexts:
        by_name.setdefault(context["name"], []).append(context)
        by_label.setdefault(context.get("label"), []).append(context)
    return by_name, by_label


def find_user(users: Sequence[User], ref: str) -> User | None:
    """A user by uuid, else by email (case-insensitive), else by username."""
    return _find_user(_users_by(users), ref)


def _find_user(keys: tuple[Mapping[str, User], ...], ref: str) -> User | None:
    by_uuid, by_email, by_username = keys
    found = (by_uuid.get(ref), by_email.get(ref.lower()), by_username.get(ref))
    return next((user for user in found if user is not None), None)

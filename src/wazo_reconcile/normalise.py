"""Normalise stage: live confd data and the desired YAML both become model `Resource`s.

Everything that would otherwise show up as a false change is folded here, on both sides:
option order, server defaults (IAX options), ``null``/``""`` equivalences, YAML booleans and
numbers, the `headers`/`match_header` shortcuts, names instead of uuids/ids.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from wazo_reconcile.errors import Location, Problem
from wazo_reconcile.model import (
    SIP_SECTIONS,
    TENANT_TEMPLATES,
    Options,
    Pattern,
    Resource,
    ResourceKey,
    empty_to_none,
    options,
)

# confd fills these IAX option columns with server defaults on every read, and resets them on
# every PUT of `options` (REFERENCE.md §3.5; recordings endpoints_iax.json).
IAX_DEFAULT_OPTIONS: Options = options(
    [
        ("amaflags", "default"),
        ("auth", "plaintext,md5"),
        ("qualify", "no"),
        ("qualifyfreqnotok", "10000"),
        ("qualifyfreqok", "60000"),
        ("qualifysmoothing", "no"),
        ("requirecalltoken", "no"),
        ("sendani", "no"),
        ("trunk", "no"),
    ]
)
_IAX_DEFAULTS = dict(IAX_DEFAULT_OPTIONS)

HEADER_SET_VAR = re.compile(r"^PJSIP_HEADER\(add,([^)]+)\)=(.*)$", re.DOTALL)
# Asterisk's own `identify_by` default, used when `header` must be added to an endpoint that
# does not set `identify_by` itself.
DEFAULT_IDENTIFY_BY = "username,ip"


def header_set_var(name: str, value: str) -> tuple[str, str]:
    return ("set_var", f"PJSIP_HEADER(add,{name})={value}")


def split_headers(pairs: Options) -> tuple[Options, Options]:
    """Split a canonical endpoint section into (other options, headers added on outgoing
    calls); what is left of a sorted section stays sorted."""
    if not any(key == "set_var" for key, _ in pairs):
        return pairs, ()
    rest: list[tuple[str, str]] = []
    headers: list[tuple[str, str]] = []
    for key, value in pairs:
        match = HEADER_SET_VAR.match(value) if key == "set_var" else None
        if match:
            headers.append((match.group(1), match.group(2)))
        else:
            rest.append((key, value))
    return tuple(rest), options(headers)


def split_match_header(pairs: Options) -> tuple[Options, str | None]:
    """Split a canonical identify section into (other options, the `match_header` value)."""
    found = [v for k, v in pairs if k == "match_header"]
    if not found:
        return pairs, None
    return tuple((k, v) for k, v in pairs if k != "match_header"), found[-1]


def live_options(raw: Iterable[Sequence[Any]] | None) -> Options:
    """A confd option list (``[[key, value], ...]``) in canonical form: ``options`` with one
    pass over the pairs (35,000 sections in a plan at 5,000 trunks)."""
    if not raw:
        return ()
    found = [(k, v) if type(k) is str and type(v) is str else (str(k), str(v)) for k, v in raw]
    found.sort()
    return tuple(found)


def identify_by_has_header(endpoint: Iterable[tuple[str, str]]) -> bool:
    values = [v for k, v in endpoint if k == "identify_by"]
    return bool(values) and "header" in [p.strip() for p in values[-1].split(",")]


def strip_iax_defaults(pairs: Iterable[tuple[str, str]]) -> Options:
    return options((k, v) for k, v in pairs if _IAX_DEFAULTS.get(k) != v)


class LiveData(Protocol):
    """What the normaliser reads from `live.LiveState` (raw confd items)."""

    @property
    def token_tenant(self) -> str: ...

    @property
    def tenants(self) -> Mapping[str, Mapping[str, Any]]: ...

    @property
    def transports(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def sip_templates(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def endpoints_sip(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def endpoints_iax(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def endpoints_custom(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def trunks(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def outcalls(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def contexts(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def extensions(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def users(self) -> Sequence[Mapping[str, Any]]: ...

    @property
    def pjsip_global(self) -> Mapping[str, str] | None: ...

    @property
    def pjsip_system(self) -> Mapping[str, str] | None: ...


ContextsByText = dict[object, list[Mapping[str, Any]]]


@dataclass
class LiveIndex:
    """Lookups over the live state, shared by the normaliser, the planner and the apply engine."""

    token_tenant: str
    tenants: dict[str, Mapping[str, Any]]
    transport_names: dict[str, str] = field(default_factory=dict)  # uuid -> name
    transport_uuids: dict[str, str] = field(default_factory=dict)  # name -> uuid
    template_names: dict[str, tuple[str, str]] = field(
        default_factory=dict
    )  # uuid -> (tenant, name)
    template_uuids: dict[tuple[str, str], str] = field(
        default_factory=dict
    )  # (tenant, name) -> uuid
    trunk_handles: dict[int, str] = field(default_factory=dict)  # trunk id -> handle
    trunk_ids: dict[str, int] = field(default_factory=dict)  # handle -> trunk id
    trunk_identities: dict[int, tuple[str, ...]] = field(default_factory=dict)
    contexts: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # by tenant
    extensions: dict[tuple[str, str], Mapping[str, Any]] = field(default_factory=dict)
    users: list[Mapping[str, Any]] = field(default_factory=list)
    # endpoints not attached to any trunk or line (left by an interrupted apply): adoptable
    orphan_sip: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> endpoint
    orphan_iax: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # name -> endpoint
    orphan_custom: dict[str, Mapping[str, Any]] = field(default_factory=dict)  # interface -> ep
    # trunks with no endpoint and no IAX register, by tenant (adoptable, lowest id first)
    bare_trunks: dict[str, list[int]] = field(default_factory=dict)
    _user_keys: tuple[dict[str, Mapping[str, Any]], ...] | None = field(
        default=None, repr=False, compare=False
    )
    _context_keys: dict[str, tuple[ContextsByText, ContextsByText]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def find_user(self, ref: str) -> Mapping[str, Any] | None:
        """``find_user(self.users, ref)`` with the users indexed once (a stack of 1,000 users
        scanned them a million times)."""
        if self._user_keys is None:
            self._user_keys = _user_keys(self.users)
        by_uuid, by_email, by_username = self._user_keys
        for found in (by_uuid.get(ref), by_email.get(ref.lower()), by_username.get(ref)):
            if found is not None:
                return found
        return None

    def contexts_called(
        self, tenant: str, text: str
    ) -> tuple[Sequence[Mapping[str, Any]], Sequence[Mapping[str, Any]]]:
        """A tenant's contexts named ``text``, and those labelled so, with each tenant's
        contexts indexed once (not scanned once per trunk and outcall)."""
        keys = self._context_keys.get(tenant)
        if keys is None:
            by_name: ContextsByText = {}
            by_label: ContextsByText = {}
            for context in self.contexts.get(tenant, []):
                by_name.setdefault(context["name"], []).append(context)
                by_label.setdefault(context.get("label"), []).append(context)
            keys = self._context_keys[tenant] = (by_name, by_label)
        return keys[0].get(text, []), keys[1].get(text, [])

    def use_handles(self, aliases: Mapping[tuple[str, ...], str]) -> None:
        """Name live trunks as the stack does (a custom trunk's handle is not its interface)."""
        self.trunk_handles = {
            trunk_id: aliases.get(identity, self.trunk_handles[trunk_id])
            for trunk_id, identity in self.trunk_identities.items()
        }
        self.trunk_ids = {}
        for trunk_id, handle in sorted(self.trunk_handles.items()):
            self.trunk_ids.setdefault(handle, trunk_id)

    def template_ref(self, uuid: str) -> str:
        return self.template_names.get(uuid, ("", uuid))[1]

    def tenant_template_names(self, tenant: str) -> dict[str, str]:
        """uuid -> special name (`global`, …) for the tenant's default templates."""
        body = self.tenants.get(tenant, {})
        found = {}
        for name in TENANT_TEMPLATES:
            uuid = body.get(f"{name}_sip_template_uuid")
            if uuid:
                found[str(uuid)] = name
        return found


def index_live(live: LiveData) -> LiveIndex:
    index = LiveIndex(token_tenant=live.token_tenant, tenants=dict(live.tenants))
    for transport in live.transports:
        index.transport_names[transport["uuid"]] = transport["name"]
        index.transport_uuids[transport["name"]] = transport["uuid"]
    special: dict[str, tuple[str, str]] = {}
    for tenant in live.tenants:
        for uuid, name in index.tenant_template_names(tenant).items():
            special[uuid] = (tenant, name)
    for template in live.sip_templates:
        tenant = template["tenant_uuid"]
        ref = special.get(template["uuid"], ("", template["name"]))
        index.template_names[template["uuid"]] = (tenant, ref[1])
        index.template_uuids[(ref[0], ref[1])] = template["uuid"]
    for trunk in live.trunks:
        handle = _trunk_handle(trunk)
        index.trunk_handles[trunk["id"]] = handle
        index.trunk_identities[trunk["id"]] = _trunk_identity(trunk)
        index.trunk_ids.setdefault(handle, trunk["id"])
        if handle.startswith("#") and not trunk.get("register_iax"):
            index.bare_trunks.setdefault(trunk["tenant_uuid"], []).append(trunk["id"])
    for tenant_trunks in index.bare_trunks.values():
        tenant_trunks.sort()
    for context in live.contexts:
        index.contexts.setdefault(context["tenant_uuid"], []).append(context)
    for extension in live.extensions:
        index.extensions[(extension["context"], extension["exten"])] = extension
    index.users = list(live.users)
    for ep in live.endpoints_sip:
        if not ep.get("trunk") and not ep.get("line"):
            index.orphan_sip[ep["name"]] = ep
    for ep in live.endpoints_iax:
        if not ep.get("trunk"):
            index.orphan_iax[ep["name"]] = ep
    for ep in live.endpoints_custom:
        if not ep.get("trunk") and not ep.get("line"):
            index.orphan_custom[ep["interface"]] = ep
    return index


def _trunk_handle(trunk: Mapping[str, Any]) -> str:
    if trunk.get("endpoint_sip"):
        return str(trunk["endpoint_sip"]["name"])
    if trunk.get("endpoint_iax"):
        return str(trunk["endpoint_iax"]["name"])
    if trunk.get("endpoint_custom"):
        return str(trunk["endpoint_custom"]["interface"])
    return f"#{trunk['id']}"


def _trunk_identity(trunk: Mapping[str, Any]) -> tuple[str, ...]:
    for kind, key in (("sip", "name"), ("iax", "name"), ("custom", "interface")):
        endpoint = trunk.get(f"endpoint_{kind}")
        if endpoint:
            return trunk_identity(kind, str(endpoint[key]))
    return trunk_identity("none", str(trunk["id"]))


def trunk_identity(trunk_type: str, handle_or_interface: str) -> tuple[str, ...]:
    return ("trunk", trunk_type, handle_or_interface)


def template_identity(tenant: str, name: str) -> tuple[str, ...]:
    # The per-tenant default templates are one per tenant; other names are instance-wide.
    return ("template", tenant if name in TENANT_TEMPLATES else "", name)


# --------------------------------------------------------------------------- live side


def normalise_live(
    live: LiveData, index: LiveIndex, prepared: PreparedLive | None = None
) -> list[Resource]:
    """Every live object we can manage, as model resources (in no particular order).
    ``prepared``: what a `LivePreparer` computed for these items while they were read."""
    resources: list[Resource] = []
    resources += _live_pjsip(live)
    resources += [_live_transport(t) for t in live.transports]
    resources += [_live_template(t, index, prepared) for t in live.sip_templates]
    resources += _live_trunks(live, index, prepared)
    resources += [_live_outcall(o, index) for o in live.outcalls]
    resources += [_live_user(u) for u in live.users]
    return resources


def _live_pjsip(live: LiveData) -> list[Resource]:
    found = []
    for section, values in (("global", live.pjsip_global), ("system", live.pjsip_system)):
        if values is not None:
            found.append(
                Resource.create(
                    ResourceKey("pjsip", section),
                    ("pjsip", section),
                    {"options": options(values.items())},
                )
            )
    return found


def _live_transport(transport: Mapping[str, Any]) -> Resource:
    return Resource.create(
        ResourceKey("transports", transport["name"]),
        ("transport", transport["name"]),
        {"options": options(tuple(p) for p in transport.get("options") or [])},
        remote={"uuid": transport["uuid"]},
    )


def sip_fields(
    body: Mapping[str, Any], index: LiveIndex, prepared: PreparedLive | None = None
) -> dict[str, Any]:
    """The comparable fields of a live SIP endpoint or template (its sections from
    ``prepared``, keyed by ``id(body)``, if a `LivePreparer` computed them)."""
    fields: dict[str, Any] = {"label": empty_to_none(body.get("label"))}
    fields["templates"] = tuple(index.template_ref(t["uuid"]) for t in body.get("templates") or [])
    transport = body.get("transport")
    fields["transport"] = index.transport_names.get(transport["uuid"]) if transport else None
    sections = prepared.get(id(body)) if prepared else None
    fields.update(live_sections(body) if sections is None else sections)
    return fields


def live_sections(body: Mapping[str, Any]) -> dict[str, Any]:
    """The option sections of a live SIP endpoint or template, `headers`/`match_header`
    split out: most of `normalise_live`'s time, and pure (no index)."""
    fields: dict[str, Any] = {
        s: live_options(body.get(f"{s}_section_options")) for s in SIP_SECTIONS
    }
    fields["endpoint"], fields["headers"] = split_headers(fields["endpoint"])
    fields["identify"], fields["match_header"] = split_match_header(fields["identify"])
    fields["identify_by_header"] = identify_by_has_header(fields["endpoint"])
    return fields


PreparedLive = dict[int, dict[str, Any]]  # id(live item) -> its `live_sections`


class LivePreparer:
    """`fetch_live`'s ``received``: the `live_sections` of each SIP endpoint and template,
    computed as soon as confd's list arrives, while the other lists are still being read
    (they mostly wait for confd); `prepared` is then for `normalise_live`."""

    KINDS = ("endpoints_sip", "sip_templates")

    def __init__(self) -> None:
        self._parts: dict[str, PreparedLive] = {}

    def __call__(self, kind: str, items: Iterable[Mapping[str, Any]]) -> None:
        if kind in self.KINDS:
            self._parts[kind] = {id(item): live_sections(item) for item in items}

    def prepared(self) -> PreparedLive:
        """Every item's sections, keyed by ``id(item)`` (the items must still be alive)."""
        return {key: value for part in self._parts.values() for key, value in part.items()}


def _live_template(
    template: Mapping[str, Any], index: LiveIndex, prepared: PreparedLive | None
) -> Resource:
    tenant, name = index.template_names[template["uuid"]]
    is_default = template["uuid"] in index.tenant_template_names(tenant) or _is_default_label(
        template
    )
    return Resource.create(
        ResourceKey("sip_templates", name, tenant),
        template_identity(tenant, name),
        sip_fields(template, index, prepared),
        remote={"uuid": template["uuid"]},
        default_object=is_default,
    )


def _is_default_label(template: Mapping[str, Any]) -> bool:
    # twilio_trunk has no pointer on the tenant; confd creates it with that label.
    return template.get("label") == "twilio_trunk" and template.get("name") != "twilio_trunk"


def _live_trunks(live: LiveData, index: LiveIndex, prepared: PreparedLive | None) -> list[Resource]:
    sip = {e["uuid"]: e for e in live.endpoints_sip}
    iax = {e["id"]: e for e in live.endpoints_iax}
    custom = {e["id"]: e for e in live.endpoints_custom}
    found = []
    for trunk in live.trunks:
        common = {
            "context": trunk.get("context"),
            "outgoing_caller_id_format": trunk.get("outgoing_caller_id_format"),
        }
        tenant = trunk["tenant_uuid"]
        remote: dict[str, Any] = {"trunk_id": trunk["id"]}
        if trunk.get("endpoint_sip") and trunk["endpoint_sip"]["uuid"] in sip:
            ep = sip[trunk["endpoint_sip"]["uuid"]]
            fields = {"type": "sip", **sip_fields(ep, index, prepared), **common}
            identity = trunk_identity("sip", ep["name"])
            remote["endpoint_uuid"] = ep["uuid"]
            name = ep["name"]
        elif trunk.get("endpoint_iax") and trunk["endpoint_iax"]["id"] in iax:
            ep = iax[trunk["endpoint_iax"]["id"]]
            fields = {
                "type": "iax",
                "host": ep.get("host"),
                "peer_type": ep.get("type"),
                "options": strip_iax_defaults(tuple(p) for p in ep.get("options") or []),
                **common,
            }
            identity = trunk_identity("iax", ep["name"])
            remote["endpoint_id"] = ep["id"]
            name = ep["name"]
        elif trunk.get("endpoint_custom") and trunk["endpoint_custom"]["id"] in custom:
            ep = custom[trunk["endpoint_custom"]["id"]]
            fields = {
                "type": "custom",
                "interface": ep["interface"],
                "interface_suffix": empty_to_none(ep.get("interface_suffix")),
                "enabled": ep.get("enabled", True),
                **common,
            }
            identity = trunk_identity("custom", ep["interface"])
            remote["endpoint_id"] = ep["id"]
            name = index.trunk_handles[trunk["id"]]
        else:
            fields = {"type": "none", **common}
            identity = trunk_identity("none", str(trunk["id"]))
            name = f"#{trunk['id']}"
        found.append(
            Resource.create(ResourceKey("trunks", name, tenant), identity, fields, remote=remote)
        )
    return found


def _live_outcall(outcall: Mapping[str, Any], index: LiveIndex) -> Resource:
    patterns = tuple(
        sorted(
            Pattern(
                context=e["context"],
                exten=e["exten"],
                caller_id=empty_to_none(e.get("caller_id")),
                strip_digits=e.get("strip_digits") or 0,
                prefix=empty_to_none(e.get("prefix")),
                external_prefix=empty_to_none(e.get("external_prefix")),
            )
            for e in outcall.get("extensions") or []
        )
    )
    fields = {
        "internal_caller_id": bool(outcall.get("internal_caller_id")),
        "description": empty_to_none(outcall.get("description")),
        "enabled": bool(outcall.get("enabled", True)),
        "ring_time": outcall.get("ring_time") or 0,
        "preprocess_subroutine": empty_to_none(outcall.get("preprocess_subroutine")),
        "trunks": tuple(
            index.trunk_handles.get(t["id"], f"#{t['id']}") for t in outcall.get("trunks") or []
        ),
        "patterns": patterns,
    }
    remote = {
        "id": outcall["id"],
        "extension_ids": {
            (e["context"], e["exten"]): e["id"] for e in outcall.get("extensions") or []
        },
    }
    return Resource.create(
        ResourceKey("outcalls", outcall["name"], outcall["tenant_uuid"]),
        ("outcall", outcall["name"]),
        fields,
        remote=remote,
    )


def user_caller_id(value: Any) -> str | None:
    # confd stores null as "" and reads it back as null: one value. It is kept apart from
    # "default": wazo-agid applies the pattern's caller ID only for the exact value "default".
    return None if value in (None, "") else str(value)


def _live_user(user: Mapping[str, Any]) -> Resource:
    return Resource.create(
        ResourceKey(
            "users", user.get("email") or user.get("username") or user["uuid"], user["tenant_uuid"]
        ),
        ("user", user["uuid"]),
        {"outgoing_caller_id": user_caller_id(user.get("outgoing_caller_id"))},
        remote={"uuid": user["uuid"]},
    )


# ------------------------------------------------------------------------ shared helpers


def group_by(
    items: Iterable[Resource], key: Callable[[Resource], Any]
) -> dict[Any, list[Resource]]:
    grouped: dict[Any, list[Resource]] = defaultdict(list)
    for item in items:
        grouped[key(item)].append(item)
    return dict(grouped)


# ------------------------------------------------------------------------ desired side


class DeclarationLike(Protocol):
    kind: str
    name: str
    tenant: str | None
    data: Any
    location: Location


Locate = Callable[[Any, tuple[str | int, ...]], Location]
Expand = Callable[[str, Any], str]


Prepared = dict[int, dict[str, Any]]  # id(declaration) -> its `sip_sections`


@dataclass
class DesiredContext:
    """What resolving the desired state needs besides the YAML: the live index and secrets."""

    index: LiveIndex
    default_tenant: str
    expand: Expand  # (text, declaration) -> text with ${env:…}/${file:…} resolved
    locate: Locate  # (declaration, path inside it) -> Location
    option_text: Callable[[Any], str]
    declared_trunks: set[str] = field(default_factory=set)
    declared_templates: set[tuple[str, str]] = field(default_factory=set)
    declared_transports: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    prepared: Prepared = field(default_factory=dict)  # from `prepare_desired`, if computed

    def problem(self, decl: Any, path: tuple[str | int, ...], message: str) -> None:
        where = ".".join([decl.kind, decl.name, *map(str, path)])
        self.problems.append(Problem(self.locate(decl, path), where, message))

    def tenant_of(self, decl: Any) -> str:
        return str(decl.tenant or self.default_tenant)

    def texter(self, decl: Any) -> Callable[[Any], str]:
        """A YAML scalar as the string sent to confd, secret references resolved."""
        return texter(self.option_text, self.expand, decl)


def texter(option_text: Callable[[Any], str], expand: Expand, decl: Any) -> Callable[[Any], str]:
    """A YAML scalar of `decl` as the string sent to confd, secret references resolved.

    Every string of a declaration goes through it once, on its way into a field, so
    `${env:…}`/`${file:…}` are expanded where they are met, without another walk.
    """

    def text(value: Any) -> str:
        found = option_text(value)
        return expand(found, decl) if "${" in found else found

    return text


def normalise_desired(declarations: Sequence[Any], ctx: DesiredContext) -> list[Resource]:
    """Declarations (from `config.Stack`) as model resources; reference problems go to `ctx`."""
    for decl in declarations:
        if decl.kind == "trunks":
            ctx.declared_trunks.add(decl.name)
        elif decl.kind == "sip_templates":
            name = decl.name
            ctx.declared_templates.add(
                (ctx.tenant_of(decl) if name in TENANT_TEMPLATES else "", name)
            )
        elif decl.kind == "transports":
            ctx.declared_transports.add(decl.name)
    builders: dict[str, Callable[[Any, DesiredContext], Resource | None]] = {
        "pjsip": _desired_pjsip,
        "transports": _desired_transport,
        "sip_templates": _desired_template,
        "trunks": _desired_trunk,
        "outcalls": _desired_outcall,
        "users": _desired_user,
    }
    resources = []
    for decl in declarations:
        resource = builders[decl.kind](decl, ctx)
        if resource is not None:
            resources.append(resource)
    return resources


def section_options(value: Any, text: Callable[[Any], str]) -> Options:
    """An option section as written in YAML (a mapping, lists for repeated keys, or
    [key, value] pairs) in canonical form, built in one pass: 35,000 sections in a plan at
    5,000 trunks."""
    if value is None:
        return ()
    pairs: list[tuple[str, str]] = []
    if isinstance(value, Mapping):
        for key, item in value.items():
            key = key if type(key) is str else str(key)
            if type(item) is list:
                pairs += [(key, text(one)) for one in item]
            else:
                pairs.append((key, text(item)))
    else:
        pairs = [(str(key), text(item)) for key, item in value]
    pairs.sort()
    return tuple(pairs)


def sip_sections(data: Mapping[str, Any], text: Callable[[Any], str]) -> dict[str, Any]:
    """The option sections of a SIP trunk or template declaration, `headers`/`match_header`
    folded in. Pure (no live state): `prepare_desired` computes them while the live state is
    being read."""
    fields: dict[str, Any] = {}
    for section in SIP_SECTIONS:
        if section in data:
            fields[section] = section_options(data[section], text)
    _fold_shortcuts(fields, data, text)
    return fields


def prepare_desired(
    declarations: Iterable[Any], texter: Callable[[Any], Callable[[Any], str]]
) -> Prepared:
    """The part of `normalise_desired` that needs no live state: the SIP option sections of
    every SIP trunk and template (most of its time), keyed by ``id(declaration)`` for
    `DesiredContext.prepared`. ``texter(decl)`` is `DesiredContext.texter`."""
    prepared: Prepared = {}
    for decl in declarations:
        data = decl.data or {}
        if decl.kind == "sip_templates" or (
            decl.kind == "trunks" and str(data.get("type", "sip")) == "sip"
        ):
            prepared[id(decl)] = sip_sections(data, texter(decl))
    return prepared


def _key(decl: Any, ctx: DesiredContext, *, scoped: bool = True) -> ResourceKey:
    return ResourceKey(decl.kind, decl.name, ctx.tenant_of(decl) if scoped else "")


def _desired_pjsip(decl: Any, ctx: DesiredContext) -> Resource:
    return Resource.create(
        ResourceKey("pjsip", decl.name),
        ("pjsip", decl.name),
        {"options": section_options(decl.data, ctx.texter(decl))},
        origin=decl.location,
    )


def _desired_transport(decl: Any, ctx: DesiredContext) -> Resource:
    return Resource.create(
        ResourceKey("transports", decl.name),
        ("transport", decl.name),
        {"options": section_options(decl.data, ctx.texter(decl))},
        origin=decl.location,
    )


def _desired_sip_fields(
    decl: Any, data: Mapping[str, Any], ctx: DesiredContext, text: Callable[[Any], str]
) -> dict[str, Any]:
    tenant = ctx.tenant_of(decl)
    fields: dict[str, Any] = {}
    if "label" in data:
        fields["label"] = empty_to_none(_maybe(text, data["label"]))
    if "templates" in data:
        names = tuple(text(t) for t in data["templates"] or [])
        for i, name in enumerate(names):
            _check_template_ref(decl, ("templates", i), tenant, name, ctx)
        fields["templates"] = names
    if "transport" in data:
        transport = data["transport"]
        transport = _maybe(text, transport)
        if transport is not None:
            _check_transport_ref(decl, ("transport",), transport, ctx)
        fields["transport"] = transport
    prepared = ctx.prepared.get(id(decl))
    fields.update(sip_sections(data, text) if prepared is None else prepared)
    return fields


def _maybe(text: Callable[[Any], str], value: Any) -> str | None:
    return None if value is None else text(value)


def _fold_shortcuts(
    fields: dict[str, Any], data: Mapping[str, Any], text: Callable[[Any], str]
) -> None:
    """`headers`/`match_header` and their long forms become the same normalised fields."""
    headers: list[tuple[str, str]] = []
    if "endpoint" in fields:
        fields["endpoint"], found = split_headers(fields["endpoint"])
        headers += found
    if "headers" in data:
        headers += [(str(k), text(v)) for k, v in (data["headers"] or {}).items()]
    if "endpoint" in fields or "headers" in data:
        fields["headers"] = options(headers)
    match_header: str | None = None
    if "identify" in fields:
        fields["identify"], match_header = split_match_header(fields["identify"])
    if data.get("match_header"):
        match_header = text(data["match_header"])
    if "identify" in fields or "match_header" in data:
        fields["match_header"] = match_header
    if "endpoint" in fields:
        if match_header is not None:
            fields["endpoint"] = with_identify_by_header(fields["endpoint"])
        fields["identify_by_header"] = identify_by_has_header(fields["endpoint"])
    elif match_header is not None:
        fields["identify_by_header"] = True


def with_identify_by_header(endpoint: Options) -> Options:
    """The endpoint section with `header` first in `identify_by` (added if absent)."""
    if identify_by_has_header(endpoint):
        return endpoint
    values = [v for k, v in endpoint if k == "identify_by"]
    rest = [(k, v) for k, v in endpoint if k != "identify_by"]
    current = values[-1] if values else DEFAULT_IDENTIFY_BY
    return options([*rest, ("identify_by", f"header,{current}")])


def _check_template_ref(
    decl: Any, path: tuple[str | int, ...], tenant: str, name: str, ctx: DesiredContext
) -> None:
    key = (tenant if name in TENANT_TEMPLATES else "", name)
    if key in ctx.declared_templates or key in ctx.index.template_uuids:
        return
    ctx.problem(decl, path, f"unknown SIP template '{name}': not declared and not on the PBX")


def _check_transport_ref(
    decl: Any, path: tuple[str | int, ...], name: str, ctx: DesiredContext
) -> None:
    if name not in ctx.declared_transports and name not in ctx.index.transport_uuids:
        ctx.problem(decl, path, f"unknown transport '{name}': not declared and not on the PBX")


def _desired_template(decl: Any, ctx: DesiredContext) -> Resource:
    tenant = ctx.tenant_of(decl)
    return Resource.create(
        ResourceKey("sip_templates", decl.name, tenant),
        template_identity(tenant, decl.name),
        _desired_sip_fields(decl, decl.data or {}, ctx, ctx.texter(decl)),
        origin=decl.location,
    )


def _desired_trunk(decl: Any, ctx: DesiredContext) -> Resource:
    data = decl.data or {}
    text = ctx.texter(decl)
    trunk_type = str(data.get("type", "sip"))
    fields: dict[str, Any] = {"type": trunk_type}
    if trunk_type == "sip":
        fields.update(_desired_sip_fields(decl, data, ctx, text))
        identity = trunk_identity("sip", decl.name)
    elif trunk_type == "iax":
        if "host" in data:
            fields["host"] = _maybe(text, data["host"])
        if "peer_type" in data:
            fields["peer_type"] = data["peer_type"]
        if "options" in data:
            fields["options"] = strip_iax_defaults(section_options(data["options"], text))
        identity = trunk_identity("iax", decl.name)
    else:
        fields["interface"] = text(data.get("interface", ""))
        if "interface_suffix" in data:
            fields["interface_suffix"] = empty_to_none(_maybe(text, data["interface_suffix"]))
        if "enabled" in data:
            fields["enabled"] = bool(data["enabled"])
        identity = trunk_identity("custom", fields["interface"])
    if "context" in data:
        fields["context"] = _resolve_context(
            decl, _maybe(text, data["context"]), ctx, kind="incall"
        )
    if "outgoing_caller_id_format" in data:
        fields["outgoing_caller_id_format"] = data["outgoing_caller_id_format"]
    return Resource.create(_key(decl, ctx), identity, fields, origin=decl.location)


def _resolve_context(
    decl: Any,
    wanted: Any,
    ctx: DesiredContext,
    *,
    kind: str,
    path: tuple[str | int, ...] = ("context",),
) -> str | None:
    if wanted is None:
        return None
    by_name, by_label = ctx.index.contexts_called(ctx.tenant_of(decl), wanted)
    if len(by_label) > 1:
        by_label = [c for c in by_label if c.get("type") == kind] or by_label
    found = by_name or by_label
    if len(found) == 1:
        return str(found[0]["name"])
    if not found:
        ctx.problem(decl, path, f"unknown context '{wanted}' in tenant {ctx.tenant_of(decl)}")
    else:
        names = ", ".join(sorted(c["name"] for c in found))
        ctx.problem(decl, path, f"context label '{wanted}' is ambiguous ({names}); use the name")
    return None


def _default_outcall_context(
    decl: Any, ctx: DesiredContext, path: tuple[str | int, ...]
) -> str | None:
    contexts = [
        c for c in ctx.index.contexts.get(ctx.tenant_of(decl), []) if c.get("type") == "outcall"
    ]
    if len(contexts) == 1:
        return str(contexts[0]["name"])
    if not contexts:
        ctx.problem(decl, path, "the tenant has no outcall context; set `context`")
    else:
        names = ", ".join(sorted(c["name"] for c in contexts))
        ctx.problem(decl, path, f"the tenant has several outcall contexts ({names}); set `context`")
    return None


def _desired_outcall(decl: Any, ctx: DesiredContext) -> Resource:
    data = decl.data or {}
    text = ctx.texter(decl)
    fields: dict[str, Any] = {}
    for name in ("internal_caller_id", "enabled"):
        if name in data:
            fields[name] = bool(data[name])
    for name in ("description", "preprocess_subroutine"):
        if name in data:
            fields[name] = empty_to_none(_maybe(text, data[name]))
    if "ring_time" in data:
        fields["ring_time"] = data["ring_time"] or 0
    if "trunks" in data:
        trunks = tuple(text(t) for t in data["trunks"] or [])
        for i, handle in enumerate(trunks):
            if handle not in ctx.declared_trunks and handle not in ctx.index.trunk_ids:
                ctx.problem(
                    decl,
                    ("trunks", i),
                    f"unknown trunk '{handle}': not declared and not on the PBX",
                )
        fields["trunks"] = trunks
    if "patterns" in data:
        fields["patterns"] = tuple(
            sorted(
                _desired_pattern(decl, i, p, ctx, text)
                for i, p in enumerate(data["patterns"] or [])
            )
        )
    return Resource.create(_key(decl, ctx), ("outcall", decl.name), fields, origin=decl.location)


def _desired_pattern(
    decl: Any, i: int, data: Mapping[str, Any], ctx: DesiredContext, text: Callable[[Any], str]
) -> Pattern:
    path: tuple[str | int, ...] = ("patterns", i)
    if data.get("context") is not None:
        context = _resolve_context(
            decl, text(data["context"]), ctx, kind="outcall", path=(*path, "context")
        )
    else:
        context = _default_outcall_context(decl, ctx, path)
    return Pattern(
        context=context or "",
        exten=text(data["exten"]),
        caller_id=empty_to_none(_maybe(text, data.get("caller_id"))),
        strip_digits=int(data.get("strip_digits") or 0),
        prefix=empty_to_none(_maybe(text, data.get("prefix"))),
        external_prefix=empty_to_none(_maybe(text, data.get("external_prefix"))),
    )


def _desired_user(decl: Any, ctx: DesiredContext) -> Resource | None:
    user = ctx.index.find_user(decl.name)
    if user is None:
        ctx.problem(
            decl, (), f"user '{decl.name}' not found on the PBX (by uuid, email or username)"
        )
        return None
    data = decl.data or {}
    fields = {}
    if "outgoing_caller_id" in data:
        text = ctx.texter(decl)
        fields["outgoing_caller_id"] = user_caller_id(_maybe(text, data["outgoing_caller_id"]))
    return Resource.create(
        ResourceKey("users", decl.name, user["tenant_uuid"]),
        ("user", user["uuid"]),
        fields,
        origin=decl.location,
    )


def _user_keys(users: Iterable[Mapping[str, Any]]) -> tuple[dict[str, Mapping[str, Any]], ...]:
    """The first user of each uuid, lower-cased email and username (``find_user``'s keys)."""
    keys: tuple[dict[str, Mapping[str, Any]], ...] = ({}, {}, {})
    for user in users:
        keys[0].setdefault(user.get("uuid") or "", user)
        keys[1].setdefault((user.get("email") or "").lower(), user)
        keys[2].setdefault(user.get("username") or "", user)
    return keys


def find_user(users: Iterable[Mapping[str, Any]], ref: str) -> Mapping[str, Any] | None:
    """A user by uuid, email (case-insensitive) or username."""
    users = list(users)
    lowered = ref.lower()
    for field_name, wanted in (("uuid", ref), ("email", lowered), ("username", ref)):
        for user in users:
            value = user.get(field_name) or ""
            if (value.lower() if field_name == "email" else value) == wanted:
                return user
    return None

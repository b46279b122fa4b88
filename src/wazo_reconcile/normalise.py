"""Normalise stage: live confd data and the desired YAML both become model `Resource`s.

Everything that would otherwise show up as a false change is folded here, on both sides:
option order, server defaults (IAX options), ``null``/``""`` equivalences, YAML booleans and
numbers, the `headers`/`match_header` shortcuts, names instead of uuids/ids.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from wazo_reconcile.errors import Problem
from wazo_reconcile.live import LiveIndex, LiveState, TrunkIdentity, trunk_identity
from wazo_reconcile.model import (
    DEFAULT_TEMPLATES,
    SIP_SECTIONS,
    TWILIO_TEMPLATE,
    Options,
    Pattern,
    Resource,
    ResourceKey,
    empty_to_none,
    options,
)
from wazo_reconcile.registers import desired_register, live_register
from wazo_reconcile.shapes import OptionList, Outcall, SipBody, Transport, User
from wazo_reconcile.stack import Declaration, data_of, format_path, option_text
from wazo_reconcile.suggest import suggestions

YamlPath = tuple[str | int, ...]  # a place inside a declaration

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


def live_options(raw: OptionList | None) -> Options:
    """A confd option list (``[[key, value], ...]``) in canonical form."""
    return options((str(k), str(v)) for k, v in raw or ())


def identify_by_has_header(endpoint: Iterable[tuple[str, str]]) -> bool:
    values = [v for k, v in endpoint if k == "identify_by"]
    return bool(values) and "header" in [p.strip() for p in values[-1].split(",")]


def strip_iax_defaults(pairs: Iterable[tuple[str, str]]) -> Options:
    return options((k, v) for k, v in pairs if _IAX_DEFAULTS.get(k) != v)


def template_identity(tenant: str, name: str) -> tuple[str, ...]:
    # The per-tenant default templates are one per tenant; other names are instance-wide.
    return ("template", tenant if name in DEFAULT_TEMPLATES else "", name)


# --------------------------------------------------------------------------- live side


def normalise_live(live: LiveState, index: LiveIndex) -> list[Resource]:
    """Every live object we can manage, as model resources (in no particular order)."""
    resources: list[Resource] = []
    resources += _live_pjsip(live)
    resources += [_live_transport(t) for t in live.transports]
    resources += [_live_template(t, index) for t in live.sip_templates]
    resources += _live_trunks(live, index)
    resources += [_live_outcall(o, index) for o in live.outcalls]
    resources += [_live_user(u) for u in live.users]
    return resources


def _live_pjsip(live: LiveState) -> list[Resource]:
    return [
        Resource.create(
            ResourceKey("pjsip", section), ("pjsip", section), {"options": options(values.items())}
        )
        for section, values in (("global", live.pjsip_global), ("system", live.pjsip_system))
        if values is not None
    ]


def _live_transport(transport: Transport) -> Resource:
    return Resource.create(
        ResourceKey("transports", transport["name"]),
        ("transport", transport["name"]),
        {"options": live_options(transport.get("options"))},
        remote={"uuid": transport["uuid"]},
    )


def sip_fields(body: SipBody, index: LiveIndex) -> dict[str, object]:
    """The comparable fields of a live SIP endpoint or template."""
    fields: dict[str, object] = {"label": empty_to_none(body.get("label"))}
    fields["templates"] = tuple(index.template_ref(t["uuid"]) for t in body.get("templates") or [])
    transport = body.get("transport")
    fields["transport"] = index.transport_names.get(transport["uuid"]) if transport else None
    fields.update(live_sections(body))
    return fields


def live_sections(body: SipBody) -> dict[str, object]:
    """The option sections of a live SIP endpoint or template, `headers`/`match_header`
    split out."""
    raw = cast(Mapping[str, OptionList | None], body)
    sections = {s: live_options(raw.get(f"{s}_section_options")) for s in SIP_SECTIONS}
    endpoint, headers = split_headers(sections["endpoint"])
    identify, match_header = split_match_header(sections["identify"])
    return {
        **sections,
        "endpoint": endpoint,
        "headers": headers,
        "identify": identify,
        "match_header": match_header,
        "identify_by_header": identify_by_has_header(endpoint),
    }


def _live_template(template: SipBody, index: LiveIndex) -> Resource:
    tenant, name = index.template_names[template["uuid"]]
    # twilio_trunk has no pointer on the tenant; confd creates it with that label.
    is_default = template["uuid"] in index.tenant_template_names(tenant) or (
        template.get("label") == TWILIO_TEMPLATE and template.get("name") != TWILIO_TEMPLATE
    )
    return Resource.create(
        ResourceKey("sip_templates", name, tenant),
        template_identity(tenant, name),
        sip_fields(template, index),
        remote={"uuid": template["uuid"]},
        default_object=is_default,
    )


def _live_trunks(live: LiveState, index: LiveIndex) -> list[Resource]:
    sip = {e["uuid"]: e for e in live.endpoints_sip}
    iax = {e["id"]: e for e in live.endpoints_iax}
    custom = {e["id"]: e for e in live.endpoints_custom}
    registers = {r["id"]: r for r in live.registers_iax or ()}
    found = []
    for trunk in live.trunks:
        tenant = trunk["tenant_uuid"]
        remote: dict[str, object] = {"trunk_id": trunk["id"]}
        fields: dict[str, object]
        iax_ref, custom_ref = trunk.get("endpoint_iax"), trunk.get("endpoint_custom")
        if sip_ref := trunk.get("endpoint_sip"):
            # not read for a trunk the stack does not declare: then only its reference
            sip_ep = sip.get(sip_ref["uuid"])
            fields = {"type": "sip", **(sip_fields(sip_ep, index) if sip_ep else {})}
            name = (sip_ep or sip_ref)["name"]
            identity = trunk_identity("sip", name)
            remote["endpoint_uuid"] = sip_ref["uuid"]
        elif iax_ref and iax_ref["id"] in iax:
            iax_ep = iax[iax_ref["id"]]
            fields = {
                "type": "iax",
                "host": iax_ep.get("host"),
                "peer_type": iax_ep.get("type"),
                "options": strip_iax_defaults(live_options(iax_ep.get("options"))),
            }
            identity, name = trunk_identity("iax", iax_ep["name"]), iax_ep["name"]
            remote["endpoint_id"] = iax_ep["id"]
            if live.registers_readable:
                register = registers.get((trunk.get("register_iax") or {}).get("id", -1))
                fields["register"] = live_register(register) if register is not None else ()
                if register is not None:
                    remote["register_id"] = register["id"]
        elif custom_ref and custom_ref["id"] in custom:
            custom_ep = custom[custom_ref["id"]]
            fields = {
                "type": "custom",
                "interface": custom_ep["interface"],
                "interface_suffix": empty_to_none(custom_ep.get("interface_suffix")),
                "enabled": custom_ep.get("enabled", True),
            }
            identity = trunk_identity("custom", custom_ep["interface"])
            name = index.trunk_handles[trunk["id"]]
            remote["endpoint_id"] = custom_ep["id"]
        else:
            fields = {"type": "none"}
            identity, name = trunk_identity("none", str(trunk["id"])), f"#{trunk['id']}"
        fields["context"] = trunk.get("context")
        fields["outgoing_caller_id_format"] = trunk.get("outgoing_caller_id_format")
        found.append(
            Resource.create(ResourceKey("trunks", name, tenant), identity, fields, remote=remote)
        )
    return found


def _live_outcall(outcall: Outcall, index: LiveIndex) -> Resource:
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
    fields: dict[str, object] = {
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


def user_caller_id(value: object) -> str | None:
    # confd stores null as "" and reads it back as null: one value. It is kept apart from
    # "default": wazo-agid applies the pattern's caller ID only for the exact value "default".
    return None if value in (None, "") else str(value)


def _live_user(user: User) -> Resource:
    return Resource.create(
        ResourceKey(
            "users", user.get("email") or user.get("username") or user["uuid"], user["tenant_uuid"]
        ),
        ("user", user["uuid"]),
        {"outgoing_caller_id": user_caller_id(user.get("outgoing_caller_id"))},
        remote={"uuid": user["uuid"]},
    )


# ------------------------------------------------------------------------ desired side

Text = Callable[[object], str]  # a YAML scalar as the text sent to confd
Expand = Callable[[str, Declaration], str]  # secret references of a declaration's text resolved


@dataclass
class DesiredContext:
    """What resolving the desired state needs besides the YAML: the live index and secrets."""

    index: LiveIndex
    default_tenant: str
    expand: Expand
    declared_trunks: set[str] = field(default_factory=set)
    declared_templates: set[tuple[str, str]] = field(default_factory=set)
    declared_transports: set[str] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)
    # Wazo-owned declarations whose sections are exact all the same (`policy.authoritative`)
    exact: Callable[[Declaration], bool] = lambda _decl: False
    shown: Callable[[str], str] = str  # a tenant's UUID as messages show it (`Stack.tenant_shown`)

    def problem(self, decl: Declaration, path: YamlPath, message: str) -> None:
        where = format_path((decl.kind, decl.name, *path))
        self.problems.append(Problem(decl.locate(*path), where, message))

    def tenant_of(self, decl: Declaration) -> str:
        return decl.tenant or self.default_tenant

    def texter(self, decl: Declaration) -> Text:
        return texter(self.expand, decl)


def texter(expand: Expand, decl: Declaration) -> Text:
    """A YAML scalar of ``decl`` as the string sent to confd, secret references resolved."""

    def text(value: object) -> str:
        found = option_text(value)
        return expand(found, decl) if "${" in found else found

    return text


def declared_handles(
    declarations: Iterable[Declaration], expand: Expand
) -> dict[TrunkIdentity, str]:
    """The stack's name of each custom trunk, by its identity (its interface): the live index
    names the trunks as the stack does."""
    handles = {}
    for decl in declarations:
        data = data_of(decl)
        if decl.kind == "trunks" and data.get("type") == "custom":
            interface = texter(expand, decl)(data.get("interface", ""))
            handles[trunk_identity("custom", interface)] = decl.name
    return handles


def normalise_desired(declarations: Sequence[Declaration], ctx: DesiredContext) -> list[Resource]:
    """Declarations (from `config.Stack`) as model resources; reference problems go to `ctx`."""
    for decl in declarations:
        if decl.kind == "trunks":
            ctx.declared_trunks.add(decl.name)
        elif decl.kind == "sip_templates":
            _, scope, name = template_identity(ctx.tenant_of(decl), decl.name)
            ctx.declared_templates.add((scope, name))
        elif decl.kind == "transports":
            ctx.declared_transports.add(decl.name)
    builders: dict[str, Callable[[Declaration, DesiredContext], Resource | None]] = {
        "pjsip": _desired_options,
        "transports": _desired_options,
        "sip_templates": _desired_template,
        "trunks": _desired_trunk,
        "outcalls": _desired_outcall,
        "users": _desired_user,
    }
    resources = (builders[decl.kind](decl, ctx) for decl in declarations)
    return [resource for resource in resources if resource is not None]


def section_options(value: Any, text: Text) -> Options:
    """An option section as written in YAML (a mapping, lists for repeated keys, or
    [key, value] pairs) in canonical form; a key set to null is left out (`removed_keys`)."""
    if value is None:
        return ()
    if isinstance(value, Mapping):
        return options(
            (str(key), text(one))
            for key, item in value.items()
            if item is not None
            for one in (item if isinstance(item, list) else [item])
        )
    return options((str(key), text(item)) for key, item in value if item is not None)


def removed_keys(value: Any) -> frozenset[str]:
    """The keys a section sets to null: to be removed from a section managed key by key."""
    if isinstance(value, Mapping):
        return frozenset(str(key) for key, item in value.items() if item is None)
    if isinstance(value, list):
        return frozenset(str(pair[0]) for pair in value if pair[1] is None)
    return frozenset()


def wazo_owned(kind: str, name: str) -> bool:
    """An object Wazo creates and owns: its declared sections are managed key by key."""
    return kind == "pjsip" or (kind == "sip_templates" and name in DEFAULT_TEMPLATES)


def sip_sections(data: Mapping[str, Any], text: Text) -> dict[str, object]:
    """The option sections of a SIP trunk or template declaration, the `headers` and
    `match_header` shortcuts and their long forms folded into the same normalised fields."""
    sections = {s: section_options(data[s], text) for s in SIP_SECTIONS if s in data}
    fields: dict[str, object] = dict(sections)
    endpoint, identify = sections.get("endpoint"), sections.get("identify")
    headers: list[tuple[str, str]] = []
    if endpoint is not None:
        endpoint, found = split_headers(endpoint)
        headers += found
    if "headers" in data:
        headers += [(str(k), text(v)) for k, v in (data["headers"] or {}).items() if v is not None]
    if endpoint is not None or "headers" in data:
        fields["headers"] = options(headers)
    match_header: str | None = None
    if identify is not None:
        fields["identify"], match_header = split_match_header(identify)
    if data.get("match_header"):
        match_header = text(data["match_header"])
    if identify is not None or "match_header" in data:
        fields["match_header"] = match_header
    if endpoint is not None:
        if match_header is not None:
            endpoint = with_identify_by_header(endpoint)
        fields["endpoint"] = endpoint
        fields["identify_by_header"] = identify_by_has_header(endpoint)
    elif match_header is not None:
        fields["identify_by_header"] = True
    return fields


def _key(decl: Declaration, ctx: DesiredContext) -> ResourceKey:
    return ResourceKey(decl.kind, decl.name, ctx.tenant_of(decl))


def _desired_options(decl: Declaration, ctx: DesiredContext) -> Resource:
    """A PJSIP section (Wazo-owned: managed key by key) or a transport: one option list."""
    pjsip = decl.kind == "pjsip"
    return Resource.create(
        ResourceKey(decl.kind, decl.name),
        ("pjsip" if pjsip else "transport", decl.name),
        {"options": section_options(decl.data, ctx.texter(decl))},
        origin=decl.location,
        merge={"options": removed_keys(decl.data)} if pjsip and not ctx.exact(decl) else None,
    )


def _desired_sip_fields(
    decl: Declaration, data: Mapping[str, Any], ctx: DesiredContext, text: Text
) -> dict[str, object]:
    tenant = ctx.tenant_of(decl)
    fields: dict[str, object] = {}
    if "label" in data:
        fields["label"] = empty_to_none(_maybe(text, data["label"]))
    if "templates" in data:
        names = tuple(text(t) for t in data["templates"] or [])
        for i, name in enumerate(names):
            _check_template_ref(decl, ("templates", i), tenant, name, ctx)
        fields["templates"] = names
    if "transport" in data:
        transport = _maybe(text, data["transport"])
        known = (ctx.declared_transports, ctx.index.transport_uuids)
        if transport is not None and all(transport not in names for names in known):
            message = f"unknown transport '{transport}': not declared and not on the PBX"
            ctx.problem(decl, ("transport",), message + nearest(transport, *known))
        fields["transport"] = transport
    fields.update(sip_sections(data, text))
    return fields


def _maybe(text: Text, value: object) -> str | None:
    return None if value is None else text(value)


def with_identify_by_header(endpoint: Options) -> Options:
    """The endpoint section with `header` first in `identify_by` (added if absent)."""
    if identify_by_has_header(endpoint):
        return endpoint
    values = [v for k, v in endpoint if k == "identify_by"]
    rest = [(k, v) for k, v in endpoint if k != "identify_by"]
    current = values[-1] if values else DEFAULT_IDENTIFY_BY
    return options([*rest, ("identify_by", f"header,{current}")])


def _check_template_ref(
    decl: Declaration, path: YamlPath, tenant: str, name: str, ctx: DesiredContext
) -> None:
    key = (tenant if name in DEFAULT_TEMPLATES else "", name)
    if key in ctx.declared_templates or key in ctx.index.template_uuids:
        return
    declared = (n for scope, n in ctx.declared_templates if scope in ("", tenant))
    live = (n for scope, n in ctx.index.template_uuids if scope in ("", tenant))
    message = f"unknown SIP template '{name}': not declared and not on the PBX"
    ctx.problem(decl, path, message + nearest(name, declared, live))


def nearest(name: str, declared: Iterable[str], live: Iterable[str]) -> str:
    """The "; did you mean …?" of a message, with the names closest to ``name`` in the stack
    and on the PBX (empty when none is close)."""
    in_stack = set(declared)
    close = suggestions(name, [*in_stack, *live], n=3)
    groups = (
        ([c for c in close if c in in_stack], "in the stack"),
        ([c for c in close if c not in in_stack], "on the PBX"),
    )
    shown = [
        " or ".join(f"'{c}'" for c in names) + f" ({where})" for names, where in groups if names
    ]
    return f"; did you mean {' or '.join(shown)}?" if shown else ""


def _desired_template(decl: Declaration, ctx: DesiredContext) -> Resource:
    tenant = ctx.tenant_of(decl)
    data = decl.data or {}
    merge = None
    if wazo_owned(decl.kind, decl.name) and not ctx.exact(decl):
        merge = {s: removed_keys(data[s]) for s in (*SIP_SECTIONS, "headers") if s in data}
    return Resource.create(
        ResourceKey("sip_templates", decl.name, tenant),
        _template_identity(decl, tenant, ctx),
        _desired_sip_fields(decl, data, ctx, ctx.texter(decl)),
        origin=decl.location,
        merge=merge,
    )


def _template_identity(decl: Declaration, tenant: str, ctx: DesiredContext) -> tuple[str, ...]:
    """A template's identity; the live name of a default template is that template, which the
    stack declares by its label (`global`…): a declaration by the live name is refused."""
    alias = ctx.index.default_template_names.get(decl.name)
    if alias is None or decl.name in DEFAULT_TEMPLATES:
        return template_identity(tenant, decl.name)
    owner, label = alias
    if (owner, label) not in ctx.declared_templates:  # else: two declarations of one object
        ctx.problem(
            decl,
            (),
            f"'{decl.name}' is the name of the default '{label}' template of tenant "
            f"{ctx.shown(owner)} "
            f"on the PBX: declare it as '{label}'",
        )
    return template_identity(owner, label)


def _desired_trunk(decl: Declaration, ctx: DesiredContext) -> Resource:
    data = decl.data or {}
    text = ctx.texter(decl)
    trunk_type = str(data.get("type", "sip"))
    fields: dict[str, object] = {"type": trunk_type}
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
        if "register" in data:
            fields["register"] = desired_register(data["register"], text)
        identity = trunk_identity("iax", decl.name)
    else:
        interface = fields["interface"] = text(data.get("interface", ""))
        if "interface_suffix" in data:
            fields["interface_suffix"] = empty_to_none(_maybe(text, data["interface_suffix"]))
        if "enabled" in data:
            fields["enabled"] = bool(data["enabled"])
        identity = trunk_identity("custom", interface)
    if "context" in data:
        fields["context"] = _resolve_context(
            decl, _maybe(text, data["context"]), ctx, kind="incall"
        )
    if "outgoing_caller_id_format" in data:
        fields["outgoing_caller_id_format"] = data["outgoing_caller_id_format"]
    return Resource.create(_key(decl, ctx), identity, fields, origin=decl.location)


def _resolve_context(
    decl: Declaration,
    wanted: str | None,
    ctx: DesiredContext,
    *,
    kind: str,
    path: YamlPath = ("context",),
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
        tenant = ctx.tenant_of(decl)
        known = [
            str(text)
            for c in ctx.index.contexts.get(tenant, ())
            for text in (c.get("name"), c.get("label"))
            if text
        ]
        message = f"unknown context '{wanted}' in tenant {ctx.shown(tenant)}"
        message += nearest(wanted, (), known)
        ctx.problem(decl, path, message)
    else:
        names = ", ".join(sorted(c["name"] for c in found))
        ctx.problem(decl, path, f"context label '{wanted}' is ambiguous ({names}); use the name")
    return None


def _default_outcall_context(decl: Declaration, ctx: DesiredContext, path: YamlPath) -> str | None:
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


def _desired_outcall(decl: Declaration, ctx: DesiredContext) -> Resource:
    data = decl.data or {}
    text = ctx.texter(decl)
    fields: dict[str, object] = {}
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
                message = f"unknown trunk '{handle}': not declared and not on the PBX"
                near = nearest(handle, ctx.declared_trunks, ctx.index.trunk_ids)
                ctx.problem(decl, ("trunks", i), message + near)
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
    decl: Declaration, i: int, data: Mapping[str, Any], ctx: DesiredContext, text: Text
) -> Pattern:
    path: YamlPath = ("patterns", i)
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


def _desired_user(decl: Declaration, ctx: DesiredContext) -> Resource | None:
    user = ctx.index.find_user(decl.name)
    if user is None:
        known = [str(u[k]) for u in ctx.index.users for k in ("username", "email") if u.get(k)]
        message = f"user '{decl.name}' not found on the PBX (by uuid, email or username)"
        ctx.problem(decl, (), message + nearest(decl.name, (), known))
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

"""Export stage: the live configuration as stack documents and YAML text (pure).

`export_documents(live)` is the inverse of the normaliser: it turns what `fetch_live` read into
documents of the DESIGN.md §3 format that round-trip — loaded back and planned against the same
PBX, they plan no change. It works on the normalised live model (`normalise_live`), so every
equivalence the plan relies on holds here too: IAX default options, the `headers` /
`match_header` shortcuts, names instead of uuids and ids.

What is left out, because the format's field authority leaves undeclared fields alone:
confd's POST defaults (outcall `enabled: true`, `internal_caller_id: false`, `ring_time: 0`;
trunk `outgoing_caller_id_format: +E164`; custom `enabled: true`; IAX `peer_type: friend`,
`host: dynamic`), empty option sections, SIP labels equal to the name, confd's default
templates, transports and PJSIP sections while they hold a fresh Wazo's content, and users
whose outgoing caller ID is the default (null). ``everything=True`` writes those too.

Secret values (`password`, `secret`, `md5_cred`, `auth_password` options) become
``${env:NAME}`` references; see `secret_env_names` for the naming rule.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import yaml
from yaml.emitter import Emitter, ScalarAnalysis

from wazo_reconcile.errors import UsageError
from wazo_reconcile.model import (
    SIP_SECTIONS,
    TENANT_TEMPLATES,
    Options,
    Pattern,
    Resource,
    options,
)
from wazo_reconcile.normalise import (
    DEFAULT_IDENTIFY_BY,
    LiveData,
    LiveIndex,
    header_set_var,
    identify_by_has_header,
    index_live,
    normalise_live,
    split_headers,
    split_match_header,
)
from wazo_reconcile.secrets import REF_PATTERN, is_secret_key

# Files in this order; each holds the documents of one kind (one per tenant).
EXPORT_KINDS = ("pjsip", "transports", "sip_templates", "trunks", "outcalls", "users", "policy")
INSTANCE_KINDS = frozenset({"pjsip", "transports"})

# A relative reference: the packaged schema has no `$id` to point editors at (see docs/export.md).
SCHEMA_REF = "schemas/stack.schema.json"

# What a fresh Wazo holds (docs/architecture.md, "the sandbox's fresh profile").
DEFAULT_PJSIP: Mapping[str, Options] = {
    "global": options(
        [("user_agent", "Wazo PBX"), ("endpoint_identifier_order", "auth_username,username,ip")]
    ),
    "system": (),
}
DEFAULT_TRANSPORTS: Mapping[str, Options] = {
    "transport-udp": options([("protocol", "udp"), ("bind", "0.0.0.0:5060")]),
    "transport-wss": options([("protocol", "wss"), ("bind", "0.0.0.0:5060")]),
}

# Keys written first in an option section (as people write them); the others sorted.
LEADING_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "transport": ("protocol", "bind"),
    "aor": ("contact",),
    "identify": ("match",),
    "registration": ("client_uri", "server_uri"),
    "auth": ("username", "password"),
    "outbound_auth": ("username", "password"),
    "registration_outbound_auth": ("username", "password"),
}
# Field order of one declaration (DESIGN.md §3 and examples/).
FIELD_ORDER = (
    "type",
    "interface",
    "interface_suffix",
    "enabled",
    "host",
    "peer_type",
    "label",
    "context",
    "outgoing_caller_id_format",
    "templates",
    "transport",
    "headers",
    "match_header",
    "options",
    "endpoint",
    "aor",
    "identify",
    "auth",
    "outbound_auth",
    "registration",
    "registration_outbound_auth",
)
SECTION_ORDER = tuple(f for f in FIELD_ORDER if f in SIP_SECTIONS)
SECRET_KIND_WORDS = {
    "pjsip": "PJSIP",
    "transports": "TRANSPORT",
    "sip_templates": "TEMPLATE",
    "trunks": "TRUNK",
}
FLOW_WIDTH = 64  # lists of scalars at most this wide are written [a, b]


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where and when the export was made, for the header comment (no secrets: a bare URL)."""

    source: str
    date: str | None = None
    tool: str = "wazo-reconcile"


@dataclass(frozen=True, slots=True)
class EnvVar:
    """An environment variable the exported stack needs: its name, where it is used, and the
    secret value it must hold. The value is for the caller to check or set; never print it."""

    name: str
    used_by: tuple[str, ...]
    value: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ExportDocument:
    """One YAML document: `data` is what it declares (`version`, `tenant`, the kind)."""

    kind: str
    tenant: str | None
    data: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """The YAML text per file (`<kind>.yaml`), the variables to set, notes, the number of
    declarations per kind, and what each document declares as plain data."""

    files: Mapping[str, str]
    env: tuple[EnvVar, ...]
    notes: tuple[str, ...]
    counts: Mapping[str, int]
    documents: tuple[ExportDocument, ...] = field(default=(), repr=False)

    @property
    def stream(self) -> str:
        """Every file's documents as one `---`-separated stream."""
        return "---\n".join(self.files.values())

    @property
    def total(self) -> int:
        return sum(self.counts.values())


# ---------------------------------------------------------------------------- the entry


def export_documents(
    live: LiveData,
    index: LiveIndex | None = None,
    resources: Sequence[Resource] | None = None,
    *,
    tenant: str | None = None,
    kinds: Iterable[str] = EXPORT_KINDS,
    include_secrets: bool = False,
    everything: bool = False,
    provenance: Provenance | None = None,
    schema_ref: str | None = None,
) -> ExportResult:
    """The live configuration as stack documents (pure; same input, byte-identical output).

    `tenant` restricts the export to one tenant (instance-wide kinds are then exported only
    for the token's own tenant); documents of the token's tenant have no `tenant:` line.
    `include_secrets` writes secret values instead of `${env:…}` references; `everything`
    also writes what equals confd's defaults. `index`/`resources` may be passed when the
    caller already normalised `live`.
    """
    return _export(
        live,
        index if index is not None else index_live(live),
        resources,
        _Request(tenant, tuple(kinds), include_secrets, everything, provenance, schema_ref),
    )


@dataclass(frozen=True)
class _Request:
    tenant: str | None
    kinds: tuple[str, ...]
    include_secrets: bool
    everything: bool
    provenance: Provenance | None
    schema_ref: str | None


def _export(
    live: LiveData, index: LiveIndex, resources: Sequence[Resource] | None, request: _Request
) -> ExportResult:
    resources = resources if resources is not None else normalise_live(live, index)
    scope = _Scope.of(live, index, request.tenant, request.everything)
    wanted = [
        k
        for k in EXPORT_KINDS
        if k in request.kinds and (scope.instance or k not in INSTANCE_KINDS)
    ]
    builder = _Builder(scope)
    entries = builder.build(builder.ordered([r for r in resources if r.key.kind in wanted]), wanted)
    # Every slot is known: each secret's variable can be named, then the files written.
    env = _assign_secrets(builder.slots, include_secrets=request.include_secrets)
    writer = _Writer(request.provenance, request.schema_ref or default_schema_ref())
    documents = writer.documents(wanted, entries, scope)
    files = writer.files(documents, entries, builder)
    builder.notes += _secret_notes(builder, files.values())
    counts = {k: sum(len(d.names) for d in documents if d.kind == k) for k in wanted}
    exported = tuple(
        ExportDocument(d.kind, d.doc_tenant, _document(d.kind, d.doc_tenant, items))
        for d, items in _with_entries(documents, entries)
    )
    return ExportResult(files, env, tuple(builder.notes), counts, exported)


@cache
def default_schema_ref() -> str:
    """The packaged schema's `$id` when it has one, else the relative `SCHEMA_REF`."""
    path = resources.files("wazo_reconcile").joinpath("schemas/stack.schema.json")
    schema = json.loads(path.read_text("utf-8"))
    return str(schema.get("$id") or SCHEMA_REF)


# ------------------------------------------------------------------------ scope, entries


@dataclass(frozen=True)
class _Scope:
    token_tenant: str
    tenants: tuple[str, ...]  # exported tenants, the token's first
    instance: bool  # instance-wide kinds exported
    index: LiveIndex
    everything: bool

    @classmethod
    def of(cls, live: LiveData, index: LiveIndex, tenant: str | None, everything: bool) -> _Scope:
        token = live.token_tenant
        if tenant is not None:
            if tenant not in live.tenants:
                visible = ", ".join(sorted(live.tenants)) or "none"
                raise UsageError(
                    f"tenant {tenant} is not visible to this token (visible: {visible})"
                )
            return cls(token, (tenant,), tenant == token, index, everything)
        others = sorted(t for t in live.tenants if t != token)
        return cls(token, (token, *others), True, index, everything)

    def doc_tenant(self, tenant: str) -> str | None:
        return None if tenant in ("", self.token_tenant) else tenant

    def outcall_context(self, tenant: str) -> str | None:
        found = [c for c in self.index.contexts.get(tenant, []) if c.get("type") == "outcall"]
        return str(found[0]["name"]) if len(found) == 1 else None


@dataclass
class _Entry:
    name: str
    body: Any
    comment: str | None = None
    secrets: bool = False


Entries = dict[str, dict[str, list[_Entry]]]  # kind -> tenant ("" instance-wide) -> entries


@dataclass
class _SecretSlot:
    """One secret value in the export, until `_assign_secrets` gives it its text."""

    kind: str
    owner: str  # the resource name
    tenant: str
    section: str | None
    key: str
    value: str
    text: str = ""
    env: str | None = None

    @property
    def path(self) -> str:
        parts = [self.kind, self.owner, *([self.section] if self.section else []), self.key]
        return ".".join(parts)


class _Builder:
    """Resources -> entries (plain YAML values with style markers and secret slots, whose text
    `_assign_secrets` gives once every slot is known)."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.slots: list[_SecretSlot] = []
        self.notes: list[str] = []
        self.left_out: list[str] = []  # default objects not written (kind/name)
        self.option_values: set[str] = set()  # non-secret option values written
        self.special_templates: dict[str, str] = {}  # default template name -> first tenant
        self.user_refs = _UserRefs(scope.index.users)

    def ordered(self, found: Sequence[Resource]) -> list[Resource]:
        """The resources in scope, in export order: by kind, tenant (the token's first), name."""
        tenants = {tenant: i for i, tenant in enumerate(("", *self.scope.tenants))}

        def order(resource: Resource) -> tuple[int, int, tuple[Any, ...]]:
            key = resource.key
            return (EXPORT_KINDS.index(key.kind), tenants.get(key.tenant, -1), _natural(key.name))

        return sorted((r for r in found if self._in_scope(r.key.kind, r.key.tenant)), key=order)

    def build(self, ordered: Sequence[Resource], kinds: Sequence[str]) -> Entries:
        """The entries of `ordered`, by kind and tenant."""
        entries: Entries = {kind: {} for kind in kinds}
        for resource in ordered:
            entry = self.entry(resource)
            if entry is not None:
                entries[resource.key.kind].setdefault(resource.key.tenant, []).append(entry)
        return entries

    def entry(self, resource: Resource) -> _Entry | None:
        kind = resource.key.kind
        if kind == "trunks":
            return self.trunk(resource)
        if kind == "outcalls":
            return self.outcall(resource)
        if kind == "users":
            return self.user(resource)
        if kind == "sip_templates":
            return self.template(resource)
        if kind == "transports":
            return self.transport(resource)
        return self.pjsip(resource)

    def add_slot(self, slot: _SecretSlot) -> None:
        self.slots.append(slot)

    def _in_scope(self, kind: str, tenant: str) -> bool:
        if kind in INSTANCE_KINDS:
            return self.scope.instance
        return tenant in self.scope.tenants

    # -- instance-wide kinds

    def pjsip(self, resource: Resource) -> _Entry | None:
        section = resource.key.name
        pairs: Options = resource.fields["options"]
        if not self.scope.everything and pairs == DEFAULT_PJSIP.get(section):
            return None
        owner = _Owner(self, resource)
        return _Entry(section, owner.section(pairs, section), secrets=owner.used)

    def transport(self, resource: Resource) -> _Entry | None:
        name = resource.key.name
        pairs: Options = resource.fields["options"]
        if not self.scope.everything and DEFAULT_TRANSPORTS.get(name) == pairs:
            self.left_out.append(str(resource.key))
            return None
        owner = _Owner(self, resource)
        body = owner.section(pairs, "transport", with_section=False)
        return _Entry(name, body, secrets=owner.used)

    # -- SIP templates and trunks

    def template(self, resource: Resource) -> _Entry | None:
        default = _default_template_fields(resource)
        owner = _Owner(self, resource)
        if default is None:
            return _Entry(resource.key.name, self.sip_body(resource, owner), secrets=owner.used)
        if not self.scope.everything and _same_sip(resource.fields, default):
            return None
        if not self._first_declaration(resource):
            return None
        if self.scope.everything:
            body = self.sip_body(resource, owner, keep_label=True)
        else:
            body = self.sip_body(resource, owner, default=default)
        comment = (
            "confd's default template: only what differs from its default content is "
            "declared, and a declared section replaces the template's whole section"
        )
        return _Entry(resource.key.name, body, comment, owner.used)

    def _first_declaration(self, resource: Resource) -> bool:
        # The loader takes default template names other than `global` as instance-wide:
        # a second tenant's `webrtc` cannot be declared next to the first one's.
        name = resource.key.name
        if name == "global" or name not in TENANT_TEMPLATES:
            return True
        first = self.special_templates.setdefault(name, resource.key.tenant)
        if first != resource.key.tenant:
            self.notes.append(
                f"sip_templates.{name} of tenant {resource.key.tenant} differs from confd's "
                f"default but was left out: the format allows one '{name}' per stack "
                f"(tenant {first}'s is exported)"
            )
            return False
        return True

    def sip_body(
        self,
        resource: Resource,
        owner: _Owner,
        *,
        default: Mapping[str, Any] | None = None,
        keep_label: bool = False,
    ) -> dict[str, Any]:
        fields = resource.fields
        everything = self.scope.everything
        body: dict[str, Any] = {}
        label = fields.get("label")
        if default is not None:
            if label != default.get("label"):
                body["label"] = label
        elif label is not None and (everything or keep_label or label != resource.key.name):
            body["label"] = label
        templates = tuple(fields.get("templates") or ())
        transport = fields.get("transport")
        if default is None:
            if templates or everything:
                body["templates"] = _seq(templates)
            if transport is not None or everything:
                body["transport"] = transport
        else:
            if _differs(fields, default, "templates"):
                body["templates"] = _seq(templates)
            if _differs(fields, default, "transport"):
                body["transport"] = transport
        body.update(self.sip_sections(resource, owner, default))
        return _ordered(body, FIELD_ORDER)

    def sip_sections(
        self, resource: Resource, owner: _Owner, default: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        fields = resource.fields
        wanted = {
            s: bool(fields[s]) if default is None else _differs(fields, default, s)
            for s in (*SIP_SECTIONS, "headers", "match_header")
        }
        headers: Options = fields["headers"]
        match_header: str | None = fields["match_header"]
        endpoint: Options = fields["endpoint"]
        # A declared endpoint or identify brings its shortcut along (the desired side folds
        # both forms into one field), and one that only differs by it is declared too.
        wanted["headers"] = bool(headers) and (wanted["headers"] or wanted["endpoint"])
        wanted["match_header"] = match_header is not None and (
            wanted["match_header"] or wanted["identify"]
        )
        if headers and not _unique_keys(headers):
            # The same header twice cannot be a mapping: keep the set_var form.
            endpoint = options([*endpoint, *(header_set_var(k, v) for k, v in headers)])
            wanted["endpoint"] = wanted["endpoint"] or wanted["headers"]
            wanted["headers"] = False
        if wanted["match_header"]:
            endpoint = self._without_shortcut_identify_by(resource, endpoint)
        found: dict[str, Any] = {}
        if wanted["headers"]:
            found["headers"] = {k: v for k, v in headers}
        if wanted["match_header"]:
            found["match_header"] = match_header
        for section in SECTION_ORDER:
            pairs = endpoint if section == "endpoint" else fields[section]
            if wanted[section] and (pairs or default is not None):
                found[section] = owner.section(pairs, section)
        return found

    def _without_shortcut_identify_by(self, resource: Resource, endpoint: Options) -> Options:
        """`match_header` puts `header` in identify_by: the shortcut's own value goes unsaid."""
        if not identify_by_has_header(endpoint):
            self.notes.append(
                f"{resource.key.kind}.{resource.key.name}: identify has match_header but the "
                "endpoint's identify_by lacks `header`; the format cannot say that, so "
                "`reconcile plan` will propose adding `header` to identify_by"
            )
            return endpoint
        shortcut = ("identify_by", f"header,{DEFAULT_IDENTIFY_BY}")
        if shortcut in endpoint:
            return tuple(p for p in endpoint if p != shortcut)
        return endpoint

    def trunk(self, resource: Resource) -> _Entry | None:
        kind = resource.type
        if kind == "none":
            self.notes.append(
                f"trunk id {resource.remote.get('trunk_id')} (tenant {resource.key.tenant}) "
                "has no endpoint: it cannot be named in YAML and was left out"
            )
            return None
        owner = _Owner(self, resource)
        if kind == "sip":
            body = self.sip_body(resource, owner)
        elif kind == "iax":
            body = self.iax_body(resource, owner)
        else:
            body = self.custom_body(resource)
        body.update(self.trunk_common(resource))
        return _Entry(resource.key.name, _ordered(body, FIELD_ORDER), secrets=owner.used)

    def trunk_common(self, resource: Resource) -> dict[str, Any]:
        fields, everything = resource.fields, self.scope.everything
        body: dict[str, Any] = {}
        if fields.get("context") is not None or everything:
            body["context"] = fields.get("context")
        caller_id_format = fields.get("outgoing_caller_id_format")
        if caller_id_format not in (None, "+E164") or everything:
            body["outgoing_caller_id_format"] = caller_id_format
        return body

    def iax_body(self, resource: Resource, owner: _Owner) -> dict[str, Any]:
        fields, everything = resource.fields, self.scope.everything
        body: dict[str, Any] = {"type": "iax"}
        if fields.get("host") not in (None, "dynamic") or everything:
            body["host"] = fields.get("host")
        if fields.get("peer_type") not in (None, "friend") or everything:
            body["peer_type"] = fields.get("peer_type")
        if fields["options"]:
            body["options"] = owner.section(fields["options"], "options", with_section=False)
        return body

    def custom_body(self, resource: Resource) -> dict[str, Any]:
        fields, everything = resource.fields, self.scope.everything
        body: dict[str, Any] = {"type": "custom", "interface": fields["interface"]}
        if fields.get("interface_suffix") is not None or everything:
            body["interface_suffix"] = fields.get("interface_suffix")
        if fields.get("enabled") is False or everything:
            body["enabled"] = bool(fields.get("enabled"))
        return body

    # -- outcalls and users

    def outcall(self, resource: Resource) -> _Entry:
        fields, everything = resource.fields, self.scope.everything
        body: dict[str, Any] = {}
        for name, default in (
            ("description", None),
            ("internal_caller_id", False),
            ("enabled", True),
            ("ring_time", 0),
            ("preprocess_subroutine", None),
        ):
            if fields.get(name) != default or everything:
                body[name] = fields.get(name)
        trunks = [t for t in fields["trunks"] if not t.startswith("#")]
        if len(trunks) != len(fields["trunks"]):
            self.notes.append(
                f"outcalls.{resource.key.name}: a trunk without endpoint was left out of its "
                "trunks (it cannot be named in YAML)"
            )
        body["trunks"] = _seq(trunks)
        context = self.scope.outcall_context(resource.key.tenant)
        body["patterns"] = [self.pattern(p, context) for p in fields["patterns"]]
        return _Entry(resource.key.name, body)

    def pattern(self, pattern: Pattern, default_context: str | None) -> dict[str, Any]:
        body: dict[str, Any] = {"exten": pattern.exten}
        if pattern.context != default_context:
            body["context"] = pattern.context
        if pattern.strip_digits:
            body["strip_digits"] = pattern.strip_digits
        for name in ("prefix", "external_prefix", "caller_id"):
            value = getattr(pattern, name)
            if value is not None:
                body[name] = value
        return body

    def user(self, resource: Resource) -> _Entry | None:
        caller_id = resource.fields.get("outgoing_caller_id")
        if caller_id is None and not self.scope.everything:
            return None
        ref = self.user_refs.ref(str(resource.remote["uuid"]))
        return _Entry(ref, _Inline({"outgoing_caller_id": caller_id}))


class _UserRefs:
    """The first of email, username, uuid that finds a user back (as `find_user` searches)."""

    def __init__(self, users: Sequence[Mapping[str, Any]]) -> None:
        self.users = {str(u["uuid"]): u for u in users}
        self.by_email: dict[str, str] = {}
        self.by_username: dict[str, str] = {}
        for user in users:
            if user.get("email"):
                self.by_email.setdefault(str(user["email"]).lower(), str(user["uuid"]))
            if user.get("username"):
                self.by_username.setdefault(str(user["username"]), str(user["uuid"]))

    def finds(self, ref: str) -> str | None:
        if ref in self.users:
            return ref
        return self.by_email.get(ref.lower()) or self.by_username.get(ref)

    def ref(self, uuid: str) -> str:
        user = self.users.get(uuid, {})
        for ref in (user.get("email"), user.get("username")):
            if ref and self.finds(str(ref)) == uuid:
                return str(ref)
        return uuid


class _Owner:
    """Builds the option sections of one resource, turning secret values into slots."""

    def __init__(self, builder: _Builder, resource: Resource) -> None:
        self.builder = builder
        self.resource = resource
        self.used = False

    def section(self, pairs: Options, section: str, *, with_section: bool = True) -> dict[str, Any]:
        grouped: dict[str, list[Any]] = {}
        for key, value in _ordered_pairs(pairs, section):
            grouped.setdefault(key, []).append(self.value(key, value, section, with_section))
        return {k: v[0] if len(v) == 1 else _seq(v) for k, v in grouped.items()}

    def value(self, key: str, value: str, section: str, with_section: bool) -> Any:
        if not is_secret_key(key):
            self.builder.option_values.add(value)
            return _option_word(value)
        key_ = self.resource.key
        slot = _SecretSlot(
            key_.kind, key_.name, key_.tenant, section if with_section else None, key, value
        )
        self.builder.add_slot(slot)
        self.used = True
        return slot


def _natural(name: str) -> tuple[Any, ...]:
    """`gen-2` before `gen-10`; ties broken by the name itself (total, deterministic)."""
    parts = re.split(r"(\d+)", name)
    return (*((int(p), p) if p.isdigit() else (-1, p) for p in parts), name)


def _ordered_pairs(pairs: Options, section: str) -> Sequence[tuple[str, str]]:
    # `pairs` is sorted (model.options): only the leading keys move to the front.
    leading = LEADING_OPTIONS.get(section, ())
    if not leading:
        return pairs
    first = [p for key in leading for p in pairs if p[0] == key]
    return [*first, *(p for p in pairs if p[0] not in leading)] if first else pairs


def _ordered(body: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    rank = {key: i for i, key in enumerate(order)}
    return {k: body[k] for k in sorted(body, key=lambda k: rank.get(k, len(order)))}


def _unique_keys(pairs: Options) -> bool:
    return len({k for k, _ in pairs}) == len(pairs)


def _differs(fields: Mapping[str, Any], default: Mapping[str, Any] | None, name: str) -> bool:
    return default is not None and fields.get(name) != default.get(name)


def _same_sip(fields: Mapping[str, Any], default: Mapping[str, Any]) -> bool:
    return all(fields.get(k) == v for k, v in default.items())


# ------------------------------------------------------------------ default templates


@cache
def _default_templates() -> dict[str, dict[str, Any]]:
    """confd's default templates by label, as normalised SIP fields (sandbox seed data)."""
    path = resources.files("wazo_reconcile").joinpath("sandbox/data/default_templates.json")
    found = {}
    for template in json.loads(path.read_text("utf-8"))["templates"]:
        fields: dict[str, Any] = {
            "label": template["label"],
            "templates": tuple(template["templates"]),
            "transport": template["transport"],
        }
        sections = template["sections"]
        for section in SIP_SECTIONS:
            fields[section] = options(tuple(p) for p in sections.get(section, []))
        fields["endpoint"], fields["headers"] = split_headers(fields["endpoint"])
        fields["identify"], fields["match_header"] = split_match_header(fields["identify"])
        fields["identify_by_header"] = identify_by_has_header(fields["endpoint"])
        found[template["label"]] = fields
    return found


def _default_template_fields(resource: Resource) -> dict[str, Any] | None:
    if not resource.default_object:
        return None
    name = resource.key.name
    which = name if name in TENANT_TEMPLATES else resource.fields.get("label")
    return _default_templates().get(str(which))


# --------------------------------------------------------------------------- secrets


def _assign_secrets(slots: Sequence[_SecretSlot], *, include_secrets: bool) -> tuple[EnvVar, ...]:
    if include_secrets:
        for slot in slots:
            slot.text = slot.value
        return ()
    names = secret_env_names(slots)
    env: dict[str, tuple[list[str], str]] = {}
    for slot in slots:
        name = slot.env = names[id(slot)]
        slot.text = "${env:" + name + "}"
        env.setdefault(name, ([], slot.value))[0].append(slot.path)
    return tuple(EnvVar(n, tuple(paths), value) for n, (paths, value) in env.items())


def secret_env_names(slots: Sequence[_SecretSlot]) -> dict[int, str]:
    """The variable of each secret slot (by `id`), deterministic and unique.

    `WAZO_<KIND>_<NAME>_<SECTION>_<KEY>` (e.g. `WAZO_TRUNK_ACME_OUTBOUND_AUTH_PASSWORD`;
    no section for transports and IAX options). One value used under the same key in several
    sections of one object shares one variable, `WAZO_<KIND>_<NAME>_<KEY>`; values are
    never shared across objects. Names that collide get `_2`, `_3`… in export order.
    """
    groups: dict[tuple[str, str, str, str, str], list[_SecretSlot]] = {}
    for slot in slots:
        groups.setdefault((slot.kind, slot.tenant, slot.owner, slot.key, slot.value), []).append(
            slot
        )
    taken: set[str] = set()
    names: dict[int, str] = {}
    for group in groups.values():
        first = group[0]
        sections = {s.section for s in group}
        parts = [SECRET_KIND_WORDS[first.kind], first.owner]
        if len(sections) == 1 and first.section:
            parts.append(first.section)
        base = _env_word("WAZO", *parts, first.key)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        for slot in group:
            names[id(slot)] = name
    return names


def _env_word(*parts: str) -> str:
    return "_".join(_env_part(p) for p in parts if p)


def _env_part(part: str) -> str:
    return _NOT_ENV.sub("_", part.upper()).strip("_")


_NOT_ENV = re.compile(r"[^A-Z0-9]+")


# ------------------------------------------------------------------------------ notes


def _secret_notes(builder: _Builder, texts: Iterable[str]) -> list[str]:
    """What the reader of the export must know about secrets and reference-like text."""
    notes = []
    plain_values = builder.option_values
    for slot in builder.slots:
        if len(slot.value) >= 4 and slot.value in plain_values:
            notes.append(
                f"{slot.path}: the secret value is also the value of a non-secret option "
                "(a username?), which is written as is"
            )
    written = sum(len(REF_PATTERN.findall(text)) for text in texts)
    if written > sum(1 for slot in builder.slots if slot.env is not None):
        notes.append(
            "some live values contain ${env:…} or ${file:…} text, which reconcile reads as a "
            "secret reference: check the exported files for them"
        )
    return notes


# ------------------------------------------------------------------ YAML: style markers


class _Flow(list[Any]):
    """A sequence written in flow style: `[a, b]`."""


class _Inline(dict[str, Any]):
    """A mapping written in flow style: `{outgoing_caller_id: anonymous}`."""


class _YesNo(str):
    """An option value `yes`/`no` written plain: YAML reads a boolean, which the loader turns
    back into the same text (`config.option_text`)."""


class _Number(str):
    """An option value written as a plain integer (`60`): the loader keeps its source text."""


_CANONICAL_INT = re.compile(r"0|[1-9][0-9]{0,17}")
_TAG = "tag:yaml.org,2002:"
_STR_TAG = _TAG + "str"


def _option_word(value: str) -> str:
    if value == "yes" or value == "no":
        return _YesNo(value)
    if _CANONICAL_INT.fullmatch(value):
        return _Number(value)
    return value


def _seq(items: Sequence[Any]) -> list[Any]:
    scalars = all(isinstance(i, str) for i in items)
    width = sum(len(str(i)) + 2 for i in items)
    return _Flow(items) if scalars and width <= FLOW_WIDTH else list(items)


# YAML 1.2 and other readers' numbers and words, quoted even where PyYAML reads a string.
_AMBIGUOUS = re.compile(
    r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?"
    r"|0[xob][0-9a-fA-F_]+|[-+]?\.(inf|Inf|INF)|\.(nan|NaN|NAN)"
    r"|(?i:y|n|yes|no|true|false|on|off|null|~)"
)
_RESOLVER = yaml.resolver.Resolver()
_ANALYZER = Emitter(io.StringIO(), allow_unicode=True)


@lru_cache(maxsize=1 << 16)  # keys and most values repeat: each text is analysed once
def quote_style(text: str, flow: bool = False) -> str | None:
    """None (plain) when YAML reads the text back as the same string, else the quote style:
    double quotes, or single quotes for text with double quotes in it (caller IDs)."""
    analysis: ScalarAnalysis = _ANALYZER.analyze_scalar(text)
    allowed = analysis.allow_flow_plain if flow else analysis.allow_block_plain
    if allowed and text and not analysis.multiline and not _AMBIGUOUS.fullmatch(text):
        tag: str = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        if tag == _STR_TAG:
            return None
    if '"' in text and "'" not in text and text.isprintable():
        return "'"
    return '"'


_IMPLICIT = (True, True)  # no tag written: the style chosen above keeps the type right
_SCALARS: dict[type, Callable[[Any], str]] = {
    _YesNo: str,
    _Number: str,
    bool: lambda value: "true" if value else "false",
    int: str,
    type(None): lambda _: "null",
}


def _events(value: Any, out: list[yaml.Event], flow: bool = False) -> None:
    """A plain value (with the style markers above) as emitter events, appended to `out`.

    Events, not `yaml.dump`: each scalar is written in the style chosen here, with no tag
    resolution or anchors in between."""
    kind = type(value)
    if kind is str:
        out.append(yaml.ScalarEvent(None, None, _IMPLICIT, value, style=quote_style(value, flow)))
    elif kind is dict or kind is _Inline:
        inline = flow or kind is _Inline
        out.append(yaml.MappingStartEvent(None, None, True, flow_style=inline))
        for key, item in value.items():
            _events(key, out, inline)
            _events(item, out, inline)
        out.append(yaml.MappingEndEvent())
    elif kind is list or kind is _Flow:
        inline = flow or kind is _Flow
        out.append(yaml.SequenceStartEvent(None, None, True, flow_style=inline))
        for item in value:
            _events(item, out, inline)
        out.append(yaml.SequenceEndEvent())
    elif kind is _SecretSlot:
        _events(value.text, out, flow)
    elif kind in _SCALARS:
        out.append(yaml.ScalarEvent(None, None, _IMPLICIT, _SCALARS[kind](value), style=None))
    else:
        raise TypeError(f"cannot export a {kind.__name__}")


_Dumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)  # libyaml's


def to_yaml(value: Any) -> str:
    """`value` as block YAML in the export's style (no document markers, no line folding)."""
    events: list[yaml.Event] = [yaml.StreamStartEvent(), yaml.DocumentStartEvent(explicit=False)]
    _events(value, events)
    events += [yaml.DocumentEndEvent(explicit=False), yaml.StreamEndEvent()]
    text: str = yaml.emit(events, Dumper=_Dumper, allow_unicode=True, width=1_000_000, indent=2)
    return text


# ------------------------------------------------------------------------ YAML: files


def _plain(value: Any) -> Any:
    """A value without markers nor slots: plain dicts, lists, strings."""
    if isinstance(value, _SecretSlot):
        return value.text
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


KIND_TITLES = {
    "pjsip": (
        "PJSIP global and system settings (instance-wide). A declared section is replaced "
        "as a whole."
    ),
    "transports": (
        "SIP transports (instance-wide). Any transport change needs an Asterisk restart."
    ),
    "sip_templates": (
        "SIP endpoint templates, by name; `global`, `webrtc`, `registration_trunk` and "
        "`meeting_guest` are the tenant's default templates."
    ),
    "trunks": (
        "Trunks: SIP and IAX by endpoint name, custom by interface. A declared option "
        "section is the exact list of that section."
    ),
    "outcalls": "Outgoing routes: trunks in priority order, and the exact set of dial patterns.",
    "users": "Users' outgoing caller IDs, by email, else username, else uuid.",
    "policy": (
        "The stack's policy: what `reconcile apply` may do to live objects this stack does not "
        "declare. Nothing is decided for you: uncomment what you want."
    ),
}
EMPTY_NOTES = {
    "pjsip": "PJSIP settings are a fresh Wazo's: nothing to declare (`--all` writes them).",
    "transports": "Transports are a fresh Wazo's: nothing to declare (`--all` writes them).",
    "sip_templates": "No template differs from confd's defaults (`--all` writes them).",
    "users": "Every user has the default outgoing caller ID: nothing to declare.",
}
MAX_LISTED_VARIABLES = 20


@dataclass(frozen=True)
class _Document:
    """One YAML document to write: its kind's entries of one tenant (of none: instance-wide)."""

    kind: str
    tenant: str
    doc_tenant: str | None  # its `tenant:` line
    names: Sequence[str]  # its entries' names, in order
    comments: Sequence[str | None]  # its entries' comments


class _Writer:
    def __init__(self, provenance: Provenance | None, schema_ref: str) -> None:
        self.provenance = provenance
        self.schema_ref = schema_ref

    def documents(self, kinds: Sequence[str], entries: Entries, scope: _Scope) -> list[_Document]:
        """The documents in file order (each kind's tenants, the token's first)."""
        found = []
        for kind in kinds:
            if kind == "policy":
                found.append(_Document(kind, "", None, (), ()))
                continue
            for tenant, items in self._by_tenant(kind, entries, scope):
                names = [e.name for e in items]
                comments = [e.comment for e in items]
                found.append(_Document(kind, tenant, scope.doc_tenant(tenant), names, comments))
        return found

    def _by_tenant(
        self, kind: str, entries: Entries, scope: _Scope
    ) -> list[tuple[str, list[_Entry]]]:
        found = entries.get(kind, {})
        if kind in INSTANCE_KINDS:
            return [("", found.get("", []))]
        chosen = [(t, found[t]) for t in scope.tenants if t in found]
        return chosen or [(scope.tenants[0], [])]

    def files(
        self, documents: Sequence[_Document], entries: Entries, builder: _Builder
    ) -> dict[str, str]:
        variables: dict[tuple[str, str, str], dict[str, None]] = {}
        for slot in builder.slots:
            if slot.env is not None:
                owner = (slot.kind, slot.tenant, slot.owner)
                variables.setdefault(owner, {})[slot.env] = None
        files: dict[str, list[str]] = {}
        for document in documents:
            if document.kind == "policy":
                text = self.policy_text(documents, builder.left_out)
            else:
                items = entries.get(document.kind, {}).get(document.tenant, [])
                body = _emit(document.kind, items) if items else ""
                text = self.document_text(document, body, variables)
            files.setdefault(f"{document.kind}.yaml", []).append(text)
        return {name: "---\n".join(parts) for name, parts in files.items()}

    def header(self, kind: str, variables: Sequence[str] = ()) -> list[str]:
        lines = [f"# yaml-language-server: $schema={self.schema_ref}", "#"]
        lines += [f"# {line}" for line in _wrap(KIND_TITLES[kind])]
        if self.provenance is not None:
            when = f" on {self.provenance.date}" if self.provenance.date else ""
            lines.append(
                f"# Exported from {self.provenance.source}{when} by {self.provenance.tool}."
            )
        if variables:
            lines.append("#")
            if len(variables) <= MAX_LISTED_VARIABLES:
                lines.append("# Secrets come from the environment:")
                lines += [f"#   export {name}='…'" for name in variables]
            else:
                lines.append(
                    f"# Secrets come from {len(variables)} environment variables "
                    "(listed by `reconcile export`)."
                )
        return lines

    def document_text(
        self,
        document: _Document,
        body: str,
        variables: Mapping[tuple[str, str, str], Mapping[str, None]],
    ) -> str:
        kind, tenant = document.kind, document.tenant
        used = [name for e in document.names for name in variables.get((kind, tenant, e), {})]
        head: dict[str, Any] = {"version": 1}
        if document.doc_tenant is not None:
            head["tenant"] = document.doc_tenant
        parts = ["\n".join(self.header(kind, used)) + "\n" + to_yaml(head)]
        if not document.names:
            note = EMPTY_NOTES.get(kind, f"Nothing to declare: no {kind} on the PBX.")
            parts.append("".join(f"# {line}\n" for line in _wrap(note)))
        else:
            parts.append(_entries_text(body, document.comments))
        return "\n".join(parts)

    def policy_text(self, documents: Sequence[_Document], left_out: Sequence[str]) -> str:
        exported = [
            k
            for k in ("transports", "sip_templates", "trunks", "outcalls")
            if any(d.kind == k and d.names for d in documents)
        ]
        prune = [k for k in ("trunks", "outcalls") if k in exported] or ["trunks", "outcalls"]
        protect = list(left_out) or [_first_ref(documents) or "trunks/emergency"]
        lines = self.header("policy") + [to_yaml({"version": 1}).rstrip("\n"), ""]
        lines += [
            "# policy:",
            "#   # Kinds whose live objects missing from this stack are deleted by apply.",
            "#   # Turn it on once `reconcile plan` shows no changes and lists no unmanaged",
            "#   # object you want to keep.",
            *_commented(to_yaml({"prune": _seq(prune)}), "#   "),
            "#",
            "#   # Objects apply never changes nor deletes, even once removed from the YAML.",
        ]
        if left_out:
            lines.append(
                "#   # These live objects were left out because they hold a fresh Wazo's settings:"
            )
            lines.append("#   # protect them (or export with --all) before pruning their kind.")
        lines += [
            *_commented(to_yaml({"protect": _seq(protect)}), "#   "),
            "#",
            "#   # Refuse an apply that deletes more than this share of a kind, unless --force.",
            *_commented(to_yaml({"max_delete_percent": 30}), "#   "),
        ]
        return "\n".join(lines) + "\n"


def _document(kind: str, tenant: str | None, entries: Sequence[_Entry]) -> dict[str, Any]:
    document: dict[str, Any] = {"version": 1}
    if tenant is not None:
        document["tenant"] = tenant
    if entries:
        document[kind] = {e.name: _plain(e.body) for e in entries}
    return document


def _with_entries(
    documents: Sequence[_Document], entries: Entries
) -> list[tuple[_Document, list[_Entry]]]:
    return [(d, entries.get(d.kind, {}).get(d.tenant, [])) for d in documents]


def _emit(kind: str, entries: Sequence[_Entry]) -> str:
    return to_yaml({kind: {e.name: e.body for e in entries}})


def _entries_text(text: str, comments: Sequence[str | None]) -> str:
    """A kind's entries as the emitter wrote them (the `kind:` line first), with a blank line
    between entries when any spans several lines, and each entry's comment above it."""
    starts = [m.start() + 1 for m in _ENTRY_START.finditer(text)]
    spaced = text.count("\n", starts[0]) > len(starts)  # more lines than entries
    if not spaced and not any(comments):
        return text
    out = [text[: starts[0]]]
    for n, (comment, start) in enumerate(zip(comments, starts, strict=True)):
        if spaced and n:
            out.append("\n")
        if comment:
            out += [f"  # {line}\n" for line in _wrap(comment)]
        out.append(text[start : starts[n + 1] if n + 1 < len(starts) else len(text)])
    return "".join(out)


_ENTRY_START = re.compile(r"\n  [^ ]")  # the line break before an entry's first line


def _commented(text: str, prefix: str) -> list[str]:
    return [prefix + line for line in text.splitlines()]


def _first_ref(documents: Sequence[_Document]) -> str | None:
    for kind in ("trunks", "outcalls"):
        for document in documents:
            if document.kind == kind and document.names:
                return f"{kind}/{document.names[0]}"
    return None


def _wrap(text: str, width: int = 88) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        if lines and len(lines[-1]) + 1 + len(word) <= width:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines

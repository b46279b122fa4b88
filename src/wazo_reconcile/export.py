"""Export stage: the live configuration as stack documents (pure).

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

This module decides what each document declares (scope, entries, secrets, notes);
`export_yaml` writes the documents as YAML files.
"""

from __future__ import annotations

import importlib.resources
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from wazo_reconcile.export_yaml import (
    Deferred,
    Document,
    Entry,
    Inline,
    option_word,
    sequence,
    write_files,
)
from wazo_reconcile.live import LiveIndex, LiveState, index_live
from wazo_reconcile.model import (
    INSTANCE_WIDE_KINDS,
    KINDS,
    REGISTER_FIELDS,
    SIP_SECTIONS,
    TENANT_TEMPLATES,
    Options,
    Pattern,
    Resource,
    options,
)
from wazo_reconcile.normalise import (
    DEFAULT_IDENTIFY_BY,
    header_set_var,
    identify_by_has_header,
    live_sections,
    normalise_live,
)
from wazo_reconcile.secrets import REF_PATTERN, is_secret_key
from wazo_reconcile.shapes import SipBody

# Files in this order; each holds the documents of one kind (one per tenant).
EXPORT_KINDS = (*KINDS, "policy")

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
    "register": tuple(f for f in REGISTER_FIELDS if f != "enabled"),
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
    "register",
    "endpoint",
    "aor",
    "identify",
    "auth",
    "outbound_auth",
    "registration",
    "registration_outbound_auth",
)
# Values left out of an export (unless `everything`): confd's POST defaults, or no value.
TRUNK_DEFAULTS = {"context": (None,), "outgoing_caller_id_format": (None, "+E164")}
IAX_DEFAULTS = {"host": (None, "dynamic"), "peer_type": (None, "friend")}
CUSTOM_DEFAULTS = {"interface_suffix": (None,)}
OUTCALL_DEFAULTS = {
    "description": (None,),
    "internal_caller_id": (False,),
    "enabled": (True,),
    "ring_time": (0,),
    "preprocess_subroutine": (None,),
}
SECTION_ORDER = tuple(f for f in FIELD_ORDER if f in SIP_SECTIONS)
SECRET_KIND_WORDS = {
    "pjsip": "PJSIP",
    "transports": "TRANSPORT",
    "sip_templates": "TEMPLATE",
    "trunks": "TRUNK",
}


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where and when the export was made, for the header comment (no secrets: a bare URL)."""

    source: str
    date: str | None = None
    tool: str = "wazo-reconcile"

    @property
    def sentence(self) -> str:
        when = f" on {self.date}" if self.date else ""
        return f"Exported from {self.source}{when} by {self.tool}."


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
    data: Mapping[str, Any]  # plain YAML data, for the caller to read


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
    live: LiveState,
    index: LiveIndex | None = None,
    resources: Sequence[Resource] | None = None,
    *,
    tenant: str | None = None,
    kinds: Iterable[str] = EXPORT_KINDS,
    include_secrets: bool = False,
    everything: bool = False,
    provenance: Provenance | None = None,
    schema_ref: str | None = None,
    tenant_labels: Mapping[str, str] | None = None,
) -> ExportResult:
    """The live configuration as stack documents (pure; same input, byte-identical output).

    `tenant` restricts the export to one tenant (instance-wide kinds are then exported only
    for the token's own tenant); documents of the token's tenant have no `tenant:` line.
    `include_secrets` writes secret values instead of `${env:…}` references; `everything`
    also writes what equals confd's defaults. `index`/`resources` may be passed when the
    caller already normalised `live`. `tenant_labels` says how to write each tenant's UUID in
    a `tenant:` line (its slug: a portable stack); without it, as the UUID.
    """
    index = index if index is not None else index_live(live)
    resources = resources if resources is not None else normalise_live(live, index)
    scope = _Scope.of(live, index, tenant, everything, tenant_labels or {})
    chosen = set(kinds)
    wanted = [
        k for k in EXPORT_KINDS if k in chosen and (scope.instance or k not in INSTANCE_WIDE_KINDS)
    ]
    builder = _Builder(scope)
    entries = builder.build(resources, wanted)
    env = _name_secrets(builder.slots, include_secrets=include_secrets)  # every slot is known
    documents = _documents(wanted, entries, scope, builder.slots)
    files = write_files(
        documents,
        schema_ref=schema_ref or default_schema_ref(),
        provenance=None if provenance is None else provenance.sentence,
        left_out=builder.left_out,
    )
    notes = [*builder.notes, *_secret_notes(builder, files.values())]
    counts = {k: sum(len(d.entries) for d in documents if d.kind == k) for k in wanted}
    declared = tuple(ExportDocument(d.kind, d.tenant, d.data()) for d in documents)
    return ExportResult(files, env, tuple(notes), counts, declared)


@cache
def default_schema_ref() -> str:
    """The packaged schema's `$id` when it has one, else the relative `SCHEMA_REF`."""
    path = importlib.resources.files("wazo_reconcile").joinpath("schemas/stack.schema.json")
    schema = json.loads(path.read_text("utf-8"))
    return str(schema.get("$id") or SCHEMA_REF)


# ------------------------------------------------------------------------ scope, documents

Entries = dict[str, dict[str, list[Entry]]]  # kind -> tenant ("" instance-wide) -> entries


@dataclass(frozen=True)
class _Scope:
    token_tenant: str
    tenants: tuple[str, ...]  # exported tenants, the token's first
    instance: bool  # instance-wide kinds exported
    index: LiveIndex
    everything: bool
    labels: Mapping[str, str]  # how a tenant is written in `tenant:` (its slug), by UUID

    @classmethod
    def of(
        cls,
        live: LiveState,
        index: LiveIndex,
        tenant: str | None,
        everything: bool,
        labels: Mapping[str, str],
    ) -> _Scope:
        token = live.token_tenant
        if tenant is not None:
            live.default_tenant(tenant)  # a UsageError if the token cannot see it
            return cls(token, (tenant,), tenant == token, index, everything, labels)
        others = sorted(t for t in live.tenants if t != token)
        return cls(token, (token, *others), True, index, everything, labels)

    def includes(self, kind: str, tenant: str) -> bool:
        if kind in INSTANCE_WIDE_KINDS:
            return self.instance
        return tenant in self.tenants

    def doc_tenant(self, tenant: str) -> str | None:
        return None if tenant in ("", self.token_tenant) else self.labels.get(tenant, tenant)

    def by_tenant(
        self, kind: str, found: Mapping[str, list[Entry]]
    ) -> list[tuple[str, list[Entry]]]:
        """A kind's documents: the instance's, else each tenant's with entries (or the first
        tenant's, empty), the token's first."""
        if kind in INSTANCE_WIDE_KINDS:
            return [("", found.get("", []))]
        chosen = [(t, found[t]) for t in self.tenants if t in found]
        return chosen or [(self.tenants[0], [])]

    def outcall_context(self, tenant: str) -> str | None:
        found = [c for c in self.index.contexts.get(tenant, []) if c.get("type") == "outcall"]
        return str(found[0]["name"]) if len(found) == 1 else None


def _documents(
    kinds: Sequence[str], entries: Entries, scope: _Scope, slots: Sequence[_SecretSlot]
) -> list[Document]:
    """The documents in file order, each with the variables its secrets use."""
    variables: dict[tuple[str, str, str], dict[str, None]] = {}
    for slot in slots:
        if slot.env is not None:
            variables.setdefault((slot.kind, slot.tenant, slot.owner), {})[slot.env] = None
    found = []
    for kind in kinds:
        if kind == "policy":
            found.append(Document(kind, None))
            continue
        for tenant, items in scope.by_tenant(kind, entries.get(kind, {})):
            used = [name for e in items for name in variables.get((kind, tenant, e.name), {})]
            found.append(Document(kind, scope.doc_tenant(tenant), items, used))
    return found


# ----------------------------------------------------------------------------- entries


@dataclass
class _SecretSlot(Deferred):
    """One secret value in the export; `_name_secrets` gives it its text."""

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
    """Resources -> entries: plain YAML values with `export_yaml`'s style markers, and secret
    slots (named once every slot is known)."""

    def __init__(self, scope: _Scope) -> None:
        self.scope = scope
        self.slots: list[_SecretSlot] = []
        self.notes: list[str] = []
        self.left_out: list[str] = []  # default objects not written (kind/name)
        self.option_values: set[str] = set()  # non-secret option values written
        self.special_templates: dict[str, str] = {}  # default template name -> first tenant

    def build(self, found: Sequence[Resource], kinds: Sequence[str]) -> Entries:
        """The entries of the resources of `kinds` in scope, by kind and tenant, in export
        order: by kind, tenant (the token's first), name."""
        tenants = {tenant: i for i, tenant in enumerate(("", *self.scope.tenants))}

        def order(resource: Resource) -> tuple[int, int, NaturalKey]:
            key = resource.key
            return (EXPORT_KINDS.index(key.kind), tenants.get(key.tenant, -1), _natural(key.name))

        chosen = [
            r
            for r in found
            if r.key.kind in kinds and self.scope.includes(r.key.kind, r.key.tenant)
        ]
        builders: dict[str, Callable[[Resource], Entry | None]] = {
            "pjsip": self.pjsip,
            "transports": self.transport,
            "sip_templates": self.template,
            "trunks": self.trunk,
            "outcalls": self.outcall,
            "users": self.user,
        }
        entries: Entries = {kind: {} for kind in kinds}
        for resource in sorted(chosen, key=order):
            entry = builders[resource.key.kind](resource)
            if entry is not None:
                entries[resource.key.kind].setdefault(resource.key.tenant, []).append(entry)
        return entries

    # -- instance-wide kinds

    def pjsip(self, resource: Resource) -> Entry | None:
        section = resource.key.name
        pairs: Options = resource.fields["options"]
        if not self.scope.everything and pairs == DEFAULT_PJSIP.get(section):
            return None
        return Entry(section, self.section(resource, pairs, section))

    def transport(self, resource: Resource) -> Entry | None:
        name = resource.key.name
        pairs: Options = resource.fields["options"]
        if not self.scope.everything and DEFAULT_TRANSPORTS.get(name) == pairs:
            self.left_out.append(str(resource.key))
            return None
        return Entry(name, self.section(resource, pairs, "transport", with_section=False))

    # -- SIP templates and trunks

    def template(self, resource: Resource) -> Entry | None:
        default = _default_template_fields(resource)
        if default is None:
            return Entry(resource.key.name, self.sip_body(resource))
        if not self.scope.everything and _same_sip(resource.fields, default):
            return None
        if not self._first_declaration(resource):
            return None
        if self.scope.everything:
            body = self.sip_body(resource, keep_label=True)
        else:
            body = self.sip_body(resource, default=default)
        comment = (
            "confd's default template: only what differs from its default content is "
            "declared, and a declared section replaces the template's whole section"
        )
        return Entry(resource.key.name, body, comment)

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
        *,
        default: Mapping[str, object] | None = None,
        keep_label: bool = False,
    ) -> dict[str, object]:
        fields = resource.fields
        everything = self.scope.everything
        body: dict[str, object] = {}
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
                body["templates"] = sequence(templates)
            if transport is not None or everything:
                body["transport"] = transport
        else:
            if _differs(fields, default, "templates"):
                body["templates"] = sequence(templates)
            if _differs(fields, default, "transport"):
                body["transport"] = transport
        body.update(self.sip_sections(resource, default))
        return _ordered(body, FIELD_ORDER)

    def sip_sections(
        self, resource: Resource, default: Mapping[str, object] | None
    ) -> dict[str, object]:
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
        if len({k for k, _ in headers}) < len(headers):
            # The same header twice cannot be a mapping: keep the set_var form.
            endpoint = options([*endpoint, *(header_set_var(k, v) for k, v in headers)])
            wanted["endpoint"] = wanted["endpoint"] or wanted["headers"]
            wanted["headers"] = False
        if wanted["match_header"]:
            endpoint = self._without_shortcut_identify_by(resource, endpoint)
        found: dict[str, object] = {}
        if wanted["headers"]:
            found["headers"] = {k: v for k, v in headers}
        if wanted["match_header"]:
            found["match_header"] = match_header
        for section in SECTION_ORDER:
            pairs = endpoint if section == "endpoint" else fields[section]
            if wanted[section] and (pairs or default is not None):
                found[section] = self.section(resource, pairs, section)
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
        return tuple(p for p in endpoint if p != shortcut)

    def trunk(self, resource: Resource) -> Entry | None:
        kind = resource.type
        if kind == "none":
            self.notes.append(
                f"trunk id {resource.remote.get('trunk_id')} (tenant {resource.key.tenant}) "
                "has no endpoint: it cannot be named in YAML and was left out"
            )
            return None
        fields = resource.fields
        if kind == "sip":
            body = self.sip_body(resource)
        elif kind == "iax":
            body = {"type": "iax", **self.unless_default(fields, IAX_DEFAULTS)}
            if fields["options"]:
                body["options"] = self.section(
                    resource, fields["options"], "options", with_section=False
                )
            if fields.get("register"):
                body["register"] = self.section(resource, fields["register"], "register")
        else:
            body = {"type": "custom", "interface": fields["interface"]}
            body.update(self.unless_default(fields, CUSTOM_DEFAULTS))
            if fields.get("enabled") is False or self.scope.everything:
                body["enabled"] = bool(fields.get("enabled"))
        body.update(self.unless_default(fields, TRUNK_DEFAULTS))
        return Entry(resource.key.name, _ordered(body, FIELD_ORDER))

    def unless_default(
        self, fields: Mapping[str, object], defaults: Mapping[str, tuple[object, ...]]
    ) -> dict[str, object]:
        """The fields whose value is not a default (`everything`: all of them)."""
        return {
            name: fields.get(name)
            for name, default in defaults.items()
            if fields.get(name) not in default or self.scope.everything
        }

    # -- outcalls and users

    def outcall(self, resource: Resource) -> Entry:
        fields = resource.fields
        body = self.unless_default(fields, OUTCALL_DEFAULTS)
        trunks = [t for t in fields["trunks"] if not t.startswith("#")]
        if len(trunks) != len(fields["trunks"]):
            self.notes.append(
                f"outcalls.{resource.key.name}: a trunk without endpoint was left out of its "
                "trunks (it cannot be named in YAML)"
            )
        body["trunks"] = sequence(trunks)
        context = self.scope.outcall_context(resource.key.tenant)
        body["patterns"] = [self.pattern(p, context) for p in fields["patterns"]]
        return Entry(resource.key.name, body)

    def pattern(self, pattern: Pattern, default_context: str | None) -> dict[str, object]:
        body: dict[str, object] = {"exten": pattern.exten}
        if pattern.context != default_context:
            body["context"] = pattern.context
        if pattern.strip_digits:
            body["strip_digits"] = pattern.strip_digits
        for name in ("prefix", "external_prefix", "caller_id"):
            value = getattr(pattern, name)
            if value is not None:
                body[name] = value
        return body

    def user(self, resource: Resource) -> Entry | None:
        caller_id = resource.fields.get("outgoing_caller_id")
        if caller_id is None and not self.scope.everything:
            return None
        ref = _user_ref(self.scope.index, str(resource.remote["uuid"]))
        return Entry(ref, Inline({"outgoing_caller_id": caller_id}))

    # -- option sections

    def section(
        self, resource: Resource, pairs: Options, section: str, *, with_section: bool = True
    ) -> dict[str, object]:
        """An option section of ``resource``, its secret values turned into slots."""
        grouped: dict[str, list[object]] = {}
        for key, value in _ordered_pairs(pairs, section):
            written = self.value(resource, key, value, section if with_section else None)
            grouped.setdefault(key, []).append(written)
        return {k: v[0] if len(v) == 1 else sequence(v) for k, v in grouped.items()}

    def value(
        self, resource: Resource, key: str, value: str, section: str | None
    ) -> str | _SecretSlot:
        if not is_secret_key(key):
            self.option_values.add(value)
            return option_word(value)
        key_ = resource.key
        slot = _SecretSlot(key_.kind, key_.name, key_.tenant, section, key, value)
        self.slots.append(slot)
        return slot


def _user_ref(index: LiveIndex, uuid: str) -> str:
    """The first of email, username, uuid that finds the user back (as `find_user` searches)."""
    user = index.find_user(uuid) or {}
    for ref in (user.get("email"), user.get("username")):
        if ref and (index.find_user(ref) or {}).get("uuid") == uuid:
            return ref
    return uuid


NaturalKey = tuple[tuple[tuple[int, str], ...], str]


def _natural(name: str) -> NaturalKey:
    """`gen-2` before `gen-10`; ties broken by the name itself (total, deterministic).

    The parts form one tuple: a name that extends another with digits (`acme`, `acme2`)
    compares part with part, never a part with the name."""
    parts = re.split(r"(\d+)", name)
    return (tuple((int(p), p) if p.isdigit() else (-1, p) for p in parts), name)


def _ordered_pairs(pairs: Options, section: str) -> Sequence[tuple[str, str]]:
    # `pairs` is sorted (model.options): only the leading keys move to the front.
    leading = LEADING_OPTIONS.get(section, ())
    first = [p for key in leading for p in pairs if p[0] == key]
    return [*first, *(p for p in pairs if p[0] not in leading)] if first else pairs


def _ordered(body: dict[str, object], order: Sequence[str]) -> dict[str, object]:
    rank = {key: i for i, key in enumerate(order)}
    return {k: body[k] for k in sorted(body, key=lambda k: rank.get(k, len(order)))}


def _differs(fields: Mapping[str, object], default: Mapping[str, object], name: str) -> bool:
    return fields.get(name) != default.get(name)


def _same_sip(fields: Mapping[str, object], default: Mapping[str, object]) -> bool:
    return all(fields.get(k) == v for k, v in default.items())


# ------------------------------------------------------------------ default templates


@cache
def _default_templates() -> dict[str, dict[str, object]]:
    """confd's default templates by label, as normalised SIP fields (sandbox seed data)."""
    path = importlib.resources.files("wazo_reconcile").joinpath(
        "sandbox/data/default_templates.json"
    )
    found: dict[str, dict[str, object]] = {}
    for template in json.loads(path.read_text("utf-8"))["templates"]:
        body = {f"{s}_section_options": pairs for s, pairs in template["sections"].items()}
        found[template["label"]] = {
            "label": template["label"],
            "templates": tuple(template["templates"]),
            "transport": template["transport"],
            **live_sections(cast(SipBody, body)),
        }
    return found


def _default_template_fields(resource: Resource) -> dict[str, object] | None:
    if not resource.default_object:
        return None
    name = resource.key.name
    which = name if name in TENANT_TEMPLATES else resource.fields.get("label")
    return _default_templates().get(str(which))


# --------------------------------------------------------------------------- secrets


def _name_secrets(slots: Sequence[_SecretSlot], *, include_secrets: bool) -> tuple[EnvVar, ...]:
    """Give each slot its text (its value, or its variable's reference); the variables."""
    if include_secrets:
        for slot in slots:
            slot.text = slot.value
        return ()
    env: dict[str, tuple[list[str], str]] = {}
    for slot, name in zip(slots, secret_env_names(slots), strict=True):
        slot.env = name
        slot.text = "${env:" + name + "}"
        env.setdefault(name, ([], slot.value))[0].append(slot.path)
    return tuple(EnvVar(n, tuple(paths), value) for n, (paths, value) in env.items())


def secret_env_names(slots: Sequence[_SecretSlot]) -> list[str]:
    """The variable of each secret slot, deterministic and unique.

    `WAZO_<KIND>_<NAME>_<SECTION>_<KEY>` (e.g. `WAZO_TRUNK_ACME_OUTBOUND_AUTH_PASSWORD`;
    no section for transports and IAX options). One value used under the same key in several
    sections of one object shares one variable, `WAZO_<KIND>_<NAME>_<KEY>`; values are
    never shared across objects. Names that collide get `_2`, `_3`… in export order.
    """
    groups: dict[tuple[str, str, str, str, str], list[int]] = {}
    for i, slot in enumerate(slots):
        groups.setdefault((slot.kind, slot.tenant, slot.owner, slot.key, slot.value), []).append(i)
    taken: set[str] = set()
    names = [""] * len(slots)
    for group in groups.values():
        first = slots[group[0]]
        sections = {slots[i].section for i in group}
        parts = [SECRET_KIND_WORDS[first.kind], first.owner]
        if len(sections) == 1 and first.section:
            parts.append(first.section)
        base = _env_word("WAZO", *parts, first.key)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        for i in group:
            names[i] = name
    return names


def _env_word(*parts: str) -> str:
    return "_".join(_NOT_ENV.sub("_", p.upper()).strip("_") for p in parts if p)


_NOT_ENV = re.compile(r"[^A-Z0-9]+")


# ------------------------------------------------------------------------------ notes


def _secret_notes(builder: _Builder, texts: Iterable[str]) -> list[str]:
    """What the reader of the export must know about secrets and reference-like text."""
    notes = []
    for slot in builder.slots:
        if len(slot.value) >= 4 and slot.value in builder.option_values:
            notes.append(
                f"{slot.path}: the secret value is also the value of a non-secret option "
                "(a username?), which is written as is"
            )
    written = sum(len(REF_PATTERN.findall(text)) for text in texts)
    if written > sum(1 for slot in builder.slots if slot.env is not None):
        notes.append(
            "some live values contain ${env:…}, ${file:…} or ${var:…} text, which reconcile "
            "reads as a reference: check the exported files for them"
        )
    return notes

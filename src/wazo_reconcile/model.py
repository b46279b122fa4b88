"""The normalised model: desired and live state become the same types, so diffing is equality.

A `Resource` is one thing the user declares (a transport, a SIP template, a trunk, an
outcall, a user's caller ID, a PJSIP section). Its `fields` hold only comparable, hashable,
normalised values (strings, ints, bools, None, tuples); server-owned data (ids, uuids, links)
lives in `remote`, which never takes part in comparisons.

Field conventions:
- option sections (`endpoint`, `aor`, …, transport `options`, IAX `options`, PJSIP sections)
  are `Options`: a sorted tuple of `(key, value)` string pairs — a multiset, because confd does
  not keep option order and repeated keys (`set_var`, `match`, `local_net`) are meaningful;
- ordered references (`templates`, outcall `trunks`) are tuples of names, order kept;
- outcall `patterns` is a tuple of `Pattern`, sorted (a set: confd has no order for them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar

from wazo_reconcile.errors import Location

# This module is the one home of the domain's vocabulary: the kinds a stack declares, the SIP
# option sections, the PJSIP sections and the templates Wazo creates.

# Kinds in YAML order; this is also the creation order of the plan (see planner.KIND_ORDER).
KINDS = ("pjsip", "transports", "sip_templates", "trunks", "outcalls", "users")
PRUNABLE_KINDS = ("transports", "sip_templates", "trunks", "outcalls")
# Instance-wide in confd: a document's `tenant:` does not apply to them.
INSTANCE_WIDE_KINDS = frozenset({"pjsip", "transports"})
# The instance-wide PJSIP sections a stack may declare under `pjsip:`.
PJSIP_SECTIONS = ("global", "system")

# SIP option sections, by their YAML name; confd calls them `<name>_section_options`.
SIP_SECTIONS = (
    "aor",
    "auth",
    "endpoint",
    "identify",
    "registration",
    "registration_outbound_auth",
    "outbound_auth",
)

# The fields of an IAX trunk's `register` (confd's `/registers/iax`; see registers.py).
REGISTER_FIELDS = (
    "remote_host",
    "remote_port",
    "auth_username",
    "auth_password",
    "callback_extension",
    "callback_context",
    "enabled",
)

# Per-tenant default templates that confd records on the tenant (`<name>_sip_template_uuid`).
# YAML refers to them by these names; they are resolved through `GET /tenants/{uuid}`.
TENANT_TEMPLATES = ("global", "webrtc", "registration_trunk", "meeting_guest")
# The fifth template confd creates with each tenant: no pointer on the tenant, found by label.
TWILIO_TEMPLATE = "twilio_trunk"
# Every template Wazo creates with a tenant.
DEFAULT_TEMPLATES = (*TENANT_TEMPLATES, TWILIO_TEMPLATE)
# The defaults that inherit `global` (twilio_trunk does through registration_trunk).
TEMPLATES_INHERITING_GLOBAL = frozenset({"global", "registration_trunk"})
# The transports a Wazo is installed with.
DEFAULT_TRANSPORTS = ("transport-udp", "transport-wss")

Options = tuple[tuple[str, str], ...]
T = TypeVar("T")


def options(pairs: Iterable[tuple[str, str]]) -> Options:
    """The canonical multiset form of an option list."""
    # called 100,000 times in a plan at 5,000 trunks: str() only where not already one
    found = [(k if type(k) is str else str(k), v if type(v) is str else str(v)) for k, v in pairs]
    found.sort()
    return tuple(found)


def empty_to_none(value: T) -> T | None:
    """confd reads back several nullable strings as ``""`` or ``None`` interchangeably."""
    return None if value == "" else value


@dataclass(frozen=True, slots=True, order=True)
class ResourceKey:
    """The user's handle on a resource: ``kind/name``, plus the tenant for tenant-scoped kinds."""

    kind: str
    name: str
    tenant: str = ""

    def __str__(self) -> str:
        return f"{self.kind}/{self.name}"

    @property
    def ref(self) -> str:
        """``kind/name`` as written in `policy` (protect, ignore)."""
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True, order=True)
class Pattern:
    """One dial pattern of an outcall: an extension in an outcall context + its parameters."""

    context: str
    exten: str
    caller_id: str | None = None
    strip_digits: int = 0
    prefix: str | None = None
    external_prefix: str | None = None

    @property
    def ident(self) -> tuple[str, str]:
        return (self.context, self.exten)


@dataclass(frozen=True, slots=True)
class Resource:
    """One declared or live object, normalised.

    `identity` is what desired and live resources are matched on (a name, an interface, a
    user uuid…); `key` is how the user names it. Only `fields` is compared.

    `merge` (desired side only) holds the option sections managed key by key, as for the
    objects Wazo creates and owns (docs/ownership.md): each section's declared keys are
    enforced, the keys it maps to are removed, and the other live keys are left alone.
    Every other declared section is the exact list of that section.
    """

    key: ResourceKey
    identity: tuple[str, ...]
    fields: Mapping[str, Any]
    remote: Mapping[str, Any] = field(default_factory=dict, compare=False)
    origin: Location | None = field(default=None, compare=False)
    default_object: bool = field(default=False, compare=False)
    merge: Mapping[str, frozenset[str]] = field(default_factory=dict, compare=False)

    @classmethod
    def create(
        cls,
        key: ResourceKey,
        identity: tuple[str, ...],
        fields: Mapping[str, Any],
        *,
        remote: Mapping[str, Any] | None = None,
        origin: Location | None = None,
        default_object: bool = False,
        merge: Mapping[str, frozenset[str]] | None = None,
    ) -> Resource:
        return cls(
            key=key,
            identity=identity,
            fields=MappingProxyType(dict(fields)),
            remote=MappingProxyType(dict(remote or {})),
            origin=origin,
            default_object=default_object,
            merge=MappingProxyType(dict(merge or {})),
        )

    @property
    def type(self) -> str:
        """The trunk type (`sip`, `iax`, `custom`); the kind for other resources."""
        return str(self.fields.get("type", self.key.kind))

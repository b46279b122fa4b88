"""The shapes of the confd JSON items the tool reads (fetch → normalise → apply, export).

Only the keys the tool uses are named; confd sends more. Keys confd may leave out or send as
``null`` are optional (``total=False``). These describe what passes between stages; nothing
checks them at run time (confd's answers are trusted to match its own API).
"""

from __future__ import annotations

from typing import NotRequired, TypedDict

OptionList = list[list[str]]  # confd's option sections: [[key, value], ...]


class Ref(TypedDict, total=False):
    """A link to another object, as confd embeds it (only the keys we read)."""

    id: int
    uuid: str
    name: str
    interface: str
    label: str
    # A trunk's `endpoint_sip` summary: its own registration's client_uri, if any.
    registration_section_options: OptionList


class Tenant(TypedDict, total=False):
    uuid: str
    name: str
    slug: str
    global_sip_template_uuid: str | None
    webrtc_sip_template_uuid: str | None
    registration_trunk_sip_template_uuid: str | None
    meeting_guest_sip_template_uuid: str | None


class Transport(TypedDict):
    uuid: str
    name: str
    options: NotRequired[OptionList]


class SipBody(TypedDict, total=False):
    """A SIP endpoint or template (they share their shape)."""

    uuid: str
    tenant_uuid: str
    name: str
    label: str | None
    templates: list[Ref]
    transport: Ref | None
    trunk: Ref | None
    line: Ref | None
    aor_section_options: OptionList
    auth_section_options: OptionList
    endpoint_section_options: OptionList
    identify_section_options: OptionList
    registration_section_options: OptionList
    registration_outbound_auth_section_options: OptionList
    outbound_auth_section_options: OptionList


class IaxEndpoint(TypedDict, total=False):
    id: int
    tenant_uuid: str
    name: str
    type: str
    host: str
    options: OptionList
    trunk: Ref | None


class CustomEndpoint(TypedDict, total=False):
    id: int
    tenant_uuid: str
    interface: str
    interface_suffix: str | None
    enabled: bool
    trunk: Ref | None
    line: Ref | None


class Trunk(TypedDict, total=False):
    id: int
    tenant_uuid: str
    context: str | None
    outgoing_caller_id_format: str | None
    endpoint_sip: Ref | None
    endpoint_iax: Ref | None
    endpoint_custom: Ref | None
    register_iax: Ref | None


class RegisterIax(TypedDict, total=False):
    """An IAX register (``/registers/iax``): instance-wide, no tenant."""

    id: int
    remote_host: str
    remote_port: int | None
    auth_username: str | None
    auth_password: str | None
    callback_extension: str | None
    callback_context: str | None
    enabled: bool
    trunk: Ref | None


class OutcallExtension(TypedDict, total=False):
    id: int
    context: str
    exten: str
    caller_id: str | None
    strip_digits: int | None
    prefix: str | None
    external_prefix: str | None


class Outcall(TypedDict, total=False):
    id: int
    tenant_uuid: str
    name: str
    label: str | None
    internal_caller_id: bool
    description: str | None
    enabled: bool
    ring_time: int | None
    preprocess_subroutine: str | None
    trunks: list[Ref]
    extensions: list[OutcallExtension]


class Context(TypedDict, total=False):
    id: int
    tenant_uuid: str
    name: str
    label: str | None
    type: str


class Extension(TypedDict, total=False):
    id: int
    tenant_uuid: str
    context: str
    exten: str


class User(TypedDict, total=False):
    uuid: str
    tenant_uuid: str
    email: str | None
    username: str | None
    outgoing_caller_id: str | None

"""Live state: everything the token can see on the PBX, read with one list request per kind.

``fetch_live`` reads each kind with a single paginated list call (``recurse=true`` and no
``Wazo-Tenant`` header, so every tenant visible to the token is included), independent kinds
concurrently, and never one GET per object: the number of requests does not grow with the
number of objects. Items are kept exactly as confd returned them; normalisation is
``normalise.py``'s job.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from wazo_reconcile.errors import ApiError, AuthError, UsageError

if TYPE_CHECKING:  # not imported with this module: a plan reads its stack before connecting
    from wazo_reconcile.confd import ConfdClient

log = logging.getLogger(__name__)

Item = dict[str, Any]
Items = tuple[Item, ...]

_RECURSE = {"recurse": "true"}


@dataclass(frozen=True, slots=True)
class ListKind:
    """A collection read into the ``LiveState`` attribute ``name``."""

    name: str
    path: str
    params: Mapping[str, str] = field(default_factory=lambda: dict(_RECURSE))
    tenant_scoped: bool = True


LIST_KINDS: tuple[ListKind, ...] = (
    ListKind("transports", "/sip/transports", {}, tenant_scoped=False),  # global
    ListKind("sip_templates", "/endpoints/sip/templates"),
    ListKind("endpoints_sip", "/endpoints/sip"),
    ListKind("endpoints_iax", "/endpoints/iax"),
    ListKind("endpoints_custom", "/endpoints/custom"),
    ListKind("trunks", "/trunks"),
    ListKind("outcalls", "/outcalls"),
    ListKind("contexts", "/contexts"),
    ListKind("extensions", "/extensions", {**_RECURSE, "type": "outcall"}),
    ListKind("users", "/users"),
)
TENANT_SCOPED = frozenset(kind.name for kind in LIST_KINDS if kind.tenant_scoped)

# Fingerprint canonicalisation: lists whose order confd keeps and that matter (template
# priority, outcall trunk priority); every other list of a field is compared as a multiset.
ORDERED_FIELDS = frozenset({"templates", "trunks"})
VOLATILE_FIELDS = frozenset({"links"})  # hrefs depend on the URL used, not on the config
USER_FIELDS = ("uuid", "id", "tenant_uuid", "email", "username", "outgoing_caller_id")
FINGERPRINT_FORMAT = 1


@dataclass(frozen=True, slots=True)
class LiveState:
    """The live configuration as confd returned it (raw items per kind).

    ``token_tenant`` is the token's own tenant; ``tenants`` maps the UUID of every visible
    tenant to its confd item (with its default SIP template UUIDs). ``pjsip_global`` and
    ``pjsip_system`` are ``None`` when the token cannot read them (not a master-tenant token),
    ``pjsip_doc`` when confd cannot serve the PJSIP documentation.
    """

    token_tenant: str
    tenants: Mapping[str, Item]
    transports: Items = ()
    sip_templates: Items = ()
    endpoints_sip: Items = ()
    endpoints_iax: Items = ()
    endpoints_custom: Items = ()
    trunks: Items = ()
    outcalls: Items = ()
    contexts: Items = ()
    extensions: Items = ()  # outcall-context extensions only
    users: Items = ()
    pjsip_global: dict[str, str] | None = None
    pjsip_system: dict[str, str] | None = None
    pjsip_doc: dict[str, Any] | None = field(default=None, repr=False)

    def items(self, kind: str) -> Items:
        """The raw items of ``kind`` (a ``LIST_KINDS`` name)."""
        if kind not in {k.name for k in LIST_KINDS}:
            raise KeyError(kind)
        items: Items = getattr(self, kind)
        return items

    def by_tenant(self, kind: str) -> dict[str, Items]:
        """The items of a tenant-scoped ``kind`` grouped by ``tenant_uuid``."""
        if kind not in TENANT_SCOPED:
            raise ValueError(f"{kind} is not tenant-scoped")
        grouped: dict[str, list[Item]] = {}
        for item in self.items(kind):
            grouped.setdefault(str(item.get("tenant_uuid")), []).append(item)
        return {tenant: tuple(items) for tenant, items in grouped.items()}

    def in_tenant(self, kind: str, tenant: str) -> Items:
        return self.by_tenant(kind).get(tenant, ())

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
        document: dict[str, Any] = {
            "format": FINGERPRINT_FORMAT,
            "token_tenant": self.token_tenant,
            "tenants": _canonical(dict(self.tenants)),
            "pjsip_global": self.pjsip_global,
            "pjsip_system": self.pjsip_system,
        }
        texts = {key: _dump(value) for key, value in document.items()}
        texts["tenants"] = _canonical_text(dict(self.tenants))
        for kind in LIST_KINDS:
            items = self.items(kind.name)
            if kind.name == "users":
                items = tuple({k: u.get(k) for k in USER_FIELDS} for u in items)
            texts[kind.name] = "[" + ",".join(sorted(_canonical_text(i) for i in items)) + "]"
        # = _dump of the document whose lists are sorted by their items' _dump (the same text,
        # built once: dumping every option pair to sort it cost 1.5 s at 5,000 trunks)
        text = "{" + ",".join(f"{_dump(key)}:{texts[key]}" for key in sorted(texts)) + "}"
        return "sha256:" + hashlib.sha256(text.encode()).hexdigest()

    def counts(self) -> dict[str, int]:
        return {kind.name: len(self.items(kind.name)) for kind in LIST_KINDS}


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_STRING = json.encoder.encode_basestring  # what the encoder writes a str with (no ASCII escaping)


def _dump(value: Any) -> str:
    return _ENCODER.encode(value)


def _canonical(value: Any, field_name: str | None = None) -> Any:
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


def _canonical_text(value: Any, field_name: str | None = None) -> str:
    """``_dump(_canonical(value, field_name))``, built without the intermediate copy and
    without dumping each list item twice (once to sort it, once in its parent)."""
    kind = type(value)
    if kind is str:
        return _STRING(value)
    if kind is dict:
        keys = [k for k in value if k not in VOLATILE_FIELDS]
        if all(type(k) is str for k in keys):
            keys.sort()
            return (
                "{" + ",".join([f"{_STRING(k)}:{_canonical_text(value[k], k)}" for k in keys]) + "}"
            )
    elif kind is list or kind is tuple:
        texts = [_canonical_text(v) for v in value]
        if field_name is not None and field_name not in ORDERED_FIELDS:
            texts.sort()  # sorting by _dump of the items = sorting their texts
        return "[" + ",".join(texts) + "]"
    elif value is None:
        return "null"
    elif kind is bool:
        return "true" if value else "false"
    elif kind is int:
        return int.__repr__(value)
    return _dump(_canonical(value, field_name))


# --------------------------------------------------------------------------- fetching


def fetch_live(
    client: ConfdClient,
    *,
    max_workers: int = 8,
    received: Callable[[str, Items], object] | None = None,
) -> LiveState:
    """Read the live configuration visible to the client's token.

    One paginated list request per kind (plus the token's tenant, the visible tenants, PJSIP
    global/system/doc), ``max_workers`` at a time. Errors propagate (the first in a fixed
    order), except that PJSIP global/system unreadable by a non-master token become ``None``.
    ``received(kind, items)`` is called with each list as soon as it is read, in the thread
    that read it, while the other lists are still being read.
    """
    started, before = time.monotonic(), client.stats.requests
    jobs = _jobs(client, received)
    results = _run(jobs, max_workers)
    state = LiveState(
        token_tenant=results.pop("token_tenant"),
        tenants=results.pop("tenants"),
        **results,
    )
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


def _jobs(
    client: ConfdClient, received: Callable[[str, Items], object] | None = None
) -> dict[str, Callable[[], Any]]:
    jobs: dict[str, Callable[[], Any]] = {
        "token_tenant": lambda: _token_tenant(client),
        "tenants": lambda: _tenants(client),
    }
    for kind in LIST_KINDS:
        jobs[kind.name] = _list_job(client, kind, received)
    jobs["pjsip_global"] = lambda: _pjsip_section(client, "/asterisk/pjsip/global")
    jobs["pjsip_system"] = lambda: _pjsip_section(client, "/asterisk/pjsip/system")
    jobs["pjsip_doc"] = lambda: _pjsip_doc(client)
    return jobs


def _run(jobs: Mapping[str, Callable[[], Any]], max_workers: int) -> dict[str, Any]:
    with ThreadPoolExecutor(
        max_workers=max(1, max_workers), thread_name_prefix="fetch-live"
    ) as pool:
        futures: dict[str, Future[Any]] = {name: pool.submit(job) for name, job in jobs.items()}
        try:
            return {name: future.result() for name, future in futures.items()}
        except BaseException:
            for future in futures.values():
                future.cancel()
            raise


def _list_job(
    client: ConfdClient, kind: ListKind, received: Callable[[str, Items], object] | None
) -> Callable[[], Items]:
    def job() -> Items:
        # no Wazo-Tenant header: the token's tenant, and with recurse=true its sub-tenants
        items = tuple(client.list(kind.path, params=dict(kind.params), tenant=None))
        if received is not None:
            received(kind.name, items)
        return items

    return job


def _token_tenant(client: ConfdClient) -> str:
    items = client.list("/tenants", tenant=None)  # without recurse: the token's own tenant
    if len(items) != 1 or not isinstance(items[0].get("uuid"), str):
        raise ApiError(
            "GET",
            "/tenants",
            200,
            [f"expected exactly the token's own tenant, got {len(items)} tenants"],
        )
    uuid: str = items[0]["uuid"]
    return uuid


def _tenants(client: ConfdClient) -> dict[str, Item]:
    items = client.list("/tenants", params=_RECURSE, tenant=None)
    return {str(item["uuid"]): item for item in items}


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

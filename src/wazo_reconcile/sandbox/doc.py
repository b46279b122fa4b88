"""The PJSIP documentation as confd uses it: allowed option keys per section, and ``/doc``.

Facts only: option names, defaults and choices come from ``wazo_reconcile.pjsip``; the order
of names (confd's error messages enumerate the keys in the doc's order) from
``data/pjsip_doc_order.json``. No Asterisk documentation text is served.
"""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

from wazo_reconcile.pjsip import load_pjsip_doc
from wazo_reconcile.sandbox import problems

# confd hard-codes these two sections (wazo_confd/helpers/asterisk.py::PJSIPDoc).
IDENTIFY_KEYS = ("match", "endpoint", "srv_lookups", "match_header")
REGISTRATION_KEYS = (
    "auth_rejection_permanent",
    "client_uri",
    "contact_user",
    "contact_header_params",
    "expiration",
    "max_retries",
    "outbound_proxy",
    "retry_interval",
    "server_uri",
    "forbidden_retry_interval",
    "fatal_retry_interval",
    "line",
    "transport",
    "support_path",
    "support_outbound",
)


@cache
def _order() -> dict[str, list[str]]:
    text = resources.files("wazo_reconcile.sandbox").joinpath("data/pjsip_doc_order.json")
    order: dict[str, list[str]] = json.loads(text.read_text("utf-8"))["sections"]
    return order


@cache
def section_keys(section: str) -> tuple[str, ...]:
    """Allowed keys of a doc section, in the doc's order (``type`` is never allowed)."""
    if section == "identify":
        return IDENTIFY_KEYS
    if section == "registration":
        return REGISTRATION_KEYS
    known = load_pjsip_doc().sections.get(section, {})
    ordered = [key for key in _order().get(section, []) if key in known]
    extra = sorted(set(known) - set(ordered))
    return tuple(key for key in ordered + extra if key != "type")


@cache
def _allowed(section: str) -> frozenset[str]:
    return frozenset(section_keys(section))


def check_keys(field: str, section: str, keys: list[str]) -> None:
    """Raise confd's ``invalid_choice`` error for the first key the section does not accept
    (``aor`` and ``endpoint`` also accept ``@`` variables)."""
    allowed = _allowed(section)  # a set built once (each key checked rebuilt the list)
    variables = section in ("aor", "endpoint")
    for key in keys:
        if key not in allowed and not (variables and key.startswith("@")):
            raise problems.invalid_choice(
                f"{field}: invalid variable ({key})", section_keys(section)
            )


def served() -> dict[str, dict[str, dict[str, object]]]:
    """The ``GET /asterisk/pjsip/doc`` body: per section, each option's name/default/choices."""
    sections = load_pjsip_doc().sections
    order = list(_order()) + sorted(set(sections) - set(_order()))
    return {
        section: {
            key: {
                "name": key,
                "default": sections[section][key].get("default"),
                "choices": {choice: "" for choice in sections[section][key].get("choices", [])},
            }
            for key in section_keys(section)
        }
        for section in order
        if section in sections
    }

"""The PJSIP option table: which option keys each section accepts, and their defaults.

The data (``data/pjsip_options.json``) holds facts only: section -> option -> default and
choices, as confd serves them at ``GET /asterisk/pjsip/doc``, plus confd's fixed key lists for
the ``identify`` and ``registration`` sections.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from wazo_reconcile.model import SIP_SECTIONS

# The PJSIP doc section whose keys each option section of a SIP endpoint/template accepts
# (`model.SIP_SECTIONS`; None = confd's fixed list).
ENDPOINT_SECTIONS: dict[str, str | None] = {
    "aor": "aor",
    "auth": "auth",
    "endpoint": "endpoint",
    "identify": None,
    "registration": None,
    "registration_outbound_auth": "auth",
    "outbound_auth": "auth",
}
assert tuple(ENDPOINT_SECTIONS) == SIP_SECTIONS


@dataclass(frozen=True)
class PjsipDoc:
    sections: dict[str, dict[str, dict[str, Any]]]
    identify: frozenset[str]
    registration: frozenset[str]

    def allowed(self, section: str) -> frozenset[str]:
        """Keys accepted in a confd option section (``type`` is never accepted)."""
        if section == "identify":
            return self.identify
        if section == "registration":
            return self.registration
        doc_section = ENDPOINT_SECTIONS.get(section, section)
        assert doc_section is not None
        return frozenset(k for k in self.sections.get(doc_section, {}) if k != "type")

    def default(self, section: str, key: str) -> str | None:
        value = self.sections.get(section, {}).get(key, {}).get("default")
        return None if value is None else str(value)

    @classmethod
    def from_confd(cls, body: dict[str, dict[str, dict[str, Any]]]) -> PjsipDoc:
        """Build from a live ``GET /asterisk/pjsip/doc`` body (identify/registration stay fixed)."""
        base = load_pjsip_doc()
        sections = {s: {k: dict(v) for k, v in opts.items()} for s, opts in body.items()}
        return cls(sections, base.identify, base.registration)


@cache
def load_pjsip_doc() -> PjsipDoc:
    raw = json.loads(
        resources.files("wazo_reconcile").joinpath("data/pjsip_options.json").read_text("utf-8")
    )
    return PjsipDoc(
        sections=raw["sections"],
        identify=frozenset(raw["identify"]),
        registration=frozenset(raw["registration"]),
    )

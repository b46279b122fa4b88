from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from wazo_reconcile.formatdoc import (
    BEGIN,
    END,
    generated_part,
    main,
    render_reference,
    replace_generated,
)
from wazo_reconcile.schema import load_schema

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "format.md"


def test_format_page_is_in_sync_with_the_schema() -> None:
    # Regenerate with: python -m wazo_reconcile.formatdoc docs/format.md
    page = PAGE.read_text(encoding="utf-8")
    assert generated_part(page) == render_reference(load_schema())


def _documented_paths(schema: dict[str, Any]) -> set[str]:
    return set(re.findall(r"^\| `([^`]+)` \|", render_reference(schema), re.M))


def test_every_key_of_the_schema_is_documented() -> None:
    schema = load_schema()
    paths = _documented_paths(schema)
    defs = schema["definitions"]
    expected = {"version", "tenant", "pjsip.global", "pjsip.system", "policy.ignore"}
    expected |= {f"trunks.<name>.{key}" for key in defs["trunk"]["properties"]}
    expected |= {f"sip_templates.<name>.{key}" for key in defs["sip_template"]["properties"]}
    expected |= {f"outcalls.<name>.{key}" for key in defs["outcall"]["properties"]}
    expected |= {f"outcalls.<name>.patterns[].{key}" for key in defs["pattern"]["properties"]}
    expected |= {f"users.<user>.{key}" for key in defs["user"]["properties"]}
    expected |= {f"policy.{key}" for key in defs["policy"]["properties"]}
    expected |= {f"transports.<name>.{key}" for key in defs["transport_options"]["properties"]}
    assert expected <= paths


def test_a_new_property_appears_in_the_reference() -> None:
    schema = load_schema()
    changed = {**schema, "definitions": {**schema["definitions"]}}
    changed["definitions"]["user"] = {
        **schema["definitions"]["user"],
        "properties": {
            **schema["definitions"]["user"]["properties"],
            "ring_seconds": {"description": "How long.", "type": "integer", "examples": [5]},
        },
    }
    row = "| `users.<user>.ring_seconds` | integer | How long. | `5` |"
    assert row in render_reference(changed)
    assert row not in render_reference(schema)


def test_replace_generated_keeps_the_hand_written_parts() -> None:
    page = f"intro\n{BEGIN}\nold\n{END}\noutro\n"
    updated = replace_generated(page, "new\n")
    assert updated == f"intro\n{BEGIN}\n\nnew\n\n{END}\noutro\n"
    assert generated_part(updated) == "new\n"
    with pytest.raises(ValueError):
        replace_generated("no markers", "x")


def test_formatdoc_main_rewrites_a_page(tmp_path: Path) -> None:
    page = tmp_path / "format.md"
    page.write_text(f"# Title\n{BEGIN}\n{END}\n", encoding="utf-8")
    assert main([str(page)]) == 0
    assert generated_part(page.read_text(encoding="utf-8")) == render_reference(load_schema())
    assert main([]) == 1


def test_format_page_links_resolve() -> None:
    page = PAGE.read_text(encoding="utf-8")
    for target in re.findall(r"\]\((\.\./[^)#]+)\)", page):
        assert (PAGE.parent / target).resolve().exists(), target

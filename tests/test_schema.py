from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from wazo_reconcile import schema as schema_module
from wazo_reconcile.schema import load_schema, validate_stack
from wazo_reconcile.stack import FloatText, IntText, read_stack

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_COPIES = (
    ROOT / "schemas/stack.schema.json",
    ROOT / "src/wazo_reconcile/schemas/stack.schema.json",
)


def test_schema_copies_are_identical() -> None:
    top, packaged = (path.read_bytes() for path in SCHEMA_COPIES)
    assert top == packaged


def test_schema_is_a_valid_draft_07_schema() -> None:
    schema = load_schema()
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    Draft7Validator.check_schema(schema)


def _properties(schema: Any, path: str = "$") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(schema, dict):
        for key, prop in schema.get("properties", {}).items():
            if isinstance(prop, dict):
                found.append((f"{path}.{key}", prop))
        for key, value in schema.items():
            if key != "properties" or not isinstance(value, dict):
                found += _properties(value, f"{path}/{key}")
            else:
                for name, prop in value.items():
                    found += _properties(prop, f"{path}.{name}")
    elif isinstance(schema, list):
        for index, item in enumerate(schema):
            found += _properties(item, f"{path}[{index}]")
    return found


def _resolved(prop: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in prop:
        target = schema["definitions"][prop["$ref"].rsplit("/", 1)[-1]]
        return {**_resolved(target, schema), **prop}
    return prop


def test_schema_every_property_has_a_description_and_examples() -> None:
    schema = load_schema()
    missing = [
        path
        for path, prop in _properties(schema)
        if "/then" not in path and "/if" not in path  # type switches, not properties
        for full in [_resolved(prop, schema)]
        if not full.get("description") or not full.get("examples")
    ]
    assert missing == []


# ----------------------------------------------------------------- the compiled validator

VALID_DOCUMENT: dict[str, Any] = {
    "version": 1,
    "tenant": "11111111-1111-4111-8111-111111111111",
    "pjsip": {"global": {"user_agent": "Wazo PBX", "max_forwards": 70}},
    "transports": {"transport-udp": {"protocol": "udp", "local_net": ["10.0.0.0/8"]}},
    "sip_templates": {"global": {"endpoint": {"rtp_symmetric": True}}, "base": None},
    "trunks": {
        "acme": {
            "templates": ["global"],
            "endpoint": [["set_var", "A=1"], ["allow", "ulaw"]],
            "headers": {"X-Account": 123},
            "match_header": "X-Dest: a",
            "label": None,
        },
        "hq": {"type": "iax", "host": "hq.example.net", "peer_type": "friend", "options": {}},
        "bridge": {"type": "custom", "interface": "Local", "interface_suffix": "@x"},
    },
    "outcalls": {
        "national": {
            "trunks": ["acme"],
            "ring_time": 30,
            "patterns": [{"exten": "_0XXX", "strip_digits": 1, "prefix": None}],
        }
    },
    "users": {"bob@example.com": {"outgoing_caller_id": "anonymous"}},
    "policy": {"prune": ["trunks"], "max_delete_percent": 12.5, "ignore": {"trunks/a": ["x"]}},
}

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 200)
    | st.floats(-1, 150, allow_nan=False)
    | st.sampled_from(
        ["", "sip", "iax", "custom", "global", "udp", "friend", "+E164", "trunks", "x" * 90, "a/b"]
    ),
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(
                [
                    "type",
                    "host",
                    "endpoint",
                    "exten",
                    "templates",
                    "interface",
                    "version",
                    "zzz",
                    "0",
                ]
            ),
            children,
            max_size=3,
        )
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


ALL_PATHS = _paths(VALID_DOCUMENT)


@st.composite
def mutated_documents(draw: st.DrawFn) -> dict[str, Any]:
    document = copy.deepcopy(VALID_DOCUMENT)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(ALL_PATHS))
        if not path:
            continue
        parent = document
        try:
            for part in path[:-1]:
                parent = parent[part]
            if isinstance(parent, dict) and draw(st.booleans()):
                parent[draw(st.sampled_from(["type", "zzz", "host", "exten"]))] = draw(JSON_VALUES)
            else:
                parent[path[-1]] = draw(JSON_VALUES)
        except (KeyError, IndexError, TypeError):
            continue
    return document


def test_compiled_validator_accepts_the_reference_document() -> None:
    schema = load_schema()
    assert Draft7Validator(schema).is_valid(VALID_DOCUMENT)
    assert schema_module._checker().is_valid(VALID_DOCUMENT)


def test_compiled_validator_never_writes_defaults_into_the_stack() -> None:
    document = {"version": 1, "trunks": {"acme": {"label": "A"}}}  # `type` defaults to sip
    assert schema_module._checker().is_valid(document)
    assert document == {"version": 1, "trunks": {"acme": {"label": "A"}}}


def test_compiled_validator_takes_numbers_as_written() -> None:
    document = {"version": IntText(1, "1"), "outcalls": {"o": {"ring_time": IntText(30, "030")}}}
    document["pjsip"] = {"global": {"timer_t1": FloatText(0.5, ".50")}}
    assert schema_module._checker().is_valid(document)
    assert not schema_module._checker().is_valid({"version": True})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_documents())
def test_compiled_validators_agree_with_jsonschema(document: dict[str, Any]) -> None:
    """The fast path decides alone what is valid: the compiled validators of the document
    and of each kind's entries say what jsonschema says."""
    checker = schema_module._checker()
    assert checker.is_valid(document) == Draft7Validator(load_schema()).is_valid(document)
    for key, wrapper_text in checker.collections.items():
        entries = document.get(key)
        for entry in entries.values() if isinstance(entries, dict) else ():
            wrapper = Draft7Validator(json.loads(wrapper_text))
            assert schema_module._compiled(wrapper_text)(entry) == wrapper.is_valid(entry)


# --------------------------------------------------------------------------------- messages


def _problems(tmp_path: Path, text: str) -> list[str]:
    (tmp_path / "stack.yaml").write_text(text, encoding="utf-8")
    stack, _ = read_stack(tmp_path / "stack.yaml")
    report = validate_stack(stack)
    return sorted(
        f"{p.location.line}:{p.location.col}: {p.path}: {p.message}" for p in report.problems
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\ntrunks:\n  acme:\n    outbound_auht: {}\n",
            "4:5: trunks.acme.outbound_auht: unknown key 'outbound_auht'; "
            "did you mean 'outbound_auth'?",
        ),
        (
            "version: 1\nfoo: 1\n",
            "2:1: foo: unknown key 'foo' (expected one of: version, tenant, pjsip, transports, "
            "sip_templates, trunks, outcalls, users, policy)",
        ),
        ("version: 1\ntrunks: [acme]\n", "2:1: trunks: expected a mapping, got a list"),
        (
            "version: 1\ntrunks:\n  acme: {type: IAX}\n",
            "3:16: trunks.acme.type: 'IAX' is not allowed; must be one of: sip, iax, custom; "
            "did you mean 'iax'?",
        ),
        (
            "version: 1\ntrunks:\n  loop: {type: custom}\n",
            "3:3: trunks.loop: missing required key 'interface'",
        ),
        (
            "version: 1\ntrunks:\n  acme:\n    host: h\n",
            "4:5: trunks.acme.host: 'host' does not apply to a sip trunk (only to iax trunks)",
        ),
        (
            "version: 1\ntrunks:\n  acme: {aor: [[contact]]}\n",
            "3:16: trunks.acme.aor[0]: each option must be a [key, value] pair",
        ),
        (
            "version: 1\noutcalls:\n  o: {trunks: [a, b, a]}\n",
            "3:22: outcalls.o.trunks[2]: 'a' is listed twice",
        ),
        (
            "version: 1\npolicy:\n  ignore: {acme: [x]}\n",
            "3:12: policy.ignore.acme: must be kind/name, e.g. trunks/acme",
        ),
        (
            "version: 1\ntenant: ''\n",
            "2:9: tenant: must be a tenant's slug, name or UUID (e.g. master), without "
            "surrounding spaces",
        ),
        (
            "version: 1\noutcalls:\n  o: {ring_time: -5}\n",
            "3:18: outcalls.o.ring_time: must be at least 0",
        ),
        (
            "version: 1\ntrunks:\n  loop: {type: custom, interface: 'Local channel'}\n",
            "3:35: trunks.loop.interface: an interface is 1 to 128 letters, digits or "
            "# * . / _ @ : - (e.g. Local/bridge)",
        ),
        ("trunks: {}\n", "1:1: $: missing required key 'version'"),
    ],
)
def test_validate_stack_messages(tmp_path: Path, text: str, expected: str) -> None:
    assert _problems(tmp_path, text) == [expected]


def test_validate_stack_marks_invalid_declarations(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        "version: 1\ntrunks:\n  good: {}\n  bad: {type: nope}\nusers:\n  bob: {x: 1}\n",
        encoding="utf-8",
    )
    stack, _ = read_stack(tmp_path / "s.yaml")
    assert validate_stack(stack).invalid == {(0, "trunks", "bad"), (0, "users", "bob")}


def test_validate_stack_never_echoes_a_secret_value(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        "version: 1\ntrunks:\n  acme:\n    outbound_auth: {password: {hunter2-secret: 1}}\n",
    )
    assert problems and not any("hunter2" in p for p in problems)


def test_schema_json_has_no_duplicate_keys() -> None:
    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(SCHEMA_COPIES[0].read_text(encoding="utf-8"), object_pairs_hook=refuse_duplicates)

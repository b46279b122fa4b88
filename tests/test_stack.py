from __future__ import annotations

import pickle
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wazo_reconcile.errors import ConfigError, Location
from wazo_reconcile.stack import (
    FloatText,
    IntText,
    format_path,
    load_stack,
    option_text,
    read_stack,
)


def write(directory: Path, name: str, text: str | bytes) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def messages(problems: list[Any]) -> list[str]:
    return [str(p) for p in sorted(problems, key=lambda p: p.sort_key())]


# ---------------------------------------------------------------------------- scalars


@pytest.mark.parametrize(
    ("yaml_text", "text"),
    [
        ("060", "060"),
        ("+33", "+33"),
        ("1_000", "1_000"),
        ("0x1F", "0x1F"),
        ("1.50", "1.50"),
        ("yes", "yes"),
        ("on", "yes"),
        ("No", "no"),
        ("false", "no"),
        ("'060'", "060"),
        ("sip:u1@sip.acme.example", "sip:u1@sip.acme.example"),
        ("192.168.0.0/16", "192.168.0.0/16"),
        ("2024-01-31", "2024-01-31"),
        ("!!str 12", "12"),
    ],
)
def test_option_text_gives_the_source_text(tmp_path: Path, yaml_text: str, text: str) -> None:
    write(tmp_path, "s.yaml", f"version: 1\npjsip:\n  global:\n    v: {yaml_text}\n")
    stack = load_stack(tmp_path / "s.yaml")
    assert option_text(stack.declarations("pjsip")[0].data["v"]) == text


def test_numbers_keep_their_value_and_their_text(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "version: 1\npjsip:\n  global: {a: 060, b: 0.50, c: 7}\n")
    data = load_stack(tmp_path / "s.yaml").declarations("pjsip")[0].data
    assert (data["a"], data["a"].text) == (48, "060")  # YAML 1.1 octal, text kept
    assert isinstance(data["b"], FloatText) and data["b"] == 0.5
    assert isinstance(data["c"], IntText) and not isinstance(data["c"], bool)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "yes"),
        (False, "no"),
        (5, "5"),
        (0.25, "0.25"),
        ("x", "x"),
        (IntText(9, "011"), "011"),
    ],
)
def test_option_text_table(value: Any, text: str) -> None:
    assert option_text(value) == text


def test_option_text_refuses_non_scalars() -> None:
    with pytest.raises(TypeError):
        option_text(None)


def test_int_text_survives_pickle() -> None:
    value = pickle.loads(pickle.dumps(IntText(48, "060")))
    assert (value, value.text, type(value)) == (48, "060", IntText)


def test_mapping_keys_are_their_source_text(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  1234: {}\n  yes: {}\n  '0.5': {}\n")
    names = [d.name for d in load_stack(tmp_path / "s.yaml").declarations("trunks")]
    assert names == ["1234", "yes", "0.5"]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), "$"),
        (("trunks", "acme"), "trunks.acme"),
        (("outcalls", "o", "patterns", 2), "outcalls.o.patterns[2]"),
    ],
)
def test_format_path(path: tuple[Any, ...], text: str) -> None:
    assert format_path(path) == text


# ----------------------------------------------------------------------------- stacks


def test_read_stack_of_a_directory_is_recursive_sorted_and_skips_others(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "version: 1\ntrunks: {b: {}}\n")
    write(tmp_path, "a/z.yml", "version: 1\ntrunks: {az: {}}\n")
    write(tmp_path, "a.yaml", "version: 1\ntrunks: {a: {}}\n")
    write(tmp_path, "notes.txt", "not yaml: [")
    write(tmp_path, ".hidden/x.yaml", "not: [valid")
    write(tmp_path, ".skip.yaml", "not: [valid")
    stack, problems = read_stack(tmp_path)
    assert problems == []
    # sorted by path components: the directory `a` comes before the file `a.yaml`
    assert [d.name for d in stack.declarations("trunks")] == ["az", "a", "b"]
    assert stack.path == tmp_path


def test_read_stack_reads_every_document_of_a_file(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks: {a: {}}\n---\nversion: 1\noutcalls: {o: {}}\n")
    stack = load_stack(tmp_path / "s.yaml")
    assert [(d.index, d.ordinal) for d in stack.documents] == [(0, 0), (1, 1)]
    assert stack.declarations("outcalls")[0].location == Location(str(tmp_path / "s.yaml"), 5, 12)


def test_declarations_carry_tenant_location_and_document(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "version: 1\ntenant: 22222222-2222-4222-8222-222222222222\n"
        "transports:\n  t: {protocol: udp}\ntrunks:\n  acme: {label: A}\n"
        "pjsip:\n  global: {user_agent: X}\n",
    )
    stack = load_stack(path)
    trunk, transport, pjsip = (stack.declarations(k)[0] for k in ("trunks", "transports", "pjsip"))
    assert (trunk.tenant, transport.tenant, pjsip.tenant) == (
        "22222222-2222-4222-8222-222222222222",
        None,
        None,
    )
    assert trunk.location == Location(str(path), 6, 3)
    assert trunk.data == {"label": "A"} and trunk.document is stack.documents[0]
    assert (pjsip.kind, pjsip.name) == ("pjsip", "global")
    assert stack.resource_count == 3


def test_locate_values_keys_and_nearest_parent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "version: 1\noutcalls:\n  o:\n    patterns:\n      - exten: _0X\n        caller_id: x\n",
    )
    stack = load_stack(path)
    document = stack.documents[0]
    at = stack.locate
    assert at(document, ("outcalls", "o", "patterns", 0, "caller_id")) == Location(str(path), 6, 20)
    assert at(document, ("outcalls", "o", "patterns"), key=True) == Location(str(path), 4, 5)
    assert at(document, ("outcalls", "o", "patterns", 7)) == Location(str(path), 4, 5)
    assert at(document, ("outcalls", "o", "nope", "deeper")) == Location(str(path), 3, 3)
    assert at(document, ()) == Location(str(path), 1, 1)


def test_merge_keys_are_applied_and_located(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "s.yaml",
        "version: 1\nsip_templates:\n  base:\n    endpoint: &nat {rtp_symmetric: yes, a: 1}\n"
        "trunks:\n  acme:\n    endpoint:\n      <<: *nat\n      a: 2\n",
    )
    stack = load_stack(path)
    trunk = stack.declarations("trunks")[0]
    assert trunk.data["endpoint"] == {"a": 2, "rtp_symmetric": True}
    assert trunk.locate("endpoint", "rtp_symmetric") == Location(str(path), 4, 36)
    assert trunk.locate("endpoint", "a") == Location(str(path), 9, 10)


def test_aliases_share_their_value(tmp_path: Path) -> None:
    write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  a: &t {label: X}\n  b: *t\n")
    a, b = load_stack(tmp_path / "s.yaml").declarations("trunks")
    assert a.data == b.data == {"label": "X"}


def test_locating_needs_no_second_read_of_the_file(tmp_path: Path) -> None:
    """Documents keep their node trees: values are located after the file is gone."""
    path = write(tmp_path, "s.yaml", "version: 1\ntrunks:\n  a:\n    aor: {contact: x}\n")
    trunk = load_stack(path).declarations("trunks")[0]
    path.unlink()
    assert trunk.locate("aor", "contact") == Location(str(path), 4, 20)


# --------------------------------------------------------------------------- problems


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "s.yaml:1:1: $: no YAML document in this file (expected a mapping with 'version: 1')"),
        ("- a\n", "s.yaml:1:1: $: a document must be a mapping (version, trunks, …), not a list"),
        (
            "just text\n",
            "s.yaml:1:1: $: a document must be a mapping (version, trunks, …), not a scalar",
        ),
        ("---\n", "s.yaml:2:1: $: empty YAML document (expected a mapping with 'version: 1')"),
        (
            "version: 1\ntrunks: [a\n",
            "s.yaml:3:1: $: YAML syntax error: did not find expected ',' or ']' "
            "(while parsing a flow sequence at line 2)",
        ),
        (
            "version: 1\n\ttrunks: {}\n",
            "s.yaml:2:1: $: YAML syntax error: found a tab character that violates indentation "
            "(while scanning a plain scalar at line 1); line 2 is indented with a tab: YAML "
            "indents with spaces only",
        ),
        (
            'version: 1\noutcalls:\n  o:\n    patterns:\n      - exten: "_0X."\n'
            '        caller_id: "Paris" <+33123456789>\n',
            "s.yaml:6:28: $: YAML syntax error: did not find expected key (while parsing a block "
            "mapping at line 5); a value that starts with a quote must be quoted whole: write "
            "caller_id: '\"Paris\" <+33123456789>' (line 6)",
        ),
        (
            "version: 1\nusers:\n  bob: {outgoing_caller_id: 'Bob' <+33123>}\n",
            "s.yaml:3:35: $: YAML syntax error: did not find expected ',' or '}' (while parsing "
            "a flow mapping at line 3); a value that starts with a quote must be quoted whole: "
            "write outgoing_caller_id: \"'Bob' <+33123>\" (line 3)",
        ),
        (
            "version: 1\ntrunks:\n  acme:\n    templates: [global]\n   endpoint: {a: b}\n",
            "s.yaml:5:4: $: YAML syntax error: did not find expected key (while parsing a block "
            "mapping at line 3); check the indentation of line 5 and the lines above it: the "
            "keys of one mapping, and the '-' of one list, start in the same column",
        ),
        (
            "version: 1\ntrunks:\n  acme:\n    context: from-extern\n      label: x\n",
            "s.yaml:5:12: $: YAML syntax error: mapping values are not allowed in this context; "
            "check the indentation of line 5 and the lines above it: the keys of one mapping, "
            "and the '-' of one list, start in the same column",
        ),
        (
            b"version: 1\n#\xff\xfe\n",
            "s.yaml:2:2: $: not UTF-8 text (byte 0xff); YAML files must be UTF-8",
        ),
        (
            b"\x00\x01\x02",
            "s.yaml:1:1: $: character U+0000 is not allowed in YAML "
            "(control characters are not allowed)",
        ),
        (
            "version: 1\ntrunks:\n  a: {label: x}\n  b: {label: x}\n  a: {}\n",
            "s.yaml:5:3: $: duplicate key 'a' (first at line 3); "
            "YAML would silently keep only the last one",
        ),
        (
            "version: 1\ntrunks:\n  a:\n    endpoint:\n      allow: !all,ulaw\n",
            "s.yaml:5:18: $: YAML syntax error: did not find expected whitespace or line break "
            "(while scanning a tag at line 5); quote a value that starts with '!', "
            'e.g. "!all,ulaw"',
        ),
        (
            "version: 1\ntrunks:\n  a:\n    endpoint:\n      allow: !all\n",
            "s.yaml:5:14: $: unsupported YAML tag '!all'; "
            "quote a value that starts with '!' (\"!all\")",
        ),
        (
            "version: 1\nx: !!binary aGk=\n",
            "s.yaml:2:4: $: unsupported YAML tag 'tag:yaml.org,2002:binary'",
        ),
        ("version: 1\nx: !!int abc\n", "s.yaml:2:4: $: 'abc' is not a valid int"),
        ("version: 1\n? [a]\n: b\n", "s.yaml:2:3: $: a mapping key must be a scalar"),
        ("version: 1\nx: &a [*a]\n", "s.yaml:2:8: $: recursive alias: a node contains itself"),
        (
            "version: 1\nx: " + "[" * 900 + "]" * 900 + "\n",
            "s.yaml:2:67: $: nested more than 64 levels deep; refused",
        ),
        (
            "version: 1\nx:\n  <<: [1]\n",
            "s.yaml:3:7: $: '<<' must merge a mapping or a list of them",
        ),
    ],
)
def test_read_stack_reports_located_problems(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | bytes, expected: str
) -> None:
    write(tmp_path, "s.yaml", content)
    monkeypatch.chdir(tmp_path)
    _, problems = read_stack("s.yaml")
    assert messages(problems) == [expected]


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("version: 1\nx: [a, *nowhere]\n", "s.yaml:2:8: $: undefined alias '*nowhere'"),
        (
            "version: 1\na: &x 1\nb: &x 2\n",
            "s.yaml:3:4: $: anchor defined twice (first at line 2): give this one another name",
        ),
        (
            "version: 1\nx: &a {b: {<<: *a}}\n",
            "s.yaml:2:16: $: recursive alias: a node contains itself",
        ),
        (
            "version: 1\nx: &a\n  - 1\n  - [2, *a]\n",
            "s.yaml:4:9: $: recursive alias: a node contains itself",
        ),
    ],
)
def test_anchors_and_aliases_refused_where_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str
) -> None:
    write(tmp_path, "s.yaml", content)
    monkeypatch.chdir(tmp_path)
    stack, problems = read_stack("s.yaml")
    assert messages(problems) == [expected]


def test_a_dropped_value_is_still_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The value of a repeated or complex key is dropped, after its own problems are said."""
    write(
        tmp_path,
        "s.yaml",
        "version: 1\ntrunks: {}\ntrunks:\n  a: {x: 1, x: 2}\n? [!!binary aGk=]\n: {y: 1, y: 2}\n",
    )
    monkeypatch.chdir(tmp_path)
    stack, problems = read_stack("s.yaml")
    assert messages(problems) == [
        "s.yaml:3:1: $: duplicate key 'trunks' (first at line 2); "
        "YAML would silently keep only the last one",
        "s.yaml:4:13: $: duplicate key 'x' (first at line 4); "
        "YAML would silently keep only the last one",
        "s.yaml:5:3: $: a mapping key must be a scalar",
        "s.yaml:5:4: $: unsupported YAML tag 'tag:yaml.org,2002:binary'",
        "s.yaml:6:10: $: duplicate key 'y' (first at line 6); "
        "YAML would silently keep only the last one",
    ]
    assert stack.documents[0].data == {"version": 1, "trunks": {}}


def test_an_alias_bomb_through_merge_keys_is_refused(tmp_path: Path) -> None:
    lines = ["version: 1", "a0: &a0 {k0: x, k1: x, k2: x, k3: x, k4: x, k5: x, k6: x, k7: x}"]
    lines += [
        f"a{i}: &a{i} {{{', '.join(f'm{j}: {{<<: *a{i - 1}}}' for j in range(10))}}}"
        for i in range(1, 8)
    ]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    stack, problems = read_stack(tmp_path / "bomb.yaml")
    assert stack.documents == ()
    assert len(problems) == 1 and "alias bomb" in problems[0].message


def write_alias_bomb(tmp_path: Path) -> Path:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 10)]
    write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n")
    return tmp_path / "bomb.yaml"


@pytest.mark.timing
def test_alias_bomb_is_refused_within_a_tenth_of_a_second(tmp_path: Path) -> None:
    path = write_alias_bomb(tmp_path)
    started = time.perf_counter()
    read_stack(path)
    assert time.perf_counter() - started < 0.1


def test_alias_bomb_is_refused(tmp_path: Path) -> None:
    stack, problems = read_stack(write_alias_bomb(tmp_path))
    assert stack.documents == ()
    assert len(problems) == 1 and "alias bomb" in problems[0].message
    assert problems[0].location.line == 5  # where the expansion passed the bound


def test_reasonable_alias_reuse_is_accepted(tmp_path: Path) -> None:
    trunks = "\n".join(f"  t{i}: {{endpoint: *common}}" for i in range(2000))
    write(
        tmp_path,
        "s.yaml",
        "version: 1\nsip_templates:\n  base:\n    endpoint: &common "
        + "{"
        + ", ".join(f"k{i}: v" for i in range(8))
        + "}\ntrunks:\n"
        + trunks
        + "\n",
    )
    assert len(load_stack(tmp_path / "s.yaml").declarations("trunks")) == 2000


def test_unreadable_and_empty_paths(tmp_path: Path) -> None:
    write(tmp_path, "empty/notes.txt", "")
    _, problems = read_stack(tmp_path / "empty")
    assert messages(problems) == [f"{tmp_path / 'empty'}:1:1: $: no *.yaml or *.yml file here"]
    _, problems = read_stack(tmp_path / "missing.yaml")
    assert messages(problems) == [
        f"{tmp_path / 'missing.yaml'}:1:1: $: cannot read file: No such file or directory"
    ]


def test_problems_of_every_file_are_gathered(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 1\nx: [\n")
    write(tmp_path, "b.yaml", "version: 1\ny: 1\ny: 2\n")
    stack, problems = read_stack(tmp_path)
    assert [p.location.file for p in problems] == [
        str(tmp_path / "a.yaml"),
        str(tmp_path / "b.yaml"),
    ]
    assert not stack.readable


def test_load_stack_raises_one_config_error_with_every_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 1\nx: [\n")
    write(tmp_path, "b.yaml", "- list\n")
    with pytest.raises(ConfigError) as raised:
        load_stack(tmp_path)
    assert len(raised.value.problems) == 2


# ---------------------------------------------------------------------------- merging


def test_a_name_declared_twice_is_an_error_naming_both_places(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 1\ntrunks:\n  acme: {}\noutcalls:\n  o: {}\n")
    write(
        tmp_path,
        "b.yaml",
        "version: 1\ntenant: 22222222-2222-4222-8222-222222222222\ntrunks:\n  acme: {}\n",
    )
    write(tmp_path, "c.yaml", "version: 1\noutcalls:\n  o: {}\n")
    stack, problems = read_stack(tmp_path)
    assert messages(problems) == [
        f"{tmp_path}/b.yaml:4:3: trunks.acme: trunk 'acme' is already declared "
        f"at {tmp_path}/a.yaml:3:3",
        f"{tmp_path}/c.yaml:3:3: outcalls.o: outcall 'o' is already declared "
        f"at {tmp_path}/a.yaml:5:3",
    ]
    assert [d.document.file for d in stack.declarations("trunks")] == [f"{tmp_path}/a.yaml"]


def test_global_template_is_declared_once_per_tenant(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "version: 1\nsip_templates: {global: {}, base: {}}\n")
    write(
        tmp_path,
        "b.yaml",
        "version: 1\ntenant: 22222222-2222-4222-8222-222222222222\nsip_templates: {global: {}}\n",
    )
    write(tmp_path, "c.yaml", "version: 1\nsip_templates: {global: {}}\n")
    stack, problems = read_stack(tmp_path)
    assert [p.path for p in problems] == ["sip_templates.global"]
    assert "already declared for this tenant" in problems[0].message
    assert problems[0].location.file.endswith("c.yaml")
    assert [d.tenant for d in stack.declarations("sip_templates") if d.name == "global"] == [
        None,
        "22222222-2222-4222-8222-222222222222",
    ]


def test_policies_merge_and_conflicts_are_errors(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        "version: 1\npolicy:\n  prune: [trunks]\n  protect: [trunks/e]\n  max_delete_percent: 30\n"
        "  ignore: {trunks/acme: [endpoint.user_agent]}\n",
    )
    write(
        tmp_path,
        "b.yaml",
        "version: 1\npolicy:\n  prune: [outcalls, trunks]\n  max_delete_percent: 30.0\n"
        "  max_update_percent: 50\n"
        "  ignore: {trunks/acme: [label, endpoint.user_agent], outcalls/o: [x]}\n",
    )
    write(tmp_path, "c.yaml", "version: 1\npolicy:\n  max_update_percent: 40\n")
    stack, problems = read_stack(tmp_path)
    policy = stack.policy
    assert policy.prune == ("trunks", "outcalls")
    assert policy.protect == ("trunks/e",)
    assert (policy.max_delete_percent, policy.max_update_percent) == (30.0, 50.0)
    assert dict(policy.ignore) == {
        "trunks/acme": ("endpoint.user_agent", "label"),
        "outcalls/o": ("x",),
    }
    assert messages(problems) == [
        f"{tmp_path}/c.yaml:3:23: policy.max_update_percent: conflicting policy: "
        f"max_update_percent is 40 here but 50 at {tmp_path}/b.yaml:5:23"
    ]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.binary(max_size=200))
def test_read_stack_never_raises(content: str | bytes) -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = write(Path(directory), "s.yaml", content)
        stack, problems = read_stack(path)
        assert all(p.location.file == str(path) for p in problems)
        assert all(isinstance(d.data, dict) for d in stack.documents)

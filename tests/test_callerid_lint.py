"""Caller-ID lint wired into `validate`: located problems from callerid.py's findings."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from support import EXAMPLE_NAMES, EXAMPLES, SECRETS
from wazo_reconcile.cli import main
from wazo_reconcile.dialpattern import (
    _covers,
    _never_reason,
    compile_pattern,
    context_problems,
    sort_patterns,
)
from wazo_reconcile.model import Pattern

CTX = "to-extern"

# ------------------------------------------------- the pair search equals every pair compared


def naive_pairs(patterns: list[Pattern]) -> list[tuple[str, str, str | None]]:
    """Every pair in Asterisk's order, the first hiding pattern wins (the reference)."""
    ordered = sort_patterns(dict.fromkeys(patterns))
    found: list[tuple[str, str, str | None]] = []
    for i, later in enumerate(ordered):
        second = compile_pattern(later.exten)
        for earlier in ordered[:i]:
            first = compile_pattern(earlier.exten)
            if first.key == second.key:
                found.append(("duplicate", later.exten, earlier.exten))
                break
            if _never_reason(second) is None and _covers(first, second):
                found.append(("shadowed", later.exten, earlier.exten))
                break
    return found


PIECES = ["0", "1", "6", "X", "Z", "N", "[0-5]", "[13]", "[X]", "[]", ".", "!", "-", "["]
extens = st.lists(st.sampled_from(PIECES), min_size=1, max_size=5).map(
    lambda parts: "_" + "".join(parts)
)
literals = st.text("016", min_size=1, max_size=4)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(extens, literals), min_size=1, max_size=12))
def test_context_problems_match_the_pairwise_reference(texts: list[str]) -> None:
    patterns = [Pattern(CTX, text) for text in texts]
    found = [(f.code, f.exten, f.related) for f in context_problems(patterns)]
    assert found == naive_pairs(patterns)


def test_context_problems_on_many_patterns_match_the_reference() -> None:
    rng = random.Random(7)
    texts = {
        "_" + "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 4))) for _ in range(300)
    }
    patterns = [Pattern(CTX, text) for text in sorted(texts)]
    found = [(f.code, f.exten, f.related) for f in context_problems(patterns)]
    assert found == naive_pairs(patterns)
    assert {code for code, _, _ in found} == {"duplicate", "shadowed"}


# --------------------------------------------------------- located problems in validate

GUIDE = (
    "the guide says: \"If you don't set the number part of the caller ID, the dialplan's "
    'number will be used instead. This might not be a good option in most cases."'
)


def validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], *texts: str
) -> tuple[int, list[str]]:
    for index, text in enumerate(texts):
        (tmp_path / f"{index}.yaml").write_text("version: 1\n" + text, encoding="utf-8")
    code = main(["validate", "-v", str(tmp_path)])
    err = capsys.readouterr().err
    return code, [line.replace(f"{tmp_path}/", "") for line in err.splitlines()]


TRUNK = "trunks:\n  acme: {templates: [global]}\n"

LINT_CASES = [
    pytest.param(
        [
            TRUNK + "outcalls:\n  o:\n    trunks: [acme]\n    patterns:\n"
            "      - {exten: _0X., caller_id: '\"ACME\"'}\n"
            "users:\n  bob@example.com: {outgoing_caller_id: Bob}\n"
        ],
        [
            f'0.yaml:8:34: outcalls.o.patterns[0].caller_id: warning: `"ACME"` has no number '
            f"part; {GUIDE}",
            f"0.yaml:10:41: users.bob@example.com.outgoing_caller_id: warning: `Bob` has no "
            f"number part; {GUIDE}",
        ],
        id="no-number-part",
    ),
    pytest.param(
        [
            TRUNK + "outcalls:\n  partner:\n    trunks: [acme]\n    internal_caller_id: true\n"
            "    patterns: [{exten: _6XXXX}]\n"
            "users:\n  alice@example.com: {outgoing_caller_id: '\"Alice\" <1001>'}\n"
            "  bob@example.com: {outgoing_caller_id: anonymous}\n"
            "  carol@example.com: {outgoing_caller_id: default}\n",
            "tenant: 22222222-2222-4222-8222-222222222222\n"
            "users:\n  dave@sub.example.com: {outgoing_caller_id: anonymous}\n",
        ],
        [
            "0.yaml:10:43: users.alice@example.com.outgoing_caller_id: info: outgoing_caller_id "
            '"Alice" <1001> of alice@example.com is not used through partner: its '
            "internal_caller_id forwards the caller's own caller ID",
            "0.yaml:11:41: users.bob@example.com.outgoing_caller_id: info: calls of "
            "bob@example.com through partner are NOT anonymous: its internal_caller_id forwards "
            "the caller's own caller ID",
        ],
        id="made-irrelevant-by-internal-caller-id",
    ),
    pytest.param(
        # YAML order differs from Asterisk's: the problem is at the YAML index
        [
            TRUNK + "outcalls:\n  o:\n    trunks: [acme]\n    patterns:\n"
            "      - {exten: '_1'}\n      - {exten: '_0X'}\n      - {exten: '_1!'}\n"
            "      - {exten: '_0x'}\n"
        ],
        [
            "0.yaml:8:17: outcalls.o.patterns[0].exten: warning: _1 never takes a call: every "
            "number it matches is matched by the more specific _1!, which Asterisk tries first",
            "0.yaml:11:17: outcalls.o.patterns[3].exten: _0x and _0X are the same extension to "
            "Asterisk: only _0X is loaded",
        ],
        id="one-outcall-shadowing",
    ),
    pytest.param(
        [
            TRUNK + "outcalls:\n  a:\n    trunks: [acme]\n    patterns: [{exten: '_7!'}]\n",
            TRUNK.replace("acme", "other") + "outcalls:\n  b:\n    trunks: [other]\n    patterns:\n"
            "      - {exten: '_7'}\n      - {exten: '_7', context: elsewhere}\n",
            "tenant: 22222222-2222-4222-8222-222222222222\n"
            + TRUNK.replace("acme", "sub")
            + "outcalls:\n  c:\n    trunks: [sub]\n    patterns: [{exten: '_7'}]\n",
        ],
        [
            "1.yaml:8:17: outcalls.b.patterns[0].exten: warning: _7 never takes a call: every "
            "number it matches is matched by the more specific _7!, which Asterisk tries first "
            "(_7! is a pattern of outcall 'a' at 0.yaml:7:16)",
        ],
        id="clash-across-outcalls-same-context-only",
    ),
    pytest.param(
        [
            TRUNK + "outcalls:\n  a:\n    trunks: [acme]\n    patterns: [{exten: '_0X'}]\n"
            "  b:\n    trunks: [acme]\n    patterns: [{exten: '_0X'}]\n"
        ],
        [
            "0.yaml:10:24: outcalls.b.patterns[0].exten: extension '_0X' in the tenant's "
            "outcall context is already a pattern of outcall 'a' at 0.yaml:7:16; confd "
            "allows one",
        ],
        id="exact-duplicate-reported-once",
    ),
    pytest.param(
        [
            TRUNK + "outcalls:\n  o:\n    trunks: [acme]\n    patterns:\n"
            "      - {exten: '_0[X]'}\n      - {exten: '_0X'}\n      - {exten: '_0 X'}\n"
            "      - {exten: '_01X', strip_digits: 3, external_prefix: '+33'}\n"
        ],
        [
            "0.yaml:8:17: outcalls.o.patterns[0].exten: warning: _0[X] can never match: a "
            "position only accepts `X`, which a dialed number never contains (inside [...], X, "
            "Z and N are plain letters)",
            "0.yaml:10:17: outcalls.o.patterns[2].exten: invalid outcall extension '_0 X': at "
            "most 40 characters, an optional _ and +, then digits, * #, X Z N, [ ] . ! and -",
            "0.yaml:11:39: outcalls.o.patterns[3].strip_digits: warning: strip_digits 3 removes "
            "every digit of the shortest numbers _01X matches (3 digits): the trunk gets `+33` "
            "only",
        ],
        id="never-matches-invalid-once-strip-all",
    ),
]


@pytest.mark.parametrize(("texts", "expected"), LINT_CASES)
def test_validate_locates_caller_id_findings(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], texts: list[str], expected: list[str]
) -> None:
    code, lines = validate(tmp_path, capsys, *texts)
    assert lines == expected
    assert code == (
        1 if any(": warning: " not in line and ": info: " not in line for line in lines) else 0
    )


@pytest.mark.parametrize("name", EXAMPLE_NAMES)
def test_every_example_validates(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable, value in SECRETS.items():
        monkeypatch.setenv(variable, value)
    assert main(["validate", str(EXAMPLES / name)]) == 0
    assert capsys.readouterr().err == ""

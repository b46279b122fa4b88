from __future__ import annotations

import io
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wazo_reconcile.secrets import (
    MASK,
    ScrubbingFilter,
    SecretError,
    SecretRegistry,
    SecretResolver,
    expand,
    find_refs,
    longest_match_pattern,
    scan_strings,
)


@pytest.mark.parametrize(
    ("text", "refs"),
    [
        ("${env:ACME_PASSWORD}", [("env", "ACME_PASSWORD")]),
        ("sip:${env:USER}@${file:host.txt}:5060", [("env", "USER"), ("file", "host.txt")]),
        ("${file:../secrets/a b}", [("file", "../secrets/a b")]),
        ("${EXTEN:1}", []),  # Asterisk dialplan substring, not ours
        ("PJSIP_HEADER(add,X)=${CALLERID(num)}", []),
        ("${ENV:X} ${vault:x} $env:X", []),
        ("${env:}", [("env", "")]),
        ("plain", []),
    ],
)
def test_find_refs(text: str, refs: list[tuple[str, str]]) -> None:
    found = find_refs(text)
    assert [(r.scheme, r.target) for r in found] == refs
    assert all(text[r.start : r.end] == str(r) for r in found)


def test_expand_env_and_files_relative_to_the_document(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "host").write_text("sip.acme.example\n", encoding="utf-8")
    (tmp_path / "crlf").write_bytes(b"pa:ss\r\n")
    (tmp_path / "two-lines").write_text("a\nb\n\n", encoding="utf-8")
    env = {"USER": "u123"}
    assert expand("sip:${env:USER}@${file:secrets/host}", env=env, base_dir=tmp_path) == (
        "sip:u123@sip.acme.example"
    )
    assert expand("${file:crlf}", env=env, base_dir=tmp_path) == "pa:ss"
    assert expand("${file:two-lines}", env=env, base_dir=tmp_path) == "a\nb\n"
    assert expand("no refs", env={}, base_dir=tmp_path) == "no refs"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${env:MISSING_VAR}", "${env:MISSING_VAR}: environment variable MISSING_VAR is not set"),
        (
            "${env:1BAD}",
            "${env:1BAD}: not a valid environment variable name (the form is ${env:NAME})",
        ),
        ("${env:}", "${env:}: not a valid environment variable name (the form is ${env:NAME})"),
        ("${file:}", "${file:}: empty file path (the form is ${file:path})"),
        ("${file:nope.txt}", "${file:nope.txt}: file {base}/nope.txt not found"),
        ("${file:adir}", "${file:adir}: {base}/adir is a directory"),
        ("${file:latin1}", "${file:latin1}: file {base}/latin1 is not UTF-8 text"),
    ],
)
def test_expand_errors_name_the_reference_never_a_value(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / "adir").mkdir()
    (tmp_path / "latin1").write_bytes(b"caf\xe9")
    with pytest.raises(SecretError) as raised:
        expand(text, env={"SET": "hunter2"}, base_dir=tmp_path)
    assert str(raised.value) == message.replace("{base}", str(tmp_path))
    assert "hunter2" not in str(raised.value)


@pytest.mark.parametrize("target", ["/proc/self/environ", "/sys/kernel/hostname", "/dev/null"])
def test_file_refs_never_read_the_kernel_pseudo_filesystems(tmp_path: Path, target: str) -> None:
    (tmp_path / "innocent").symlink_to(target)  # a link into /proc is followed, then refused
    for text in (f"${{file:{target}}}", "${file:innocent}"):
        with pytest.raises(SecretError) as raised:
            expand(text, env={}, base_dir=tmp_path)
        assert f"secrets are never read from /{target.split('/')[1]}" in str(raised.value)


def test_file_refs_refuse_files_bigger_than_a_secret(tmp_path: Path) -> None:
    (tmp_path / "big").write_bytes(b"x" * (64 * 1024 + 1))
    (tmp_path / "just").write_bytes(b"x" * (64 * 1024))
    with pytest.raises(SecretError) as raised:
        expand("${file:big}", env={}, base_dir=tmp_path)
    assert "is larger than 64 KiB" in str(raised.value)
    assert expand("${file:just}", env={}, base_dir=tmp_path) == "x" * 64 * 1024


def test_resolver_reads_each_file_once(tmp_path: Path) -> None:
    secret = tmp_path / "pw"
    secret.write_text("first\n", encoding="utf-8")
    resolver = SecretResolver({})
    assert resolver.expand("${file:pw}", tmp_path) == "first"
    secret.write_text("second\n", encoding="utf-8")
    assert resolver.expand("${file:pw}", tmp_path) == "first"
    assert SecretResolver({}).expand("${file:pw}", tmp_path) == "second"


def test_resolver_outcome_gathers_values_and_errors(tmp_path: Path) -> None:
    outcome = SecretResolver({"A": "alpha"}).outcome("${env:A}/${env:B}", tmp_path)
    assert [(str(r), v) for r, v in outcome.values] == [("${env:A}", "alpha")]
    assert [str(e) for e in outcome.errors] == ["${env:B}: environment variable B is not set"]
    assert outcome.expanded is None
    assert SecretResolver({"A": ""}).outcome("${env:A}", tmp_path).expanded == ""


def test_scan_strings_finds_references_and_secret_keys() -> None:
    data: dict[str, Any] = {
        "trunks": {
            "acme": {
                "outbound_auth": {"username": "u1", "password": "lit-pass"},
                "auth": [["username", "u2"], ["password", "pair-pass"], ["PASSWORD", "x"]],
                "options": {"secret": ["iax-1", "iax-2"], "md5_cred": ""},
                "registration": {"client_uri": "sip:${env:U}@h"},
            }
        },
        "Password": "top",
    }
    found = {(f.path, f.text, f.refs) for f in scan_strings(data)}
    base = ("trunks", "acme")
    assert found == {
        ((*base, "outbound_auth", "password"), "lit-pass", False),
        ((*base, "auth", 1, 1), "pair-pass", False),
        ((*base, "auth", 2, 1), "x", False),
        ((*base, "options", "secret", 0), "iax-1", False),
        ((*base, "options", "secret", 1), "iax-2", False),
        ((*base, "registration", "client_uri"), "sip:${env:U}@h", True),
        (("Password",), "top", False),
    }
    assert {f.text for f in scan_strings(data) if f.slot} == {
        "lit-pass",
        "pair-pass",
        "x",
        "iax-1",
        "iax-2",
        "top",
    }


def test_registry_scrubs_longest_first_and_escapes() -> None:
    registry = SecretRegistry(["s3cr", "s3cret.*", "abc"])
    assert "abc" not in registry  # shorter than MIN_SCRUB_LENGTH: not masked
    assert len(registry) == 2
    assert registry.scrub("x s3cret.* y s3cr z s3cretZZ abc") == (
        f"x {MASK} y {MASK} z {MASK}etZZ abc"
    )
    assert SecretRegistry().scrub("nothing") == "nothing"


def flat_alternation(values: list[str]) -> re.Pattern[str]:
    """How scrubbing first matched (one alternation, longest first): the reference."""
    return re.compile("|".join(map(re.escape, sorted(set(values), key=len, reverse=True))))


@given(
    values=st.lists(st.text(alphabet="ab.*\\é\n", min_size=1, max_size=8), min_size=1, max_size=30),
    text=st.text(alphabet="ab.*\\é\nxy", max_size=200),
)
@settings(max_examples=300, deadline=None)
def test_longest_match_pattern_matches_as_the_flat_alternation(
    values: list[str], text: str
) -> None:
    assert longest_match_pattern(values).sub(MASK, text) == flat_alternation(values).sub(MASK, text)


def test_longest_match_pattern_on_deep_tries_and_many_secrets() -> None:
    nested = ["a" * n for n in range(1, 1050)]  # a trie too deep to compile: the fallback
    text = "b" + "a" * 1500 + "b"
    assert longest_match_pattern(nested).sub(MASK, text) == f"b{MASK}{MASK}b"
    many = [f"pw-{n:05d}-{n * 7919 % 10007:05d}" for n in range(5000)]
    text = " ".join(many[::7]) + " pw-00001-x"
    assert SecretRegistry(many).scrub(text) == " ".join([MASK] * len(many[::7])) + " pw-00001-x"


def test_scrubbing_filter_masks_log_records() -> None:
    registry = SecretRegistry(["tok-12345"])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ScrubbingFilter(registry))
    logger = logging.getLogger("test_secrets.scrub")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("token %s refused", "tok-12345")
        registry.add("late-secret")
        logger.warning("late-secret appears")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue() == f"token {MASK} refused\n{MASK} appears\n"

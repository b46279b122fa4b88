from __future__ import annotations

import argparse

import pytest

from wazo_reconcile.errors import UsageError
from wazo_reconcile.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    ConnectionSettings,
    add_connection_args,
    settings_from_args,
)

TENANT = "2f0f6a8e-1111-4222-8333-444455556666"


class _ParserError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _ParserError(message)


def parse(argv: list[str], environ: dict[str, str] | None = None) -> ConnectionSettings:
    parser = _Parser()
    add_connection_args(parser)
    return settings_from_args(parser.parse_args(argv), environ or {})


def test_settings_flags_only() -> None:
    s = parse(["--url", "https://wazo.example.com/", "--token", "tok", "--tenant", TENANT])
    assert s.url == "https://wazo.example.com"
    assert s.token == "tok"
    assert s.username is None and s.password is None
    assert s.tenant == TENANT
    assert not s.insecure and not s.sandbox
    assert (s.timeout, s.connect_timeout, s.retries) == (
        DEFAULT_TIMEOUT,
        DEFAULT_CONNECT_TIMEOUT,
        DEFAULT_RETRIES,
    )


def test_settings_environment_only() -> None:
    env = {
        "WAZO_URL": "https://env.example.com",
        "WAZO_USERNAME": "admin",
        "WAZO_PASSWORD": "pw",
        "WAZO_TENANT": TENANT.upper(),
        "WAZO_CA_BUNDLE": "/etc/ca.pem",
    }
    s = parse([], env)
    assert s.url == "https://env.example.com"
    assert (s.username, s.password, s.token) == ("admin", "pw", None)
    assert s.uses_password
    assert s.tenant == TENANT  # normalised
    assert s.ca_bundle == "/etc/ca.pem"


def test_settings_flag_beats_environment() -> None:
    env = {
        "WAZO_URL": "https://env.example.com",
        "WAZO_TOKEN": "env-token",
        "WAZO_TENANT": "00000000-0000-4000-8000-000000000000",
    }
    s = parse(["--url", "https://flag.example.com", "--tenant", TENANT], env)
    assert s.url == "https://flag.example.com"
    assert s.tenant == TENANT
    assert s.token == "env-token"


def test_settings_credential_flags_replace_environment_as_a_set() -> None:
    env = {"WAZO_URL": "https://w.example.com", "WAZO_TOKEN": "stale-env-token"}
    s = parse(["--username", "admin", "--password", "pw"], env)
    assert s.token is None
    assert (s.username, s.password) == ("admin", "pw")


def test_settings_token_flag_ignores_environment_password() -> None:
    env = {"WAZO_URL": "https://w.example.com", "WAZO_USERNAME": "u", "WAZO_PASSWORD": "p"}
    s = parse(["--token", "tok"], env)
    assert (s.token, s.username, s.password) == ("tok", None, None)
    assert not s.uses_password


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--token", "t"], {}, "--url"),
        ([], {"WAZO_TOKEN": "t"}, "WAZO_URL"),
        (["--url", "https://w"], {}, "no credentials"),
        (["--url", "https://w", "--username", "u"], {}, "--password"),
        (["--url", "https://w", "--password", "p"], {}, "--username"),
        (["--url", "https://w", "--token", "t", "--username", "u"], {}, "not both"),
        ([], {"WAZO_URL": "https://w", "WAZO_TOKEN": "t", "WAZO_USERNAME": "u"}, "not both"),
        (["--url", "wazo.example.com", "--token", "t"], {}, "http(s) URL"),
        (["--url", "ftp://wazo.example.com", "--token", "t"], {}, "http(s) URL"),
        (["--url", "https://u:p@w.example.com", "--token", "t"], {}, "credentials"),
        (["--url", "https://w?x=1", "--token", "t"], {}, "query"),
        (["--url", "https://w", "--token", "t", "--tenant", "  "], {}, "slug, name or UUID"),
        (["--sandbox", "--url", "https://w"], {}, "together"),
        (["--url", "https://w", "--token", "t", "--insecure", "--ca-bundle", "x"], {}, "contra"),
    ],
)
def test_settings_usage_errors(argv: list[str], env: dict[str, str], message: str) -> None:
    with pytest.raises(UsageError) as info:
        parse(argv, env)
    assert message in str(info.value)


def test_settings_usage_errors_never_echo_secrets() -> None:
    for argv in (
        ["--password", "hunter2-secret"],
        ["--url", "https://w", "--token", "tok-secret", "--username", "u"],
        ["--url", "http://127.0.0.1:1/?token=tok-secret", "--token", "t"],
        ["--url", "https://w/#tok-secret", "--token", "t"],
        ["--url", "ftp://u:hunter2-secret@w/x?token=tok-secret#frag", "--token", "t"],
        ["--url", "https://u:hunter2-secret@w/", "--token", "t"],
    ):
        with pytest.raises(UsageError) as info:
            parse(argv)
        assert "hunter2-secret" not in str(info.value)
        assert "tok-secret" not in str(info.value)


def test_settings_sandbox_needs_no_url_nor_credentials() -> None:
    s = parse(["--sandbox"], {"WAZO_URL": "https://ignored.example.com"})
    assert s.sandbox
    assert s.url is None


def test_settings_url_with_api_suffix_is_accepted() -> None:
    s = parse(["--url", "https://w.example.com/api/confd/1.1/", "--token", "t"])
    assert s.url == "https://w.example.com"


def test_settings_insecure_flag_wins_over_ca_bundle_variable() -> None:
    env = {"WAZO_URL": "https://w", "WAZO_TOKEN": "t", "WAZO_CA_BUNDLE": "/ca.pem"}
    s = parse(["--insecure"], env)
    assert s.insecure
    assert s.ca_bundle is None


def test_settings_timeouts_and_retries() -> None:
    s = parse(
        [
            "--url",
            "https://w",
            "--token",
            "t",
            "--timeout",
            "2.5",
            "--connect-timeout",
            "1",
            "--retries",
            "0",
        ]
    )
    assert (s.timeout, s.connect_timeout, s.retries) == (2.5, 1.0, 0)


@pytest.mark.parametrize(
    "argv",
    [
        ["--timeout", "0"],
        ["--timeout", "abc"],
        ["--retries", "-1"],
        ["--retries", "x"],
        ["--connect-timeout", "-3"],
    ],
)
def test_settings_bad_numbers_are_parser_errors(argv: list[str]) -> None:
    with pytest.raises(_ParserError):
        parse(["--url", "https://w", "--token", "t", *argv])


def test_settings_repr_hides_token_and_password() -> None:
    s = ConnectionSettings(url="https://w", token="tok-123456", username="u", password="pw-98765")
    text = repr(s) + str(s)
    assert "tok-123456" not in text
    assert "pw-98765" not in text
    assert "https://w" in text


def test_settings_verbose_count_and_optional() -> None:
    parser = argparse.ArgumentParser()
    add_connection_args(parser)
    assert parser.parse_args(["-vv"]).verbose == 2
    quiet = argparse.ArgumentParser()
    quiet.add_argument("-v", "--verbose", action="count", default=0)
    add_connection_args(quiet, verbose=False)  # no clash with a parser that has its own -v
    assert quiet.parse_args(["-v", "--sandbox"]).sandbox is True


def test_settings_from_namespace_without_connection_flags() -> None:
    s = settings_from_args(argparse.Namespace(), {"WAZO_URL": "https://w", "WAZO_TOKEN": "t"})
    assert (s.url, s.token, s.sandbox, s.insecure) == ("https://w", "t", False, False)

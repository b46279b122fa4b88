from __future__ import annotations

import io
import logging

from wazo_reconcile.secrets import (
    MASK,
    ScrubbingFilter,
    SecretRegistry,
    mask,
    redact,
    secret_values,
)

BODY = {
    "name": "acme",
    "password": "p-top",
    "token": "",
    "auth_section_options": [["username", "u1"], ["password", "p-auth"]],
    "outbound_auth_section_options": [["md5_cred", "p-md5"], ["realm", "r"]],
    "options": [("secret", "p-iax"), ("trunk", "yes")],
    "register": {"auth_password": "p-reg", "remote_host": "h"},
    "nested": [[["Password", "p-case"]]],
}


def test_mask_hides_secret_values_and_keeps_the_rest() -> None:
    masked = mask(BODY)
    assert masked["name"] == "acme"
    assert masked["password"] == MASK
    assert masked["token"] == ""  # nothing to hide
    assert masked["auth_section_options"] == [["username", "u1"], ["password", MASK]]
    assert masked["outbound_auth_section_options"] == [["md5_cred", MASK], ["realm", "r"]]
    assert masked["options"] == [["secret", MASK], ["trunk", "yes"]]
    assert masked["register"] == {"auth_password": MASK, "remote_host": "h"}
    assert masked["nested"] == [[["Password", MASK]]]
    assert BODY["password"] == "p-top"  # a copy


def test_secret_values_finds_what_mask_hides() -> None:
    assert secret_values(BODY) == {"p-top", "p-auth", "p-md5", "p-iax", "p-reg", "p-case"}
    assert secret_values(["password", 3]) == set()
    assert secret_values("password") == set()


def test_redact_longest_first_and_ignores_empty() -> None:
    assert redact("a abcd abcde", ["abcd", "abcde", ""]) == f"a {MASK} {MASK}"
    assert redact("nothing", []) == "nothing"


def test_redact_leaves_values_too_short_to_mask() -> None:
    # A one-letter token must not mangle every word (validate warns about short secrets).
    assert redact("the token t", ["t", "to"]) == "the token t"


def test_scrubbing_filter_on_a_handler_covers_args_and_tracebacks() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    registry = SecretRegistry(["tok-1"])
    handler.addFilter(ScrubbingFilter(registry))
    registry.add("pw-2")  # added after the filter was attached
    logger = logging.getLogger("test_secrets_in_logs.redacting")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    try:
        logger.info("token %s and %s", "tok-1", "pw-2")
        try:
            raise ValueError("bad pw-2")
        except ValueError:
            logger.exception("failed with tok-1")
        logger.info("clean %d", 3)
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "tok-1" not in text and "pw-2" not in text
    assert f"token {MASK} and {MASK}" in text
    assert f"ValueError: bad {MASK}" in text
    assert "clean 3" in text


def test_scrubbing_filter_without_secrets_passes_records_untouched() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s", ("b",), None)
    assert ScrubbingFilter(SecretRegistry()).filter(record)
    assert (record.msg, record.args) == ("a %s", ("b",))
